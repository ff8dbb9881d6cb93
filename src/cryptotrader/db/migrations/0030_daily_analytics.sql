-- Daily analytics from history, set-based (docs/analytics.md, "How the daily rows are made").
--
-- One step computes one UTC day for many accounts at once: each account's cash and
-- positions are carried from the day before and moved by that day's completed fills of its
-- epoch; positions are valued at the day's close; the day's return is folded into a running
-- state of exact NUMERIC sums (n, Σr, Σr², Σmin(r,0)², the paired benchmark sums, the
-- running high and the deepest drawdown, round-trip counts), so a day costs O(accounts),
-- not O(accounts × history). The measures are analytics/metrics.py's formulas over those
-- sums (tests/analytics/test_daily_history.py holds the two to 1e-9). A backfill is the same
-- step run day by day, so it writes the same rows as the daily job did.
--
-- Portfolios: the same state and measures over the members' combined, flow-adjusted
-- equity (a member added or an account reset is a flow, not a return).

-- ------------------------------------------------------------------ indexes the step reads
CREATE INDEX paper_trades_filled_at_idx ON paper_trades (filled_at) WHERE status = 'completed';
CREATE INDEX paper_account_audit_resets_idx ON paper_account_audit (account_id, created_at)
  WHERE action = 'account_reset';

-- ------------------------------------------------------------------ round trips
-- A round trip is a position from flat back to flat in one symbol within one epoch; its PnL
-- is Σ (realized_pnl - fee) of its fills. Per-trade statistics count these, not periods.
CREATE TABLE account_round_trips (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id UUID NOT NULL,
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  epoch INTEGER NOT NULL,
  symbol TEXT NOT NULL,
  opened_at TIMESTAMPTZ NOT NULL,
  closed_at TIMESTAMPTZ NOT NULL,
  pnl NUMERIC NOT NULL,
  fills INTEGER NOT NULL CHECK (fills > 0),
  FOREIGN KEY (account_id, user_id) REFERENCES paper_trading_accounts (id, user_id) ON DELETE CASCADE
);
CREATE INDEX account_round_trips_account_idx ON account_round_trips (account_id, closed_at);
CREATE INDEX account_round_trips_user_id_idx ON account_round_trips (user_id);
SELECT private.own_rows('account_round_trips', ARRAY['select']);

-- ------------------------------------------------------------------ portfolio analytics
-- The ERD names portfolio_analytics without defining it: the account measures over the
-- portfolio's combined equity, one row per portfolio per UTC day. custom_metrics holds the
-- equity index (flow-adjusted, what the measures and the tear sheet use) and total_value.
CREATE TABLE portfolio_analytics (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  portfolio_id UUID NOT NULL,
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  analytics_date DATE NOT NULL,
  daily_return NUMERIC,
  weekly_return NUMERIC,
  monthly_return NUMERIC,
  quarterly_return NUMERIC,
  yearly_return NUMERIC,
  volatility NUMERIC,
  sharpe_ratio NUMERIC,
  sortino_ratio NUMERIC,
  max_drawdown NUMERIC,
  current_drawdown NUMERIC,
  total_trades INTEGER NOT NULL DEFAULT 0,
  winning_trades INTEGER NOT NULL DEFAULT 0,
  losing_trades INTEGER NOT NULL DEFAULT 0,
  win_rate NUMERIC,
  avg_win NUMERIC,
  avg_loss NUMERIC,
  profit_factor NUMERIC,
  active_positions INTEGER NOT NULL DEFAULT 0,
  largest_position NUMERIC NOT NULL DEFAULT 0,
  portfolio_diversity NUMERIC,
  cash_percentage NUMERIC,
  benchmark_return NUMERIC,
  alpha NUMERIC,
  beta NUMERIC,
  correlation NUMERIC,
  custom_metrics JSONB NOT NULL DEFAULT '{}',
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  UNIQUE (portfolio_id, analytics_date),
  FOREIGN KEY (portfolio_id, user_id) REFERENCES portfolios (id, user_id) ON DELETE CASCADE
);
CREATE INDEX portfolio_analytics_user_id_idx ON portfolio_analytics (user_id);
CREATE TRIGGER portfolio_analytics_set_updated_at BEFORE UPDATE ON portfolio_analytics
  FOR EACH ROW EXECUTE FUNCTION private.set_updated_at();
SELECT private.own_rows('portfolio_analytics', ARRAY['select']);

-- ------------------------------------------------------------------ the running state
-- One row per subject (account or portfolio) per day: where the day ended and the sums
-- the measures need. Derived data (a backfill rebuilds it); service role only.
CREATE TABLE private.analytics_state (
  subject_id UUID NOT NULL,
  day DATE NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('account', 'portfolio')),
  user_id UUID NOT NULL,
  epoch INTEGER NOT NULL,
  first_day DATE NOT NULL,          -- the first day of the series (its start point is the day before)
  start_equity NUMERIC NOT NULL,    -- the series' first point
  start_bench NUMERIC,              -- BTC's close the day before first_day
  base NUMERIC NOT NULL,            -- what the day's return is measured from
  equity NUMERIC NOT NULL,          -- the day's close (a portfolio: its equity index)
  cash NUMERIC NOT NULL,
  total_value NUMERIC NOT NULL,     -- equity in money (a portfolio: the members' sum)
  positions JSONB NOT NULL DEFAULT '{}',  -- {symbol: {q, pnl, px, at, n}}, open positions
  bench NUMERIC,                    -- BTC's close that day
  ret NUMERIC NOT NULL,             -- the day's return
  bret NUMERIC,                     -- BTC's return that day (NULL without both closes)
  -- the returns' count, mean and Σ(r - mean)² (Welford's update, stable in float8),
  -- Σ min(r, 0)² for Sortino, and the range for the flatness rule
  n INTEGER NOT NULL, mean_r FLOAT8 NOT NULL, m2_r FLOAT8 NOT NULL, sdn2 FLOAT8 NOT NULL,
  rmin NUMERIC NOT NULL, rmax NUMERIC NOT NULL,
  -- the days with a benchmark return: means, Σ(x - mean)² and the co-moment Σ(r - mr)(b - mb)
  nb INTEGER NOT NULL, mean_pr FLOAT8 NOT NULL, mean_pb FLOAT8 NOT NULL, m2_pr FLOAT8 NOT NULL,
  m2_pb FLOAT8 NOT NULL, c_rb FLOAT8 NOT NULL,
  prmin NUMERIC, prmax NUMERIC, bmin NUMERIC, bmax NUMERIC,
  peak NUMERIC NOT NULL, peak_day DATE NOT NULL,
  mdd NUMERIC NOT NULL, mdd_peak DATE, mdd_trough DATE,
  exposed INTEGER NOT NULL,
  trips INTEGER NOT NULL, wins INTEGER NOT NULL, losses INTEGER NOT NULL,
  gross_win NUMERIC NOT NULL, gross_loss NUMERIC NOT NULL, pnl_sum NUMERIC NOT NULL,
  best NUMERIC, worst NUMERIC,
  fills INTEGER NOT NULL,
  PRIMARY KEY (subject_id, day)
);
-- A step reads one day of every subject: without this it scans the whole key (subject, day).
CREATE INDEX analytics_state_day_idx ON private.analytics_state (day);
-- No statistics on day: every day already stored is a most-common value, so the day being
-- written (not among them) was estimated at one row, and the planner joined every account
-- against a scan of the whole day (10,000 accounts: 4 s a day became 20 s). Without them
-- an equality is estimated at 0.5 % of the rows, never one.
ALTER TABLE private.analytics_state ALTER COLUMN day SET STATISTICS 0;
REVOKE ALL ON private.analytics_state FROM PUBLIC;

