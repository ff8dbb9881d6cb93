-- list_users --
-- Users newest first, with their ban state and number of accounts; `pattern` (a LIKE
-- pattern, its wildcards escaped) matches the email or the display name, `banned` keeps
-- only the banned (true) or the others (false). Keyset-paginated on (created_at, id).
-- Runs as the service role (auth.users has no grants for the API roles). A ban for good
-- is banned_until 'infinity', shown as null.
SELECT u.id, u.email, p.display_name,
       coalesce(u.raw_app_meta_data ->> 'role' = 'admin', false) AS is_admin,
       coalesce(u.banned_until > now(), false) AS is_banned,
       CASE WHEN u.banned_until > now() AND isfinite(u.banned_until)
            THEN u.banned_until END AS banned_until,
       u.created_at, u.last_sign_in_at,
       (SELECT count(*) FROM public.paper_trading_accounts a WHERE a.user_id = u.id)::int
         AS account_count
  FROM auth.users u LEFT JOIN public.profiles p ON p.id = u.id
 WHERE (%(user_id)s::uuid IS NULL OR u.id = %(user_id)s::uuid)
   AND (%(pattern)s::text IS NULL OR u.email ILIKE %(pattern)s OR p.display_name ILIKE %(pattern)s)
   AND (%(banned)s::boolean IS NULL OR coalesce(u.banned_until > now(), false) = %(banned)s)
   AND (%(after_id)s::uuid IS NULL
        OR (u.created_at, u.id) < (%(after_at)s::timestamptz, %(after_id)s::uuid))
 ORDER BY u.created_at DESC, u.id DESC
 LIMIT %(limit)s::bigint;

-- lock_user --
-- One user, locked for a change of their ban.
SELECT id, coalesce(banned_until > now(), false) AS banned
  FROM auth.users WHERE id = %(user_id)s FOR UPDATE;

-- set_banned_until --
-- The end of the user's ban: NULL lifts it, 'infinity' is for good.
UPDATE auth.users SET banned_until = %(until)s::timestamptz WHERE id = %(user_id)s;

-- revoke_user_sessions --
-- Every live refresh token of the user: their sessions end at the next refresh (access
-- tokens live out their short lifetime).
UPDATE auth.refresh_tokens SET revoked_at = now()
 WHERE user_id = %(user_id)s AND revoked_at IS NULL;

-- list_accounts --
-- Every user's accounts (an admin's claims or the service role), newest first, by status
-- and owner email (exact, any case) when given; keyset-paginated on (created_at, id).
SELECT a.id, a.user_id, p.email AS owner_email, a.account_name, a.account_type,
       a.risk_level, a.status, coalesce(a.is_default, false) AS is_default, a.balance,
       a.reserved_balance, a.initial_balance, a.created_at, a.updated_at
  FROM paper_trading_accounts a JOIN profiles p ON p.id = a.user_id
 WHERE (%(account_id)s::uuid IS NULL OR a.id = %(account_id)s::uuid)
   AND (%(status)s::account_status_enum IS NULL OR a.status = %(status)s::account_status_enum)
   AND (%(owner_email)s::text IS NULL OR p.email = lower(%(owner_email)s::text))
   AND (%(after_id)s::uuid IS NULL
        OR (a.created_at, a.id) < (%(after_at)s::timestamptz, %(after_id)s::uuid))
 ORDER BY a.created_at DESC, a.id DESC
 LIMIT %(limit)s::bigint;

-- lock_account --
-- One account, locked for a change of status (FOR UPDATE also applies the update policy:
-- admins update any account).
SELECT id, user_id, status FROM paper_trading_accounts WHERE id = %(id)s FOR UPDATE;

-- set_account_status --
-- Suspend or lift a suspension; the account guard lets only trusted callers (admins, the
-- service) do either.
UPDATE paper_trading_accounts SET status = %(status)s::account_status_enum
 WHERE id = %(id)s RETURNING id;

-- list_templates --
-- The templates the platform offers or offered (its own, no creator) and users' shared
-- ones, newest first; `retired` keeps only those no longer offered (true) or the offered
-- ones (false). Keyset-paginated on (created_at, id). The columns of templates'
-- get_template, with the caller's own rating.
SELECT t.id, t.name, t.description, t.account_type, t.risk_level, t.initial_balance,
       t.max_daily_loss, t.max_position_size, t.trading_strategy, t.color_theme, t.icon,
       coalesce(t.tags, '{}') AS tags, coalesce(t.is_public, false) AS is_public,
       t.created_by IS NULL AS is_builtin,
       coalesce(t.created_by = (SELECT auth.uid()), false) AS is_own,
       coalesce(t.usage_count, 0) AS usage_count, coalesce(t.rating, 0) AS rating,
       t.rating_count, r.rating AS my_rating, t.created_at, t.updated_at
  FROM account_templates t
  LEFT JOIN template_ratings r ON r.template_id = t.id AND r.user_id = (SELECT auth.uid())
 WHERE (t.created_by IS NULL OR t.is_public)
   AND (%(retired)s::boolean IS NULL OR NOT coalesce(t.is_public, false) = %(retired)s)
   AND (%(after_id)s::uuid IS NULL
        OR (t.created_at, t.id) < (%(after_at)s::timestamptz, %(after_id)s::uuid))
 ORDER BY t.created_at DESC, t.id DESC
 LIMIT %(limit)s::bigint;

-- insert_template --
-- A template of the platform's: no creator.
INSERT INTO account_templates (
  name, description, account_type, risk_level, initial_balance, max_daily_loss,
  max_position_size, trading_strategy, color_theme, icon, tags, is_public)
VALUES (
  %(name)s, %(description)s, %(account_type)s, %(risk_level)s, %(initial_balance)s,
  %(max_daily_loss)s, %(max_position_size)s, %(trading_strategy)s, %(color_theme)s, %(icon)s,
  %(tags)s, %(is_public)s)
RETURNING id;

-- update_template --
-- A template for psycopg.sql: the assignments of the fields given, and the id of one of
-- the platform's own templates.
UPDATE account_templates SET {} WHERE id = {} AND created_by IS NULL RETURNING id;

-- lock_template --
-- A template an admin may retire: the platform's own or a user's shared one.
SELECT id, coalesce(is_public, false) AS is_public
  FROM account_templates
 WHERE id = %(id)s AND (created_by IS NULL OR is_public)
   FOR UPDATE;

-- retire_template --
-- No longer offered: new accounts cannot be opened from it; accounts opened from it stay.
UPDATE account_templates SET is_public = false WHERE id = %(id)s RETURNING id;

-- backtest_queue --
-- Every user's backtest sessions by status, and the age of the oldest pending one.
SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
       count(*) FILTER (WHERE status = 'running')::int AS running,
       count(*) FILTER (WHERE status = 'completed')::int AS completed,
       count(*) FILTER (WHERE status = 'failed')::int AS failed,
       count(*) FILTER (WHERE status = 'cancelled')::int AS cancelled,
       extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending'))::float8
         AS oldest_pending_seconds
  FROM backtest_sessions;

-- database_state --
-- The server's version, this database's size and its sessions now.
SELECT current_setting('server_version') AS version,
       pg_database_size(current_database()) AS size_bytes,
       (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database())::int
         AS connections,
       current_setting('max_connections')::int AS max_connections,
       now() AS checked_at;
