-- Social trading, part 1 (issue 15, items 1 and 2): opt-in public trader profiles, and
-- follows only of listed traders.
--
-- * trader_profiles (an addition): what a trader publishes, nothing else: the name and
--   category shown, a short bio, and what is shown (statistics only, or statistics and
--   trades, optionally delayed). Private until the trader lists it. The owner manages the
--   row; everyone reads the rows that are listed (a policy), and nothing of the accounts,
--   balances or trades behind them (those tables keep their own RLS).
-- * trader_follows: a follow names a listed trader other than the caller; its trader_name
--   and trader_category are kept from the trader's profile when it is made (a trigger, so
--   a direct INSERT cannot name an unlisted trader or make up the name either).

CREATE TABLE trader_profiles (
  user_id UUID PRIMARY KEY REFERENCES profiles(id) ON DELETE CASCADE,
  is_listed BOOLEAN NOT NULL DEFAULT FALSE,
  display_name TEXT NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 60),
  category TEXT NOT NULL DEFAULT 'Other' CHECK (char_length(category) BETWEEN 1 AND 40),
  bio TEXT CHECK (char_length(bio) <= 500),
  shows TEXT NOT NULL DEFAULT 'statistics'
    CHECK (shows IN ('statistics', 'statistics_and_trades')),
  trade_delay_minutes INTEGER NOT NULL DEFAULT 0
    CHECK (trade_delay_minutes BETWEEN 0 AND 10080),
  listed_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX trader_profiles_listed_idx ON trader_profiles (listed_at, user_id) WHERE is_listed;
SELECT private.own_rows('trader_profiles');
CREATE POLICY "listed traders are public" ON trader_profiles
  FOR SELECT TO anon, authenticated USING (is_listed);
GRANT SELECT ON trader_profiles TO anon;
CREATE TRIGGER trader_profiles_set_updated_at BEFORE UPDATE ON trader_profiles
  FOR EACH ROW EXECUTE FUNCTION private.set_updated_at();

-- Listing stamps the time (the leaderboard's track record starts there); unlisting clears it.
CREATE FUNCTION private.trader_listed_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.is_listed AND (TG_OP = 'INSERT' OR NOT OLD.is_listed) THEN
    NEW.listed_at := pg_catalog.now();
  ELSIF NOT NEW.is_listed THEN
    NEW.listed_at := NULL;
  ELSE
    NEW.listed_at := OLD.listed_at;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER trader_profiles_listed_at BEFORE INSERT OR UPDATE ON trader_profiles
  FOR EACH ROW EXECUTE FUNCTION private.trader_listed_at();

-- A user's follow: of a listed trader, with the trader's name and category as published.
-- SECURITY DEFINER: it reads the trader's profile whatever the caller may see; the service
-- role (and the schema owner) may write any follow.
CREATE FUNCTION private.follow_listed_trader() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  trader public.trader_profiles;
BEGIN
  IF private.caller_is_service() OR NEW.user_id IS DISTINCT FROM auth.uid() THEN
    RETURN NEW;  -- the service role's; or another user's row, which RLS refuses
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.followed_id IS NOT DISTINCT FROM OLD.followed_id THEN
    NEW.trader_name := OLD.trader_name;
    NEW.trader_category := OLD.trader_category;
    RETURN NEW;
  END IF;
  SELECT * INTO trader FROM public.trader_profiles p
   WHERE p.user_id = NEW.followed_id AND p.is_listed;
  IF NOT FOUND THEN
    PERFORM private.reject('trader_not_found', 'no listed trader with this id', 'CT404');
  END IF;
  NEW.trader_name := trader.display_name;
  NEW.trader_category := trader.category;
  RETURN NEW;
END
$$;
CREATE TRIGGER trader_follows_listed_trader BEFORE INSERT OR UPDATE ON trader_follows
  FOR EACH ROW EXECUTE FUNCTION private.follow_listed_trader();

-- How many users follow a listed trader (0 for one who is not): a published figure, where
-- the follows themselves stay their followers' (SECURITY DEFINER; it returns the count only).
CREATE FUNCTION public.trader_follower_count(p_trader uuid) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
  SELECT count(*) FROM public.trader_follows f
   WHERE f.followed_id = p_trader AND f.is_active
     AND EXISTS (SELECT 1 FROM public.trader_profiles p
                  WHERE p.user_id = p_trader AND p.is_listed)
$$;
REVOKE ALL ON FUNCTION public.trader_follower_count(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.trader_follower_count(uuid) TO anon, authenticated, service_role;