-- One day's inputs to the state, filled by each subject kind's step (a temporary table of
-- this shape) and folded in by private.analytics_advance: the one place the sums move.
CREATE TABLE private.analytics_input (
  subject_id UUID NOT NULL PRIMARY KEY,
  kind TEXT NOT NULL,
  user_id UUID NOT NULL,
  epoch INTEGER NOT NULL,
  fresh BOOLEAN NOT NULL,           -- the series starts this day (no state the day before)
  start_equity NUMERIC NOT NULL,
  start_bench NUMERIC,
  base NUMERIC,                     -- NULL: the day before's equity (or start_equity if fresh)
  equity NUMERIC NOT NULL,
  cash NUMERIC NOT NULL,
  total_value NUMERIC NOT NULL,
  positions JSONB NOT NULL,
  bench NUMERIC,
  exposed BOOLEAN NOT NULL,
  trips INTEGER NOT NULL, wins INTEGER NOT NULL, losses INTEGER NOT NULL,
  gross_win NUMERIC NOT NULL, gross_loss NUMERIC NOT NULL, pnl_sum NUMERIC NOT NULL,
  best NUMERIC, worst NUMERIC, fills INTEGER NOT NULL
);
REVOKE ALL ON private.analytics_input FROM PUBLIC;

-- ------------------------------------------------------------------ prices at a day's close
-- The close of p_symbol at p_end (a UTC midnight): the latest observation before it, a
-- candle of any timeframe that has closed by then or the cached price if it was updated
-- before then; NULL when there is none (the caller carries the last known price).
CREATE FUNCTION private.close_at(p_symbol text, p_end timestamptz) RETURNS numeric
LANGUAGE sql STABLE SET search_path = '' AS $$
  SELECT o.px FROM (
    SELECT c.close AS px, c.open_time + tf.span AS at, tf.span
      FROM (VALUES ('1m', interval '1 minute'), ('5m', interval '5 minutes'),
                   ('15m', interval '15 minutes'), ('30m', interval '30 minutes'),
                   ('1h', interval '1 hour'), ('4h', interval '4 hours'),
                   ('1d', interval '1 day')) AS tf(name, span)
      CROSS JOIN LATERAL (
        SELECT k.close, k.open_time FROM public.market_candles k
         WHERE k.symbol = p_symbol AND k.timeframe = tf.name AND k.open_time <= p_end - tf.span
         ORDER BY k.open_time DESC LIMIT 1) c
    UNION ALL
    SELECT m.price_usd, m.last_updated, interval '0'
      FROM public.market_data_cache m
     WHERE m.symbol = p_symbol AND m.last_updated < p_end
  ) o
  ORDER BY o.at DESC, o.span DESC
  LIMIT 1
$$;

-- ------------------------------------------------------------------ the shared fold
-- Folds today's inputs (temporary table _analytics_input) into the state of p_day.
-- r = (equity - base) / base, 0 when base is 0 (a return from zero equity is flat, as in
-- metrics.returns_from_equity); b = bench / bench the day before - 1.
CREATE FUNCTION private.analytics_advance(p_day date) RETURNS integer
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
  written integer;
