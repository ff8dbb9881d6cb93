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
       created_at, updated_at
  FROM trader_follows
 WHERE follower_id = (SELECT auth.uid()) AND followed_id IS NOT NULL
   AND (%(after_at)s::timestamptz IS NULL
        OR (created_at, id) > (%(after_at)s, %(after_id)s::uuid))
 ORDER BY created_at, id
 LIMIT %(limit)s::bigint;

-- get_follow --
SELECT id, followed_id AS trader_id, trader_name, trader_category, is_active,
       coalesce(copy_trading_enabled, false) AS copy_trading_enabled, followed_at,
       created_at, updated_at
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

-- delete_follow --
DELETE FROM trader_follows
 WHERE id = %(id)s AND follower_id = (SELECT auth.uid()) AND followed_id IS NOT NULL
RETURNING id;
