-- run_day --
-- Every given account's account_analytics row for the UTC day, and the portfolios holding
-- them; an account whose series has a gap is caught up first
-- (migration 0030). Idempotent: a rerun for the same day rewrites the same rows.
SELECT private.analytics_run(%(day)s::date, %(accounts)s::uuid[]) AS accounts;

-- prepare --
-- Before a day's run in shards: the partitions of the running state it may write, made in
-- a transaction of their own (migration 0032).
SELECT private.analytics_prepare(%(day)s::date);

-- run_shard --
-- One part of a day's run over all accounts: one shard's users with their accounts and
-- portfolios (migration 0031); the shards together write every account's and portfolio's
-- rows of the day.
SELECT private.analytics_run_shard(%(day)s::date, %(shard)s, %(shards)s) AS accounts;

-- forget --
-- A backfill's first half: the series from a day on are dropped; returns the first day to
-- recompute (NULL when no such account existed).
SELECT private.analytics_forget(%(accounts)s::uuid[], %(from_day)s::date) AS first_day;

-- missing_accounts --
-- Which of the given ids name no account.
SELECT u.id FROM unnest(%(accounts)s::uuid[]) AS u(id)
 WHERE NOT EXISTS (SELECT 1 FROM paper_trading_accounts a WHERE a.id = u.id);

-- ------------------------------------------------------------------ tear sheets

-- account_subject --
-- One of the caller's accounts (RLS) and its current epoch: a tear sheet covers that one.
SELECT id, account_name AS name, epoch FROM paper_trading_accounts WHERE id = %(account_id)s;

-- account_curve --
-- The account's daily closes in the given epoch, oldest first, with the epoch's start
-- (the curve's first point, the day before the first row).
SELECT analytics_date AS day,
       (custom_metrics ->> 'equity')::numeric AS equity,
       (custom_metrics ->> 'benchmark_close')::numeric AS benchmark,
       (custom_metrics ->> 'start_equity')::numeric AS start_equity,
       (custom_metrics ->> 'start_benchmark')::numeric AS start_benchmark
  FROM account_analytics
 WHERE account_id = %(account_id)s
   AND (custom_metrics ->> 'epoch')::int = %(epoch)s
   AND custom_metrics ? 'equity'
 ORDER BY analytics_date;

-- account_round_trips --
-- The account's closed round trips in the given epoch, by close.
SELECT closed_at, pnl
  FROM account_round_trips
 WHERE account_id = %(account_id)s AND epoch = %(epoch)s
 ORDER BY closed_at;

-- portfolio_subject --
SELECT id, name FROM portfolios WHERE id = %(portfolio_id)s;

-- portfolio_curve --
-- The portfolio's flow-adjusted equity index at each day's close (adding a member is a
-- flow, not a return), oldest first, with its start.
SELECT analytics_date AS day,
       (custom_metrics ->> 'equity')::numeric AS equity,
       (custom_metrics ->> 'benchmark_close')::numeric AS benchmark,
       (custom_metrics ->> 'start_equity')::numeric AS start_equity,
       (custom_metrics ->> 'start_benchmark')::numeric AS start_benchmark
  FROM portfolio_analytics
 WHERE portfolio_id = %(portfolio_id)s AND custom_metrics ? 'equity'
 ORDER BY analytics_date;

-- portfolio_round_trips --
-- The round trips of the member accounts in their current epochs, from the UTC day each
-- joined the portfolio (the day the portfolio's series first counts it), by close.
SELECT rt.closed_at, rt.pnl
  FROM portfolio_accounts pa
  JOIN paper_trading_accounts a ON a.id = pa.account_id
  JOIN account_round_trips rt ON rt.account_id = a.id AND rt.epoch = a.epoch
 WHERE pa.portfolio_id = %(portfolio_id)s
   AND rt.closed_at >= date_trunc('day', pa.added_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
 ORDER BY rt.closed_at;

-- benchmark_closes --
-- BTC's close of the bars opened at the given times, in one timeframe (a bar not stored
-- is missing: its benchmark is unknown).
SELECT open_time, close
  FROM market_candles
 WHERE symbol = 'BTC' AND timeframe = %(timeframe)s AND open_time = ANY (%(times)s::timestamptz[]);
