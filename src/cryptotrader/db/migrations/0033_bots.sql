-- Bots (issue 14): the decision journal, the bot runner's claim on a bar, budgets, the
-- model price and training-cutoff tables, the market clock, and the one order path with
-- a risk score.
--
-- * bot_decisions: every decision of every bot, one row per (bot, bar, scope), where the
--   scope is the symbol a rule bot decided on, or '*' for an LLM bot's one decision over
--   all its symbols (and the replies its backtests asked for, source 'backtest'). The row is the runner's claim as well: the worker whose INSERT wins
--   evaluates that bar, under a lease that another worker takes over once it runs out
--   (its order then goes through the same Idempotency-Key, so it is never placed twice).
--   The owner reads it under RLS; only the service role (the runner) writes it.
-- * ai_trading_bots gains the error message, the daily and lifetime budgets in USD, and
--   column grants: the owner may change what configures a bot, never its performance, its
--   last trade or its error; a trigger keeps the lifecycle (paused -> active -> paused |
--   stopped, error only by the runner, stopped for good).
-- * llm_model_prices and llm_model_cutoffs: readable by everyone, written by the service
--   role (the `bots prices` CLI command, an administrator).
-- * market_feed_status.market_time: the market's clock as the feed last saw it (now() for a
--   live provider, the replay's own time for a replay), which the runner's bars follow.
-- * gateway.place_order_v3(): place_order_v2() and the trade's risk score (0-100).

