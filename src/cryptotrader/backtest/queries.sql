-- insert_session --
-- A new session, pending until a worker (or the CLI) claims it. Its results are unknown
-- (null) until it completes, not the columns' default of 0.
INSERT INTO backtest_sessions
       (user_id, session_name, symbol, timeframe, strategy_id, bot_id, start_date, end_date,
        initial_capital, backtest_config, status, final_capital, total_trades, winning_trades,
        losing_trades, win_rate, profit_factor, max_drawdown, sharpe_ratio, sortino_ratio,
        calmar_ratio)
VALUES (%(user_id)s, %(session_name)s, %(symbol)s, %(timeframe)s, %(strategy_id)s, %(bot_id)s,
        %(start_date)s, %(end_date)s, %(initial_capital)s, %(backtest_config)s, 'pending',
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
RETURNING *;

-- get_session --
-- One session (RLS: the caller's own, or any as the service role).
SELECT * FROM backtest_sessions WHERE id = %(id)s;

-- list_sessions --
-- Newest first, without the bulky JSON columns; all users' as the service role unless
-- `user_id` is given.
SELECT s.id, s.user_id, p.email, s.session_name, s.symbol, s.timeframe, s.strategy_id,
       s.backtest_config ->> 'strategy' AS strategy, s.start_date, s.end_date,
       s.initial_capital, s.final_capital, s.total_trades, s.sharpe_ratio, s.status,
       s.progress, s.error, s.created_at, s.started_at, s.completed_at
  FROM backtest_sessions s
  LEFT JOIN profiles p ON p.id = s.user_id
 WHERE (%(user_id)s::uuid IS NULL OR s.user_id = %(user_id)s::uuid)
 ORDER BY s.created_at DESC, s.id
 LIMIT %(limit)s;

-- list_results --
-- A session's results, best first (unranked last), keyset-paginated on
-- (rank, unranked as 2147483647, id).
SELECT id, session_id, parameters, rank, final_capital, total_return, total_trades,
       winning_trades, losing_trades, win_rate, profit_factor, max_drawdown, sharpe_ratio,
       sortino_ratio, calmar_ratio, stats
  FROM backtest_results
 WHERE session_id = %(session_id)s
   AND (%(after_id)s::uuid IS NULL
        OR (coalesce(rank, 2147483647), id) > (%(after_rank)s::int, %(after_id)s::uuid))
 ORDER BY coalesce(rank, 2147483647), id
 LIMIT %(limit)s;

-- claim_next --
-- The oldest pending session, now running, with the lease taken (a session-level advisory
-- lock of this connection, held until the run ends or the connection dies). Concurrent
-- claimers skip the row another one has locked, so each session is claimed once.
WITH next AS (
  SELECT id FROM backtest_sessions
   WHERE status = 'pending'
   ORDER BY created_at, id
   LIMIT 1
     FOR UPDATE SKIP LOCKED
)
UPDATE backtest_sessions s
   SET status = 'running', started_at = now(), progress = 0, error = NULL,
       completed_at = NULL
  FROM next
 WHERE s.id = next.id
RETURNING s.*, pg_try_advisory_lock(%(lease)s::int4, hashtext(s.id::text)) AS leased;

-- claim_session --
-- As claim_next, for one given pending session (the CLI runs the session it created).
UPDATE backtest_sessions
   SET status = 'running', started_at = now(), progress = 0, error = NULL,
       completed_at = NULL
 WHERE id = %(id)s AND status = 'pending'
RETURNING *, pg_try_advisory_lock(%(lease)s::int4, hashtext(id::text)) AS leased;

-- release_lease --
SELECT pg_advisory_unlock(%(lease)s::int4, hashtext(%(id)s::text)) AS released;

-- fail_orphans --
-- Running sessions whose lease nobody holds: the worker (or CLI) running them died with
-- its connection. A transaction-level lock on the lease keeps a claimer from racing this
-- update; the status check sees a run that finished meanwhile.
WITH running AS MATERIALIZED (
  SELECT id FROM backtest_sessions WHERE status = 'running'
), orphans AS MATERIALIZED (
  SELECT id FROM running WHERE pg_try_advisory_xact_lock(%(lease)s::int4, hashtext(id::text))
)
UPDATE backtest_sessions s
   SET status = 'failed', error = %(error)s, completed_at = now()
  FROM orphans
 WHERE s.id = orphans.id AND s.status = 'running'
RETURNING s.id;

-- set_progress --
-- Progress of a running session (never backwards); answers the status, so the runner
-- sees a cancellation at its next update.
UPDATE backtest_sessions
   SET progress = CASE WHEN status = 'running'
                       THEN greatest(progress, least(%(progress)s::numeric, 1))
                       ELSE progress END
 WHERE id = %(id)s
RETURNING status;

-- requeue_session --
-- A run interrupted by its worker's shutdown goes back to the queue.
UPDATE backtest_sessions
   SET status = 'pending', progress = 0, started_at = NULL
 WHERE id = %(id)s AND status = 'running';

-- fail_session --
UPDATE backtest_sessions
   SET status = 'failed', error = %(error)s, completed_at = now()
 WHERE id = %(id)s AND status = 'running';

-- complete_session --
-- The (best) result into the session row, only while it is still running (a session
-- cancelled meanwhile stays cancelled).
UPDATE backtest_sessions
   SET status = 'completed', progress = 1, completed_at = now(), error = NULL,
       final_capital = %(final_capital)s, total_trades = %(total_trades)s,
       winning_trades = %(winning_trades)s, losing_trades = %(losing_trades)s,
       win_rate = %(win_rate)s, profit_factor = %(profit_factor)s,
       max_drawdown = %(max_drawdown)s, sharpe_ratio = %(sharpe_ratio)s,
       sortino_ratio = %(sortino_ratio)s, calmar_ratio = %(calmar_ratio)s,
       results_data = %(results_data)s, equity_curve = %(equity_curve)s,
       trade_history = %(trade_history)s
 WHERE id = %(id)s AND status = 'running'
RETURNING id;

-- delete_results --
DELETE FROM backtest_results WHERE session_id = %(session_id)s;

-- insert_result --
INSERT INTO backtest_results
       (session_id, user_id, parameters, rank, final_capital, total_return, total_trades,
        winning_trades, losing_trades, win_rate, profit_factor, max_drawdown, sharpe_ratio,
        sortino_ratio, calmar_ratio, stats)
VALUES (%(session_id)s, %(user_id)s, %(parameters)s, %(rank)s, %(final_capital)s,
        %(total_return)s, %(total_trades)s, %(winning_trades)s, %(losing_trades)s,
        %(win_rate)s, %(profit_factor)s, %(max_drawdown)s, %(sharpe_ratio)s,
        %(sortino_ratio)s, %(calmar_ratio)s, %(stats)s);

-- cancel_session --
-- The owner (or the service) stops a session that has not finished; a running one stops
-- at its runner's next progress update.
UPDATE backtest_sessions
   SET status = 'cancelled'
 WHERE id = %(id)s AND status IN ('pending', 'running')
RETURNING id;

-- get_strategy --
-- The strategy definition a session points at (same owner: the foreign key says so).
SELECT id, name, parameters FROM ai_strategies WHERE id = %(id)s AND user_id = %(user_id)s;

-- bars --
-- Stored bars of one series with open_time in [start, end), as columns (epoch ms and
-- float8 arrays: one row however many bars).
SELECT coalesce(array_agg((extract(epoch FROM open_time) * 1000)::int8 ORDER BY open_time),
                '{}') AS time,
       coalesce(array_agg(open::float8 ORDER BY open_time), '{}') AS open,
       coalesce(array_agg(high::float8 ORDER BY open_time), '{}') AS high,
       coalesce(array_agg(low::float8 ORDER BY open_time), '{}') AS low,
       coalesce(array_agg(close::float8 ORDER BY open_time), '{}') AS close,
       coalesce(array_agg(volume::float8 ORDER BY open_time), '{}') AS volume
  FROM market_candles
 WHERE symbol = %(symbol)s AND timeframe = %(timeframe)s
   AND open_time >= %(start)s AND open_time < %(end)s;

-- series_extent --
-- First and last stored bar of one series (for an error that says what there is).
SELECT min(open_time) AS first, max(open_time) AS last
  FROM market_candles
 WHERE symbol = %(symbol)s AND timeframe = %(timeframe)s;

-- list_sessions_page --
-- The caller's sessions (RLS) newest first, after the cursor's (created_at, id), without
-- the bulky JSON columns.
SELECT id, session_name, symbol, timeframe, strategy_id,
       backtest_config ->> 'strategy' AS strategy, start_date, end_date, initial_capital,
       final_capital, total_trades, sharpe_ratio, status, progress, error, created_at,
       started_at, completed_at
  FROM backtest_sessions
 WHERE %(after_at)s::timestamptz IS NULL
    OR (created_at, id) < (%(after_at)s::timestamptz, %(after_id)s::uuid)
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s;

-- delete_session --
DELETE FROM backtest_sessions WHERE id = %(id)s RETURNING id;

-- hold_worker_lock --
-- Held shared by each worker's connection for its whole life: /health counts the workers.
SELECT pg_advisory_lock_shared(%(key)s)
