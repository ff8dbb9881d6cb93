-- Social trading, part 2 (issue 15, item 3): copy trading (docs/social.md, "Copy trading").
--
-- * trader_follows gains its copy settings: the account the copies go to, the mode (ratio
--   or a fixed amount per trade), a minimum copied order value, a maximum per trade, a
--   slippage cap, a copy stop-loss (optionally closing the copied positions) and, set when
--   copying starts, the capital allocated and the copy's PnL then (the stop-loss's base).
--   The allocations of one account's copies add up to at most 100% (a trigger).
-- * private.copy_events: the outbox. Each fill of a trader who has copiers (any kind:
--   market, bot, limit, stop, stop-loss, take-profit, and copies, for chains) appends one
--   row in the fill's own transaction, with what a copy is sized from: a buy's share of the
--   trader's equity before it, or the share of the position a sell closes. The copy worker
--   fans each trader's events out in their order (social/copying.py).
-- * copy_trades: the copy log, one row per (event, follow): the copy placed, reduced or
--   skipped and why; its follower reads it (RLS). Its filled rows are the copied position
--   (a sell of the copy sells from them, never from the follower's own holdings).
-- * public.copiers_pnl(): the aggregate PnL of a listed trader's copiers (a published figure).

-- ------------------------------------------------------------------ the follow's settings
ALTER TABLE trader_follows
  ADD COLUMN copy_account_id UUID,
  ADD COLUMN copy_mode TEXT NOT NULL DEFAULT 'ratio' CHECK (copy_mode IN ('ratio', 'fixed')),
  ADD COLUMN copy_fixed_amount NUMERIC CHECK (copy_fixed_amount > 0),
  ADD COLUMN copy_min_order NUMERIC NOT NULL DEFAULT 10 CHECK (copy_min_order >= 0),
  ADD COLUMN copy_max_per_trade NUMERIC CHECK (copy_max_per_trade > 0),
  ADD COLUMN copy_slippage_pct NUMERIC NOT NULL DEFAULT 1
    CHECK (copy_slippage_pct >= 0 AND copy_slippage_pct <= 50),
  ADD COLUMN copy_stop_loss_pct NUMERIC
    CHECK (copy_stop_loss_pct > 0 AND copy_stop_loss_pct <= 100),
  ADD COLUMN copy_stop_closes BOOLEAN NOT NULL DEFAULT FALSE,
  ADD COLUMN copy_allocated_usd NUMERIC,
  ADD COLUMN copy_base_pnl NUMERIC,
  ADD COLUMN copy_started_at TIMESTAMPTZ,
  ADD COLUMN copy_stopped_at TIMESTAMPTZ,
  ADD COLUMN copy_stop_reason TEXT,
  ADD CONSTRAINT trader_follows_copy_account_fk FOREIGN KEY (copy_account_id, user_id)
    REFERENCES paper_trading_accounts (id, user_id) ON DELETE CASCADE,
  ADD CONSTRAINT trader_follows_copy_needs_account
    CHECK (NOT coalesce(copy_trading_enabled, false) OR copy_account_id IS NOT NULL),
  ADD CONSTRAINT trader_follows_fixed_needs_amount
    CHECK (copy_mode <> 'fixed' OR copy_fixed_amount IS NOT NULL);
CREATE INDEX trader_follows_copy_account_idx ON trader_follows (copy_account_id);

-- ------------------------------------------------------------------ the copy log
CREATE TABLE copy_trades (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,   -- the follower
  follow_id UUID REFERENCES trader_follows(id) ON DELETE SET NULL,    -- the log outlives it
  event_id BIGINT,                                                    -- NULL: a stop-loss close
  leader_id UUID NOT NULL,
  leader_trade_id UUID,
  account_id UUID NOT NULL,
  kind TEXT NOT NULL DEFAULT 'trade' CHECK (kind IN ('trade', 'mirror', 'stop_close')),
  symbol TEXT NOT NULL,
  side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
  leader_price NUMERIC NOT NULL,          -- the trader's fill price (a mirror: the quote)
  entry_price NUMERIC,                    -- a mirror: the trader's average entry price
  fraction NUMERIC NOT NULL,              -- a buy's share of equity, a sell's of the position
  quote_price NUMERIC,                    -- the price when the copy was sized
  target_value NUMERIC,                   -- what the mode asked for, before the rules (USD)
  quantity NUMERIC NOT NULL DEFAULT 0,    -- what was ordered
  limit_price NUMERIC,                    -- a buy's slippage cap
  status TEXT NOT NULL DEFAULT 'planned'
    CHECK (status IN ('planned', 'filled', 'reduced', 'skipped')),
  reason TEXT,
  message TEXT,
  trade_id UUID,
  trade_created_at TIMESTAMPTZ,
  filled_quantity NUMERIC NOT NULL DEFAULT 0,
  execution_price NUMERIC,
  total_value NUMERIC NOT NULL DEFAULT 0,
  fee NUMERIC NOT NULL DEFAULT 0,
  created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
  completed_at TIMESTAMPTZ,
  -- a planned copy may carry the reason sizing reduced it for
  CONSTRAINT copy_trades_reason CHECK (status = 'planned' OR (status = 'filled') = (reason IS NULL)),
  FOREIGN KEY (account_id, user_id) REFERENCES paper_trading_accounts (id, user_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX copy_trades_once ON copy_trades (event_id, follow_id) WHERE event_id IS NOT NULL;
CREATE INDEX copy_trades_book_idx ON copy_trades (follow_id, symbol);
CREATE INDEX copy_trades_account_idx ON copy_trades (account_id);
CREATE INDEX copy_trades_planned_idx ON copy_trades (event_id) WHERE status = 'planned';
CREATE INDEX copy_trades_leader_idx ON copy_trades (leader_id) WHERE status IN ('filled', 'reduced');
CREATE INDEX copy_trades_user_idx ON copy_trades (user_id, created_at DESC, id DESC);
SELECT private.own_rows('copy_trades', ARRAY['select']);

-- ------------------------------------------------------------------ the outbox
CREATE TABLE private.copy_events (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  leader_id UUID NOT NULL,
  leader_account_id UUID NOT NULL,
  leader_trade_id UUID,                   -- NULL for a mirror
  kind TEXT NOT NULL DEFAULT 'trade' CHECK (kind IN ('trade', 'mirror')),
  target_follow_id UUID,                  -- a mirror (opening today's positions) is one follow's
  symbol TEXT NOT NULL,
  side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
  price NUMERIC NOT NULL,
  entry_price NUMERIC,                    -- a mirror: the trader's average entry price
  fraction NUMERIC NOT NULL CHECK (fraction >= 0),
  chain UUID[] NOT NULL DEFAULT '{}',     -- the traders this fill was copied through
  created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
  lease_until TIMESTAMPTZ,
  worker TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  done_at TIMESTAMPTZ
);
CREATE INDEX copy_events_pending_idx ON private.copy_events (leader_id, id) WHERE done_at IS NULL;
CREATE INDEX copy_events_track_idx ON private.copy_events (leader_id, created_at) WHERE kind = 'trade';
GRANT SELECT, INSERT, UPDATE, DELETE ON private.copy_events TO service_role;

-- The copy's PnL: its fills' cash flows and fees, and its copied positions at today's prices.
CREATE FUNCTION private.copy_pnl(p_follow uuid) RETURNS numeric
LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(b.flow + b.qty * coalesce(m.price_usd, 0)), 0)
    FROM (SELECT c.symbol,
                 sum(CASE WHEN c.side = 'sell' THEN c.total_value ELSE -c.total_value END
                     - c.fee) AS flow,
                 sum(CASE WHEN c.side = 'buy' THEN c.filled_quantity
                          ELSE -c.filled_quantity END) AS qty
            FROM public.copy_trades c
           WHERE c.follow_id = p_follow AND c.status IN ('filled', 'reduced')
           GROUP BY c.symbol) b
    LEFT JOIN public.market_data_cache m ON m.symbol = b.symbol
$$;

REVOKE EXECUTE ON FUNCTION private.copy_pnl(uuid) FROM PUBLIC;
-- the copy worker sizes copies and checks stop-losses with the engine's valuation
GRANT EXECUTE ON FUNCTION private.copy_pnl(uuid), private.account_equity(uuid),
  private.positions_value(uuid) TO service_role;

-- One fill of a trader with copiers, or of a listed trader: its event, in the fill's
-- transaction. A listed trader's events without copiers are born done: they are the
-- public track a what-if replays (the shares a copy would have been sized by). Plain (see
-- 0012): every trade row is written inside the engine's SECURITY DEFINER functions. Cheap
-- for everyone else (two probes of small indexes), so a fill never waits for its copies.
CREATE FUNCTION private.copy_event_for_fill() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  parent bigint;
  v_chain uuid[] := '{}';
  quote numeric;
  held numeric;
  frac numeric;
  copied boolean;
BEGIN
  copied := EXISTS (SELECT 1 FROM public.trader_follows f
                     WHERE f.followed_id = NEW.user_id AND f.copy_trading_enabled AND f.is_active);
  IF NOT copied AND NOT EXISTS (SELECT 1 FROM public.trader_profiles p
                                 WHERE p.user_id = NEW.user_id AND p.is_listed) THEN
    RETURN NULL;
  END IF;
  IF NEW.trade_category = 'copy' THEN  -- a copy: the worker names its event in the claims
    parent := (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb
               ->> 'copy_event')::bigint;
    SELECT e.chain || e.leader_id INTO v_chain FROM private.copy_events e WHERE e.id = parent;
    v_chain := coalesce(v_chain, '{}');
  END IF;
  IF NEW.side = 'buy' THEN
    -- equity before the fill = after + what it cost - what it added at the quote
    SELECT m.price_usd INTO quote FROM public.market_data_cache m WHERE m.symbol = NEW.symbol;
    frac := NEW.total_value / nullif(private.account_equity(NEW.account_id) + NEW.total_value
                                     + NEW.fee - NEW.amount * coalesce(quote, 0), 0);
  ELSE
    SELECT p.quantity INTO held FROM public.account_positions p
     WHERE p.account_id = NEW.account_id AND p.symbol = NEW.symbol;
    frac := NEW.amount / (coalesce(held, 0) + NEW.amount);
  END IF;
  INSERT INTO private.copy_events (leader_id, leader_account_id, leader_trade_id, symbol, side,
                                   price, fraction, chain, done_at)
  VALUES (NEW.user_id, NEW.account_id, NEW.id, NEW.symbol, NEW.side, NEW.execution_price,
          greatest(coalesce(frac, 0), 0), v_chain,
          CASE WHEN NOT copied THEN pg_catalog.clock_timestamp() END);
  RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION private.copy_event_for_fill() FROM PUBLIC;
CREATE TRIGGER paper_trades_copy_insert AFTER INSERT ON paper_trades
  FOR EACH ROW WHEN (NEW.status = 'completed')
  EXECUTE FUNCTION private.copy_event_for_fill();
CREATE TRIGGER paper_trades_copy_fill AFTER UPDATE OF status ON paper_trades
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status = 'completed')
  EXECUTE FUNCTION private.copy_event_for_fill();

-- Starting (or re-pointing) a copy: the account must be active, the allocations of its
-- copies add up to at most 100%, and the capital allocated and the copy's PnL are taken
-- now (the stop-loss's base). SECURITY DEFINER: it values the account with the engine's
-- private helpers.
CREATE FUNCTION private.copy_settings() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  acct public.paper_trading_accounts;
  others numeric;
  starting boolean;
BEGIN
  IF NOT coalesce(NEW.copy_trading_enabled, false) THEN
    RETURN NEW;
  END IF;
  starting := TG_OP = 'INSERT' OR NOT coalesce(OLD.copy_trading_enabled, false)
              OR NEW.copy_account_id IS DISTINCT FROM OLD.copy_account_id;
  IF NOT starting AND NEW.allocation_percentage IS NOT DISTINCT FROM OLD.allocation_percentage THEN
    RETURN NEW;
  END IF;
  SELECT * INTO acct FROM public.paper_trading_accounts a
   WHERE a.id = NEW.copy_account_id AND a.user_id = NEW.user_id;
  IF NOT FOUND THEN
    PERFORM private.reject('account_not_found', 'account not found', 'CT404');
  END IF;
  IF acct.status <> 'active' THEN
    PERFORM private.reject('account_not_active',
      pg_catalog.format('the copy account is %s', acct.status), 'CT409');
  END IF;
  IF coalesce(NEW.allocation_percentage, 0) <= 0 THEN
    PERFORM private.reject('invalid_copy_settings',
      'copying needs an allocation above 0%', 'CT422');
  END IF;
  -- one account's copies at a time, so two at once cannot both pass the sum
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(NEW.copy_account_id::text, 35));
  SELECT coalesce(sum(f.allocation_percentage), 0) INTO others FROM public.trader_follows f
   WHERE f.copy_account_id = NEW.copy_account_id AND f.copy_trading_enabled AND f.id <> NEW.id;
  IF others + NEW.allocation_percentage > 100 THEN
    PERFORM private.reject('allocation_over_100',
      pg_catalog.format('this account''s copies would allocate %s%% (at most 100%%)',
                        others + NEW.allocation_percentage), 'CT422');
  END IF;
  NEW.copy_allocated_usd := round(NEW.allocation_percentage / 100
                                  * private.account_equity(NEW.copy_account_id), 8);
  IF starting THEN
    NEW.copy_started_at := pg_catalog.now();
    NEW.copy_base_pnl := private.copy_pnl(NEW.id);
    NEW.copy_stopped_at := NULL;
    NEW.copy_stop_reason := NULL;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER trader_follows_copy_settings BEFORE INSERT OR UPDATE ON trader_follows
  FOR EACH ROW EXECUTE FUNCTION private.copy_settings();

-- The aggregate PnL of a listed trader's copiers (NULL for a trader who is not listed): a
-- published figure; the copies themselves stay their followers'. Copies whose follow has
-- gone count too (the log outlives the follow).
CREATE FUNCTION public.copiers_pnl(p_trader uuid) RETURNS numeric
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
  SELECT round(coalesce(sum(b.flow + b.qty * coalesce(m.price_usd, 0)), 0), 8)
    FROM (SELECT c.symbol,
                 sum(CASE WHEN c.side = 'sell' THEN c.total_value ELSE -c.total_value END
                     - c.fee) AS flow,
                 sum(CASE WHEN c.side = 'buy' THEN c.filled_quantity
                          ELSE -c.filled_quantity END) AS qty
            FROM public.copy_trades c
           WHERE c.leader_id = p_trader AND c.status IN ('filled', 'reduced')
           GROUP BY c.symbol) b
    LEFT JOIN public.market_data_cache m ON m.symbol = b.symbol
  HAVING EXISTS (SELECT 1 FROM public.trader_profiles p
                  WHERE p.user_id = p_trader AND p.is_listed)
$$;
REVOKE ALL ON FUNCTION public.copiers_pnl(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.copiers_pnl(uuid) TO anon, authenticated, service_role;

-- Starting a copy with the trader's open positions: one mirror event per position, each a
-- buy of its share of its account's equity at today's price, for this follow only (the
-- worker sizes them like the trader's buys). The caller's own follow; returns how many.
-- SECURITY DEFINER: it reads the trader's positions, which the follower may not; it
-- returns only their count.
CREATE FUNCTION public.copy_open_positions(p_follow uuid) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  f public.trader_follows;
  n integer;
BEGIN
  SELECT * INTO f FROM public.trader_follows t
   WHERE t.id = p_follow AND t.user_id = auth.uid() AND t.followed_id IS NOT NULL;
  IF NOT FOUND THEN
    PERFORM private.reject('follow_not_found', 'follow not found', 'CT404');
  END IF;
  IF NOT coalesce(f.copy_trading_enabled, false) OR NOT f.is_active THEN
    PERFORM private.reject('copy_not_enabled', 'this follow is not copying', 'CT409');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM public.trader_profiles p
                  WHERE p.user_id = f.followed_id AND p.is_listed) THEN
    PERFORM private.reject('trader_not_found', 'no listed trader with this id', 'CT404');
  END IF;
  INSERT INTO private.copy_events (leader_id, leader_account_id, kind, target_follow_id, symbol,
                                   side, price, entry_price, fraction)
  SELECT f.followed_id, p.account_id, 'mirror', f.id, p.symbol, 'buy', m.price_usd,
         p.avg_entry_price,
         greatest(coalesce(p.quantity * m.price_usd
                           / nullif(private.account_equity(p.account_id), 0), 0), 0)
    FROM public.account_positions p
    JOIN public.paper_trading_accounts a ON a.id = p.account_id AND a.status = 'active'
    JOIN public.market_data_cache m ON m.symbol = p.symbol
   WHERE p.user_id = f.followed_id AND p.quantity > 0
   ORDER BY p.account_id, p.symbol;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
REVOKE ALL ON FUNCTION public.copy_open_positions(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.copy_open_positions(uuid) TO authenticated;

-- ------------------------------------------------------------------ the order path, batched
-- gateway.place_orders_v1(): the one order path for one order or many (docs/decisions.md,
-- "Orders in batches"). For each order of p_orders, in its own subtransaction: switch to
-- the order's caller (its claims), claim its Idempotency-Key when it has one (a repeat of
-- the same request replays the stored trade; of a different one is refused), place it
-- through execute_paper_trade(), set its risk score, store the key's response and write
-- the audit row with public.record_audit(): what place_order_v2() and _v3() do for one.
-- A refusal of the engine (SQLSTATE CTnnn) rolls back that order alone and comes back as
-- its row's error; any other error fails the statement. The orders of one call commit
-- together, so a caller keeps batches small (the service: 50), under the 64
-- subtransactions PostgreSQL caches per transaction.
-- place_order_v2() and _v3() stay until no code calls them (a later migration drops them).
CREATE FUNCTION gateway.place_orders_v1(p_orders jsonb)
RETURNS TABLE (idx integer, trade public.paper_trades, replayed boolean, error_state text,
               error_code text, error_message text)
-- No SET clause (see 0016): each order's role switch lasts to the end of its subtransaction.
LANGUAGE plpgsql AS $$
DECLARE
  o jsonb;
  n integer := 0;
  seen record;
  t public.paper_trades;
  was_replayed boolean;
  v_key text;
  v_hash text;
  v_risk numeric;
  v_state text;
  v_message text;
  v_hint text;
  -- a key is remembered for a day (Stripe's window); after that it is a new request
  key_window CONSTANT interval := interval '24 hours';
BEGIN
  IF current_user::text IN ('anon', 'authenticated', 'service_role')
     OR NOT pg_catalog.pg_has_role(current_user, 'authenticated', 'MEMBER') THEN
    RAISE EXCEPTION 'gateway.place_orders_v1() is for the application''s login role'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  FOR o IN SELECT e.value FROM pg_catalog.jsonb_array_elements(p_orders) e LOOP
    n := n + 1;
    BEGIN
      PERFORM pg_catalog.set_config('role', 'authenticated', true),
              pg_catalog.set_config('request.jwt.claims', o ->> 'claims', true);
      v_key := o ->> 'idempotency_key';
      v_hash := o ->> 'request_hash';
      was_replayed := false;
      IF v_key IS NOT NULL THEN
        -- the first use claims the key; a concurrent first use makes this wait until it ends
        INSERT INTO public.idempotency_keys AS k (user_id, key, request_hash)
        VALUES (auth.uid(), v_key, v_hash)
        ON CONFLICT (user_id, key) DO UPDATE
          SET request_hash = EXCLUDED.request_hash, status_code = NULL, response = NULL,
              created_at = pg_catalog.now()
          WHERE k.created_at < pg_catalog.now() - key_window
        RETURNING k.key INTO seen;
        IF NOT FOUND THEN  -- used within the window, and committed
          SELECT k.request_hash, k.response INTO seen FROM public.idempotency_keys k
           WHERE k.user_id = auth.uid() AND k.key = v_key;
          IF seen.request_hash IS DISTINCT FROM v_hash OR seen.response IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'CT422', HINT = 'idempotency_key_reused',
              MESSAGE = 'this Idempotency-Key was used for a different order';
          END IF;
          t := pg_catalog.jsonb_populate_record(NULL::public.paper_trades, seen.response);
          was_replayed := true;
        END IF;
      END IF;
      IF NOT was_replayed THEN
        t := public.execute_paper_trade(
          (o ->> 'account_id')::uuid, o ->> 'symbol', o ->> 'side', (o ->> 'amount')::numeric,
          coalesce(o ->> 'order_type', 'market'), (o ->> 'limit_price')::numeric,
          (o ->> 'stop_price')::numeric, coalesce(o ->> 'time_in_force', 'gtc'),
          (o ->> 'expires_at')::timestamptz, (o ->> 'stop_loss')::numeric,
          (o ->> 'take_profit')::numeric, (o ->> 'bot_id')::uuid, o ->> 'reasoning',
          (o ->> 'confidence_level')::numeric, coalesce(o ->> 'trade_category', 'manual'),
          ARRAY(SELECT pg_catalog.jsonb_array_elements_text(coalesce(o -> 'tags', '[]'))),
          o ->> 'notes');
        v_risk := (o ->> 'risk_score')::numeric;
        IF v_risk IS NOT NULL THEN
          IF v_risk < 0 OR v_risk > 100 THEN
            RAISE EXCEPTION USING ERRCODE = 'CT422', HINT = 'invalid_order',
              MESSAGE = 'risk_score is between 0 and 100';
          END IF;
          UPDATE public.paper_trades x SET risk_score = v_risk
           WHERE x.id = t.id AND x.created_at = t.created_at
          RETURNING x.* INTO t;
        END IF;
        IF v_key IS NOT NULL THEN
          UPDATE public.idempotency_keys k SET status_code = 201, response = pg_catalog.to_jsonb(t)
           WHERE k.user_id = auth.uid() AND k.key = v_key;
        END IF;
        PERFORM public.record_audit(
          'order.place', 'order', t.id::text,
          pg_catalog.jsonb_build_object('symbol', t.symbol, 'side', t.side,
                                        'type', t.order_type, 'status', t.status),
          (o ->> 'ip')::inet, o ->> 'user_agent');
      END IF;
      idx := n;
      trade := t;
      replayed := was_replayed;
      error_state := NULL;
      error_code := NULL;
      error_message := NULL;
      RETURN NEXT;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
                              v_hint = PG_EXCEPTION_HINT;
      IF v_state NOT LIKE 'CT%' THEN
        RAISE;
      END IF;
      idx := n;
      trade := NULL;
      replayed := false;
      error_state := v_state;
      error_code := nullif(v_hint, '');
      error_message := v_message;
      RETURN NEXT;
    END;
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION gateway.place_orders_v1(jsonb) FROM PUBLIC;
-- the login role is created per installation (see 0016); the function refuses the API roles
GRANT EXECUTE ON FUNCTION gateway.place_orders_v1(jsonb) TO PUBLIC;