-- ---------------------------------------------------------------- bots
ALTER TABLE ai_trading_bots
  ADD COLUMN error_message TEXT,
  ADD COLUMN daily_budget_usd NUMERIC,
  ADD COLUMN lifetime_budget_usd NUMERIC,
  ADD COLUMN status_changed_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  -- the market's time when the bot was last started: it decides on the bars that close
  -- after it, and its indicators see none from before it (less the strategy's warmup)
  ADD COLUMN started_at TIMESTAMPTZ,
  ADD CONSTRAINT ai_trading_bots_budgets CHECK (
    (daily_budget_usd IS NULL OR daily_budget_usd >= 0)
    AND (lifetime_budget_usd IS NULL OR lifetime_budget_usd >= 0)),
  ADD CONSTRAINT ai_trading_bots_symbols CHECK (cardinality(target_symbols) BETWEEN 1 AND 20);

REVOKE UPDATE ON ai_trading_bots FROM authenticated;
GRANT UPDATE (name, strategy, ai_model, target_symbols, status, paper_balance,
              max_position_size, risk_level, config, account_id, strategy_id,
              daily_budget_usd, lifetime_budget_usd, started_at, updated_at)
  ON ai_trading_bots TO authenticated;

CREATE INDEX ai_trading_bots_status_idx ON ai_trading_bots (status) WHERE status = 'active';

-- SECURITY DEFINER: the owner's role may not call the private helpers it uses.
CREATE FUNCTION private.bot_lifecycle() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
  IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
    RETURN NEW;
  END IF;
  IF OLD.status = 'stopped' THEN
    PERFORM private.reject('bot_stopped', 'a stopped bot stays stopped', 'CT409');
  END IF;
  IF NEW.status = 'error' AND NOT private.caller_is_service() THEN
    PERFORM private.reject('invalid_bot_transition',
                           'only the runner puts a bot in error', 'CT409');
  END IF;
  -- the runner's message stays with the state it put the bot in; the owner's step clears it
  IF NOT private.caller_is_service() THEN
    NEW.error_message := NULL;
  END IF;
  NEW.status_changed_at := pg_catalog.now();
  RETURN NEW;
END
$$;
CREATE TRIGGER ai_trading_bots_lifecycle BEFORE UPDATE OF status ON ai_trading_bots
  FOR EACH ROW EXECUTE FUNCTION private.bot_lifecycle();

-- ---------------------------------------------------------------- the journal
CREATE TABLE bot_decisions (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  bot_id UUID NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('rule', 'llm')),
  -- 'live': the runner's; 'backtest': a reply asked for by a backtest of the bot (the
  -- record a rerun replays; its scope is 'backtest:<snapshot hash>')
  source TEXT NOT NULL DEFAULT 'live' CHECK (source IN ('live', 'backtest')),
  timeframe TEXT NOT NULL,
  bar_time TIMESTAMPTZ NOT NULL,          -- the open time of the closed bar decided on
  scope TEXT NOT NULL,                    -- the rule bot's symbol, or '*' (an LLM bot)
  status TEXT NOT NULL DEFAULT 'claimed'
    CHECK (status IN ('claimed', 'decided', 'traded', 'held', 'abstained', 'failed')),
  worker TEXT,
  lease_until TIMESTAMPTZ,
  attempts INTEGER NOT NULL DEFAULT 1,
  snapshot_hash TEXT,
  prompt TEXT,
  model TEXT,
  raw_reply TEXT,
  reasoning TEXT,
  decision JSONB,
  order_request JSONB,                    -- the order it gave, sent under one Idempotency-Key
  action TEXT CHECK (action IN ('buy', 'sell', 'hold')),
  symbol TEXT,
  confidence NUMERIC CHECK (confidence BETWEEN 0 AND 1),
  reference_price NUMERIC,                -- the symbol's price when the order was placed
  abstain_code TEXT,
  abstain_reason TEXT,
  tokens_in INTEGER NOT NULL DEFAULT 0,
  tokens_out INTEGER NOT NULL DEFAULT 0,
  cost_usd NUMERIC NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
  latency_ms INTEGER NOT NULL DEFAULT 0,
  replayed BOOLEAN NOT NULL DEFAULT FALSE, -- the reply came from the record, at no cost
  order_id UUID,
  order_status TEXT,
  order_error TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  decided_at TIMESTAMPTZ,
  completed_at TIMESTAMPTZ,
  CONSTRAINT bot_decisions_bar_key UNIQUE (bot_id, bar_time, scope),
  FOREIGN KEY (bot_id, user_id) REFERENCES ai_trading_bots (id, user_id) ON DELETE CASCADE
);
CREATE INDEX bot_decisions_user_id_idx ON bot_decisions (user_id);
CREATE INDEX bot_decisions_bot_time_idx ON bot_decisions (bot_id, created_at DESC);
CREATE INDEX bot_decisions_open_idx ON bot_decisions (lease_until)
  WHERE status IN ('claimed', 'decided');
-- the record of replies: a decision is reused for the same model, prompt and data
CREATE INDEX bot_decisions_replay_idx ON bot_decisions (model, snapshot_hash)
  WHERE kind = 'llm' AND decision IS NOT NULL;
SELECT private.own_rows('bot_decisions', ARRAY['select']);

