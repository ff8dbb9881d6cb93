-- insert_user --
-- A confirmed user (no email step on this platform); the trigger adds the profile,
-- portfolio and default account.
INSERT INTO auth.users (email, encrypted_password, raw_user_meta_data, raw_app_meta_data,
                        email_confirmed_at)
VALUES (%(email)s, %(password_hash)s, %(meta)s, %(app_meta)s, now())
RETURNING id

-- touch_sign_in --
-- The user signed in now; a new password hash replaces the stored one when given.
UPDATE auth.users
   SET last_sign_in_at = now(), encrypted_password = coalesce(%(new_hash)s, encrypted_password)
 WHERE id = %(user_id)s

-- identity_by_id --
SELECT u.id, u.email, p.display_name, u.encrypted_password,
       coalesce(u.raw_app_meta_data ->> 'role' = 'admin', false) AS is_admin,
       coalesce(u.banned_until > now(), false) AS banned
  FROM auth.users u LEFT JOIN public.profiles p ON p.id = u.id
 WHERE u.id = %(user_id)s

-- identity_by_email --
-- ``email`` is normalised (lower case) by the caller.
SELECT u.id, u.email, p.display_name, u.encrypted_password,
       coalesce(u.raw_app_meta_data ->> 'role' = 'admin', false) AS is_admin,
       coalesce(u.banned_until > now(), false) AS banned
  FROM auth.users u LEFT JOIN public.profiles p ON p.id = u.id
 WHERE lower(u.email) = %(email)s

-- find_user_id --
SELECT id FROM auth.users WHERE lower(email) = lower(%(email)s)

-- list_users --
SELECT u.id, u.email, p.display_name, u.created_at,
       coalesce(u.raw_app_meta_data ->> 'role' = 'admin', false) AS is_admin
  FROM auth.users u LEFT JOIN public.profiles p ON p.id = u.id
 ORDER BY u.created_at

-- set_admin --
UPDATE auth.users
   SET raw_app_meta_data = CASE WHEN %(admin)s
                                THEN raw_app_meta_data || '{"role": "admin"}'
                                ELSE raw_app_meta_data - 'role' END
 WHERE id = %(user_id)s

-- lock_key --
-- A transaction-scoped advisory lock in one of our two-int4 namespaces.
SELECT pg_advisory_xact_lock(%(namespace)s, hashtext(%(key)s))

-- prune_login_attempts --
-- Keep the table to about one window of rows: each attempt removes a few stale ones.
DELETE FROM auth.login_attempts
 WHERE id IN (SELECT id FROM auth.login_attempts
               WHERE attempted_at < now() - %(window)s
               ORDER BY attempted_at LIMIT %(batch)s
                 FOR UPDATE SKIP LOCKED)

-- login_failures --
-- Failures of (email, ip) in the window since its last success, and when the oldest of
-- the last ``max`` of them leaves the window.
WITH recent AS (
  SELECT attempted_at, succeeded FROM auth.login_attempts
   WHERE email_lower = %(email)s AND ip IS NOT DISTINCT FROM %(ip)s::inet
     AND attempted_at > now() - %(window)s
), failures AS (
  SELECT attempted_at FROM recent
   WHERE NOT succeeded
     AND attempted_at > coalesce((SELECT max(attempted_at) FROM recent WHERE succeeded),
                                 '-infinity')
)
SELECT (SELECT count(*) FROM failures) AS failures,
       ceil(extract(epoch FROM
         (SELECT attempted_at FROM failures ORDER BY attempted_at DESC
           OFFSET %(max)s - 1 LIMIT 1) + %(window)s - now()))::int AS retry_after

-- insert_login_attempt --
-- Recorded as a failure until marked succeeded.
INSERT INTO auth.login_attempts (email_lower, ip, succeeded)
VALUES (%(email)s, %(ip)s::inet, false)
RETURNING id

-- mark_login_succeeded --
UPDATE auth.login_attempts SET succeeded = true WHERE id = %(attempt_id)s

-- insert_refresh_token --
-- The first token of a new family unless ``family_id`` is given.
INSERT INTO auth.refresh_tokens (user_id, family_id, token_hash, parent_id, expires_at,
                                 user_agent, ip)
VALUES (%(user_id)s, coalesce(%(family_id)s, gen_random_uuid()), %(token_hash)s,
        %(parent_id)s, now() + %(ttl)s, %(user_agent)s, %(ip)s::inet)
RETURNING id, family_id, expires_at

-- drop_expired_refresh_tokens --
DELETE FROM auth.refresh_tokens WHERE user_id = %(user_id)s AND expires_at < now()

-- refresh_token --
-- The presented token's state.
SELECT t.id, t.user_id, t.family_id,
       t.revoked_at IS NOT NULL AS revoked,
       t.replaced_by IS NOT NULL AS rotated,
       t.expires_at <= now() AS expired
  FROM auth.refresh_tokens t
 WHERE t.token_hash = %(token_hash)s

-- revoke_family --
UPDATE auth.refresh_tokens SET revoked_at = now()
 WHERE family_id = %(family_id)s AND revoked_at IS NULL

-- replace_refresh_token --
UPDATE auth.refresh_tokens SET revoked_at = now(), replaced_by = %(successor)s
 WHERE id = %(token_id)s

-- prune_expired_refresh_tokens --
-- Tokens expired more than a week ago, revoked or not (the maintenance job; sign-in drops a
-- user's expired ones too). A successor's link to a deleted parent becomes NULL.
DELETE FROM auth.refresh_tokens WHERE expires_at < now() - interval '7 days'
