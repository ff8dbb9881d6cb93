-- The trading engine: execute_paper_trade(), cancel_order(), process_market_tick(),
-- reset_paper_account(). Every fill goes through private.apply_fill().
-- Accounting (docs/trading.md): cash values are rounded to 8 decimals, prices to 10;
-- positions carry their cost basis, so the ledger identity
--   initial_balance = balance + reserved_balance + Σ cost_basis + fees_paid - Σ realized_pnl
-- holds exactly within an account epoch.

-- ---------------------------------------------------------------- columns
ALTER TABLE paper_trading_accounts
  ADD COLUMN reserved_balance NUMERIC NOT NULL DEFAULT 0,
  ADD COLUMN fees_paid NUMERIC NOT NULL DEFAULT 0,
  ADD COLUMN fill_model TEXT NOT NULL DEFAULT 'fixed',
  ADD COLUMN slippage_bps NUMERIC NOT NULL DEFAULT 5,
  ADD COLUMN taker_fee_rate NUMERIC NOT NULL DEFAULT 0.001,
  ADD COLUMN maker_fee_rate NUMERIC NOT NULL DEFAULT 0.0008,
  ADD COLUMN max_price_age_seconds INTEGER NOT NULL DEFAULT 300,
  ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN day_realized_pnl NUMERIC NOT NULL DEFAULT 0,
  ADD COLUMN day_realized_date DATE,
  ADD COLUMN daily_loss_alerted_on DATE,
  ADD CONSTRAINT paper_trading_accounts_reserved_nonnegative CHECK (reserved_balance >= 0),
  ADD CONSTRAINT paper_trading_accounts_fill_model CHECK (fill_model IN ('ideal', 'fixed', 'volume')),
  ADD CONSTRAINT paper_trading_accounts_slippage_range CHECK (slippage_bps BETWEEN 0 AND 1000),
  ADD CONSTRAINT paper_trading_accounts_fee_range
    CHECK (taker_fee_rate BETWEEN 0 AND 0.05 AND maker_fee_rate BETWEEN -0.01 AND 0.05),
  ADD CONSTRAINT paper_trading_accounts_price_age_range CHECK (max_price_age_seconds BETWEEN 1 AND 86400);
GRANT UPDATE (fill_model, slippage_bps, taker_fee_rate, maker_fee_rate, max_price_age_seconds)
  ON paper_trading_accounts TO authenticated;

ALTER TABLE account_positions ADD COLUMN cost_basis NUMERIC NOT NULL DEFAULT 0 CHECK (cost_basis >= 0);

ALTER TABLE paper_trades
  ADD COLUMN account_epoch INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN stop_price NUMERIC,
  ADD COLUMN time_in_force TEXT NOT NULL DEFAULT 'gtc',
  ADD COLUMN expires_at TIMESTAMPTZ,
  ADD COLUMN reserved_amount NUMERIC NOT NULL DEFAULT 0,
  ADD COLUMN oco_group_id UUID,
  ADD COLUMN parent_trade_id UUID,
  ADD COLUMN fill_model TEXT,
  ADD COLUMN slippage_bps NUMERIC,
  ADD COLUMN fee_rate NUMERIC,
  ADD COLUMN realized_pnl NUMERIC NOT NULL DEFAULT 0,
  ADD COLUMN filled_at TIMESTAMPTZ,
  ADD COLUMN closed_at TIMESTAMPTZ,
  ADD COLUMN status_reason TEXT,
  ADD CONSTRAINT paper_trades_status CHECK (status IN ('pending', 'completed', 'cancelled', 'expired', 'rejected')),
  ADD CONSTRAINT paper_trades_order_type
    CHECK (order_type IN ('market', 'limit', 'stop', 'stop_loss', 'take_profit')),
  ADD CONSTRAINT paper_trades_time_in_force CHECK (time_in_force IN ('gtc', 'ioc', 'fok')),
  ADD CONSTRAINT paper_trades_amount_positive CHECK (amount > 0),
  ADD CONSTRAINT paper_trades_reserved_nonnegative CHECK (reserved_amount >= 0);
CREATE INDEX paper_trades_oco_idx ON paper_trades (oco_group_id) WHERE oco_group_id IS NOT NULL;
CREATE INDEX paper_trades_pending_expiry_idx ON paper_trades (expires_at)
  WHERE status = 'pending' AND expires_at IS NOT NULL;
CREATE INDEX paper_trades_account_created_idx ON paper_trades (account_id, created_at DESC);
-- (user_id, account_id) and (account_id, created_at) serve every query the two
-- single-column indexes served, and each insert maintains two fewer indexes.
DROP INDEX paper_trades_user_id_idx;
DROP INDEX paper_trades_account_id_idx;

-- Every account's opening balance is in its audit trail, however it was created: the
-- trigger runs with the owner's rights (users cannot write audit rows themselves).
CREATE FUNCTION private.audit_account_opened() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
  INSERT INTO public.paper_account_audit (user_id, account_id, action, old_balance, new_balance,
                                          amount_changed, reason, metadata)
  VALUES (NEW.user_id, NEW.id, 'account_created', 0, NEW.balance, NEW.balance, 'account opened',
          jsonb_build_object('template_id', NEW.template_id));
  RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION private.audit_account_opened() FROM PUBLIC;
CREATE TRIGGER paper_trading_accounts_audit_opened AFTER INSERT ON paper_trading_accounts
  FOR EACH ROW EXECUTE FUNCTION private.audit_account_opened();

-- ---------------------------------------------------------------- helpers
-- A rejection: SQLSTATE CT + HTTP-like status, the stable code in HINT.
CREATE FUNCTION private.reject(code text, message text, sqlstate text DEFAULT 'CT409')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = message, HINT = code;
END
$$;

-- Callers allowed to act on any account: the service role and the owner's own code.
CREATE FUNCTION private.caller_is_service() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT coalesce(current_setting('role', true), 'none') NOT IN ('authenticated', 'anon')
$$;

-- The caller's account, locked. Another user's account is reported exactly like a
-- missing one.
CREATE FUNCTION private.lock_account(p_account_id uuid) RETURNS public.paper_trading_accounts
LANGUAGE plpgsql AS $$
DECLARE
  acct public.paper_trading_accounts;
BEGIN
  SELECT * INTO acct FROM public.paper_trading_accounts WHERE id = p_account_id FOR UPDATE;
  IF NOT FOUND OR (NOT private.caller_is_service() AND acct.user_id IS DISTINCT FROM auth.uid()) THEN
    PERFORM private.reject('account_not_found', 'account not found', 'CT404');
  END IF;
  RETURN acct;
END
$$;

