-- Social trading, part 3 (issue 15, item 4): the leaderboard's published figures of the
-- listed traders, and nothing of anyone else (docs/social.md, "Leaderboard").
--
-- * public.leaderboard_tracks(p_from, p_trader): one row per LISTED trader (all of them,
--   or the one p_trader names), with their public track since the later of p_from (a UTC
--   day; NULL: no bound) and their listing (the first UTC day that starts at or after
--   listed_at): the daily returns of the trader's combined equity, the round trips closed
--   in it and those that won, the trials (backtests) they ran with the variance of those
--   trials' Sharpe ratios, and their follower count. No money figure, no account, no
--   trade: returns and counts only. SECURITY DEFINER, because a trader's accounts, their
--   analytics and their backtests are theirs under RLS; an unlisted trader is never read.
--
-- The combined daily return is flow-adjusted as a portfolio's is (migration 0030): on day
-- d, over the trader's accounts with a row that day,
--   r_d = Σ (equity_d - base_d) / Σ base_d,
-- where an account's base is its own close the day before in the same epoch, or its
-- series' start equity on the first day of the series (an account opened or reset is a
-- flow, not a return); 0 when Σ base is 0.
--
-- A trial is one strategy evaluated: every backtest_results row (one per sweep
-- combination) plus every backtest session without result rows (a single backtest); at
-- least 1. The variance is var_samp over the trials' Sharpe ratios that are known (the
-- results' sharpe_ratio, a completed single session's), annualised as the backtests
-- report them; NULL with fewer than two.

CREATE FUNCTION public.leaderboard_tracks(p_from date DEFAULT NULL, p_trader uuid DEFAULT NULL)
RETURNS TABLE (
  trader_id uuid,
  display_name text,
  category text,
  listed_at timestamptz,
  track_start date,
  days date[],
  returns numeric[],
  closed_trades integer,
  winning_trades integer,
  trials integer,
  trials_sharpe_variance numeric,
  followers bigint
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
  WITH traders AS (
    SELECT p.user_id, p.display_name, p.category, p.listed_at,
           greatest(((p.listed_at - interval '1 microsecond') AT TIME ZONE 'UTC')::date + 1,
                    coalesce(p_from, '-infinity'::date)) AS first_day
      FROM public.trader_profiles p
     WHERE p.is_listed AND (p_trader IS NULL OR p.user_id = p_trader)
  ),
  account_days AS (
    SELECT a.user_id, t.first_day, a.analytics_date AS day,
           (a.custom_metrics ->> 'equity')::numeric AS equity,
           CASE WHEN (a.custom_metrics ->> 'first_day')::date = a.analytics_date
                THEN (a.custom_metrics ->> 'start_equity')::numeric
                ELSE coalesce(
                  lag((a.custom_metrics ->> 'equity')::numeric) OVER (
                    PARTITION BY a.account_id, a.custom_metrics ->> 'epoch'
                    ORDER BY a.analytics_date),
                  (a.custom_metrics ->> 'equity')::numeric / nullif(1 + a.daily_return, 0))
           END AS base
      FROM traders t
      JOIN public.account_analytics a ON a.user_id = t.user_id
     WHERE a.analytics_date >= t.first_day - 1 AND a.custom_metrics ? 'equity'
  ),
  daily AS (
    SELECT d.user_id, d.day,
           CASE WHEN sum(d.base) > 0
                THEN round((sum(d.equity) - sum(d.base)) / sum(d.base), 20) ELSE 0 END AS ret
      FROM account_days d
     WHERE d.day >= d.first_day AND d.base IS NOT NULL AND d.equity IS NOT NULL
     GROUP BY d.user_id, d.day
  )
  SELECT t.user_id, t.display_name, t.category, t.listed_at,
         t.first_day,
         coalesce(s.days, '{}'), coalesce(s.returns, '{}'),
         rt.trips, rt.wins, greatest(tr.n, 1), tr.variance,
         public.trader_follower_count(t.user_id)
    FROM traders t
    LEFT JOIN LATERAL (
      SELECT array_agg(d.day ORDER BY d.day) AS days, array_agg(d.ret ORDER BY d.day) AS returns
        FROM daily d WHERE d.user_id = t.user_id) s ON true
    CROSS JOIN LATERAL (
      SELECT count(*)::int AS trips, count(*) FILTER (WHERE r.pnl > 0)::int AS wins
        FROM public.account_round_trips r
       WHERE r.user_id = t.user_id
         AND r.closed_at >= t.first_day::timestamp AT TIME ZONE 'UTC') rt
    CROSS JOIN LATERAL (
      SELECT count(*)::int AS n, var_samp(x.sharpe) AS variance
        FROM (SELECT b.sharpe_ratio AS sharpe
                FROM public.backtest_results b WHERE b.user_id = t.user_id
              UNION ALL
              SELECT CASE WHEN s.status = 'completed' THEN s.sharpe_ratio END
                FROM public.backtest_sessions s
               WHERE s.user_id = t.user_id
                 AND NOT EXISTS (SELECT 1 FROM public.backtest_results b
                                  WHERE b.session_id = s.id)) x) tr
   ORDER BY t.listed_at, t.user_id
$$;
REVOKE ALL ON FUNCTION public.leaderboard_tracks(date, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.leaderboard_tracks(date, uuid) TO authenticated, service_role;