-- A bot's performance from its own fills, at current prices: trades, buys, sells, wins and
-- losses (sells with a realized profit or loss), win rate, realized and total PnL, its cash
-- and positions' value, its return on its cap, its decisions and what its model calls
-- cost; money as decimal strings (as the API shows money). SECURITY INVOKER: the owner
-- computes their own bots' (RLS), the runner every bot's.
CREATE FUNCTION public.bot_performance(p_bot_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
           'trades', f.trades, 'buys', f.buys, 'sells', f.sells, 'wins', f.wins,
           'losses', f.losses,
           'win_rate', CASE WHEN f.wins + f.losses > 0
                            THEN round(f.wins::numeric / (f.wins + f.losses), 4) END,
           'realized_pnl', round(f.realized, 8)::text,
           'cash', round(b.paper_balance + f.cash_delta, 8)::text,
           'positions_value', round(p.value, 8)::text,
           'total_pnl', round(f.cash_delta + p.value, 8)::text,
           'return_pct', round((f.cash_delta + p.value) / b.paper_balance * 100, 4)::text,
           'decisions', j.decisions, 'cost_usd', round(j.cost, 8)::text,
           'updated_at', pg_catalog.now())
    FROM public.ai_trading_bots b
   CROSS JOIN LATERAL (
     SELECT count(*) AS trades, count(*) FILTER (WHERE t.side = 'buy') AS buys,
            count(*) FILTER (WHERE t.side = 'sell') AS sells,
            count(*) FILTER (WHERE t.side = 'sell' AND t.realized_pnl > 0) AS wins,
            count(*) FILTER (WHERE t.side = 'sell' AND t.realized_pnl < 0) AS losses,
            coalesce(sum(t.realized_pnl) FILTER (WHERE t.side = 'sell'), 0) AS realized,
            coalesce(sum(CASE WHEN t.side = 'sell' THEN t.total_value - t.fee
                              ELSE -(t.total_value + t.fee) END), 0) AS cash_delta
       FROM public.paper_trades t
      WHERE t.bot_id = b.id AND t.user_id = b.user_id AND t.status = 'completed') f
   CROSS JOIN LATERAL (
     SELECT coalesce(sum(q.quantity * m.price_usd), 0) AS value
       FROM (SELECT t.symbol,
                    sum(CASE WHEN t.side = 'buy' THEN t.amount ELSE -t.amount END) AS quantity
               FROM public.paper_trades t
              WHERE t.bot_id = b.id AND t.user_id = b.user_id AND t.status = 'completed'
              GROUP BY t.symbol) q
       JOIN public.market_data_cache m ON m.symbol = q.symbol) p
   CROSS JOIN LATERAL (
     SELECT count(*) AS decisions, coalesce(sum(d.cost_usd), 0) AS cost
       FROM public.bot_decisions d WHERE d.bot_id = b.id) j
   WHERE b.id = p_bot_id