CREATE FUNCTION private.check_amount(p_value numeric, p_what text, p_code text DEFAULT 'invalid_amount')
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF p_value IS NULL OR p_value = 'NaN'::numeric OR p_value <= 0
     OR p_value >= 1e15 OR scale(p_value) > 18 THEN
    PERFORM private.reject(p_code,
      format('%s must be a positive number below 1e15 with at most 18 decimals', p_what), 'CT422');
  END IF;
END
$$;

-- Slippage in basis points for an order of p_notional under the account's fill model.
-- volume: square-root impact, bps = base + 10000 * range_24h * sqrt(notional / volume_24h),
-- capped at 500 bps (docs/trading.md).
CREATE FUNCTION private.slippage_bps(
  p_model text, p_base_bps numeric, p_notional numeric, q public.market_data_cache
) RETURNS numeric LANGUAGE plpgsql STABLE AS $$
DECLARE
  range_frac numeric;
BEGIN
  IF p_model = 'ideal' THEN
    RETURN 0;
  ELSIF p_model = 'fixed' OR coalesce(q.volume_24h_usd, 0) <= 0 THEN
    RETURN p_base_bps;
  END IF;
  range_frac := coalesce((q.high_24h - q.low_24h) / q.price_usd, abs(q.change_percentage_24h) / 100, 0.05);
  RETURN least(500, round(p_base_bps + 10000 * range_frac * sqrt(p_notional / q.volume_24h_usd), 4));
END
$$;

-- risk_score in [0, 100]: 100 * exposure * (1 + 10 * range_24h), where exposure is the
-- trade's notional over the account's equity and range_24h the symbol's 24h high-low
-- range over its price (docs/trading.md).
CREATE FUNCTION private.risk_score(p_notional numeric, p_equity numeric, q public.market_data_cache)
RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
  SELECT round(least(100, 100 * (p_notional / greatest(p_equity, 0.01))
         * (1 + 10 * coalesce((q.high_24h - q.low_24h) / q.price_usd, abs(q.change_percentage_24h) / 100, 0.05))), 2)
$$;

-- Helpers below are plain SQL without a pinned search_path (every name is qualified), so
-- the planner can inline them into the statements that call them.
CREATE FUNCTION private.positions_value(p_account_id uuid) RETURNS numeric
LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(p.quantity * m.price_usd), 0)
    FROM public.account_positions p JOIN public.market_data_cache m ON m.symbol = p.symbol
   WHERE p.account_id = p_account_id AND p.quantity > 0
$$;

CREATE FUNCTION private.account_equity(p_account_id uuid) RETURNS numeric
LANGUAGE sql STABLE AS $$
  SELECT a.balance + a.reserved_balance + private.positions_value(a.id)
    FROM public.paper_trading_accounts a WHERE a.id = p_account_id
$$;

CREATE FUNCTION private.refresh_account_pnl(p_account_id uuid) RETURNS void
LANGUAGE sql AS $$
  UPDATE public.paper_trading_accounts a
     SET total_pnl = round(a.balance + a.reserved_balance + v.value - a.initial_balance, 8),
         total_pnl_percentage = round((a.balance + a.reserved_balance + v.value - a.initial_balance)
                                      / a.initial_balance * 100, 6)
    FROM (SELECT private.positions_value(p_account_id) AS value) v
   WHERE a.id = p_account_id
$$;

CREATE FUNCTION private.write_balance_audit(
  acct_id uuid, owner uuid, p_action text, p_old numeric, p_new numeric, p_reason text, p_meta jsonb
) RETURNS void LANGUAGE sql AS $$
  INSERT INTO public.paper_account_audit (user_id, account_id, action, old_balance, new_balance,
                                          amount_changed, reason, metadata, created_at)
  VALUES (owner, acct_id, p_action, p_old, p_new, p_new - p_old, p_reason, p_meta, clock_timestamp())
$$;

-- Applies one fill to an account whose row the caller has locked: cash, reservation,
-- position, fees, the day's realized PnL, audit. Returns the trade's money figures.
-- The arithmetic of one fill, and nothing else: what it costs or yields, the realized PnL,
-- the cost basis it removes, or why it cannot happen (cash or position short).
CREATE FUNCTION private.fill_math(
  p_side text, p_qty numeric, p_price numeric, p_fee_rate numeric,
  p_cash numeric, p_release_cash numeric,
  p_pos_qty numeric, p_pos_reserved numeric, p_pos_basis numeric, p_release_qty numeric,
  OUT total_value numeric, OUT fee numeric, OUT cash_delta numeric, OUT basis_out numeric,
  OUT realized numeric, OUT refused_code text, OUT refused text
) LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  total_value := round(p_qty * p_price, 8);
  fee := round(total_value * p_fee_rate, 8);
  IF p_side = 'buy' THEN
    cash_delta := -(total_value + fee);
    basis_out := 0;
    realized := 0;
    IF p_cash + p_release_cash + cash_delta < 0 THEN
      refused_code := 'insufficient_funds';
      refused := format('needs %s including fees, %s available', total_value + fee, p_cash + p_release_cash);
    END IF;
  ELSE
    IF coalesce(p_pos_qty, 0) - coalesce(p_pos_reserved, 0) + p_release_qty < p_qty THEN
      refused_code := 'insufficient_position';
      refused := format('sell of %s exceeds the %s available', p_qty,
                        coalesce(p_pos_qty, 0) - coalesce(p_pos_reserved, 0) + p_release_qty);
      RETURN;
    END IF;
    basis_out := CASE WHEN p_qty = p_pos_qty THEN p_pos_basis
                      ELSE round(p_pos_basis * p_qty / p_pos_qty, 8) END;
    realized := total_value - basis_out;
    cash_delta := total_value - fee;
  END IF;
END
$$;

CREATE FUNCTION private.apply_fill(
  acct public.paper_trading_accounts, p_symbol text, p_side text, p_qty numeric, p_price numeric,
  p_fee_rate numeric, p_release_cash numeric, p_release_qty numeric, p_trade_ref uuid,
  p_soft boolean DEFAULT false, p_positions_value numeric DEFAULT NULL, p_mark numeric DEFAULT NULL,
  OUT total_value numeric, OUT fee numeric, OUT realized numeric, OUT refused text,
  OUT after public.paper_trading_accounts
) LANGUAGE plpgsql AS $$
DECLARE
  pos public.account_positions;
  m record;
  cash_delta numeric;
  positions_value numeric;
  today date := (now() AT TIME ZONE 'UTC')::date;
