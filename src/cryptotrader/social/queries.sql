-- Trader profiles and follows, as the caller (RLS: a profile is its owner's, a listed one
-- everyone's to read; a follow is its follower's).

-- get_own_profile --
SELECT * FROM trader_profiles WHERE user_id = (SELECT auth.uid());

-- upsert_own_profile --
INSERT INTO trader_profiles AS p (user_id, is_listed, display_name, category, bio, shows,
                                  trade_delay_minutes)
VALUES ((SELECT auth.uid()), %(is_listed)s, %(display_name)s, %(category)s, %(bio)s,
        %(shows)s, %(trade_delay_minutes)s)
ON CONFLICT (user_id) DO UPDATE
   SET is_listed = EXCLUDED.is_listed, display_name = EXCLUDED.display_name,
       category = EXCLUDED.category, bio = EXCLUDED.bio, shows = EXCLUDED.shows,
       trade_delay_minutes = EXCLUDED.trade_delay_minutes
RETURNING *;

-- list_traders --
-- Listed traders, the longest listed first; keyset-paginated on (listed_at, user_id).
SELECT p.user_id AS id, p.display_name, p.category, p.bio, p.shows, p.trade_delay_minutes,
       p.listed_at, trader_follower_count(p.user_id) AS followers
  FROM trader_profiles p
 WHERE p.is_listed
   AND (%(after_at)s::timestamptz IS NULL
        OR (p.listed_at, p.user_id) > (%(after_at)s, %(after_id)s::uuid))
 ORDER BY p.listed_at, p.user_id
 LIMIT %(limit)s::bigint;

-- get_trader --
SELECT p.user_id AS id, p.display_name, p.category, p.bio, p.shows, p.trade_delay_minutes,
       p.listed_at, trader_follower_count(p.user_id) AS followers
  FROM trader_profiles p
 WHERE p.user_id = %(id)s AND p.is_listed;

-- list_follows --
SELECT id, followed_id AS trader_id, trader_name, trader_category, is_active,
       coalesce(copy_trading_enabled, false) AS copy_trading_enabled, followed_at,
       created_at, updated_at,
       CASE WHEN copy_account_id IS NOT NULL OR copy_started_at IS NOT NULL THEN
         jsonb_build_object(
           'account_id', copy_account_id, 'mode', copy_mode,
           'allocation_pct', allocation_percentage::text,
           'fixed_amount', copy_fixed_amount::text, 'min_order', copy_min_order::text,
           'max_per_trade', copy_max_per_trade::text, 'slippage_pct', copy_slippage_pct::text,
           'stop_loss_pct', copy_stop_loss_pct::text, 'stop_closes', copy_stop_closes,
           'allocated_usd', copy_allocated_usd::text, 'started_at', copy_started_at,
           'stopped_at', copy_stopped_at, 'stop_reason', copy_stop_reason)
       END AS copying
  FROM trader_follows
 WHERE follower_id = (SELECT auth.uid()) AND followed_id IS NOT NULL
   AND (%(after_at)s::timestamptz IS NULL
        OR (created_at, id) > (%(after_at)s, %(after_id)s::uuid))
 ORDER BY created_at, id
 LIMIT %(limit)s::bigint;

-- get_follow --
SELECT id, followed_id AS trader_id, trader_name, trader_category, is_active,
       coalesce(copy_trading_enabled, false) AS copy_trading_enabled, followed_at,
       created_at, updated_at,
       CASE WHEN copy_account_id IS NOT NULL OR copy_started_at IS NOT NULL THEN
         jsonb_build_object(
           'account_id', copy_account_id, 'mode', copy_mode,
           'allocation_pct', allocation_percentage::text,
           'fixed_amount', copy_fixed_amount::text, 'min_order', copy_min_order::text,
           'max_per_trade', copy_max_per_trade::text, 'slippage_pct', copy_slippage_pct::text,
           'stop_loss_pct', copy_stop_loss_pct::text, 'stop_closes', copy_stop_closes,
           'allocated_usd', copy_allocated_usd::text, 'started_at', copy_started_at,
           'stopped_at', copy_stopped_at, 'stop_reason', copy_stop_reason)
       END AS copying
  FROM trader_follows
 WHERE id = %(id)s AND follower_id = (SELECT auth.uid()) AND followed_id IS NOT NULL;