BEGIN
  INSERT INTO private.analytics_state AS s
  SELECT x.subject_id, p_day, x.kind, x.user_id, x.epoch, x.first_day, x.start_equity, x.start_bench,
         x.base_v, x.equity, x.cash, x.total_value, x.positions, x.bench, x.r, x.b,
         x.n0 + 1, x.mean_r, x.m2_r0 + (x.rf - x.mean_r0) * (x.rf - x.mean_r),
         x.sdn20 + least(x.rf, 0) * least(x.rf, 0),
         least(x.rmin0, x.r), greatest(x.rmax0, x.r),
         x.nb0 + (x.b IS NOT NULL)::int,
         CASE WHEN x.b IS NULL THEN x.mean_pr0 ELSE x.mean_pr END,
         CASE WHEN x.b IS NULL THEN x.mean_pb0 ELSE x.mean_pb END,
         CASE WHEN x.b IS NULL THEN x.m2_pr0 ELSE x.m2_pr0 + (x.rf - x.mean_pr0) * (x.rf - x.mean_pr) END,
         CASE WHEN x.b IS NULL THEN x.m2_pb0 ELSE x.m2_pb0 + (x.bf - x.mean_pb0) * (x.bf - x.mean_pb) END,
         CASE WHEN x.b IS NULL THEN x.c_rb0 ELSE x.c_rb0 + (x.rf - x.mean_pr0) * (x.bf - x.mean_pb) END,
         CASE WHEN x.b IS NULL THEN x.prmin0 ELSE least(x.prmin0, x.r) END,
         CASE WHEN x.b IS NULL THEN x.prmax0 ELSE greatest(x.prmax0, x.r) END,
         least(x.bmin0, x.b), greatest(x.bmax0, x.b),
         greatest(x.peak0, x.equity),
         CASE WHEN x.equity >= x.peak0 THEN p_day ELSE x.peak_day0 END,
         CASE WHEN x.dd > x.mdd0 THEN x.dd ELSE x.mdd0 END,
         CASE WHEN x.dd > x.mdd0 THEN x.peak_day0 ELSE x.mdd_peak0 END,
         CASE WHEN x.dd > x.mdd0 THEN p_day ELSE x.mdd_trough0 END,
         x.exposed0 + x.exposed::int,
         x.trips0 + x.trips, x.wins0 + x.wins, x.losses0 + x.losses,
         x.gross_win0 + x.gross_win, x.gross_loss0 + x.gross_loss, x.pnl_sum0 + x.pnl_sum,
         CASE WHEN x.best0 IS NULL OR x.best > x.best0 THEN coalesce(x.best, x.best0) ELSE x.best0 END,
         CASE WHEN x.worst0 IS NULL OR x.worst < x.worst0 THEN coalesce(x.worst, x.worst0) ELSE x.worst0 END,
         x.fills0 + x.fills
    FROM (
      SELECT i.*, base.v AS base_v, r.r, b.b, d.dd, r.r::float8 AS rf, b.b::float8 AS bf,
             coalesce(p.mean_r, 0) + (r.r::float8 - coalesce(p.mean_r, 0)) / (coalesce(p.n, 0) + 1) AS mean_r,
             coalesce(p.mean_pr, 0) + (r.r::float8 - coalesce(p.mean_pr, 0)) / (coalesce(p.nb, 0) + 1) AS mean_pr,
             coalesce(p.mean_pb, 0) + (b.b::float8 - coalesce(p.mean_pb, 0)) / (coalesce(p.nb, 0) + 1) AS mean_pb,
             CASE WHEN p.day IS NULL THEN p_day ELSE p.first_day END AS first_day,
             coalesce(p.n, 0) AS n0, coalesce(p.mean_r, 0) AS mean_r0, coalesce(p.m2_r, 0) AS m2_r0,
             coalesce(p.sdn2, 0) AS sdn20, coalesce(p.rmin, r.r) AS rmin0, coalesce(p.rmax, r.r) AS rmax0,
             coalesce(p.nb, 0) AS nb0, coalesce(p.mean_pr, 0) AS mean_pr0, coalesce(p.mean_pb, 0) AS mean_pb0,
             coalesce(p.m2_pr, 0) AS m2_pr0, coalesce(p.m2_pb, 0) AS m2_pb0, coalesce(p.c_rb, 0) AS c_rb0,
             p.prmin AS prmin0, p.prmax AS prmax0, p.bmin AS bmin0, p.bmax AS bmax0,
             coalesce(p.peak, i.start_equity) AS peak0,
             coalesce(p.peak_day, p_day - 1) AS peak_day0,
             coalesce(p.mdd, 0) AS mdd0, p.mdd_peak AS mdd_peak0, p.mdd_trough AS mdd_trough0,
             coalesce(p.exposed, 0) AS exposed0, coalesce(p.trips, 0) AS trips0,
             coalesce(p.wins, 0) AS wins0, coalesce(p.losses, 0) AS losses0,
             coalesce(p.gross_win, 0) AS gross_win0, coalesce(p.gross_loss, 0) AS gross_loss0,
             coalesce(p.pnl_sum, 0) AS pnl_sum0, p.best AS best0, p.worst AS worst0,
             coalesce(p.fills, 0) AS fills0
        FROM _analytics_input i
        LEFT JOIN private.analytics_state p
          ON NOT i.fresh AND p.subject_id = i.subject_id AND p.day = p_day - 1 AND p.epoch = i.epoch
        CROSS JOIN LATERAL (SELECT coalesce(i.base, CASE WHEN p.day IS NULL THEN i.start_equity ELSE p.equity END) AS v) base
        CROSS JOIN LATERAL (SELECT CASE WHEN base.v > 0 THEN round((i.equity - base.v) / base.v, 20) ELSE 0 END AS r) r
        CROSS JOIN LATERAL (
          SELECT round(i.bench / nullif(CASE WHEN p.day IS NULL THEN i.start_bench ELSE p.bench END, 0) - 1, 20) AS b) b
        CROSS JOIN LATERAL (
          SELECT CASE WHEN greatest(coalesce(p.peak, i.start_equity), i.equity) > 0
                      THEN (greatest(coalesce(p.peak, i.start_equity), i.equity) - i.equity)
                           / greatest(coalesce(p.peak, i.start_equity), i.equity)
                      ELSE 0 END AS dd) d
    ) x
  ON CONFLICT (subject_id, day) DO UPDATE SET
    kind = EXCLUDED.kind, user_id = EXCLUDED.user_id, epoch = EXCLUDED.epoch,
    first_day = EXCLUDED.first_day, start_equity = EXCLUDED.start_equity,
    start_bench = EXCLUDED.start_bench, base = EXCLUDED.base, equity = EXCLUDED.equity,
    cash = EXCLUDED.cash, total_value = EXCLUDED.total_value, positions = EXCLUDED.positions,
    bench = EXCLUDED.bench, ret = EXCLUDED.ret, bret = EXCLUDED.bret, n = EXCLUDED.n,
    mean_r = EXCLUDED.mean_r, m2_r = EXCLUDED.m2_r, sdn2 = EXCLUDED.sdn2, rmin = EXCLUDED.rmin,
    rmax = EXCLUDED.rmax, nb = EXCLUDED.nb, mean_pr = EXCLUDED.mean_pr, mean_pb = EXCLUDED.mean_pb,
    m2_pr = EXCLUDED.m2_pr, m2_pb = EXCLUDED.m2_pb, c_rb = EXCLUDED.c_rb, prmin = EXCLUDED.prmin,
    prmax = EXCLUDED.prmax, bmin = EXCLUDED.bmin, bmax = EXCLUDED.bmax, peak = EXCLUDED.peak,
    peak_day = EXCLUDED.peak_day, mdd = EXCLUDED.mdd, mdd_peak = EXCLUDED.mdd_peak,
    mdd_trough = EXCLUDED.mdd_trough, exposed = EXCLUDED.exposed, trips = EXCLUDED.trips,
    wins = EXCLUDED.wins, losses = EXCLUDED.losses, gross_win = EXCLUDED.gross_win,
    gross_loss = EXCLUDED.gross_loss, pnl_sum = EXCLUDED.pnl_sum, best = EXCLUDED.best,
    worst = EXCLUDED.worst, fills = EXCLUDED.fills;
  GET DIAGNOSTICS written = ROW_COUNT;
  RETURN written;
END
$$;

-- ------------------------------------------------------------------ the measures
-- analytics/metrics.py's formulas over one state row (annualised over 365 days; undefined
-- is NULL, as metrics.py's None). Flat means max - min <= 1e-12 * max(|max|, |min|).

-- Plain SQL without a pinned search_path, so the planner inlines both into the step's query
-- (a PL/pgSQL call per row cost three times the whole step).
CREATE FUNCTION private.is_flat(lo numeric, hi numeric) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT hi - lo <= 1e-12 * greatest(abs(hi), abs(lo))
$$;

