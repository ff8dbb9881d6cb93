-- Daily analytics tables by period, so a day's writes touch indexes the size of a period,
-- not of the whole history (docs/benchmarks.md, "Daily analytics"). Every day adds a row
-- per account and portfolio to private.analytics_state and one per portfolio to
-- portfolio_analytics and portfolio_snapshots; their keys lead with a random id, so each insert lands on a random
-- index page, and at 10,000 accounts the step slowed by the month as those indexes grew
-- past memory. Like account_analytics (0003), they are now partitioned:
-- - private.analytics_state by month on day, each month created before a run writes into it
--   (private.analytics_state_months); no default partition, so none is ever scanned;
-- - portfolio_analytics and portfolio_snapshots by quarter on their date, as
--   account_analytics ("analytics data partitioned by quarter", the seed): their primary
--   keys become (id, date), a default partition catches a quarter not yet created, and
--   create_partitions_ahead() makes the quarters ahead for all three.

-- ------------------------------------------------------------------ the running state
ALTER TABLE private.analytics_state RENAME TO analytics_state_0030;
ALTER INDEX private.analytics_state_pkey RENAME TO analytics_state_0030_pkey;
ALTER INDEX private.analytics_state_day_idx RENAME TO analytics_state_0030_day_idx;

CREATE TABLE private.analytics_state (
  LIKE private.analytics_state_0030 INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
  PRIMARY KEY (subject_id, day)
) PARTITION BY RANGE (day);
CREATE INDEX analytics_state_day_idx ON private.analytics_state (day);
REVOKE ALL ON private.analytics_state FROM PUBLIC;

-- The monthly partitions covering p_from .. p_to that do not exist yet; returns how many
-- were made. Each gets 0030's "no statistics on day" (every stored day is a most-common
-- value, so the day being written was estimated at one row and joined by a scan per row).
CREATE FUNCTION private.analytics_state_months(p_from date, p_to date) RETURNS integer
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
  m date := date_trunc('month', p_from)::date;
  part text;
  created integer := 0;
BEGIN
  WHILE m <= p_to LOOP
    part := 'analytics_state_' || to_char(m, 'YYYY_MM');
    IF to_regclass('private.' || part) IS NULL THEN
      EXECUTE format('CREATE TABLE private.%I PARTITION OF private.analytics_state'
                     ' FOR VALUES FROM (%L) TO (%L)', part, m, (m + interval '1 month')::date);
      EXECUTE format('ALTER TABLE private.%I ALTER COLUMN day SET STATISTICS 0', part);
      EXECUTE format('REVOKE ALL ON private.%I FROM PUBLIC', part);
      created := created + 1;
    END IF;
    m := (m + interval '1 month')::date;
  END LOOP;
  RETURN created;
END
$$;
REVOKE EXECUTE ON FUNCTION private.analytics_state_months(date, date) FROM PUBLIC;

SELECT private.analytics_state_months(min(day), max(day)) FROM private.analytics_state_0030
HAVING count(*) > 0;
INSERT INTO private.analytics_state SELECT * FROM private.analytics_state_0030;
DROP TABLE private.analytics_state_0030;