BEGIN
  IF p_side = 'sell' THEN
    SELECT * INTO pos FROM public.account_positions
     WHERE account_id = acct.id AND symbol = p_symbol FOR UPDATE;
  END IF;
  m := private.fill_math(p_side, p_qty, p_price, p_fee_rate, acct.balance, p_release_cash,
                         pos.quantity, pos.reserved_quantity, pos.cost_basis, p_release_qty);
  total_value := m.total_value;
  fee := m.fee;
  realized := coalesce(m.realized, 0);
  IF m.refused IS NOT NULL THEN
    refused := m.refused;
    IF p_soft THEN RETURN; END IF;
    PERFORM private.reject(m.refused_code, m.refused);
  END IF;
  cash_delta := m.cash_delta;
  IF p_side = 'buy' THEN
    INSERT INTO public.account_positions AS ap (account_id, user_id, symbol, quantity, cost_basis, avg_entry_price)
    VALUES (acct.id, acct.user_id, p_symbol, p_qty, total_value, round(total_value / p_qty, 10))
    ON CONFLICT (account_id, symbol) DO UPDATE
       SET quantity = ap.quantity + p_qty,
           cost_basis = ap.cost_basis + total_value,
           avg_entry_price = round((ap.cost_basis + total_value) / (ap.quantity + p_qty), 10),
           opened_at = CASE WHEN ap.quantity = 0 THEN now() ELSE ap.opened_at END;
  ELSE
    UPDATE public.account_positions
       SET quantity = quantity - p_qty,
           reserved_quantity = reserved_quantity - p_release_qty,
           cost_basis = cost_basis - m.basis_out,
           realized_pnl = realized_pnl + realized,
           avg_entry_price = CASE WHEN quantity - p_qty > 0
                                  THEN round((cost_basis - m.basis_out) / (quantity - p_qty), 10) ELSE 0 END
     WHERE id = pos.id;
  END IF;

  -- one UPDATE of the account per fill: cash, reservation, fees, the day's PnL, total PnL.
  -- The caller may pass the positions' value before the fill and the symbol's mark price.
  positions_value := CASE
    WHEN p_positions_value IS NULL THEN private.positions_value(acct.id)
    WHEN p_side = 'buy' THEN p_positions_value + p_qty * p_mark
    ELSE p_positions_value - p_qty * p_mark END;
  UPDATE public.paper_trading_accounts a
     SET balance = a.balance + p_release_cash + cash_delta,
         reserved_balance = a.reserved_balance - p_release_cash,
         fees_paid = a.fees_paid + fee,
         day_realized_pnl = CASE WHEN a.day_realized_date = today THEN a.day_realized_pnl ELSE 0 END
                            + realized - fee,
         day_realized_date = today,
         total_pnl = round(a.balance + cash_delta + a.reserved_balance + positions_value
                           - a.initial_balance, 8),
         total_pnl_percentage = round((a.balance + cash_delta + a.reserved_balance + positions_value
                                       - a.initial_balance) / a.initial_balance * 100, 6)
   WHERE a.id = acct.id
  RETURNING a.* INTO after;
  PERFORM private.write_balance_audit(acct.id, acct.user_id, 'trade_' || p_side,
    after.balance - p_release_cash - cash_delta, after.balance, NULL,
    jsonb_build_object('trade_id', p_trade_ref, 'symbol', p_symbol, 'quantity', p_qty,
                       'price', p_price, 'fee', fee));
  IF -after.day_realized_pnl >= after.max_daily_loss AND after.daily_loss_alerted_on IS DISTINCT FROM today THEN
    PERFORM private.note_daily_loss(acct.id);
  END IF;
END
$$;

