-- daily_account_metrics --
-- One account_analytics row per account for the UTC day, by the engine's
-- calculate_account_metrics() (0007): idempotent, a rerun for the same day rewrites the
-- same rows. Accounts created after the day have no row for it.
SELECT count(m.id) AS accounts
  FROM paper_trading_accounts a
  CROSS JOIN LATERAL calculate_account_metrics(a.id, %(day)s::date) m
 WHERE a.created_at < %(day)s::date + 1;

-- account_analytics_rows --
-- One account's daily rows, newest first.
SELECT analytics_date, daily_return, weekly_return, monthly_return, volatility, sharpe_ratio,
       sortino_ratio, max_drawdown, current_drawdown, total_trades, win_rate, profit_factor,
       active_positions, cash_percentage, benchmark_return, alpha, beta, correlation
  FROM account_analytics
 WHERE account_id = %(account_id)s
 ORDER BY analytics_date DESC
 LIMIT %(limit)s::bigint;
