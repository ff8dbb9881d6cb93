-- Order preview: what execute_paper_trade() would do with an order, without doing it.
--
-- preview_paper_trade() takes the order-defining arguments of execute_paper_trade() and
-- returns the estimated fill (price, quantity, value, fee, fee rate, slippage, fill model),
-- the reserve a resting order would hold, and the cash and position after the fill; or,
-- instead of raising, the engine's refusal code and message (status 'rejected').
--
-- * It writes nothing and locks nothing (STABLE).
-- * SECURITY INVOKER: it reads the account, its position and the bot under the caller's RLS.
--   An account the caller does not own (another user's, also for an administrator, whom RLS
--   would let read it) is refused like execute_paper_trade's private.lock_account() does:
--   account_not_found (CT404), raised, not reported; so is bot_not_found.
-- * It reuses the engine's helpers: the order checks (private.check_amount,
--   private.check_exits, private.reject), the slippage of the fill model
--   (private.slippage_bps) and the money of the fill (private.fill_math, which also refuses
--   insufficient funds or position). What execute_paper_trade() does inline (the order
--   checks, the account, market and risk checks, the execution price, the reserve of a
--   resting order) is repeated here statement for statement, in the same order, with the
--   same messages; tests/trading/test_preview.py proves the preview equals the real fill and
--   the real refusal.
-- * Those helpers read no table and write nothing; the API roles, which may not use schema
--   private so far, get USAGE on it and EXECUTE on exactly these helpers, nothing else of it.
--
-- Estimates for a resting order use the account and the market as they are now: a limit
-- order at its limit price with the maker fee, a stop order at its stop price moved by the
-- fill model's slippage with the taker fee (as process_market_tick() fills them).

GRANT USAGE ON SCHEMA private TO authenticated;
GRANT EXECUTE ON FUNCTION
  private.reject(text, text, text),
  private.caller_is_service(),
  private.check_amount(numeric, text, text),
  private.check_exits(numeric, numeric, numeric),
  private.slippage_bps(text, numeric, numeric, public.market_data_cache),
  private.fill_math(text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric)
  TO authenticated, service_role;

CREATE FUNCTION public.preview_paper_trade(
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
  OUT status text,                        -- completed | pending | expired | rejected
  OUT symbol text,
  OUT side text,
  OUT order_type text,
  OUT quantity numeric,
  OUT market_price numeric,               -- the cached price the estimate starts from
  OUT trigger_price numeric,              -- a stop order's stop price
  OUT execution_price numeric,            -- the estimated fill price
  OUT gross_value numeric,                -- quantity x execution price (total_value)
  OUT fee numeric,
  OUT fee_rate numeric,
  OUT slippage_bps numeric,
  OUT fill_model text,
  OUT reserved_amount numeric,            -- held while pending: cash (buy) or quantity (sell)
  OUT cash_balance numeric,               -- available cash now
  OUT resulting_cash_balance numeric,     -- available cash once the order has filled
  OUT position_quantity numeric,          -- the symbol's position now
  OUT resulting_position_quantity numeric,
  OUT refusal_code text,
  OUT refusal_message text
)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = '' AS $$
DECLARE
  tif text := lower(coalesce(p_time_in_force, 'gtc'));
  acct public.paper_trading_accounts;
  q public.market_data_cache;
  q_fill public.market_data_cache;
  pos public.account_positions;
  pos_qty numeric;
  ref_price numeric;
  marketable boolean;
  m record;
  today date := (now() AT TIME ZONE 'UTC')::date;
