-- calculate_account_metrics(): the account's performance row for one UTC day in
-- account_analytics, computed from the current epoch's fills, positions at current
-- prices, and the daily equity series of earlier rows. Formulas (docs/analytics.md):
--   daily return r_t = equity_t / equity_{t-1} - 1 (the first day against initial_balance)
--   volatility = stddev_samp(r) * sqrt(365); sharpe = avg(r) / stddev_samp(r) * sqrt(365)
--   sortino = avg(r) / sqrt(avg(min(r, 0)^2)) * sqrt(365)  (risk-free rate 0)
--   max drawdown = max over t of (1 - equity_t / max_{s<=t} equity_s), as a positive fraction
--   beta = regr_slope(r, b), correlation = corr(r, b), alpha = (avg(r) - beta * avg(b)) * 365
--     where b is BTC's daily return (buy-and-hold benchmark), from market_data_cache
--   profit factor = Σ wins / |Σ losses| over closing fills, NULL when there is no loss
-- Undefined statistics (fewer than two days, zero variance) are 0, as the seed's defaults.

CREATE FUNCTION public.calculate_account_metrics(p_account_id uuid, p_date date DEFAULT NULL)
RETURNS public.account_analytics
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  v_day date := coalesce(p_date, (now() AT TIME ZONE 'UTC')::date);
  acct public.paper_trading_accounts;
  v_equity numeric;
  prev_equity numeric;
  v_ret numeric;
  v_bench numeric;
  tr record;
  pos record;
  ser record;
  out_row public.account_analytics;
  annual constant numeric := sqrt(365);