$$;
REVOKE ALL ON FUNCTION public.bot_performance(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.bot_performance(uuid) TO authenticated, service_role;

-- ---------------------------------------------------------------- prices and cutoffs
CREATE TABLE llm_model_prices (
  model TEXT PRIMARY KEY,
  input_usd_per_mtok NUMERIC NOT NULL CHECK (input_usd_per_mtok >= 0),
  output_usd_per_mtok NUMERIC NOT NULL CHECK (output_usd_per_mtok >= 0),
  source TEXT,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
SELECT private.public_rows('llm_model_prices');
CREATE TRIGGER llm_model_prices_set_updated_at BEFORE UPDATE ON llm_model_prices
  FOR EACH ROW EXECUTE FUNCTION private.set_updated_at();
GRANT SELECT ON llm_model_prices TO anon, authenticated;

-- List prices per million tokens, USD (cache-miss input), as the providers published them.
INSERT INTO llm_model_prices (model, input_usd_per_mtok, output_usd_per_mtok, source) VALUES
  ('gpt-4o-mini', 0.15, 0.60, 'openai.com/api/pricing, 2025'),
  ('gpt-4o', 2.50, 10.00, 'openai.com/api/pricing, 2025'),
  ('gpt-4.1-mini', 0.40, 1.60, 'openai.com/api/pricing, 2025'),
  ('deepseek-chat', 0.28, 0.42, 'api-docs.deepseek.com/quick_start/pricing, 2025-09'),
  ('deepseek-reasoner', 0.28, 0.42, 'api-docs.deepseek.com/quick_start/pricing, 2025-09');

CREATE TABLE llm_model_cutoffs (
  model TEXT PRIMARY KEY,
  training_cutoff DATE NOT NULL,
  source TEXT
);
SELECT private.public_rows('llm_model_cutoffs');
GRANT SELECT ON llm_model_cutoffs TO anon, authenticated;

-- A prefix matches every model it begins (deepseek-r1 covers deepseek-r1:8b).
INSERT INTO llm_model_cutoffs (model, training_cutoff, source) VALUES
  ('gpt-4o-mini', '2023-10-01', 'OpenAI model card'),
  ('gpt-4o', '2023-10-01', 'OpenAI model card'),
  ('gpt-4.1', '2024-06-01', 'OpenAI model card'),
  ('deepseek-r1', '2024-07-01', 'DeepSeek-R1 model card (V3 base)'),
  ('deepseek-reasoner', '2024-07-01', 'DeepSeek API docs'),
  ('deepseek-chat', '2024-07-01', 'DeepSeek API docs'),
  ('qwen3', '2024-12-01', 'Qwen3 technical report'),
  ('llama3', '2023-12-01', 'Meta model card');

-- ---------------------------------------------------------------- the market clock
ALTER TABLE market_feed_status ADD COLUMN market_time TIMESTAMPTZ;

-- ---------------------------------------------------------------- one order path, v3
-- Users may give a trade its risk score when they place it; nothing else changes it.
CREATE FUNCTION gateway.place_order_v3(
  p_claims text,
  p_ip inet,
  p_user_agent text,
  p_idempotency_key text,
  p_request_hash text,
  p_account_id uuid,
  p_symbol text,
  p_side text,
  p_amount numeric,
  p_order_type text DEFAULT 'market',
  p_limit_price numeric DEFAULT NULL,
  p_stop_price numeric DEFAULT NULL,
  p_time_in_force text DEFAULT 'gtc',
  p_expires_at timestamptz DEFAULT NULL,
  p_stop_loss numeric DEFAULT NULL,
  p_take_profit numeric DEFAULT NULL,
  p_bot_id uuid DEFAULT NULL,
  p_reasoning text DEFAULT NULL,
  p_confidence_level numeric DEFAULT NULL,
  p_trade_category text DEFAULT 'manual',
  p_tags text[] DEFAULT '{}',
  p_notes text DEFAULT NULL,
  p_risk_score numeric DEFAULT NULL,
  OUT trade public.paper_trades,
  OUT replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
  placed record;
BEGIN
  SELECT g.trade, g.replayed INTO placed FROM gateway.place_order_v2(
    p_claims, p_ip, p_user_agent, p_idempotency_key, p_request_hash, p_account_id, p_symbol,
    p_side, p_amount, p_order_type, p_limit_price, p_stop_price, p_time_in_force,
    p_expires_at, p_stop_loss, p_take_profit, p_bot_id, p_reasoning, p_confidence_level,
    p_trade_category, p_tags, p_notes) AS g;
  trade := placed.trade;
  replayed := placed.replayed;
  IF p_risk_score IS NULL OR replayed THEN
    RETURN;
  END IF;
  IF p_risk_score < 0 OR p_risk_score > 100 THEN
    RAISE EXCEPTION USING ERRCODE = 'CT422', HINT = 'invalid_order',
      MESSAGE = 'risk_score is between 0 and 100';
  END IF;
  -- now as the caller (place_order_v2 switched the role for the rest of the transaction)
  UPDATE public.paper_trades t SET risk_score = p_risk_score
   WHERE t.id = (trade).id AND t.created_at = (trade).created_at
  RETURNING t.* INTO trade;
  IF p_idempotency_key IS NOT NULL THEN
    UPDATE public.idempotency_keys k SET response = pg_catalog.to_jsonb(trade)
     WHERE k.user_id = auth.uid() AND k.key = p_idempotency_key;
  END IF;
END
$$;
GRANT UPDATE (risk_score) ON paper_trades TO authenticated;
REVOKE ALL ON FUNCTION gateway.place_order_v3(text, inet, text, text, text, uuid, text, text,
  numeric, text, numeric, numeric, text, timestamptz, numeric, numeric, uuid, text, numeric, text,
  text[], text, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gateway.place_order_v3(text, inet, text, text, text, uuid, text, text,
  numeric, text, numeric, numeric, text, timestamptz, numeric, numeric, uuid, text, numeric, text,
  text[], text, numeric) TO PUBLIC;