-- The sums are exact NUMERIC; the centred sums (Σr² - (Σr)²/n and the like) are taken
-- exactly too, and the rest runs in float8, as metrics.py's numpy does (NUMERIC division and
-- roots at forty digits cost more than the whole rest of the step).
CREATE VIEW private.analytics_measured AS
  SELECT s.*,
    CASE WHEN s.start_equity > 0 THEN (s.equity - s.start_equity) / s.start_equity END AS total_return,
    s.ret AS daily_return,
    s.equity / nullif(lag.e7, 0) - 1 AS weekly_return,
    s.equity / nullif(lag.e30, 0) - 1 AS monthly_return,
    s.equity / nullif(lag.e90, 0) - 1 AS quarterly_return,
    s.equity / nullif(lag.e365, 0) - 1 AS yearly_return,
    cagr.v::numeric AS annual_return,
    CASE WHEN s.n >= 2 THEN CASE WHEN v.flat THEN 0 ELSE v.sd * sqrt(365.0) END END::numeric AS volatility,
    CASE WHEN s.n >= 2 AND NOT v.flat AND v.sd > 0
         THEN s.mean_r / v.sd * sqrt(365.0) END::numeric AS sharpe_ratio,
    CASE WHEN s.n >= 2 AND v.dsd > 0
         THEN s.mean_r * 365 / (v.dsd * sqrt(365.0)) END::numeric AS sortino_ratio,
    CASE WHEN s.n >= 1 THEN s.mdd END AS max_drawdown,
    CASE WHEN s.n >= 1 THEN CASE WHEN s.peak > 0 THEN (s.peak - s.equity) / s.peak ELSE 0 END END AS current_drawdown,
    CASE WHEN s.n >= 1 AND s.mdd > 0 THEN cagr.v / s.mdd::float8 END::numeric AS calmar_ratio,
    CASE WHEN ab.mean_alpha > -1 AND 365 * ln(1 + ab.mean_alpha) < 709
         THEN exp(365 * ln(1 + ab.mean_alpha)) - 1 END::numeric AS alpha,
    ab.beta::numeric AS beta,
    CASE WHEN ab.beta IS NOT NULL AND NOT private.is_flat(s.prmin, s.prmax) AND ab.var_r > 0
         THEN least(1, greatest(-1, ab.cov / sqrt(ab.var_r * ab.var_b))) END::numeric AS correlation,
    CASE WHEN s.trips > 0 THEN s.wins::numeric / s.trips END AS win_rate,
    CASE WHEN s.wins > 0 THEN s.gross_win / s.wins END AS avg_win,
    CASE WHEN s.losses > 0 THEN s.gross_loss / s.losses END AS avg_loss,
    CASE WHEN s.losses > 0 THEN s.gross_win / -s.gross_loss END AS profit_factor,
    CASE WHEN s.trips > 0 THEN s.pnl_sum / s.trips END AS expectancy,
    CASE WHEN s.trips > 0 THEN s.best END AS best_trade,
    CASE WHEN s.trips > 0 THEN s.worst END AS worst_trade,
    CASE WHEN s.n >= 1 THEN s.exposed::numeric / s.n END AS exposure
  FROM private.analytics_state s
    -- the closes 7, 30, 90 and 365 days before (the series' start point when it began later)
    CROSS JOIN LATERAL (SELECT
       CASE WHEN s.day - 7 < s.first_day THEN s.start_equity ELSE (
         SELECT p.equity FROM private.analytics_state p
          WHERE p.subject_id = s.subject_id AND p.day = s.day - 7 AND p.epoch = s.epoch) END AS e7,
       CASE WHEN s.day - 30 < s.first_day THEN s.start_equity ELSE (
         SELECT p.equity FROM private.analytics_state p
          WHERE p.subject_id = s.subject_id AND p.day = s.day - 30 AND p.epoch = s.epoch) END AS e30,
       CASE WHEN s.day - 90 < s.first_day THEN s.start_equity ELSE (
         SELECT p.equity FROM private.analytics_state p
          WHERE p.subject_id = s.subject_id AND p.day = s.day - 90 AND p.epoch = s.epoch) END AS e90,
       CASE WHEN s.day - 365 < s.first_day THEN s.start_equity ELSE (
         SELECT p.equity FROM private.analytics_state p
          WHERE p.subject_id = s.subject_id AND p.day = s.day - 365 AND p.epoch = s.epoch) END AS e365
    ) lag
    CROSS JOIN LATERAL (
      SELECT CASE WHEN s.n >= 2 THEN private.is_flat(s.rmin, s.rmax) END AS flat,
             CASE WHEN s.n >= 2 THEN sqrt(greatest(s.m2_r, 0) / (s.n - 1)) END AS sd,
             CASE WHEN s.n >= 2 THEN sqrt(s.sdn2 / s.n) END AS dsd) v
    -- CAGR = (e_last / e_first) ^ (365 / n) - 1, NULL when it overflows a float8
    CROSS JOIN LATERAL (SELECT CASE WHEN s.n >= 1 AND s.start_equity > 0 THEN
              CASE WHEN s.equity <= 0 THEN -1::float8
                   WHEN g.x * 365 / s.n < 709 THEN exp(g.x * 365 / s.n) - 1 END
            END AS v
       FROM (SELECT CASE WHEN s.equity > 0 AND s.start_equity > 0
                         THEN ln(s.equity::float8 / s.start_equity::float8) END AS x) g) cagr
    -- beta = cov(r, b) / var(b); the per-day alpha mean(r - beta * b), compounded over 365
    CROSS JOIN LATERAL (SELECT b.beta, b.cov, b.var_b, b.var_r,
            CASE WHEN b.beta IS NOT NULL THEN s.mean_pr - b.beta * s.mean_pb END AS mean_alpha
       FROM (SELECT s.c_rb AS cov, s.m2_pb AS var_b, s.m2_pr AS var_r,
                    CASE WHEN s.nb >= 2 AND NOT private.is_flat(s.bmin, s.bmax) AND s.m2_pb > 0
                         THEN s.c_rb / s.m2_pb END AS beta) b
    ) ab;
REVOKE ALL ON private.analytics_measured FROM PUBLIC;

-- ------------------------------------------------------------------ accounts: one day
-- The epoch an account was in at the end of p_day, and when that epoch began.
CREATE FUNCTION private.analytics_accounts_step(p_day date, p_accounts uuid[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
  v_begin timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
  v_end timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
  v_bench numeric := private.close_at('BTC', (p_day + 1)::timestamp AT TIME ZONE 'UTC');
  v_bench_before numeric := private.close_at('BTC', p_day::timestamp AT TIME ZONE 'UTC');
  written integer;
BEGIN
  CREATE TEMPORARY TABLE IF NOT EXISTS _analytics_input (LIKE private.analytics_input INCLUDING ALL)
    ON COMMIT DROP;
  TRUNCATE _analytics_input;

  -- the accounts and where each one's day starts
  CREATE TEMPORARY TABLE _acct ON COMMIT DROP AS
  SELECT a.id, a.user_id, a.initial_balance, e.epoch, p.day IS NULL AS fresh,
         coalesce(p.cash, a.initial_balance) AS cash0, coalesce(p.positions, '{}'::jsonb) AS positions0,
         CASE WHEN p.day IS NULL THEN v_bench_before ELSE p.start_bench END AS start_bench
    FROM public.paper_trading_accounts a
    CROSS JOIN LATERAL (
      SELECT a.epoch - count(*)::int AS epoch FROM public.paper_account_audit r
       WHERE r.account_id = a.id AND r.action = 'account_reset' AND r.created_at >= v_end) e
    LEFT JOIN private.analytics_state p
      ON p.subject_id = a.id AND p.day = p_day - 1 AND p.epoch = e.epoch
   WHERE a.created_at < v_end AND (p_accounts IS NULL OR a.id = ANY (p_accounts));
  ALTER TABLE _acct ADD PRIMARY KEY (id);
  ANALYZE _acct;

  -- the fills to apply: the day's, or the whole epoch's so far when the series starts today
  CREATE TEMPORARY TABLE _fills ON COMMIT DROP AS
  SELECT t.account_id, t.symbol, t.filled_at, t.id,
         CASE WHEN t.side = 'buy' THEN t.amount ELSE -t.amount END AS q,
         CASE WHEN t.side = 'buy' THEN -(t.total_value + t.fee) ELSE t.total_value - t.fee END AS cash,
         t.realized_pnl - t.fee AS pnl, t.execution_price AS px
    FROM public.paper_trades t JOIN _acct a ON a.id = t.account_id AND NOT a.fresh
   WHERE t.status = 'completed' AND t.filled_at >= v_begin AND t.filled_at < v_end
     AND t.created_at < v_end AND t.account_epoch = a.epoch
  UNION ALL
  SELECT t.account_id, t.symbol, t.filled_at, t.id,
         CASE WHEN t.side = 'buy' THEN t.amount ELSE -t.amount END,
         CASE WHEN t.side = 'buy' THEN -(t.total_value + t.fee) ELSE t.total_value - t.fee END,
         t.realized_pnl - t.fee, t.execution_price
    FROM _acct a JOIN public.paper_trades t ON t.account_id = a.id
   WHERE a.fresh AND t.status = 'completed' AND t.filled_at < v_end AND t.created_at < v_end
     AND t.account_epoch = a.epoch;

  -- carried positions and the fills, leg by leg: the running quantity, and the round trip
  -- each fill belongs to (a trip ends where the quantity comes back to zero)
  CREATE TEMPORARY TABLE _legs ON COMMIT DROP AS
  WITH carry AS (
    SELECT a.id AS account_id, c.key AS symbol, (c.value ->> 'q')::numeric AS q,
           (c.value ->> 'pnl')::numeric AS pnl, (c.value ->> 'px')::numeric AS px,
           (c.value ->> 'at')::timestamptz AS at, (c.value ->> 'n')::int AS n
      FROM _acct a CROSS JOIN LATERAL jsonb_each(a.positions0) c
  ), runs AS (
    SELECT f.*, coalesce(c.q, 0) + sum(f.q) OVER w AS run
      FROM _fills f LEFT JOIN carry c USING (account_id, symbol)
    WINDOW w AS (PARTITION BY f.account_id, f.symbol ORDER BY f.filled_at, f.id)
  ), numbered AS (
    SELECT r.*, r.run = 0 AS closes,
           coalesce(sum((r.run = 0)::int) OVER (PARTITION BY r.account_id, r.symbol ORDER BY r.filled_at, r.id
                                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS trip
      FROM runs r
  )
  SELECT n.account_id, n.symbol, n.trip,
         bool_or(n.closes) AS closed,
         CASE WHEN n.trip = 0 THEN min(c.at) END AS carried_at,
         min(n.filled_at) AS first_at, max(n.filled_at) AS last_at,
         sum(n.pnl) + CASE WHEN n.trip = 0 THEN coalesce(min(c.pnl), 0) ELSE 0 END AS pnl,
         count(*)::int + CASE WHEN n.trip = 0 THEN coalesce(min(c.n), 0) ELSE 0 END AS fills,
         (array_agg(n.run ORDER BY n.filled_at DESC, n.id DESC))[1] AS q,
         (array_agg(n.px ORDER BY n.filled_at DESC, n.id DESC))[1] AS px
    FROM numbered n LEFT JOIN carry c ON c.account_id = n.account_id AND c.symbol = n.symbol
   GROUP BY n.account_id, n.symbol, n.trip
  UNION ALL
  -- carried positions without a fill today stay open as they were
  SELECT c.account_id, c.symbol, 0, false, c.at, c.at, c.at, c.pnl, c.n, c.q, c.px
    FROM carry c
   WHERE NOT EXISTS (SELECT 1 FROM _fills f WHERE f.account_id = c.account_id AND f.symbol = c.symbol);

  -- the day's closed round trips (rewritten: a rerun of the day gives the same rows)
  DELETE FROM public.account_round_trips rt
   USING _acct a
   WHERE rt.account_id = a.id AND rt.closed_at >= v_begin AND rt.closed_at < v_end;
  DELETE FROM public.account_round_trips rt
   USING _acct a
   WHERE a.fresh AND rt.account_id = a.id AND rt.epoch = a.epoch AND rt.closed_at < v_begin;
  INSERT INTO public.account_round_trips (account_id, user_id, epoch, symbol, opened_at, closed_at, pnl, fills)
  SELECT l.account_id, a.user_id, a.epoch, l.symbol, coalesce(l.carried_at, l.first_at), l.last_at, l.pnl, l.fills
    FROM _legs l JOIN _acct a ON a.id = l.account_id
   WHERE l.closed;

  -- prices at the day's close for every symbol still held
  CREATE TEMPORARY TABLE _px ON COMMIT DROP AS
  SELECT s.symbol, private.close_at(s.symbol, v_end) AS close
    FROM (SELECT DISTINCT symbol FROM _legs WHERE NOT closed AND q > 0) s;

  INSERT INTO _analytics_input
  SELECT a.id, 'account', a.user_id, a.epoch, a.fresh, a.initial_balance, a.start_bench, NULL,
         a.cash0 + coalesce(f.cash, 0) + coalesce(pos.value, 0), a.cash0 + coalesce(f.cash, 0),
         a.cash0 + coalesce(f.cash, 0) + coalesce(pos.value, 0), coalesce(pos.positions, '{}'::jsonb),
         v_bench, coalesce(pos.value, 0) > 0,
         coalesce(t.trips, 0), coalesce(t.wins, 0), coalesce(t.losses, 0),
         coalesce(t.gross_win, 0), coalesce(t.gross_loss, 0), coalesce(t.pnl_sum, 0), t.best, t.worst,
         coalesce(f.fills, 0)
    FROM _acct a
    LEFT JOIN (
      SELECT l.account_id, sum(l.q * coalesce(px.close, l.px)) AS value,
             jsonb_object_agg(l.symbol, jsonb_build_object(
               'q', l.q, 'pnl', l.pnl, 'px', coalesce(px.close, l.px),
               'at', coalesce(l.carried_at, l.first_at), 'n', l.fills)) AS positions
        FROM _legs l LEFT JOIN _px px ON px.symbol = l.symbol
       WHERE NOT l.closed AND l.q > 0
       GROUP BY l.account_id) pos ON pos.account_id = a.id
    LEFT JOIN (
      SELECT l.account_id, count(*)::int AS trips, count(*) FILTER (WHERE l.pnl > 0)::int AS wins,
             count(*) FILTER (WHERE l.pnl < 0)::int AS losses,
             coalesce(sum(l.pnl) FILTER (WHERE l.pnl > 0), 0) AS gross_win,
             coalesce(sum(l.pnl) FILTER (WHERE l.pnl < 0), 0) AS gross_loss,
             sum(l.pnl) AS pnl_sum, max(l.pnl) AS best, min(l.pnl) AS worst
        FROM _legs l WHERE l.closed GROUP BY l.account_id) t ON t.account_id = a.id
    LEFT JOIN (SELECT x.account_id, sum(x.cash) AS cash, count(*)::int AS fills
                 FROM _fills x GROUP BY x.account_id) f ON f.account_id = a.id;

  PERFORM private.analytics_advance(p_day);

  -- the public rows
  INSERT INTO public.account_analytics AS aa (
    account_id, user_id, analytics_date, daily_return, weekly_return, monthly_return,
    quarterly_return, yearly_return, volatility, sharpe_ratio, sortino_ratio, max_drawdown,
    current_drawdown, total_trades, winning_trades, losing_trades, win_rate, avg_win, avg_loss,
    profit_factor, active_positions, largest_position, portfolio_diversity, cash_percentage,
    benchmark_return, alpha, beta, correlation, custom_metrics)
  SELECT s.subject_id, s.user_id, p_day, s.daily_return, s.weekly_return, s.monthly_return,
         s.quarterly_return, s.yearly_return, s.volatility, s.sharpe_ratio, s.sortino_ratio,
         s.max_drawdown, s.current_drawdown, s.trips, s.wins, s.losses, s.win_rate, s.avg_win,
         s.avg_loss, s.profit_factor, h.active, h.largest,
         CASE WHEN h.invested > 0 THEN 1 - h.sq / (h.invested * h.invested) END,
         CASE WHEN s.equity > 0 THEN s.cash / s.equity * 100 END,
         s.bret, s.alpha, s.beta, s.correlation,
         jsonb_build_object(
           'equity', s.equity, 'epoch', s.epoch, 'days', s.n,
           'first_day', s.first_day, 'start_equity', s.start_equity,
           'start_benchmark', s.start_bench, 'benchmark_close', s.bench,
           'total_return', s.total_return,
           'annual_return', s.annual_return, 'calmar_ratio', s.calmar_ratio,
           'expectancy', s.expectancy, 'best_trade', s.best_trade, 'worst_trade', s.worst_trade,
           'exposure', s.exposure, 'fills', s.fills,
           'max_drawdown_start', s.mdd_peak, 'max_drawdown_end', s.mdd_trough)
    FROM private.analytics_measured s
    JOIN _analytics_input i ON i.subject_id = s.subject_id
    CROSS JOIN LATERAL (
      SELECT count(*)::int AS active,
             coalesce(max(v.value), 0) AS largest,
             coalesce(sum(v.value), 0) AS invested,
             coalesce(sum(v.value * v.value), 0) AS sq
        FROM jsonb_each(s.positions) p
        CROSS JOIN LATERAL (SELECT (p.value ->> 'q')::numeric * (p.value ->> 'px')::numeric AS value) v) h
   WHERE s.day = p_day
  ON CONFLICT (account_id, analytics_date) DO UPDATE
     SET daily_return = EXCLUDED.daily_return, weekly_return = EXCLUDED.weekly_return,
         monthly_return = EXCLUDED.monthly_return, quarterly_return = EXCLUDED.quarterly_return,
         yearly_return = EXCLUDED.yearly_return, volatility = EXCLUDED.volatility,
         sharpe_ratio = EXCLUDED.sharpe_ratio, sortino_ratio = EXCLUDED.sortino_ratio,
         max_drawdown = EXCLUDED.max_drawdown, current_drawdown = EXCLUDED.current_drawdown,
         total_trades = EXCLUDED.total_trades, winning_trades = EXCLUDED.winning_trades,
         losing_trades = EXCLUDED.losing_trades, win_rate = EXCLUDED.win_rate,
         avg_win = EXCLUDED.avg_win, avg_loss = EXCLUDED.avg_loss,
         profit_factor = EXCLUDED.profit_factor, active_positions = EXCLUDED.active_positions,
         largest_position = EXCLUDED.largest_position,
         portfolio_diversity = EXCLUDED.portfolio_diversity,
         cash_percentage = EXCLUDED.cash_percentage, benchmark_return = EXCLUDED.benchmark_return,
         alpha = EXCLUDED.alpha, beta = EXCLUDED.beta, correlation = EXCLUDED.correlation,
         custom_metrics = EXCLUDED.custom_metrics, updated_at = now();
  GET DIAGNOSTICS written = ROW_COUNT;
  DROP TABLE _acct, _fills, _legs, _px;
  RETURN written;
END
$$;

-- ------------------------------------------------------------------ portfolios: one day
-- After the members' day: the portfolio's total value is the members' equity summed; its
-- day's return is Σ (equity - base) / Σ base over the members in it by the day's end, each
-- member's base being its own (the day before's equity, or its initial balance on the day
-- its series starts), so adding a member or resetting one moves the value, not the return.
CREATE FUNCTION private.analytics_portfolios_step(p_day date, p_portfolios uuid[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
  v_end timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
  v_bench numeric := private.close_at('BTC', (p_day + 1)::timestamp AT TIME ZONE 'UTC');
  v_bench_before numeric := private.close_at('BTC', p_day::timestamp AT TIME ZONE 'UTC');
  written integer;
BEGIN
  CREATE TEMPORARY TABLE IF NOT EXISTS _analytics_input (LIKE private.analytics_input INCLUDING ALL)
    ON COMMIT DROP;
  TRUNCATE _analytics_input;

  CREATE TEMPORARY TABLE _pf ON COMMIT DROP AS
  SELECT p.id, p.user_id,
         sum(s.equity) AS total_value, sum(s.base) AS base, sum(s.cash) AS cash,
         sum(s.equity - s.base) AS pnl, bool_or(s.positions <> '{}'::jsonb) AS exposed,
         sum(s.fills)::int AS fills, '{}'::jsonb AS positions, sum(a.initial_balance) AS initial
    FROM public.portfolios p
    JOIN public.portfolio_accounts pa ON pa.portfolio_id = p.id AND pa.added_at < v_end
    JOIN public.paper_trading_accounts a ON a.id = pa.account_id
    LEFT JOIN private.analytics_state s ON s.subject_id = pa.account_id AND s.day = p_day
   WHERE p_portfolios IS NULL OR p.id = ANY (p_portfolios)
   GROUP BY p.id, p.user_id
  -- a portfolio is written once every member's day is (a single account's run may not be)
  HAVING bool_and(s.subject_id IS NOT NULL);
  -- the positions across members: quantity and value per symbol
  UPDATE _pf f
     SET positions = coalesce((
       SELECT jsonb_object_agg(q.symbol, jsonb_build_object('quantity', q.quantity, 'value', q.value,
                                                             'price', q.price))
         FROM (SELECT c.key AS symbol, sum((c.value ->> 'q')::numeric) AS quantity,
                      sum((c.value ->> 'q')::numeric * (c.value ->> 'px')::numeric) AS value,
                      max((c.value ->> 'px')::numeric) AS price
                 FROM public.portfolio_accounts pa
                 JOIN private.analytics_state s ON s.subject_id = pa.account_id AND s.day = p_day
                 CROSS JOIN LATERAL jsonb_each(s.positions) c
                WHERE pa.portfolio_id = f.id AND pa.added_at < v_end
                GROUP BY c.key) q), '{}'::jsonb);

  INSERT INTO _analytics_input
  SELECT f.id, 'portfolio', f.user_id, 0, p.day IS NULL,
         coalesce(p.start_equity, f.base), CASE WHEN p.day IS NULL THEN v_bench_before ELSE p.start_bench END,
         coalesce(p.equity, f.base),
         -- the equity index moves by the day's flow-adjusted return
         -- (rounded to 12 places: a product of daily factors would otherwise grow 20 digits a day)
         round(coalesce(p.equity, f.base) * (1 + CASE WHEN f.base > 0 THEN f.pnl / f.base ELSE 0 END), 12),
         f.cash, f.total_value, f.positions, v_bench, f.exposed,
         coalesce(t.trips, 0), coalesce(t.wins, 0), coalesce(t.losses, 0),
         coalesce(t.gross_win, 0), coalesce(t.gross_loss, 0), coalesce(t.pnl_sum, 0), t.best, t.worst,
         f.fills
    FROM _pf f
    LEFT JOIN private.analytics_state p ON p.subject_id = f.id AND p.day = p_day - 1
    LEFT JOIN LATERAL (
      SELECT count(*)::int AS trips, count(*) FILTER (WHERE rt.pnl > 0)::int AS wins,
             count(*) FILTER (WHERE rt.pnl < 0)::int AS losses,
             coalesce(sum(rt.pnl) FILTER (WHERE rt.pnl > 0), 0) AS gross_win,
             coalesce(sum(rt.pnl) FILTER (WHERE rt.pnl < 0), 0) AS gross_loss,
             sum(rt.pnl) AS pnl_sum, max(rt.pnl) AS best, min(rt.pnl) AS worst
        FROM public.portfolio_accounts pa
        JOIN public.account_round_trips rt ON rt.account_id = pa.account_id
       WHERE pa.portfolio_id = f.id AND pa.added_at < v_end
         AND rt.closed_at >= p_day::timestamp AT TIME ZONE 'UTC' AND rt.closed_at < v_end) t ON true;

  PERFORM private.analytics_advance(p_day);

  INSERT INTO public.portfolio_snapshots AS ps (user_id, portfolio_id, snapshot_date, total_value,
                                               pnl_daily, pnl_percentage, positions_snapshot)
  SELECT f.user_id, f.id, p_day, f.total_value, f.pnl,
         CASE WHEN f.base > 0 THEN f.pnl / f.base * 100 ELSE 0 END, f.positions
    FROM _pf f
  ON CONFLICT (portfolio_id, snapshot_date) DO UPDATE
     SET total_value = EXCLUDED.total_value, pnl_daily = EXCLUDED.pnl_daily,
         pnl_percentage = EXCLUDED.pnl_percentage, positions_snapshot = EXCLUDED.positions_snapshot;

  INSERT INTO public.portfolio_analytics AS pa (
    portfolio_id, user_id, analytics_date, daily_return, weekly_return, monthly_return,
    quarterly_return, yearly_return, volatility, sharpe_ratio, sortino_ratio, max_drawdown,
    current_drawdown, total_trades, winning_trades, losing_trades, win_rate, avg_win, avg_loss,
    profit_factor, active_positions, largest_position, portfolio_diversity, cash_percentage,
    benchmark_return, alpha, beta, correlation, custom_metrics)
  SELECT s.subject_id, s.user_id, p_day, s.daily_return, s.weekly_return, s.monthly_return,
         s.quarterly_return, s.yearly_return, s.volatility, s.sharpe_ratio, s.sortino_ratio,
         s.max_drawdown, s.current_drawdown, s.trips, s.wins, s.losses, s.win_rate, s.avg_win,
         s.avg_loss, s.profit_factor, h.active, h.largest,
         CASE WHEN h.invested > 0 THEN 1 - h.sq / (h.invested * h.invested) END,
         CASE WHEN s.total_value > 0 THEN s.cash / s.total_value * 100 END,
         s.bret, s.alpha, s.beta, s.correlation,
         jsonb_build_object(
           'equity', s.equity, 'total_value', s.total_value, 'days', s.n,
           'first_day', s.first_day, 'start_equity', s.start_equity,
           'start_benchmark', s.start_bench, 'benchmark_close', s.bench,
           'total_return', s.total_return, 'annual_return', s.annual_return,
           'calmar_ratio', s.calmar_ratio, 'expectancy', s.expectancy,
           'best_trade', s.best_trade, 'worst_trade', s.worst_trade, 'exposure', s.exposure,
           'fills', s.fills, 'max_drawdown_start', s.mdd_peak, 'max_drawdown_end', s.mdd_trough)
    FROM private.analytics_measured s
    JOIN _analytics_input i ON i.subject_id = s.subject_id
    CROSS JOIN LATERAL (
      SELECT count(*)::int AS active, coalesce(max(v.value), 0) AS largest,
             coalesce(sum(v.value), 0) AS invested, coalesce(sum(v.value * v.value), 0) AS sq
        FROM jsonb_each(s.positions) p
        CROSS JOIN LATERAL (SELECT (p.value ->> 'value')::numeric AS value) v) h
   WHERE s.day = p_day
  ON CONFLICT (portfolio_id, analytics_date) DO UPDATE
     SET daily_return = EXCLUDED.daily_return, weekly_return = EXCLUDED.weekly_return,
         monthly_return = EXCLUDED.monthly_return, quarterly_return = EXCLUDED.quarterly_return,
         yearly_return = EXCLUDED.yearly_return, volatility = EXCLUDED.volatility,
         sharpe_ratio = EXCLUDED.sharpe_ratio, sortino_ratio = EXCLUDED.sortino_ratio,
         max_drawdown = EXCLUDED.max_drawdown, current_drawdown = EXCLUDED.current_drawdown,
         total_trades = EXCLUDED.total_trades, winning_trades = EXCLUDED.winning_trades,
         losing_trades = EXCLUDED.losing_trades, win_rate = EXCLUDED.win_rate,
         avg_win = EXCLUDED.avg_win, avg_loss = EXCLUDED.avg_loss,
         profit_factor = EXCLUDED.profit_factor, active_positions = EXCLUDED.active_positions,
         largest_position = EXCLUDED.largest_position,
         portfolio_diversity = EXCLUDED.portfolio_diversity,
         cash_percentage = EXCLUDED.cash_percentage, benchmark_return = EXCLUDED.benchmark_return,
         alpha = EXCLUDED.alpha, beta = EXCLUDED.beta, correlation = EXCLUDED.correlation,
         custom_metrics = EXCLUDED.custom_metrics, updated_at = now();
  GET DIAGNOSTICS written = ROW_COUNT;

  -- the portfolios' own money columns, true as of the latest day computed
  UPDATE public.portfolios p
     SET current_balance = f.cash, total_value = f.total_value,
         initial_balance = f.initial, total_pnl = f.total_value - f.initial,
         total_pnl_percentage = CASE WHEN f.initial > 0 THEN (f.total_value - f.initial) / f.initial * 100 ELSE 0 END,
         positions = f.positions, updated_at = now()
    FROM _pf f
   WHERE p.id = f.id
     AND NOT EXISTS (SELECT 1 FROM private.analytics_state l WHERE l.subject_id = f.id AND l.day > p_day);
  DROP TABLE _pf;
  RETURN written;
END
$$;

-- ------------------------------------------------------------------ a run: catch up, then the day
-- Writes p_day for the given accounts (NULL: all) and the portfolios holding them. An
-- account whose series has a gap before p_day (a run was missed, or it is new to the
-- analytics) is first brought up to date day by day from where its series stopped (or from
-- the day it was created), so every day's row is the one the daily job would have written.
CREATE FUNCTION private.analytics_run(p_day date, p_accounts uuid[] DEFAULT NULL)
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
    FROM public.paper_trading_accounts a
    LEFT JOIN LATERAL (
      SELECT s.day FROM private.analytics_state s
       WHERE s.subject_id = a.id AND s.day < p_day ORDER BY s.day DESC LIMIT 1) last ON true
   WHERE a.created_at < (p_day::timestamp AT TIME ZONE 'UTC')
     AND (p_accounts IS NULL OR a.id = ANY (p_accounts))
     AND NOT EXISTS (SELECT 1 FROM private.analytics_state y WHERE y.subject_id = a.id AND y.day = p_day - 1)
     AND coalesce(last.day, '-infinity'::date) < p_day - 1;
  SELECT min(next_day) INTO first_day FROM _lag;
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

-- A backfill's first half: forget the series from p_from on (all of it when NULL) for the
-- given accounts (NULL: all) and their portfolios; returns the first day to recompute
-- (NULL: none of the accounts existed by then). The caller then runs analytics_run() day by
-- day up to the last day (one unit per day): the same step as the daily job, the same rows.
CREATE FUNCTION private.analytics_forget(p_accounts uuid[] DEFAULT NULL, p_from date DEFAULT NULL)
RETURNS date
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  v_from date := coalesce(p_from, '-infinity'::date);
  pf uuid[];
  first_day date;
BEGIN
  SELECT array_agg(DISTINCT pa.portfolio_id) INTO pf FROM public.portfolio_accounts pa
   WHERE p_accounts IS NULL OR pa.account_id = ANY (p_accounts);
  pf := coalesce(pf, '{}');
  DELETE FROM private.analytics_state s
   WHERE s.day >= v_from
     AND ((s.kind = 'account' AND (p_accounts IS NULL OR s.subject_id = ANY (p_accounts)))
          OR (s.kind = 'portfolio' AND s.subject_id = ANY (pf)));
  DELETE FROM public.account_analytics a
   WHERE a.analytics_date >= v_from AND (p_accounts IS NULL OR a.account_id = ANY (p_accounts));
  DELETE FROM public.account_round_trips t
   WHERE t.closed_at >= (v_from::timestamp AT TIME ZONE 'UTC')
     AND (p_accounts IS NULL OR t.account_id = ANY (p_accounts));
  DELETE FROM public.portfolio_analytics a WHERE a.analytics_date >= v_from AND a.portfolio_id = ANY (pf);
  DELETE FROM public.portfolio_snapshots a WHERE a.snapshot_date >= v_from AND a.portfolio_id = ANY (pf);
  SELECT greatest(v_from, min((a.created_at AT TIME ZONE 'UTC')::date)) INTO first_day
    FROM public.paper_trading_accounts a
   WHERE p_accounts IS NULL OR a.id = ANY (p_accounts);
  RETURN first_day;
END
$$;

-- ------------------------------------------------------------------ the user's call
-- calculate_account_metrics() keeps its signature: one account's row for a day, now from
-- the same step as the daily job (so the rows of a user's call and the job's are the same).
CREATE OR REPLACE FUNCTION public.calculate_account_metrics(p_account_id uuid, p_date date DEFAULT NULL)
RETURNS public.account_analytics
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  v_day date := coalesce(p_date, (now() AT TIME ZONE 'UTC')::date);
  acct public.paper_trading_accounts;
  out_row public.account_analytics;
BEGIN
  SELECT * INTO acct FROM public.paper_trading_accounts WHERE id = p_account_id;
  IF NOT FOUND OR (NOT private.caller_is_service() AND acct.user_id IS DISTINCT FROM auth.uid()) THEN
    PERFORM private.reject('account_not_found', 'account not found', 'CT404');
  END IF;
  IF acct.created_at >= ((v_day + 1)::timestamp AT TIME ZONE 'UTC') THEN
    PERFORM private.reject('invalid_date', 'the account did not exist on that day', 'CT422');
  END IF;
  PERFORM private.analytics_run(v_day, ARRAY[acct.id]);
  SELECT * INTO out_row FROM public.account_analytics WHERE account_id = acct.id AND analytics_date = v_day;
  RETURN out_row;
END
$$;

-- The runs are the service role's (the jobs, the CLI); a user reaches their own account's
-- day only through calculate_account_metrics().
REVOKE EXECUTE ON FUNCTION private.analytics_run(date, uuid[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION private.analytics_forget(uuid[], date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION private.analytics_run(date, uuid[]) TO service_role;
GRANT EXECUTE ON FUNCTION private.analytics_forget(uuid[], date) TO service_role;