-- Before a day's run writes: the months from the first day any account may need (its
-- creation, where a catch-up or a backfill starts) through the day. A run in shards calls
-- it first in a transaction of its own (the shards then only read the catalog); a run
-- that finds a month missing makes it itself.
CREATE FUNCTION private.analytics_prepare(p_day date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
  RETURN private.analytics_state_months(
    least(p_day, (SELECT min((a.created_at AT TIME ZONE 'UTC')::date) FROM public.paper_trading_accounts a)),
    p_day);
END
$$;
REVOKE EXECUTE ON FUNCTION private.analytics_prepare(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION private.analytics_prepare(date) TO service_role;

-- ------------------------------------------------------------------ portfolio analytics
ALTER TABLE portfolio_analytics RENAME TO portfolio_analytics_0030;
ALTER TABLE portfolio_analytics_0030 RENAME CONSTRAINT portfolio_analytics_pkey TO portfolio_analytics_0030_pkey;
ALTER TABLE portfolio_analytics_0030
  RENAME CONSTRAINT portfolio_analytics_portfolio_id_analytics_date_key TO portfolio_analytics_0030_key;
ALTER INDEX portfolio_analytics_user_id_idx RENAME TO portfolio_analytics_0030_user_id_idx;
DROP TRIGGER portfolio_analytics_set_updated_at ON portfolio_analytics_0030;

CREATE TABLE portfolio_analytics (
  LIKE portfolio_analytics_0030 INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
  PRIMARY KEY (id, analytics_date),
  UNIQUE (portfolio_id, analytics_date),
  FOREIGN KEY (user_id) REFERENCES profiles(id) ON DELETE CASCADE,
  FOREIGN KEY (portfolio_id, user_id) REFERENCES portfolios (id, user_id) ON DELETE CASCADE
) PARTITION BY RANGE (analytics_date);
CREATE TABLE portfolio_analytics_default PARTITION OF portfolio_analytics DEFAULT;
CREATE INDEX portfolio_analytics_user_id_idx ON portfolio_analytics (user_id);
CREATE TRIGGER portfolio_analytics_set_updated_at BEFORE UPDATE ON portfolio_analytics
  FOR EACH ROW EXECUTE FUNCTION private.set_updated_at();
SELECT private.own_rows('portfolio_analytics', ARRAY['select']);
SELECT private.lock_down_partition('portfolio_analytics_default');
INSERT INTO portfolio_analytics SELECT * FROM portfolio_analytics_0030;
DROP TABLE portfolio_analytics_0030;

-- ------------------------------------------------------------------ portfolio snapshots
ALTER TABLE portfolio_snapshots RENAME TO portfolio_snapshots_0002;
ALTER TABLE portfolio_snapshots_0002 RENAME CONSTRAINT portfolio_snapshots_pkey TO portfolio_snapshots_0002_pkey;
ALTER TABLE portfolio_snapshots_0002
  RENAME CONSTRAINT portfolio_snapshots_portfolio_id_snapshot_date_key TO portfolio_snapshots_0002_key;
ALTER INDEX portfolio_snapshots_user_id_idx RENAME TO portfolio_snapshots_0002_user_id_idx;

CREATE TABLE portfolio_snapshots (
  LIKE portfolio_snapshots_0002 INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
  PRIMARY KEY (id, snapshot_date),
  UNIQUE (portfolio_id, snapshot_date),
  FOREIGN KEY (user_id) REFERENCES profiles(id) ON DELETE CASCADE,
  FOREIGN KEY (portfolio_id, user_id) REFERENCES portfolios (id, user_id) ON DELETE CASCADE
) PARTITION BY RANGE (snapshot_date);
CREATE TABLE portfolio_snapshots_default PARTITION OF portfolio_snapshots DEFAULT;
CREATE INDEX portfolio_snapshots_user_id_idx ON portfolio_snapshots (user_id);
SELECT private.own_rows('portfolio_snapshots', ARRAY['select']);
SELECT private.lock_down_partition('portfolio_snapshots_default');
INSERT INTO portfolio_snapshots SELECT * FROM portfolio_snapshots_0002;
DROP TABLE portfolio_snapshots_0002;

-- 0003's function, with the quarters of portfolio_analytics and portfolio_snapshots
-- beside account_analytics's, and the state's months
CREATE OR REPLACE FUNCTION public.create_partitions_ahead(months_ahead integer DEFAULT 3)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  created integer := 0;
  m date;
  q date;
  t record;
BEGIN
  IF months_ahead < 0 OR months_ahead > 120 THEN
    RAISE EXCEPTION 'months_ahead must be between 0 and 120' USING ERRCODE = '22023';
  END IF;
  FOR i IN 0..months_ahead LOOP
    m := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date;
    IF private.create_range_partition('public.paper_trades', 'paper_trades_' || to_char(m, 'YYYY_MM'),
                                      'created_at', to_char(m, 'YYYY-MM-DD') || ' 00:00:00+00',
                                      to_char(m + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00') THEN
      created := created + 1;
    END IF;
    q := date_trunc('quarter', m)::date;
    FOR t IN SELECT * FROM (VALUES ('account_analytics', 'analytics_date'),
                                   ('portfolio_analytics', 'analytics_date'),
                                   ('portfolio_snapshots', 'snapshot_date')) AS v(name, key) LOOP
      IF private.create_range_partition(('public.' || t.name)::regclass,
                                        t.name || '_' || to_char(q, 'YYYY') || '_q' || to_char(q, 'Q'),
                                        t.key, to_char(q, 'YYYY-MM-DD'),
                                        to_char(q + interval '3 months', 'YYYY-MM-DD')) THEN
        created := created + 1;
      END IF;
    END LOOP;
    created := created + private.analytics_state_months(m, m);
  END LOOP;
  RETURN created;
END
$$;
SELECT public.create_partitions_ahead(3);

-- ------------------------------------------------------------------ a run
-- 0030's run, making the state's months it is about to write first, and looking up where
-- a series stopped only for the accounts whose day before is missing (a probe of every
-- month's partition for each of them, not for every account).
CREATE OR REPLACE FUNCTION private.analytics_run(p_day date, p_accounts uuid[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  d date;
  lagging uuid[];
  first_day date;
  written integer;
BEGIN
  CREATE TEMPORARY TABLE _lag ON COMMIT DROP AS
  SELECT a.id, coalesce(last.day + 1, (a.created_at AT TIME ZONE 'UTC')::date) AS next_day
    FROM (SELECT a.id, a.created_at
            FROM public.paper_trading_accounts a
           WHERE a.created_at < (p_day::timestamp AT TIME ZONE 'UTC')
             AND (p_accounts IS NULL OR a.id = ANY (p_accounts))
             AND NOT EXISTS (SELECT 1 FROM private.analytics_state y
                              WHERE y.subject_id = a.id AND y.day = p_day - 1)
          OFFSET 0) a
    LEFT JOIN LATERAL (
      SELECT s.day FROM private.analytics_state s
       WHERE s.subject_id = a.id AND s.day < p_day ORDER BY s.day DESC LIMIT 1) last ON true
   WHERE coalesce(last.day, '-infinity'::date) < p_day - 1;
  SELECT min(next_day) INTO first_day FROM _lag;
  PERFORM private.analytics_state_months(least(coalesce(first_day, p_day), p_day), p_day);
  IF first_day IS NOT NULL THEN
    d := first_day;
    WHILE d < p_day LOOP
      SELECT array_agg(id) INTO lagging FROM _lag WHERE next_day <= d;
      PERFORM private.analytics_accounts_step(d, lagging);
      PERFORM private.analytics_portfolios_step(d, ARRAY(
        SELECT DISTINCT pa.portfolio_id FROM public.portfolio_accounts pa WHERE pa.account_id = ANY (lagging)));
      d := d + 1;
    END LOOP;
  END IF;
  DROP TABLE _lag;
  written := private.analytics_accounts_step(p_day, p_accounts);
  PERFORM private.analytics_portfolios_step(p_day, CASE WHEN p_accounts IS NULL THEN NULL ELSE ARRAY(
    SELECT DISTINCT pa.portfolio_id FROM public.portfolio_accounts pa WHERE pa.account_id = ANY (p_accounts)) END);
  RETURN written;
END
$$;
