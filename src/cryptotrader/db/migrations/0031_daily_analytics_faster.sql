-- Daily analytics, the same rows at less cost per row (docs/benchmarks.md, "Daily
-- analytics"). 0030's queries named each intermediate (the day's return, the drawdown, the
-- running means, sd, beta, CAGR) in a LATERAL subquery; the planner pulls such subqueries
-- up and writes the expression out again wherever it is used, so the day's return (a
-- NUMERIC division) was computed a dozen times a row and beta six. Here each level is its
-- own subquery behind OFFSET 0, which the planner keeps: every intermediate once a row.
-- The lagged closes (7, 30, 90, 365 days before) were four index probes a row; they are
-- now one scan of those four days, joined. The formulas are unchanged (the tests that hold
-- the rows to analytics/metrics.py and empyrical are unchanged).

-- ------------------------------------------------------------------ the shared fold
CREATE OR REPLACE FUNCTION private.analytics_advance(p_day date) RETURNS integer
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
         x.peak,
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
      -- the running means, from the day's return taken once
      SELECT y.*, y.r::float8 AS rf, y.b::float8 AS bf,
             y.mean_r0 + (y.r::float8 - y.mean_r0) / (y.n0 + 1) AS mean_r,
             y.mean_pr0 + (y.r::float8 - y.mean_pr0) / (y.nb0 + 1) AS mean_pr,
             y.mean_pb0 + (y.b::float8 - y.mean_pb0) / (y.nb0 + 1) AS mean_pb,
             coalesce(y.rmin_p, y.r) AS rmin0, coalesce(y.rmax_p, y.r) AS rmax0,
             CASE WHEN y.peak > 0 THEN (y.peak - y.equity) / y.peak ELSE 0 END AS dd
        FROM (
          -- the day's return and the benchmark's, from the base taken once
          SELECT z.*,
                 CASE WHEN z.base_v > 0 THEN round((z.equity - z.base_v) / z.base_v, 20) ELSE 0 END AS r,
                 round(z.bench / nullif(z.bench0, 0) - 1, 20) AS b,
                 greatest(z.peak0, z.equity) AS peak
            FROM (
              -- today's inputs beside the day before's state
              SELECT i.subject_id, i.kind, i.user_id, i.epoch, i.start_equity, i.start_bench,
                     i.equity, i.cash, i.total_value, i.positions, i.bench, i.exposed,
                     i.trips, i.wins, i.losses, i.gross_win, i.gross_loss, i.pnl_sum, i.best, i.worst,
                     i.fills,
                     coalesce(i.base, CASE WHEN p.day IS NULL THEN i.start_equity ELSE p.equity END) AS base_v,
                     CASE WHEN p.day IS NULL THEN i.start_bench ELSE p.bench END AS bench0,
                     CASE WHEN p.day IS NULL THEN p_day ELSE p.first_day END AS first_day,
                     coalesce(p.n, 0) AS n0, coalesce(p.mean_r, 0) AS mean_r0, coalesce(p.m2_r, 0) AS m2_r0,
                     coalesce(p.sdn2, 0) AS sdn20, p.rmin AS rmin_p, p.rmax AS rmax_p,
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
              OFFSET 0) z
          OFFSET 0) y
      OFFSET 0) x
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
-- analytics/metrics.py's formulas over the state on p_day of the subjects in today's inputs
-- (temporary table _analytics_input), as 0030's view private.analytics_measured had them
-- (which this replaces): annualised over 365 days, undefined is NULL (metrics.py's None),
-- flat means max - min <= 1e-12 * max(|max|, |min|) (private.is_flat).
CREATE FUNCTION private.analytics_measures(p_day date)
RETURNS TABLE (
  subject_id uuid, user_id uuid, epoch integer, n integer, first_day date,
  start_equity numeric, start_bench numeric, bench numeric, equity numeric, cash numeric,
  total_value numeric, positions jsonb, bret numeric, fills integer,
  trips integer, wins integer, losses integer, mdd_peak date, mdd_trough date,
  total_return numeric, daily_return numeric, weekly_return numeric, monthly_return numeric,
  quarterly_return numeric, yearly_return numeric, annual_return numeric, volatility numeric,
  sharpe_ratio numeric, sortino_ratio numeric, max_drawdown numeric, current_drawdown numeric,
  calmar_ratio numeric, alpha numeric, beta numeric, correlation numeric, win_rate numeric,
  avg_win numeric, avg_loss numeric, profit_factor numeric, expectancy numeric,
  best_trade numeric, worst_trade numeric, exposure numeric)
LANGUAGE plpgsql STABLE SET search_path = '' AS $$
BEGIN
  RETURN QUERY
  SELECT m.subject_id, m.user_id, m.epoch, m.n, m.first_day, m.start_equity, m.start_bench,
    m.bench, m.equity, m.cash, m.total_value, m.positions, m.bret, m.fills,
    m.trips, m.wins, m.losses, m.mdd_peak, m.mdd_trough,
    CASE WHEN m.start_equity > 0 THEN (m.equity - m.start_equity) / m.start_equity END,
    m.ret,
    m.equity / nullif(m.e7, 0) - 1,
    m.equity / nullif(m.e30, 0) - 1,
    m.equity / nullif(m.e90, 0) - 1,
    m.equity / nullif(m.e365, 0) - 1,
    m.cagr::numeric,
    CASE WHEN m.n >= 2 THEN CASE WHEN m.flat THEN 0 ELSE m.sd * sqrt(365.0) END END::numeric,
    CASE WHEN m.n >= 2 AND NOT m.flat AND m.sd > 0 THEN m.mean_r / m.sd * sqrt(365.0) END::numeric,
    CASE WHEN m.n >= 2 AND m.dsd > 0 THEN m.mean_r * 365 / (m.dsd * sqrt(365.0)) END::numeric,
    CASE WHEN m.n >= 1 THEN m.mdd END,
    CASE WHEN m.n >= 1 THEN CASE WHEN m.peak > 0 THEN (m.peak - m.equity) / m.peak ELSE 0 END END,
    CASE WHEN m.n >= 1 AND m.mdd > 0 THEN m.cagr / m.mdd::float8 END::numeric,
    CASE WHEN m.mean_alpha > -1 AND 365 * ln(1 + m.mean_alpha) < 709
         THEN exp(365 * ln(1 + m.mean_alpha)) - 1 END::numeric,
    m.beta::numeric,
    CASE WHEN m.beta IS NOT NULL AND NOT private.is_flat(m.prmin, m.prmax) AND m.m2_pr > 0
         THEN least(1, greatest(-1, m.c_rb / sqrt(m.m2_pr * m.m2_pb))) END::numeric,
    CASE WHEN m.trips > 0 THEN m.wins::numeric / m.trips END,
    CASE WHEN m.wins > 0 THEN m.gross_win / m.wins END,
    CASE WHEN m.losses > 0 THEN m.gross_loss / m.losses END,
    CASE WHEN m.losses > 0 THEN m.gross_win / -m.gross_loss END,
    CASE WHEN m.trips > 0 THEN m.pnl_sum / m.trips END,
    CASE WHEN m.trips > 0 THEN m.best END,
    CASE WHEN m.trips > 0 THEN m.worst END,
    CASE WHEN m.n >= 1 THEN m.exposed::numeric / m.n END
  FROM (
    -- CAGR = (e_last / e_first) ^ (365 / n) - 1 (NULL when it overflows a float8); the
    -- per-day alpha mean(r - beta * b), compounded over 365 in the projection above
    SELECT k.*,
      CASE WHEN k.n >= 1 AND k.start_equity > 0 THEN
        CASE WHEN k.equity <= 0 THEN -1::float8
             WHEN k.g * 365 / k.n < 709 THEN exp(k.g * 365 / k.n) - 1 END
      END AS cagr,
      CASE WHEN k.beta IS NOT NULL THEN k.mean_pr - k.beta * k.mean_pb END AS mean_alpha
    FROM (
      SELECT s.*,
        -- the closes 7, 30, 90 and 365 days before (the series' start point when it began later)
        CASE WHEN p_day - 7 < s.first_day THEN s.start_equity ELSE lag.e7 END AS e7,
        CASE WHEN p_day - 30 < s.first_day THEN s.start_equity ELSE lag.e30 END AS e30,
        CASE WHEN p_day - 90 < s.first_day THEN s.start_equity ELSE lag.e90 END AS e90,
        CASE WHEN p_day - 365 < s.first_day THEN s.start_equity ELSE lag.e365 END AS e365,
        CASE WHEN s.n >= 2 THEN private.is_flat(s.rmin, s.rmax) END AS flat,
        CASE WHEN s.n >= 2 THEN sqrt(greatest(s.m2_r, 0) / (s.n - 1)) END AS sd,
        CASE WHEN s.n >= 2 THEN sqrt(s.sdn2 / s.n) END AS dsd,
        CASE WHEN s.equity > 0 AND s.start_equity > 0
             THEN ln(s.equity::float8 / s.start_equity::float8) END AS g,
        -- beta = cov(r, b) / var(b)
        CASE WHEN s.nb >= 2 AND NOT private.is_flat(s.bmin, s.bmax) AND s.m2_pb > 0
             THEN s.c_rb / s.m2_pb END AS beta
      FROM pg_temp._analytics_input i
      JOIN private.analytics_state s ON s.subject_id = i.subject_id AND s.day = p_day
      LEFT JOIN (
        SELECT l.subject_id, l.epoch,
               max(l.equity) FILTER (WHERE l.day = p_day - 7) AS e7,
               max(l.equity) FILTER (WHERE l.day = p_day - 30) AS e30,
               max(l.equity) FILTER (WHERE l.day = p_day - 90) AS e90,
               max(l.equity) FILTER (WHERE l.day = p_day - 365) AS e365
          FROM pg_temp._analytics_input li
          JOIN private.analytics_state l ON l.subject_id = li.subject_id
         WHERE l.day IN (p_day - 7, p_day - 30, p_day - 90, p_day - 365)
         GROUP BY l.subject_id, l.epoch) lag ON lag.subject_id = s.subject_id AND lag.epoch = s.epoch
      OFFSET 0) k
    OFFSET 0) m;
END
$$;
REVOKE ALL ON FUNCTION private.analytics_measures(date) FROM PUBLIC;

-- ------------------------------------------------------------------ the steps, on the measures
-- 0030's two steps, reading private.analytics_measures(); the portfolios' positions in one
-- grouped pass.
-- ------------------------------------------------------------------ accounts: one day
-- The epoch an account was in at the end of p_day, and when that epoch began.
CREATE OR REPLACE FUNCTION private.analytics_accounts_step(p_day date, p_accounts uuid[] DEFAULT NULL)
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
    FROM private.analytics_measures(p_day) s
    CROSS JOIN LATERAL (
      SELECT count(*)::int AS active,
             coalesce(max(v.value), 0) AS largest,
             coalesce(sum(v.value), 0) AS invested,
             coalesce(sum(v.value * v.value), 0) AS sq
        FROM jsonb_each(s.positions) p
        CROSS JOIN LATERAL (SELECT (p.value ->> 'q')::numeric * (p.value ->> 'px')::numeric AS value) v) h
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
CREATE OR REPLACE FUNCTION private.analytics_portfolios_step(p_day date, p_portfolios uuid[] DEFAULT NULL)
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
  -- the positions across members: quantity and value per symbol (one grouped pass over
  -- every portfolio's members, not a subquery per portfolio)
  UPDATE _pf f
     SET positions = q.positions
    FROM (SELECT g.portfolio_id,
                 jsonb_object_agg(g.symbol, jsonb_build_object('quantity', g.quantity, 'value', g.value,
                                                               'price', g.price)) AS positions
            FROM (SELECT pa.portfolio_id, c.key AS symbol, sum((c.value ->> 'q')::numeric) AS quantity,
                         sum((c.value ->> 'q')::numeric * (c.value ->> 'px')::numeric) AS value,
                         max((c.value ->> 'px')::numeric) AS price
                    FROM _pf p
                    JOIN public.portfolio_accounts pa ON pa.portfolio_id = p.id AND pa.added_at < v_end
                    JOIN private.analytics_state s ON s.subject_id = pa.account_id AND s.day = p_day
                    CROSS JOIN LATERAL jsonb_each(s.positions) c
                   GROUP BY pa.portfolio_id, c.key) g
           GROUP BY g.portfolio_id) q
   WHERE q.portfolio_id = f.id;

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
    FROM private.analytics_measures(p_day) s
    CROSS JOIN LATERAL (
      SELECT count(*)::int AS active, coalesce(max(v.value), 0) AS largest,
             coalesce(sum(v.value), 0) AS invested, coalesce(sum(v.value * v.value), 0) AS sq
        FROM jsonb_each(s.positions) p
        CROSS JOIN LATERAL (SELECT (p.value ->> 'value')::numeric AS value) v) h
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

DROP VIEW private.analytics_measured;

-- ------------------------------------------------------------------ a run in shards
-- A day's run for all accounts, split by user into p_shards disjoint parts that separate
-- connections (or worker hosts) run at once: a portfolio holds only its owner's accounts,
-- so a shard's accounts and portfolios need nothing of another shard's, and the parts
-- together write exactly the rows of one run over everything. The shard of a user is fixed
-- by the last two bytes of its id (random in a v4 UUID).
CREATE FUNCTION private.analytics_shard(p_user_id uuid, p_shards integer) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
  SELECT (get_byte(uuid_send(p_user_id), 14) * 256 + get_byte(uuid_send(p_user_id), 15)) % p_shards
$$;

CREATE FUNCTION private.analytics_run_shard(p_day date, p_shard integer, p_shards integer)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
  IF p_shards IS NULL OR p_shards < 1 OR p_shard IS NULL OR p_shard < 0 OR p_shard >= p_shards THEN
    -- the callers' own arguments (settings checked at start), never a client's
    RAISE EXCEPTION 'analytics_run_shard: no shard % of %', p_shard, p_shards;
  END IF;
  IF p_shards = 1 THEN
    RETURN private.analytics_run(p_day);
  END IF;
  RETURN private.analytics_run(p_day, ARRAY(
    SELECT a.id FROM public.paper_trading_accounts a
     WHERE private.analytics_shard(a.user_id, p_shards) = p_shard));
END
$$;
REVOKE EXECUTE ON FUNCTION private.analytics_run_shard(date, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION private.analytics_run_shard(date, integer, integer) TO service_role;