BEGIN
  SELECT * INTO acct FROM public.paper_trading_accounts WHERE id = p_account_id;
  IF NOT FOUND OR (NOT private.caller_is_service() AND acct.user_id IS DISTINCT FROM auth.uid()) THEN
    PERFORM private.reject('account_not_found', 'account not found', 'CT404');
  END IF;
  v_equity := private.account_equity(acct.id);

  SELECT (custom_metrics ->> 'equity')::numeric INTO prev_equity
    FROM public.account_analytics
   WHERE account_id = acct.id AND analytics_date < v_day
     AND (custom_metrics ->> 'epoch')::integer = acct.epoch
   ORDER BY analytics_date DESC LIMIT 1;
  v_ret := v_equity / coalesce(prev_equity, acct.initial_balance) - 1;
  SELECT coalesce(change_percentage_24h, 0) / 100 INTO v_bench FROM public.market_data_cache WHERE symbol = 'BTC';
  v_bench := coalesce(v_bench, 0);

  SELECT count(*) FILTER (WHERE status = 'completed') AS total,
         count(*) FILTER (WHERE status = 'completed' AND side = 'sell' AND realized_pnl > 0) AS wins,
         count(*) FILTER (WHERE status = 'completed' AND side = 'sell' AND realized_pnl < 0) AS losses,
         coalesce(avg(realized_pnl) FILTER (WHERE side = 'sell' AND realized_pnl > 0), 0) AS avg_win,
         coalesce(avg(realized_pnl) FILTER (WHERE side = 'sell' AND realized_pnl < 0), 0) AS avg_loss,
         coalesce(sum(realized_pnl) FILTER (WHERE side = 'sell' AND realized_pnl > 0), 0) AS gross_win,
         coalesce(sum(realized_pnl) FILTER (WHERE side = 'sell' AND realized_pnl < 0), 0) AS gross_loss
    INTO tr
    FROM public.paper_trades
   WHERE account_id = acct.id AND account_epoch = acct.epoch AND status = 'completed';

  SELECT count(*) FILTER (WHERE p.quantity > 0) AS active,
         coalesce(max(p.quantity * m.price_usd), 0) AS largest,
         coalesce(sum(p.quantity * m.price_usd), 0) AS invested,
         coalesce(sum((p.quantity * m.price_usd) ^ 2), 0) AS sq
    INTO pos
    FROM public.account_positions p JOIN public.market_data_cache m ON m.symbol = p.symbol
   WHERE p.account_id = acct.id AND p.quantity > 0;

  -- the daily series including today
  WITH series AS (
    SELECT a.analytics_date AS d, a.daily_return AS r, a.benchmark_return AS b,
           (a.custom_metrics ->> 'equity')::numeric AS eq
      FROM public.account_analytics a
     WHERE a.account_id = acct.id AND a.analytics_date < v_day
       AND (a.custom_metrics ->> 'epoch')::integer = acct.epoch
    UNION ALL SELECT v_day, v_ret, v_bench, v_equity
  ), peaks AS (
    SELECT d, r, b, eq, max(eq) OVER (ORDER BY d) AS peak FROM series
  )
  SELECT count(*) AS n, avg(r) AS mean, stddev_samp(r) AS sd,
         sqrt(avg(least(r, 0) ^ 2)) AS downside, avg(b) AS bmean,
         regr_slope(r::float8, b::float8)::numeric AS beta, corr(r::float8, b::float8)::numeric AS corr,
         coalesce(max(1 - eq / nullif(peak, 0)), 0) AS mdd,
         (array_agg(1 - eq / nullif(peak, 0) ORDER BY d DESC))[1] AS cdd,
         (array_agg(eq ORDER BY d) FILTER (WHERE d <= v_day - 7))  AS eq7,
         (array_agg(eq ORDER BY d) FILTER (WHERE d <= v_day - 30)) AS eq30,
         (array_agg(eq ORDER BY d) FILTER (WHERE d <= v_day - 91)) AS eq91,
         (array_agg(eq ORDER BY d) FILTER (WHERE d <= v_day - 365)) AS eq365
    INTO ser FROM peaks;

  INSERT INTO public.account_analytics AS aa (
    account_id, user_id, analytics_date, daily_return, weekly_return, monthly_return,
    quarterly_return, yearly_return, volatility, sharpe_ratio, sortino_ratio, max_drawdown,
    current_drawdown, total_trades, winning_trades, losing_trades, win_rate, avg_win, avg_loss,
    profit_factor, active_positions, largest_position, portfolio_diversity, cash_percentage,
    benchmark_return, alpha, beta, correlation, custom_metrics)
  VALUES (
    acct.id, acct.user_id, v_day, round(v_ret, 12),
    round(v_equity / coalesce(ser.eq7[cardinality(ser.eq7)], acct.initial_balance) - 1, 12),
    round(v_equity / coalesce(ser.eq30[cardinality(ser.eq30)], acct.initial_balance) - 1, 12),
    round(v_equity / coalesce(ser.eq91[cardinality(ser.eq91)], acct.initial_balance) - 1, 12),
    round(v_equity / coalesce(ser.eq365[cardinality(ser.eq365)], acct.initial_balance) - 1, 12),
    round(coalesce(ser.sd * annual, 0), 12),
    round(CASE WHEN coalesce(ser.sd, 0) > 0 THEN ser.mean / ser.sd * annual ELSE 0 END, 12),
    round(CASE WHEN coalesce(ser.downside, 0) > 0 THEN ser.mean / ser.downside * annual ELSE 0 END, 12),
    round(ser.mdd, 12), round(coalesce(ser.cdd, 0), 12),
    tr.total, tr.wins, tr.losses,
    CASE WHEN tr.wins + tr.losses > 0 THEN round(tr.wins::numeric / (tr.wins + tr.losses), 12) ELSE 0 END,
    round(tr.avg_win, 8), round(tr.avg_loss, 8),
    CASE WHEN tr.gross_loss < 0 THEN round(tr.gross_win / -tr.gross_loss, 12) END,
    pos.active, round(pos.largest, 8),
    CASE WHEN pos.invested > 0 THEN round(1 - pos.sq / pos.invested ^ 2, 12) ELSE 0 END,
    CASE WHEN v_equity > 0 THEN round((acct.balance + acct.reserved_balance) / v_equity * 100, 6) ELSE 100 END,
    round(v_bench, 12),
    round(CASE WHEN ser.beta IS NOT NULL THEN (ser.mean - ser.beta * ser.bmean) * 365 ELSE 0 END, 12),
    round(coalesce(ser.beta, 1), 12), round(coalesce(ser.corr, 0), 12),
    jsonb_build_object('equity', v_equity, 'epoch', acct.epoch, 'days', ser.n,
                       'total_pnl', v_equity - acct.initial_balance))
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
         custom_metrics = EXCLUDED.custom_metrics
  RETURNING * INTO out_row;
  RETURN out_row;
END
$$;
REVOKE EXECUTE ON FUNCTION public.calculate_account_metrics(uuid, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.calculate_account_metrics(uuid, date) TO authenticated, service_role;