-- insert_follow --
-- The trigger (0034) refuses an unlisted trader and fills the name and category.
INSERT INTO trader_follows (user_id, follower_id, followed_id, trader_name)
VALUES ((SELECT auth.uid()), (SELECT auth.uid()), %(trader_id)s, '')
ON CONFLICT (user_id, followed_id) WHERE followed_id IS NOT NULL DO NOTHING
RETURNING id;

-- set_follow_active --
UPDATE trader_follows SET is_active = %(active)s, updated_at = now()
 WHERE id = %(id)s AND follower_id = (SELECT auth.uid()) AND followed_id IS NOT NULL
RETURNING id;

-- set_copy --
-- A follow's copy settings (the trigger of 0035 checks the account and the allocations
-- and, when copying starts, takes what is allocated). Returns whether it was copying.
UPDATE trader_follows f
   SET copy_trading_enabled = %(enabled)s,
       copy_account_id = coalesce(%(account_id)s, f.copy_account_id),
       copy_mode = %(mode)s, allocation_percentage = %(allocation_pct)s,
       copy_fixed_amount = %(fixed_amount)s, copy_min_order = %(min_order)s,
       copy_max_per_trade = %(max_per_trade)s, copy_slippage_pct = %(slippage_pct)s,
       copy_stop_loss_pct = %(stop_loss_pct)s, copy_stop_closes = %(stop_closes)s,
       copy_stopped_at = CASE WHEN NOT %(enabled)s AND f.copy_trading_enabled THEN now()
                              ELSE f.copy_stopped_at END,
       copy_stop_reason = CASE WHEN NOT %(enabled)s AND f.copy_trading_enabled
                               THEN 'by_follower' ELSE f.copy_stop_reason END,
       updated_at = now()
  FROM (SELECT coalesce(o.copy_trading_enabled, false) AS was FROM trader_follows o
         WHERE o.id = %(id)s) before
 WHERE f.id = %(id)s AND f.follower_id = (SELECT auth.uid()) AND f.followed_id IS NOT NULL
RETURNING before.was;

-- copy_open_positions --
SELECT copy_open_positions(%(id)s) AS n;

-- list_copies --
-- The caller's copy log, newest first (RLS), of one follow or all; keyset on (created_at, id).
SELECT c.id, c.follow_id, c.leader_id AS trader_id, c.account_id, c.kind, c.symbol, c.side,
       c.leader_price, c.fraction, c.quote_price, c.target_value, c.quantity, c.limit_price,
       c.status, c.reason, c.message, c.trade_id, c.filled_quantity, c.execution_price,
       c.total_value, c.fee, c.created_at, c.completed_at
  FROM copy_trades c
 WHERE (%(follow_id)s::uuid IS NULL OR c.follow_id = %(follow_id)s)
   AND (%(status)s::text IS NULL OR c.status = %(status)s)
   AND (%(after_at)s::timestamptz IS NULL
        OR (c.created_at, c.id) < (%(after_at)s, %(after_id)s::uuid))
 ORDER BY c.created_at DESC, c.id DESC
 LIMIT %(limit)s::bigint;

-- delete_follow --
DELETE FROM trader_follows
 WHERE id = %(id)s AND follower_id = (SELECT auth.uid()) AND followed_id IS NOT NULL
RETURNING id;

-- ------------------------------------------------------------------ the leaderboard

-- leaderboard_tracks --
-- The listed traders' public tracks from a UTC day on (NULL: all time), or the one
-- %(trader_id)s names: daily returns and counts only, nothing of an unlisted trader
-- (migration 0036, SECURITY DEFINER).
SELECT * FROM leaderboard_tracks(%(from_day)s::date, %(trader_id)s::uuid);

-- copiers_pnl --
-- The aggregate PnL of each given listed trader's copiers (migration 0035; NULL for one
-- who is not listed).
SELECT t.id, copiers_pnl(t.id) AS pnl FROM unnest(%(ids)s::uuid[]) AS t(id);
