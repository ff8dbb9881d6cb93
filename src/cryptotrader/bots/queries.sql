-- Bots and AI strategies. The CRUD statements run as the owner (RLS); the runner's
-- (claim, record, ledger, notify) as the service role.

-- ============================================================ AI strategies (owner)

-- list_ai_strategies --
SELECT id, name, description, model, prompt, parameters, coalesce(indicators, '{}') AS indicators,
       coalesce(market_data_sources, '{}') AS market_data_sources,
       coalesce(is_active, false) AS is_active, created_at, updated_at
  FROM ai_strategies
 WHERE user_id = (SELECT auth.uid())
   AND (%(after_at)s::timestamptz IS NULL OR (created_at, id) > (%(after_at)s, %(after_id)s::uuid))
 ORDER BY created_at, id
 LIMIT %(limit)s::bigint;

-- get_ai_strategy --
SELECT id, name, description, model, prompt, parameters, coalesce(indicators, '{}') AS indicators,
       coalesce(market_data_sources, '{}') AS market_data_sources,
       coalesce(is_active, false) AS is_active, created_at, updated_at
  FROM ai_strategies WHERE id = %(id)s AND user_id = (SELECT auth.uid());

-- insert_ai_strategy --
INSERT INTO ai_strategies (user_id, name, description, model, prompt, parameters, indicators,
                           market_data_sources, is_active)
VALUES ((SELECT auth.uid()), %(name)s, %(description)s, %(model)s, %(prompt)s, %(parameters)s,
        %(indicators)s, %(market_data_sources)s, %(is_active)s)
RETURNING id;

-- update_ai_strategy --
-- Each set_* flag says whether that field was given (a given NULL description clears it).
UPDATE ai_strategies
   SET name = CASE WHEN %(set_name)s THEN %(name)s ELSE name END,
       description = CASE WHEN %(set_description)s THEN %(description)s ELSE description END,
       model = CASE WHEN %(set_model)s THEN %(model)s ELSE model END,
       prompt = CASE WHEN %(set_prompt)s THEN %(prompt)s ELSE prompt END,
       parameters = CASE WHEN %(set_parameters)s THEN %(parameters)s ELSE parameters END,
       indicators = CASE WHEN %(set_indicators)s THEN %(indicators)s ELSE indicators END,
       market_data_sources = CASE WHEN %(set_market_data_sources)s THEN %(market_data_sources)s
                                  ELSE market_data_sources END,
       is_active = CASE WHEN %(set_is_active)s THEN %(is_active)s ELSE is_active END,
       updated_at = now()
 WHERE id = %(id)s AND user_id = (SELECT auth.uid())
RETURNING id;

-- ai_strategy_users --
-- The bots (not stopped) that run an AI strategy.
SELECT count(*) AS n FROM ai_trading_bots
 WHERE strategy_id = %(id)s AND status <> 'stopped' AND user_id = (SELECT auth.uid());

-- delete_ai_strategy --
DELETE FROM ai_strategies WHERE id = %(id)s AND user_id = (SELECT auth.uid()) RETURNING id;

-- ============================================================ bots (owner)

-- list_bots --
SELECT * FROM ai_trading_bots
 WHERE user_id = (SELECT auth.uid())
   AND (%(status)s::bot_status_enum IS NULL OR status = %(status)s::bot_status_enum)
   AND (%(after_at)s::timestamptz IS NULL OR (created_at, id) > (%(after_at)s, %(after_id)s::uuid))
 ORDER BY created_at, id
 LIMIT %(limit)s::bigint;

-- get_bot --
SELECT * FROM ai_trading_bots WHERE id = %(id)s AND user_id = (SELECT auth.uid());

-- lock_bot --
SELECT * FROM ai_trading_bots WHERE id = %(id)s AND user_id = (SELECT auth.uid()) FOR UPDATE;

-- own_account --
-- One of the caller's accounts (another user's is not found), and whether it can trade.
SELECT id, status FROM paper_trading_accounts WHERE id = %(id)s AND user_id = (SELECT auth.uid());

-- tracked_symbols --
-- Which of the given symbols the platform has prices for.
SELECT symbol FROM tracked_coins WHERE symbol = ANY (%(symbols)s);