-- Writes the risk alert and notification once per UTC day when the day's realized loss
-- reaches the account's limit.
CREATE FUNCTION private.note_daily_loss(p_account_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  acct public.paper_trading_accounts;
  today date := (now() AT TIME ZONE 'UTC')::date;
BEGIN
  SELECT * INTO acct FROM public.paper_trading_accounts WHERE id = p_account_id;
  IF acct.day_realized_date = today AND -acct.day_realized_pnl >= acct.max_daily_loss
     AND acct.daily_loss_alerted_on IS DISTINCT FROM today THEN
    UPDATE public.paper_trading_accounts SET daily_loss_alerted_on = today WHERE id = p_account_id;
    INSERT INTO public.risk_alerts (user_id, account_id, alert_type, trigger_condition, trigger_value,
                                    current_value, status, triggered_at)
    VALUES (acct.user_id, acct.id, 'max_daily_loss', 'daily realized loss >= max_daily_loss',
            acct.max_daily_loss, -acct.day_realized_pnl, 'triggered', now());
    INSERT INTO public.account_notifications (account_id, user_id, notification_type, title, message,
                                              severity, metadata)
    VALUES (acct.id, acct.user_id, 'risk_limit', 'Daily loss limit reached',
            format('Realized loss today is %s, at or over the limit of %s. New buys are blocked until 00:00 UTC; sells are still allowed.',
                   round(-acct.day_realized_pnl, 2), acct.max_daily_loss),
            'warning', jsonb_build_object('day', today, 'limit', acct.max_daily_loss));
  END IF;
END
$$;

-- The cascade from profiles needs a plain index (the unread one is partial).
CREATE INDEX account_notifications_user_id_idx ON account_notifications (user_id);

-- Sell orders that close a position bought with stop-loss / take-profit: one pair per
-- group, the first leg holding the quantity reservation for both (one-cancels-other).
CREATE FUNCTION private.attach_exits(parent public.paper_trades) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  grp uuid := gen_random_uuid();
  first_leg boolean := true;
BEGIN
  IF parent.stop_loss IS NULL AND parent.take_profit IS NULL THEN
    RETURN;
  END IF;
  UPDATE public.account_positions SET reserved_quantity = reserved_quantity + parent.amount
   WHERE account_id = parent.account_id AND symbol = parent.symbol;
  IF parent.stop_loss IS NOT NULL THEN
    INSERT INTO public.paper_trades (user_id, account_id, bot_id, symbol, side, amount, price, stop_price,
                                     order_type, trade_type, status, reserved_amount, oco_group_id,
                                     parent_trade_id, trade_category, account_epoch, tags)
    VALUES (parent.user_id, parent.account_id, parent.bot_id, parent.symbol, 'sell', parent.amount,
            parent.stop_loss, parent.stop_loss, 'stop_loss', 'market', 'pending', parent.amount, grp,
            parent.id, parent.trade_category, parent.account_epoch, parent.tags);
    first_leg := false;
  END IF;
  IF parent.take_profit IS NOT NULL THEN
    INSERT INTO public.paper_trades (user_id, account_id, bot_id, symbol, side, amount, price,
                                     order_type, trade_type, status, reserved_amount, oco_group_id,
                                     parent_trade_id, trade_category, account_epoch, tags)
    VALUES (parent.user_id, parent.account_id, parent.bot_id, parent.symbol, 'sell', parent.amount,
            parent.take_profit, 'take_profit', 'limit', 'pending',
            CASE WHEN first_leg THEN parent.amount ELSE 0 END, grp,
            parent.id, parent.trade_category, parent.account_epoch, parent.tags);
  END IF;
END
$$;

-- Ends a pending order (and its one-cancels-other siblings) without a fill, releasing
-- whatever they reserved. The caller holds the account's lock.
CREATE FUNCTION private.close_pending(o public.paper_trades, p_status text, p_reason text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  released numeric;
  new_balance numeric;
BEGIN
  SELECT coalesce(sum(t.reserved_amount), 0) INTO released FROM public.paper_trades t
   WHERE t.status = 'pending'
     AND (t.id = o.id OR (o.oco_group_id IS NOT NULL AND t.oco_group_id = o.oco_group_id));
  UPDATE public.paper_trades t
     SET status = p_status, status_reason = p_reason, closed_at = now(), reserved_amount = 0
   WHERE t.status = 'pending'
     AND (t.id = o.id OR (o.oco_group_id IS NOT NULL AND t.oco_group_id = o.oco_group_id));
  IF released = 0 THEN
    RETURN;
  END IF;
  IF o.side = 'buy' THEN
    UPDATE public.paper_trading_accounts
       SET balance = balance + released, reserved_balance = reserved_balance - released
     WHERE id = o.account_id
    RETURNING balance INTO new_balance;
    PERFORM private.write_balance_audit(o.account_id, o.user_id, 'order_release', new_balance - released,
      new_balance, p_reason, jsonb_build_object('order_id', o.id));
  ELSE
    UPDATE public.account_positions SET reserved_quantity = reserved_quantity - released
     WHERE account_id = o.account_id AND symbol = o.symbol;
  END IF;
END
$$;

-- Stop-loss below and take-profit above the entry (the fill price, or the resting price).
CREATE FUNCTION private.check_exits(p_stop_loss numeric, p_take_profit numeric, p_entry numeric)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF p_stop_loss IS NOT NULL AND p_stop_loss >= p_entry THEN
    PERFORM private.reject('invalid_order',
      format('stop-loss %s must be below the entry price %s', p_stop_loss, p_entry), 'CT422');
  END IF;
  IF p_take_profit IS NOT NULL AND p_take_profit <= p_entry THEN
    PERFORM private.reject('invalid_order',
      format('take-profit %s must be above the entry price %s', p_take_profit, p_entry), 'CT422');
  END IF;
END
$$;

-- execute_paper_trade(): the one path through which every order and fill happens.
-- Market orders fill at once at the cached price moved by the account's fill model, with
-- the taker fee. Limit orders that cross the market fill at once (taker); otherwise GTC
-- ones rest as 'pending' with their cash or quantity reserved, IOC/FOK ones end
-- 'expired'. Stop orders rest until process_market_tick() triggers them. A buy may
-- carry stop_loss / take_profit, which become a one-cancels-other pair of sells once it
-- fills. Rejections raise SQLSTATE CTxxx with the stable code in HINT and write nothing.
CREATE FUNCTION public.execute_paper_trade(
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
  p_notes text DEFAULT NULL
) RETURNS public.paper_trades
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  started timestamptz := clock_timestamp();
  sym text := upper(btrim(coalesce(p_symbol, '')));
  side text := lower(coalesce(p_side, ''));
  otype text := lower(coalesce(p_order_type, 'market'));
  tif text := lower(coalesce(p_time_in_force, 'gtc'));
  acct public.paper_trading_accounts;
  q public.market_data_cache;
  pos_qty numeric;
  positions_value numeric;
  equity numeric;
  slip numeric;
  exec_price numeric;
  ref_price numeric;
  reserve numeric := 0;
  fill record;
  t public.paper_trades;
  today date := (now() AT TIME ZONE 'UTC')::date;
  marketable boolean;
BEGIN
  -- the order itself
  IF side NOT IN ('buy', 'sell') THEN
    PERFORM private.reject('invalid_order', 'side must be buy or sell', 'CT422');
  END IF;
  IF otype NOT IN ('market', 'limit', 'stop') THEN
    PERFORM private.reject('invalid_order', 'order type must be market, limit or stop', 'CT422');
  END IF;
  IF tif NOT IN ('gtc', 'ioc', 'fok') THEN
    PERFORM private.reject('invalid_order', 'time in force must be gtc, ioc or fok', 'CT422');
  END IF;
  IF tif <> 'gtc' AND otype = 'stop' THEN
    PERFORM private.reject('invalid_order', 'stop orders rest until triggered: use gtc', 'CT422');
  END IF;
  PERFORM private.check_amount(p_amount, 'amount');
  IF otype = 'limit' THEN
    PERFORM private.check_amount(p_limit_price, 'limit price', 'invalid_price');
  ELSIF p_limit_price IS NOT NULL THEN
    PERFORM private.reject('invalid_order', 'a limit price is only for limit orders', 'CT422');
  END IF;
  IF otype = 'stop' THEN
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
  IF p_confidence_level IS NOT NULL AND (p_confidence_level = 'NaN'::numeric OR p_confidence_level NOT BETWEEN 0 AND 100) THEN
    PERFORM private.reject('invalid_order', 'confidence level must be between 0 and 100', 'CT422');
  END IF;
  IF length(coalesce(p_trade_category, '')) NOT BETWEEN 1 AND 50 THEN
    PERFORM private.reject('invalid_order', 'trade category must have 1 to 50 characters', 'CT422');
  END IF;

  -- the account, the market, the bot
  acct := private.lock_account(p_account_id);
  IF acct.status <> 'active' THEN
    PERFORM private.reject('account_not_active', format('account is %s', acct.status), 'CT409');
  END IF;
  SELECT * INTO q FROM public.market_data_cache WHERE symbol = sym;
  IF NOT FOUND THEN
    PERFORM private.reject('unknown_symbol', format('unknown symbol %s', sym), 'CT422');
  END IF;
  IF q.last_updated IS NULL OR q.last_updated < now() - make_interval(secs => acct.max_price_age_seconds) THEN
    PERFORM private.reject('stale_price',
      format('the %s price is from %s, older than %s s', sym, q.last_updated, acct.max_price_age_seconds), 'CT409');
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

  SELECT coalesce(sum(p.quantity * m.price_usd), 0),
         coalesce(sum(p.quantity) FILTER (WHERE p.symbol = sym), 0)
    INTO positions_value, pos_qty
    FROM public.account_positions p JOIN public.market_data_cache m ON m.symbol = p.symbol
   WHERE p.account_id = acct.id AND p.quantity > 0;
  equity := acct.balance + acct.reserved_balance + positions_value;

  -- how it fills (or rests)
  marketable := otype = 'market'
    OR (otype = 'limit' AND ((side = 'buy' AND p_limit_price >= q.price_usd)
                          OR (side = 'sell' AND p_limit_price <= q.price_usd)));
  IF otype = 'stop' AND ((side = 'buy' AND q.price_usd >= p_stop_price)
                      OR (side = 'sell' AND q.price_usd <= p_stop_price)) THEN
    PERFORM private.reject('order_would_trigger',
      'the stop price is already crossed; send a market order instead', 'CT422');
  END IF;

  IF marketable THEN
    slip := private.slippage_bps(acct.fill_model, acct.slippage_bps, p_amount * q.price_usd, q);
    exec_price := round(q.price_usd * (1 + CASE WHEN side = 'buy' THEN slip ELSE -slip END / 10000), 10);
    IF otype = 'limit' THEN  -- never worse than the limit
      exec_price := CASE WHEN side = 'buy' THEN least(exec_price, p_limit_price)
                         ELSE greatest(exec_price, p_limit_price) END;
    END IF;
    PERFORM private.check_exits(p_stop_loss, p_take_profit, exec_price);
    IF side = 'buy' AND (pos_qty + p_amount) * exec_price > acct.max_position_size THEN
      PERFORM private.reject('max_position_size',
        format('position would be worth %s, over the limit of %s',
               round((pos_qty + p_amount) * exec_price, 2), acct.max_position_size), 'CT409');
    END IF;
    t.id := gen_random_uuid();
    SELECT * INTO fill FROM private.apply_fill(acct, sym, side, p_amount, exec_price,
                                               acct.taker_fee_rate, 0, 0, t.id, false,
                                               positions_value, q.price_usd);
    INSERT INTO public.paper_trades (
      id, user_id, account_id, bot_id, symbol, side, amount, price, execution_price, total_value, fee,
      trade_type, order_type, status, risk_score, confidence_level, stop_loss, take_profit,
      reasoning, trade_category, tags, notes, account_epoch, time_in_force, expires_at,
      fill_model, slippage_bps, fee_rate, realized_pnl, filled_at, closed_at, execution_time_ms)
    VALUES (
      t.id, acct.user_id, acct.id, p_bot_id, sym, side, p_amount, coalesce(p_limit_price, q.price_usd),
      exec_price, fill.total_value, fill.fee, 'market', otype, 'completed',
      private.risk_score(fill.total_value, equity, q), coalesce(p_confidence_level, 50),
      p_stop_loss, p_take_profit, p_reasoning, p_trade_category, coalesce(p_tags, '{}'), p_notes,
      acct.epoch, tif, p_expires_at, acct.fill_model, slip, acct.taker_fee_rate, fill.realized, now(), now(),
      (extract(epoch FROM clock_timestamp() - started) * 1000)::integer)
    RETURNING * INTO t;
    IF p_stop_loss IS NOT NULL OR p_take_profit IS NOT NULL THEN
      PERFORM private.attach_exits(t);
    END IF;
  ELSE
    -- resting order: check and reserve what the fill will need (an IOC/FOK order that
    -- cannot fill now is checked alike, then recorded as expired with nothing reserved)
    ref_price := coalesce(p_limit_price, p_stop_price);
    PERFORM private.check_exits(p_stop_loss, p_take_profit, ref_price);
    IF side = 'buy' THEN
      IF (pos_qty + p_amount) * ref_price > acct.max_position_size THEN
        PERFORM private.reject('max_position_size',
          format('position would be worth %s, over the limit of %s',
                 round((pos_qty + p_amount) * ref_price, 2), acct.max_position_size), 'CT409');
      END IF;
      IF otype = 'limit' THEN
        reserve := round(p_amount * ref_price, 8);
        reserve := reserve + round(reserve * acct.maker_fee_rate, 8);
      ELSE
        reserve := round(p_amount * ref_price * (1 + acct.slippage_bps / 10000), 8);
        reserve := reserve + round(reserve * acct.taker_fee_rate, 8);
      END IF;
      IF reserve > acct.balance THEN
        PERFORM private.reject('insufficient_funds',
          format('needs %s reserved including fees, %s available', reserve, acct.balance), 'CT409');
      END IF;
    ELSE
      reserve := p_amount;
      IF NOT EXISTS (SELECT 1 FROM public.account_positions p
                      WHERE p.account_id = acct.id AND p.symbol = sym
                        AND p.quantity - p.reserved_quantity >= reserve) THEN
        PERFORM private.reject('insufficient_position',
          format('sell of %s %s exceeds the quantity available', p_amount, sym), 'CT409');
      END IF;
    END IF;
    IF tif IN ('ioc', 'fok') THEN
      INSERT INTO public.paper_trades (
        user_id, account_id, bot_id, symbol, side, amount, price, trade_type, order_type, status,
        risk_score, confidence_level, reasoning, trade_category, tags, notes, account_epoch,
        time_in_force, status_reason, closed_at)
      VALUES (
        acct.user_id, acct.id, p_bot_id, sym, side, p_amount, ref_price, 'limit', otype, 'expired',
        private.risk_score(p_amount * ref_price, equity, q), coalesce(p_confidence_level, 50),
        p_reasoning, p_trade_category, coalesce(p_tags, '{}'), p_notes, acct.epoch, tif,
        'not immediately fillable', now())
      RETURNING * INTO t;
      RETURN t;
    END IF;
    IF side = 'buy' THEN
      UPDATE public.paper_trading_accounts
         SET balance = balance - reserve, reserved_balance = reserved_balance + reserve
       WHERE id = acct.id;
    ELSE
      UPDATE public.account_positions SET reserved_quantity = reserved_quantity + reserve
       WHERE account_id = acct.id AND symbol = sym;
    END IF;
    INSERT INTO public.paper_trades (
      user_id, account_id, bot_id, symbol, side, amount, price, stop_price, trade_type, order_type,
      status, risk_score, confidence_level, stop_loss, take_profit, reasoning, trade_category, tags,
      notes, account_epoch, time_in_force, expires_at, reserved_amount)
    VALUES (
      acct.user_id, acct.id, p_bot_id, sym, side, p_amount, ref_price, p_stop_price,
      CASE WHEN otype = 'limit' THEN 'limit' ELSE 'market' END, otype, 'pending',
      private.risk_score(p_amount * ref_price, equity, q), coalesce(p_confidence_level, 50),
      p_stop_loss, p_take_profit, p_reasoning, p_trade_category, coalesce(p_tags, '{}'), p_notes,
      acct.epoch, tif, p_expires_at, reserve)
    RETURNING * INTO t;
    IF side = 'buy' THEN
      PERFORM private.write_balance_audit(acct.id, acct.user_id, 'order_reserve', acct.balance,
        acct.balance - reserve, NULL, jsonb_build_object('order_id', t.id));
    END IF;
  END IF;

  IF p_bot_id IS NOT NULL AND t.status = 'completed' THEN
    UPDATE public.ai_trading_bots SET last_trade_at = now() WHERE id = p_bot_id;
  END IF;
  RETURN t;  -- a reservation moves cash within equity: total_pnl is unchanged
END
$$;
REVOKE EXECUTE ON FUNCTION public.execute_paper_trade(uuid, text, text, numeric, text, numeric, numeric, text,
  timestamptz, numeric, numeric, uuid, text, numeric, text, text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.execute_paper_trade(uuid, text, text, numeric, text, numeric, numeric, text,
  timestamptz, numeric, numeric, uuid, text, numeric, text, text[], text) TO authenticated, service_role;

-- cancel_order(): cancels a pending order of the caller (with its OCO sibling) and
-- releases the reservation. Another user's order is reported like a missing one.
CREATE FUNCTION public.cancel_order(p_order_id uuid, p_reason text DEFAULT 'cancelled by user')
RETURNS public.paper_trades
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  o public.paper_trades;
  acct public.paper_trading_accounts;
BEGIN
  SELECT * INTO o FROM public.paper_trades WHERE id = p_order_id;
  IF NOT FOUND OR (NOT private.caller_is_service() AND o.user_id IS DISTINCT FROM auth.uid()) THEN
    PERFORM private.reject('order_not_found', 'order not found', 'CT404');
  END IF;
  acct := private.lock_account(o.account_id);
  SELECT * INTO o FROM public.paper_trades WHERE id = o.id AND created_at = o.created_at FOR UPDATE;
  IF o.status <> 'pending' THEN
    PERFORM private.reject('order_not_cancellable', format('order is %s, not pending', o.status), 'CT409');
  END IF;
  PERFORM private.close_pending(o, 'cancelled', left(coalesce(p_reason, 'cancelled by user'), 200));
  SELECT * INTO o FROM public.paper_trades WHERE id = o.id AND created_at = o.created_at;
  RETURN o;
END
$$;
REVOKE EXECUTE ON FUNCTION public.cancel_order(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cancel_order(uuid, text) TO authenticated, service_role;

-- process_market_tick(): fills, triggers and expires every pending order of p_symbol that
-- p_price crosses. Accounts are locked before orders, in account order, so concurrent
-- ticks and trades never deadlock; an order already handled by a concurrent tick is
-- skipped, so each fills once. Plain limit orders (no exits, no OCO group) of one account
-- are filled in memory and written once per account (position, account, audit rows, trade
-- rows); the others go one by one through apply_fill. Returns how many orders it ended.
CREATE FUNCTION public.process_market_tick(p_symbol text, p_price numeric, p_at timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  sym text := upper(btrim(p_symbol));
  q public.market_data_cache;
  c record;
  o public.paper_trades;
  acct public.paper_trading_accounts;
  pos public.account_positions;
  last_account uuid;
  positions_value numeric;
  slip numeric;
  exec_price numeric;
  v_fee_rate numeric;
  release_cash numeric;
  release_qty numeric;
  fill record;
  m record;
  done integer := 0;
  -- the batch of the current account: running state and what to write
  b_ids uuid[] := '{}';
  b_created timestamptz[] := '{}';
  b_sides text[] := '{}';
  b_amounts numeric[] := '{}';
  b_prices numeric[] := '{}';
  b_values numeric[] := '{}';
  b_fees numeric[] := '{}';
  b_rates numeric[] := '{}';
  b_realized numeric[] := '{}';
  b_old numeric[] := '{}';
  b_new numeric[] := '{}';
  b_rejected public.paper_trades[] := '{}';
  b_reasons text[] := '{}';
  b_cash numeric;
  b_reserved numeric;
  b_fees_paid numeric;
  b_day numeric;
  b_qty numeric;
  b_pos_reserved numeric;
  b_basis numeric;
  b_pos_realized numeric;
  today date := (now() AT TIME ZONE 'UTC')::date;
BEGIN
  PERFORM private.check_amount(p_price, 'price', 'invalid_price');
  SELECT * INTO q FROM public.market_data_cache WHERE symbol = sym;
  IF NOT FOUND THEN
    PERFORM private.reject('unknown_symbol', format('unknown symbol %s', sym), 'CT422');
  END IF;
  q.price_usd := p_price;
  FOR c IN
    SELECT t.id, t.created_at, t.account_id FROM public.paper_trades t
     WHERE t.status = 'pending' AND t.symbol = sym
       AND ((t.expires_at IS NOT NULL AND t.expires_at <= p_at)
         OR (t.order_type IN ('limit', 'take_profit') AND t.side = 'buy' AND p_price <= t.price)
         OR (t.order_type IN ('limit', 'take_profit') AND t.side = 'sell' AND p_price >= t.price)
         OR (t.order_type IN ('stop', 'stop_loss') AND t.side = 'buy' AND p_price >= t.stop_price)
         OR (t.order_type IN ('stop', 'stop_loss') AND t.side = 'sell' AND p_price <= t.stop_price))
     ORDER BY t.account_id, t.created_at, t.id
  LOOP
    IF c.account_id IS DISTINCT FROM last_account THEN
      IF last_account IS NOT NULL THEN
        PERFORM private.flush_tick_batch(acct, sym, b_ids, b_created, b_sides, b_amounts, b_prices, b_values, b_fees, b_rates,
          b_realized, b_old, b_new, b_rejected, b_reasons, b_cash, b_reserved, b_fees_paid, b_day,
          b_qty, b_pos_reserved, b_basis, b_pos_realized);
      END IF;
      SELECT * INTO acct FROM public.paper_trading_accounts WHERE id = c.account_id FOR UPDATE;
      last_account := c.account_id;
      positions_value := NULL;
      SELECT * INTO pos FROM public.account_positions
       WHERE account_id = acct.id AND symbol = sym FOR UPDATE;
      b_ids := '{}'; b_created := '{}'; b_sides := '{}'; b_amounts := '{}'; b_prices := '{}'; b_values := '{}'; b_fees := '{}'; b_rates := '{}';
      b_realized := '{}'; b_old := '{}'; b_new := '{}'; b_rejected := '{}'; b_reasons := '{}';
      b_cash := acct.balance; b_reserved := acct.reserved_balance; b_fees_paid := acct.fees_paid;
      b_day := CASE WHEN acct.day_realized_date = today THEN acct.day_realized_pnl ELSE 0 END;
      b_qty := coalesce(pos.quantity, 0); b_pos_reserved := coalesce(pos.reserved_quantity, 0);
      b_basis := coalesce(pos.cost_basis, 0); b_pos_realized := coalesce(pos.realized_pnl, 0);
    END IF;
    SELECT * INTO o FROM public.paper_trades
     WHERE id = c.id AND created_at = c.created_at AND status = 'pending' FOR UPDATE;
    CONTINUE WHEN NOT FOUND;  -- ended meanwhile (OCO sibling, concurrent tick, cancel)
    CONTINUE WHEN acct.status <> 'active' AND NOT (o.expires_at IS NOT NULL AND o.expires_at <= p_at);

    IF o.order_type = 'limit' AND o.oco_group_id IS NULL AND o.stop_loss IS NULL
       AND o.take_profit IS NULL AND (o.expires_at IS NULL OR o.expires_at > p_at) THEN
      -- the batch path: in memory until the account's orders are done
      release_cash := CASE WHEN o.side = 'buy' THEN o.reserved_amount ELSE 0 END;
      release_qty := CASE WHEN o.side = 'sell' THEN o.reserved_amount ELSE 0 END;
      m := private.fill_math(o.side, o.amount, o.price, acct.maker_fee_rate, b_cash, release_cash,
                             b_qty, b_pos_reserved, b_basis, release_qty);
      IF m.refused IS NOT NULL THEN
        b_rejected := b_rejected || o;
        b_reasons := b_reasons || m.refused;
      ELSE
        b_ids := b_ids || o.id;
        b_created := b_created || o.created_at;
        b_sides := b_sides || o.side;
        b_amounts := b_amounts || o.amount;
        b_prices := b_prices || o.price;
        b_values := b_values || m.total_value;
        b_fees := b_fees || m.fee;
        b_rates := b_rates || acct.maker_fee_rate;
        b_realized := b_realized || m.realized;
        b_old := b_old || b_cash;
        b_cash := b_cash + release_cash + m.cash_delta;
        b_new := b_new || b_cash;
        b_reserved := b_reserved - release_cash;
        b_fees_paid := b_fees_paid + m.fee;
        b_day := b_day + m.realized - m.fee;
        IF o.side = 'buy' THEN
          b_qty := b_qty + o.amount;
          b_basis := b_basis + m.total_value;
        ELSE
          b_qty := b_qty - o.amount;
          b_pos_reserved := b_pos_reserved - release_qty;
          b_basis := b_basis - m.basis_out;
          b_pos_realized := b_pos_realized + m.realized;
        END IF;
      END IF;
      done := done + 1;
      CONTINUE;
    END IF;

    -- one at a time: write the batch so far, then this order through apply_fill
    PERFORM private.flush_tick_batch(acct, sym, b_ids, b_created, b_sides, b_amounts, b_prices, b_values, b_fees, b_rates,
      b_realized, b_old, b_new, b_rejected, b_reasons, b_cash, b_reserved, b_fees_paid, b_day,
      b_qty, b_pos_reserved, b_basis, b_pos_realized);
    b_ids := '{}'; b_created := '{}'; b_sides := '{}'; b_amounts := '{}'; b_prices := '{}'; b_values := '{}'; b_fees := '{}'; b_rates := '{}';
    b_realized := '{}'; b_old := '{}'; b_new := '{}'; b_rejected := '{}'; b_reasons := '{}';
    positions_value := NULL;

    IF o.expires_at IS NOT NULL AND o.expires_at <= p_at THEN
      PERFORM private.close_pending(o, 'expired', 'expired');
      done := done + 1;
    ELSE
      IF o.order_type IN ('limit', 'take_profit') THEN
        exec_price := o.price;
        v_fee_rate := acct.maker_fee_rate;
        slip := 0;
      ELSE
        slip := private.slippage_bps(acct.fill_model, acct.slippage_bps, o.amount * p_price, q);
        exec_price := round(p_price * (1 + CASE WHEN o.side = 'buy' THEN slip ELSE -slip END / 10000), 10);
        v_fee_rate := acct.taker_fee_rate;
      END IF;
      release_cash := CASE WHEN o.side = 'buy' THEN o.reserved_amount ELSE 0 END;
      release_qty := 0;
      IF o.side = 'sell' THEN
        SELECT coalesce(sum(reserved_amount), 0) INTO release_qty FROM public.paper_trades
         WHERE status = 'pending' AND (id = o.id OR (o.oco_group_id IS NOT NULL AND oco_group_id = o.oco_group_id));
      END IF;
      SELECT * INTO acct FROM public.paper_trading_accounts WHERE id = o.account_id;
      SELECT * INTO fill FROM private.apply_fill(acct, o.symbol, o.side, o.amount, exec_price,
                                                 v_fee_rate, release_cash, release_qty, o.id, true);
      IF fill.refused IS NOT NULL THEN
        PERFORM private.close_pending(o, 'rejected', fill.refused);
      ELSE
        IF o.oco_group_id IS NOT NULL THEN
          UPDATE public.paper_trades
             SET status = 'cancelled', status_reason = 'one-cancels-other', closed_at = now(), reserved_amount = 0
           WHERE oco_group_id = o.oco_group_id AND status = 'pending' AND id <> o.id;
        END IF;
        UPDATE public.paper_trades
           SET status = 'completed', execution_price = exec_price, total_value = fill.total_value,
               fee = fill.fee, realized_pnl = fill.realized, fill_model = acct.fill_model,
               slippage_bps = slip, fee_rate = v_fee_rate, reserved_amount = 0,
               trade_type = CASE WHEN o.order_type IN ('limit', 'take_profit') THEN 'limit' ELSE 'market' END,
               filled_at = now(), closed_at = now()
         WHERE id = o.id AND created_at = o.created_at
        RETURNING * INTO o;
        IF o.stop_loss IS NOT NULL OR o.take_profit IS NOT NULL THEN
          PERFORM private.attach_exits(o);
        END IF;
      END IF;
      done := done + 1;
    END IF;
    -- the batch continues from what is now in the database
    SELECT * INTO acct FROM public.paper_trading_accounts WHERE id = o.account_id;
    SELECT * INTO pos FROM public.account_positions WHERE account_id = acct.id AND symbol = sym;
    b_cash := acct.balance; b_reserved := acct.reserved_balance; b_fees_paid := acct.fees_paid;
    b_day := CASE WHEN acct.day_realized_date = today THEN acct.day_realized_pnl ELSE 0 END;
    b_qty := coalesce(pos.quantity, 0); b_pos_reserved := coalesce(pos.reserved_quantity, 0);
    b_basis := coalesce(pos.cost_basis, 0); b_pos_realized := coalesce(pos.realized_pnl, 0);
  END LOOP;
  IF last_account IS NOT NULL THEN
    PERFORM private.flush_tick_batch(acct, sym, b_ids, b_created, b_sides, b_amounts, b_prices, b_values, b_fees, b_rates,
      b_realized, b_old, b_new, b_rejected, b_reasons, b_cash, b_reserved, b_fees_paid, b_day,
      b_qty, b_pos_reserved, b_basis, b_pos_realized);
  END IF;
  RETURN done;
END
$$;

-- Writes one account's batch of limit fills from a tick: the position, the account (one
-- UPDATE, total PnL included), one audit row per fill, the trade rows; then ends the
-- orders the batch could not fill (their reservation released).
CREATE FUNCTION private.flush_tick_batch(
  acct public.paper_trading_accounts, sym text, b_ids uuid[], b_created timestamptz[],
  b_sides text[], b_amounts numeric[], b_prices numeric[],
  b_values numeric[], b_fees numeric[], b_rates numeric[], b_realized numeric[], b_old numeric[],
  b_new numeric[], b_rejected public.paper_trades[], b_reasons text[], b_cash numeric,
  b_reserved numeric, b_fees_paid numeric, b_day numeric, b_qty numeric, b_pos_reserved numeric,
  b_basis numeric, b_pos_realized numeric
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  after public.paper_trading_accounts;
  today date := (now() AT TIME ZONE 'UTC')::date;
BEGIN
  IF cardinality(b_ids) > 0 THEN
    INSERT INTO public.account_positions AS ap (account_id, user_id, symbol, quantity,
                                                reserved_quantity, cost_basis, avg_entry_price, realized_pnl)
    VALUES (acct.id, acct.user_id, sym, b_qty, b_pos_reserved, b_basis,
            CASE WHEN b_qty > 0 THEN round(b_basis / b_qty, 10) ELSE 0 END, b_pos_realized)
    ON CONFLICT (account_id, symbol) DO UPDATE
       SET quantity = EXCLUDED.quantity, reserved_quantity = EXCLUDED.reserved_quantity,
           cost_basis = EXCLUDED.cost_basis, avg_entry_price = EXCLUDED.avg_entry_price,
           realized_pnl = EXCLUDED.realized_pnl,
           opened_at = CASE WHEN ap.quantity = 0 AND EXCLUDED.quantity > 0 THEN now() ELSE ap.opened_at END;
    UPDATE public.paper_trading_accounts a
       SET balance = b_cash, reserved_balance = b_reserved, fees_paid = b_fees_paid,
           day_realized_pnl = b_day, day_realized_date = today
     WHERE a.id = acct.id
    RETURNING * INTO after;
    PERFORM private.refresh_account_pnl(acct.id);
    INSERT INTO public.paper_account_audit (user_id, account_id, action, old_balance, new_balance,
                                            amount_changed, metadata, created_at)
    SELECT acct.user_id, acct.id, 'trade_' || side, old, new, new - old,
           jsonb_build_object('trade_id', id, 'symbol', sym, 'quantity', amount, 'price', px, 'fee', fee),
           clock_timestamp()
      FROM unnest(b_ids, b_sides, b_amounts, b_old, b_new, b_prices, b_fees)
           AS u(id, side, amount, old, new, px, fee);
    UPDATE public.paper_trades t
       SET status = 'completed', execution_price = u.px, total_value = u.tv, fee = u.fee,
           realized_pnl = u.rp, fill_model = acct.fill_model, slippage_bps = 0, fee_rate = u.rate,
           reserved_amount = 0, trade_type = 'limit', filled_at = now(), closed_at = now()
      FROM unnest(b_ids, b_created, b_prices, b_values, b_fees, b_realized, b_rates)
           AS u(id, created_at, px, tv, fee, rp, rate)
     WHERE t.id = u.id AND t.created_at = u.created_at;
    IF -after.day_realized_pnl >= after.max_daily_loss AND after.daily_loss_alerted_on IS DISTINCT FROM today THEN
      PERFORM private.note_daily_loss(acct.id);
    END IF;
  END IF;
  FOR i IN 1 .. coalesce(cardinality(b_rejected), 0) LOOP
    PERFORM private.close_pending(b_rejected[i], 'rejected', b_reasons[i]);
  END LOOP;
END
$$;

REVOKE EXECUTE ON FUNCTION public.process_market_tick(text, numeric, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.process_market_tick(text, numeric, timestamptz) TO service_role;

-- reset_paper_account(): back to the initial balance without losing history. Pending
-- orders are cancelled, positions cleared, PnL and fees zeroed, the epoch advanced (trades
-- keep the epoch they were made in, so analytics can start after the reset).
CREATE FUNCTION public.reset_paper_account(p_account_id uuid, p_reason text DEFAULT NULL)
RETURNS public.paper_trading_accounts
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  acct public.paper_trading_accounts;
  old_balance numeric;
  cancelled integer;
  cleared integer;
BEGIN
  acct := private.lock_account(p_account_id);
  old_balance := acct.balance;
  UPDATE public.paper_trades
     SET status = 'cancelled', status_reason = 'account reset', closed_at = now(), reserved_amount = 0
   WHERE account_id = acct.id AND status = 'pending';
  GET DIAGNOSTICS cancelled = ROW_COUNT;
  DELETE FROM public.account_positions WHERE account_id = acct.id;
  GET DIAGNOSTICS cleared = ROW_COUNT;
  UPDATE public.paper_trading_accounts
     SET balance = initial_balance, reserved_balance = 0, fees_paid = 0, total_pnl = 0,
         total_pnl_percentage = 0, epoch = epoch + 1, day_realized_pnl = 0, day_realized_date = NULL,
         daily_loss_alerted_on = NULL
   WHERE id = acct.id
  RETURNING * INTO acct;
  PERFORM private.write_balance_audit(acct.id, acct.user_id, 'account_reset', old_balance, acct.initial_balance,
    left(coalesce(p_reason, 'reset by user'), 500),
    jsonb_build_object('orders_cancelled', cancelled, 'positions_cleared', cleared, 'epoch', acct.epoch));
  RETURN acct;
END
$$;
REVOKE EXECUTE ON FUNCTION public.reset_paper_account(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.reset_paper_account(uuid, text) TO authenticated, service_role;