BEGIN
  symbol := upper(btrim(coalesce(p_symbol, '')));
  side := lower(coalesce(p_side, ''));
  order_type := lower(coalesce(p_order_type, 'market'));
  quantity := p_amount;
  reserved_amount := 0;
  BEGIN
    -- the order itself (execute_paper_trade's checks, in its order)
    IF side NOT IN ('buy', 'sell') THEN
      PERFORM private.reject('invalid_order', 'side must be buy or sell', 'CT422');
    END IF;
    IF order_type NOT IN ('market', 'limit', 'stop') THEN
      PERFORM private.reject('invalid_order', 'order type must be market, limit or stop', 'CT422');
    END IF;
    IF tif NOT IN ('gtc', 'ioc', 'fok') THEN
      PERFORM private.reject('invalid_order', 'time in force must be gtc, ioc or fok', 'CT422');
    END IF;
    IF tif <> 'gtc' AND order_type = 'stop' THEN
      PERFORM private.reject('invalid_order', 'stop orders rest until triggered: use gtc', 'CT422');
    END IF;
    PERFORM private.check_amount(p_amount, 'amount');
    IF order_type = 'limit' THEN
      PERFORM private.check_amount(p_limit_price, 'limit price', 'invalid_price');
    ELSIF p_limit_price IS NOT NULL THEN
      PERFORM private.reject('invalid_order', 'a limit price is only for limit orders', 'CT422');
    END IF;
    IF order_type = 'stop' THEN
      PERFORM private.check_amount(p_stop_price, 'stop price', 'invalid_price');
    ELSIF p_stop_price IS NOT NULL THEN
      PERFORM private.reject('invalid_order', 'a stop price is only for stop orders', 'CT422');
    END IF;
    IF p_expires_at IS NOT NULL AND p_expires_at <= now() THEN
      PERFORM private.reject('invalid_order', 'expiry time is in the past', 'CT422');
    END IF;
    IF (p_stop_loss IS NOT NULL OR p_take_profit IS NOT NULL) AND side <> 'buy' THEN
      PERFORM private.reject('invalid_order', 'stop-loss and take-profit go with a buy', 'CT422');
    END IF;
    IF p_stop_loss IS NOT NULL THEN
      PERFORM private.check_amount(p_stop_loss, 'stop-loss', 'invalid_price');
    END IF;
    IF p_take_profit IS NOT NULL THEN
      PERFORM private.check_amount(p_take_profit, 'take-profit', 'invalid_price');
    END IF;

    -- the account (as private.lock_account() finds it, without the lock), the market, the bot
    SELECT * INTO acct FROM public.paper_trading_accounts a WHERE a.id = p_account_id;
    IF NOT FOUND OR (NOT private.caller_is_service() AND acct.user_id IS DISTINCT FROM auth.uid()) THEN
      PERFORM private.reject('account_not_found', 'account not found', 'CT404');
    END IF;
    fill_model := acct.fill_model;
    cash_balance := acct.balance;
    SELECT * INTO pos FROM public.account_positions p
     WHERE p.account_id = acct.id AND p.symbol = preview_paper_trade.symbol;
    position_quantity := coalesce(pos.quantity, 0);
    IF acct.status <> 'active' THEN
      PERFORM private.reject('account_not_active', format('account is %s', acct.status), 'CT409');
    END IF;
    SELECT * INTO q FROM public.market_data_cache c WHERE c.symbol = preview_paper_trade.symbol;
    IF NOT FOUND THEN
      PERFORM private.reject('unknown_symbol', format('unknown symbol %s', symbol), 'CT422');
    END IF;
    market_price := q.price_usd;
    IF q.last_updated IS NULL OR q.last_updated < now() - make_interval(secs => acct.max_price_age_seconds) THEN
      PERFORM private.reject('stale_price',
        format('the %s price is from %s, older than %s s', symbol, q.last_updated, acct.max_price_age_seconds), 'CT409');
    END IF;
    IF p_bot_id IS NOT NULL AND NOT EXISTS (
         SELECT 1 FROM public.ai_trading_bots b WHERE b.id = p_bot_id AND b.user_id = acct.user_id) THEN
      PERFORM private.reject('bot_not_found', 'bot not found', 'CT404');
    END IF;
    IF side = 'buy' AND acct.day_realized_date = today AND -acct.day_realized_pnl >= acct.max_daily_loss THEN
      PERFORM private.reject('max_daily_loss',
        format('realized loss today (%s) reached the daily limit (%s); buys resume at 00:00 UTC',
               round(-acct.day_realized_pnl, 2), acct.max_daily_loss), 'CT409');
    END IF;
    pos_qty := CASE WHEN pos.quantity > 0 THEN pos.quantity ELSE 0 END;

    -- how it fills (or rests)
    marketable := order_type = 'market'
      OR (order_type = 'limit' AND ((side = 'buy' AND p_limit_price >= q.price_usd)
                                 OR (side = 'sell' AND p_limit_price <= q.price_usd)));
    IF order_type = 'stop' AND ((side = 'buy' AND q.price_usd >= p_stop_price)
                             OR (side = 'sell' AND q.price_usd <= p_stop_price)) THEN
      PERFORM private.reject('order_would_trigger',
        'the stop price is already crossed; send a market order instead', 'CT422');
    END IF;

    IF marketable THEN
      status := 'completed';
      slippage_bps := private.slippage_bps(acct.fill_model, acct.slippage_bps, p_amount * q.price_usd, q);
      execution_price := round(q.price_usd * (1 + CASE WHEN side = 'buy' THEN slippage_bps ELSE -slippage_bps END / 10000), 10);
      IF order_type = 'limit' THEN  -- never worse than the limit
        execution_price := CASE WHEN side = 'buy' THEN least(execution_price, p_limit_price)
                                ELSE greatest(execution_price, p_limit_price) END;
      END IF;
      fee_rate := acct.taker_fee_rate;
      PERFORM private.check_exits(p_stop_loss, p_take_profit, execution_price);
      IF side = 'buy' AND (pos_qty + p_amount) * execution_price > acct.max_position_size THEN
        PERFORM private.reject('max_position_size',
          format('position would be worth %s, over the limit of %s',
                 round((pos_qty + p_amount) * execution_price, 2), acct.max_position_size), 'CT409');
      END IF;
    ELSE
      -- resting: the checks and the reserve of execute_paper_trade; an IOC/FOK order that
      -- cannot fill now is checked alike, then expires with nothing reserved
      ref_price := coalesce(p_limit_price, p_stop_price);
      PERFORM private.check_exits(p_stop_loss, p_take_profit, ref_price);
      IF side = 'buy' THEN
        IF (pos_qty + p_amount) * ref_price > acct.max_position_size THEN
          PERFORM private.reject('max_position_size',
            format('position would be worth %s, over the limit of %s',
                   round((pos_qty + p_amount) * ref_price, 2), acct.max_position_size), 'CT409');
        END IF;
        IF order_type = 'limit' THEN
          reserved_amount := round(p_amount * ref_price, 8);
          reserved_amount := reserved_amount + round(reserved_amount * acct.maker_fee_rate, 8);
        ELSE
          reserved_amount := round(p_amount * ref_price * (1 + acct.slippage_bps / 10000), 8);
          reserved_amount := reserved_amount + round(reserved_amount * acct.taker_fee_rate, 8);
        END IF;
        IF reserved_amount > acct.balance THEN
          PERFORM private.reject('insufficient_funds',
            format('needs %s reserved including fees, %s available', reserved_amount, acct.balance), 'CT409');
        END IF;
      ELSE
        reserved_amount := p_amount;
        IF NOT coalesce(pos.quantity - pos.reserved_quantity >= reserved_amount, false) THEN
          PERFORM private.reject('insufficient_position',
            format('sell of %s %s exceeds the quantity available', p_amount, symbol), 'CT409');
        END IF;
      END IF;
      IF tif IN ('ioc', 'fok') THEN
        status := 'expired';
        reserved_amount := 0;
        resulting_cash_balance := acct.balance;
        resulting_position_quantity := position_quantity;
        RETURN;
      END IF;
      status := 'pending';
      IF order_type = 'limit' THEN  -- fills at its limit price, as the maker
        execution_price := p_limit_price;
        fee_rate := acct.maker_fee_rate;
        slippage_bps := 0;
      ELSE  -- triggers at its stop price and fills as the taker, moved by the fill model
        trigger_price := p_stop_price;
        q_fill := q;
        q_fill.price_usd := p_stop_price;
        slippage_bps := private.slippage_bps(acct.fill_model, acct.slippage_bps, p_amount * p_stop_price, q_fill);
        execution_price := round(p_stop_price * (1 + CASE WHEN side = 'buy' THEN slippage_bps ELSE -slippage_bps END / 10000), 10);
        fee_rate := acct.taker_fee_rate;
      END IF;
    END IF;

    -- the money of the fill, as private.apply_fill() computes it (a resting order's reserve
    -- is released into the same cash and quantity at its fill, so the state of now serves)
    m := private.fill_math(side, p_amount, execution_price, fee_rate, acct.balance, 0,
                           pos.quantity, pos.reserved_quantity, pos.cost_basis, 0);
    gross_value := m.total_value;
    fee := m.fee;
    IF m.refused IS NOT NULL THEN
      PERFORM private.reject(m.refused_code, m.refused);
    END IF;
    resulting_cash_balance := acct.balance + m.cash_delta;
    resulting_position_quantity := position_quantity + CASE WHEN side = 'buy' THEN p_amount ELSE -p_amount END;
  EXCEPTION WHEN SQLSTATE 'CT409' OR SQLSTATE 'CT422' THEN
    -- a refusal of the engine's (private.reject's form): reported, not raised
    GET STACKED DIAGNOSTICS refusal_message = MESSAGE_TEXT, refusal_code = PG_EXCEPTION_HINT;
    status := 'rejected';
    resulting_cash_balance := NULL;
    resulting_position_quantity := NULL;
  END;
END
$$;
REVOKE ALL ON FUNCTION public.preview_paper_trade(uuid, text, text, numeric, text, numeric, numeric,
  text, timestamptz, numeric, numeric, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.preview_paper_trade(uuid, text, text, numeric, text, numeric, numeric,
  text, timestamptz, numeric, numeric, uuid) TO authenticated, service_role;