-- insert_bot --
INSERT INTO ai_trading_bots (user_id, name, strategy, ai_model, target_symbols, paper_balance,
                             max_position_size, risk_level, config, account_id, strategy_id,
                             daily_budget_usd, lifetime_budget_usd)
VALUES ((SELECT auth.uid()), %(name)s, %(strategy)s, %(ai_model)s, %(target_symbols)s,
        %(paper_balance)s, %(max_position_size)s, %(risk_level)s::risk_level_enum, %(config)s,
        %(account_id)s, %(strategy_id)s, %(daily_budget_usd)s, %(lifetime_budget_usd)s)
RETURNING id;

-- update_bot --
UPDATE ai_trading_bots
   SET name = CASE WHEN %(set_name)s THEN %(name)s ELSE name END,
       target_symbols = CASE WHEN %(set_target_symbols)s THEN %(target_symbols)s
                             ELSE target_symbols END,
       paper_balance = CASE WHEN %(set_paper_balance)s THEN %(paper_balance)s ELSE paper_balance END,
       max_position_size = CASE WHEN %(set_max_position_size)s THEN %(max_position_size)s
                                ELSE max_position_size END,
       risk_level = CASE WHEN %(set_risk_level)s THEN %(risk_level)s::risk_level_enum
                         ELSE risk_level END,
       ai_model = CASE WHEN %(set_ai_model)s THEN %(ai_model)s ELSE ai_model END,
       config = CASE WHEN %(set_config)s THEN %(config)s ELSE config END,
       daily_budget_usd = CASE WHEN %(set_daily_budget_usd)s THEN %(daily_budget_usd)s
                               ELSE daily_budget_usd END,
       lifetime_budget_usd = CASE WHEN %(set_lifetime_budget_usd)s THEN %(lifetime_budget_usd)s
                                  ELSE lifetime_budget_usd END,
       updated_at = now()
 WHERE id = %(id)s AND user_id = (SELECT auth.uid())
RETURNING id;

-- set_bot_status --
-- A lifecycle step by the owner; starting records the market's time (the runner's clock).
UPDATE ai_trading_bots
   SET status = %(status)s::bot_status_enum,
       started_at = CASE WHEN %(status)s = 'active' THEN %(clock)s::timestamptz ELSE started_at END,
       updated_at = now()
 WHERE id = %(id)s AND user_id = (SELECT auth.uid())
RETURNING id;

-- delete_bot --
DELETE FROM ai_trading_bots WHERE id = %(id)s AND user_id = (SELECT auth.uid()) RETURNING id;

