-- run_day --
-- Every given account's account_analytics row for the UTC day (NULL accounts: all), and
-- the portfolios holding them; an account whose series has a gap is caught up first
-- (migration 0030). Idempotent: a rerun for the same day rewrites the same rows.
SELECT private.analytics_run(%(day)s::date, %(accounts)s::uuid[]) AS accounts;

-- forget --
-- A backfill's first half: the series from a day on are dropped; returns the first day to
-- recompute (NULL when no such account existed).
SELECT private.analytics_forget(%(accounts)s::uuid[], %(from_day)s::date) AS first_day;

-- account_exists --
SELECT id FROM paper_trading_accounts WHERE id = %(account_id)s;

-- account_analytics_rows --
-- One account's daily rows, newest first.
SELECT analytics_date, daily_return, weekly_return, monthly_return, quarterly_return,
       yearly_return, volatility, sharpe_ratio, sortino_ratio, max_drawdown, current_drawdown,
       total_trades, winning_trades, losing_trades, win_rate, avg_win, avg_loss, profit_factor,
       active_positions, largest_position, portfolio_diversity, cash_percentage,
       benchmark_return, alpha, beta, correlation, custom_metrics
  FROM account_analytics
 WHERE account_id = %(account_id)s
 ORDER BY analytics_date DESC
 LIMIT %(limit)s::bigint;