-- list_decisions --
-- A bot's journal, newest first; keyset-paginated on (created_at, id) descending.
SELECT * FROM bot_decisions
 WHERE bot_id = %(bot_id)s AND user_id = (SELECT auth.uid())
   AND (%(status)s::text IS NULL OR status = %(status)s)
   AND (%(before_at)s::timestamptz IS NULL
        OR (created_at, id) < (%(before_at)s, %(before_id)s::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s::bigint;

-- bot_costs --
-- What a bot's model calls cost: all of them and today's (UTC).
SELECT count(*) FILTER (WHERE kind = 'llm' AND (tokens_in > 0 OR replayed)) AS calls,
       count(*) FILTER (WHERE replayed) AS replayed,
       coalesce(sum(tokens_in), 0) AS tokens_in, coalesce(sum(tokens_out), 0) AS tokens_out,
       coalesce(sum(cost_usd), 0) AS cost_usd,
       coalesce(sum(cost_usd) FILTER (
         WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'), 0)
         AS cost_today_usd
  FROM bot_decisions WHERE bot_id = %(bot_id)s AND user_id = (SELECT auth.uid());

-- calibration_pairs --
-- A bot's buys and sells with a confidence and a reference price, and the symbol's close
-- %(horizon)s bars after the bar it decided on (the bar of its timeframe if stored, else
-- the 1-minute one ending then); only those whose horizon has passed.
SELECT d.confidence, d.action, d.reference_price, o.close AS outcome_price
  FROM bot_decisions d
  CROSS JOIN LATERAL (
    SELECT d.bar_time + make_interval(secs => (%(tf_seconds)s::jsonb ->> d.timeframe)::int
                                               * (%(horizon)s + 1)) AS at) t
  CROSS JOIN LATERAL (
    SELECT coalesce(
      (SELECT c.close FROM market_candles c
        WHERE c.symbol = d.symbol AND c.timeframe = d.timeframe
          AND c.open_time = t.at - make_interval(secs => (%(tf_seconds)s::jsonb ->> d.timeframe)::int)),
      (SELECT c.close FROM market_candles c
        WHERE c.symbol = d.symbol AND c.timeframe = '1m'
          AND c.open_time = t.at - interval '1 minute')) AS close) o
 WHERE d.bot_id = %(bot_id)s AND d.user_id = (SELECT auth.uid())
   AND d.action IN ('buy', 'sell') AND d.confidence IS NOT NULL
   AND d.reference_price IS NOT NULL AND o.close IS NOT NULL
 ORDER BY d.bar_time;

-- ============================================================ the runner (service role)

-- market_clock --
-- The market's time: the feed's while it refreshes (a replay's own time), else now().
SELECT coalesce(
  (SELECT market_time FROM market_feed_status
    WHERE feed = 'market' AND last_success_at > now() - interval '2 minutes'),
  now()) AS clock;

-- claim_due --
-- Claim, for this worker, every (active bot, scope) whose newest closed bar has no journal
-- row yet: the bar that closed last by the market's clock, if it closed after the bot was
-- started and no more than %(lateness)s seconds (or one bar) ago. A concurrent claim of the
-- same row waits for the first and then gets nothing (ON CONFLICT DO NOTHING).
WITH due AS (
  SELECT b.id AS bot_id, b.user_id,
         CASE WHEN b.strategy = 'llm' THEN 'llm' ELSE 'rule' END AS kind,
         tf.name AS timeframe, bar.t AS bar_time, scope
    FROM ai_trading_bots b
   CROSS JOIN LATERAL (SELECT coalesce(b.config ->> 'timeframe', '1h') AS name) tf
   CROSS JOIN LATERAL (SELECT (%(tf_seconds)s::jsonb ->> tf.name)::int AS secs) len
   CROSS JOIN LATERAL (
     SELECT to_timestamp((floor(extract(epoch FROM %(clock)s::timestamptz) / len.secs) - 1)
                         * len.secs) AS t) bar
   CROSS JOIN LATERAL unnest(CASE WHEN b.strategy = 'llm' THEN ARRAY['*']
                                  ELSE b.target_symbols END) AS scope
   WHERE b.status = 'active' AND b.account_id IS NOT NULL AND len.secs IS NOT NULL
     AND bar.t + make_interval(secs => len.secs) > coalesce(b.started_at, b.status_changed_at)
     AND %(clock)s::timestamptz < bar.t + make_interval(secs => len.secs + least(len.secs, %(lateness)s))
)
INSERT INTO bot_decisions (user_id, bot_id, kind, timeframe, bar_time, scope, worker, lease_until)
SELECT user_id, bot_id, kind, timeframe, bar_time, scope, %(worker)s,
       now() + make_interval(secs => %(lease)s)
  FROM due
ON CONFLICT (bot_id, bar_time, scope) DO NOTHING
RETURNING id, bot_id, user_id, kind, timeframe, bar_time, scope, status, attempts, decision,
          order_request, snapshot_hash, prompt, model, raw_reply, reasoning, tokens_in,
          tokens_out, cost_usd, latency_ms, replayed;

-- reclaim_expired --
-- Take over the claims whose worker's lease ran out (it died, or a transient failure set
-- the lease to the time of the next try).
UPDATE bot_decisions d
   SET worker = %(worker)s, lease_until = now() + make_interval(secs => %(lease)s),
       attempts = d.attempts + 1
 WHERE d.id IN (SELECT id FROM bot_decisions
                 WHERE status IN ('claimed', 'decided') AND lease_until < now()
                 ORDER BY lease_until LIMIT 2000 FOR UPDATE SKIP LOCKED)
RETURNING id, bot_id, user_id, kind, timeframe, bar_time, scope, status, attempts, decision,
          order_request, snapshot_hash, prompt, model, raw_reply, reasoning, tokens_in,
          tokens_out, cost_usd, latency_ms, replayed;

-- runner_bots --
SELECT b.id, b.user_id, b.name, b.account_id, b.strategy, b.strategy_id, b.ai_model,
       b.target_symbols, b.status, b.paper_balance, b.max_position_size, b.risk_level,
       b.config, b.started_at, b.status_changed_at, b.daily_budget_usd, b.lifetime_budget_usd,
       s.prompt AS strategy_prompt, s.model AS strategy_model,
       s.parameters AS strategy_parameters, coalesce(s.indicators, '{}') AS strategy_indicators,
       a.taker_fee_rate, a.maker_fee_rate, a.fill_model, a.slippage_bps,
       a.balance AS account_balance
  FROM ai_trading_bots b
  LEFT JOIN ai_strategies s ON s.id = b.strategy_id AND s.user_id = b.user_id
  LEFT JOIN paper_trading_accounts a ON a.id = b.account_id AND a.user_id = b.user_id
 WHERE b.id = ANY (%(ids)s);

-- bot_books --
-- Each bot's own money per symbol: the cash its fills moved (what sells brought less what
-- buys cost, fees included), what its resting buys hold, the quantity its fills left it
-- and what its buys cost per unit on average. The bot's cash is its cap plus these.
SELECT t.bot_id, t.symbol,
       coalesce(sum(CASE WHEN t.side = 'sell' THEN t.total_value - t.fee
                         ELSE -(t.total_value + t.fee) END)
                FILTER (WHERE t.status = 'completed'), 0) AS cash_delta,
       coalesce(sum(t.amount * t.price) FILTER (WHERE t.status = 'pending' AND t.side = 'buy'), 0)
         AS reserved,
       coalesce(sum(CASE WHEN t.side = 'buy' THEN t.amount ELSE -t.amount END)
                FILTER (WHERE t.status = 'completed'), 0) AS quantity,
       sum(t.total_value + t.fee) FILTER (WHERE t.side = 'buy' AND t.status = 'completed')
         / nullif(sum(t.amount) FILTER (WHERE t.side = 'buy' AND t.status = 'completed'), 0)
         AS avg_entry_price
  FROM paper_trades t
 WHERE t.bot_id = ANY (%(ids)s) AND t.status IN ('completed', 'pending')
 GROUP BY t.bot_id, t.symbol;

-- quotes --
SELECT symbol, price_usd, volume_24h_usd, high_24h, low_24h
  FROM market_data_cache WHERE symbol = ANY (%(symbols)s);

-- bot_spend --
SELECT bot_id, coalesce(sum(cost_usd), 0) AS lifetime,
       coalesce(sum(cost_usd) FILTER (
         WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'), 0)
         AS today,
       bool_or(abstain_code = 'budget_spent') FILTER (
         WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
         AS told_today
  FROM bot_decisions WHERE bot_id = ANY (%(ids)s) AND source = 'live'
 GROUP BY bot_id;

-- model_prices --
SELECT model, input_usd_per_mtok, output_usd_per_mtok FROM llm_model_prices;

-- list_model_prices --
SELECT model, input_usd_per_mtok, output_usd_per_mtok, source
  FROM llm_model_prices ORDER BY model;

-- set_model_price --
INSERT INTO llm_model_prices (model, input_usd_per_mtok, output_usd_per_mtok, source)
VALUES (%(model)s, %(input)s, %(output)s, %(source)s)
ON CONFLICT (model) DO UPDATE SET input_usd_per_mtok = EXCLUDED.input_usd_per_mtok,
  output_usd_per_mtok = EXCLUDED.output_usd_per_mtok,
  source = coalesce(EXCLUDED.source, llm_model_prices.source),
  updated_at = now();

-- model_cutoffs --
SELECT model, training_cutoff FROM llm_model_cutoffs;

-- recorded_reply --
-- The record of an earlier call with the same model, prompt and data (the owner's own).
SELECT raw_reply, reasoning, decision, tokens_in, tokens_out
  FROM bot_decisions
 WHERE kind = 'llm' AND user_id = %(user_id)s AND model = %(model)s
   AND snapshot_hash = %(snapshot_hash)s AND prompt = %(prompt)s AND decision IS NOT NULL
 ORDER BY created_at
 LIMIT 1;

-- record_decisions --
-- Write the journal rows the runner holds (all their columns, as it has them now).
UPDATE bot_decisions d
   SET status = r.status, lease_until = r.lease_until, snapshot_hash = r.snapshot_hash,
       prompt = r.prompt, model = r.model, raw_reply = r.raw_reply, reasoning = r.reasoning,
       decision = r.decision, order_request = r.order_request, action = r.action,
       symbol = r.symbol, confidence = r.confidence, reference_price = r.reference_price,
       abstain_code = r.abstain_code, abstain_reason = r.abstain_reason,
       tokens_in = r.tokens_in, tokens_out = r.tokens_out, cost_usd = r.cost_usd,
       latency_ms = r.latency_ms, replayed = r.replayed, order_id = r.order_id,
       order_status = r.order_status, order_error = r.order_error,
       decided_at = coalesce(d.decided_at, r.decided_at), completed_at = r.completed_at
  FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
         id uuid, status text, lease_until timestamptz, snapshot_hash text, prompt text,
         model text, raw_reply text, reasoning text, decision jsonb, order_request jsonb,
         action text, symbol text, confidence numeric, reference_price numeric,
         abstain_code text, abstain_reason text, tokens_in int, tokens_out int,
         cost_usd numeric, latency_ms int, replayed boolean, order_id uuid, order_status text,
         order_error text, decided_at timestamptz, completed_at timestamptz)
 WHERE d.id = r.id AND d.worker = %(worker)s;

-- record_backtest_reply --
-- A reply a backtest of the bot asked for, kept so that the next run replays it.
INSERT INTO bot_decisions (user_id, bot_id, kind, source, timeframe, bar_time, scope, status,
                           snapshot_hash, prompt, model, raw_reply, reasoning, decision, action,
                           symbol, confidence, abstain_code, abstain_reason, tokens_in,
                           tokens_out, cost_usd, latency_ms, decided_at, completed_at)
SELECT %(user_id)s, %(bot_id)s, 'llm', 'backtest', %(timeframe)s, %(bar_time)s, %(scope)s,
       CASE WHEN d IS NULL THEN 'abstained' ELSE 'held' END, %(snapshot_hash)s, %(prompt)s,
       %(model)s, %(raw_reply)s, %(reasoning)s, d, coalesce(d ->> 'action', 'hold'),
       d ->> 'symbol', (d ->> 'confidence')::numeric, %(abstain_code)s, %(abstain_reason)s,
       %(tokens_in)s, %(tokens_out)s, %(cost_usd)s, %(latency_ms)s, now(), now()
  FROM (SELECT %(decision)s::jsonb AS d) r
ON CONFLICT (bot_id, bar_time, scope) DO NOTHING;

-- placed_order --
-- The trade an Idempotency-Key placed, if it did (a claim taken over after its order).
SELECT (jsonb_populate_record(NULL::paper_trades, k.response)).id AS order_id,
       (jsonb_populate_record(NULL::paper_trades, k.response)).status AS order_status
  FROM idempotency_keys k
 WHERE k.user_id = %(user_id)s AND k.key = %(key)s AND k.response IS NOT NULL;

-- bot_to_error --
-- The runner stops a bot that cannot go on as configured (only an active one).
UPDATE ai_trading_bots SET status = %(status)s::bot_status_enum, error_message = %(message)s
 WHERE id = %(id)s AND status = 'active'
RETURNING id;

-- notify_owner --
-- A notification to a bot's owner, on the bot's account.
INSERT INTO account_notifications (account_id, user_id, notification_type, title, message,
                                   severity, metadata)
SELECT b.account_id, b.user_id, %(type)s, %(title)s, %(message)s, %(severity)s,
       jsonb_build_object('bot_id', b.id, 'bot_name', b.name) || %(metadata)s::jsonb
  FROM ai_trading_bots b
 WHERE b.id = %(bot_id)s AND b.account_id IS NOT NULL;

-- refresh_performance --
-- Each bot's performance from its own fills at current prices (bot_performance(), 0033).
UPDATE ai_trading_bots b SET performance = bot_performance(b.id) WHERE b.id = ANY (%(ids)s);

-- bot_performance --
-- One bot's performance now, as its owner reads it (RLS: another user's bot gives none).
SELECT bot_performance(b.id) AS performance
  FROM ai_trading_bots b WHERE b.id = %(id)s AND b.user_id = (SELECT auth.uid());
