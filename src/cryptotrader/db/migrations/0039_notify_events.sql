-- Alerts and notifications, part 2 (issue 16; docs/alerts.md).
--
-- * One event vocabulary: a notification's type is its event's dotted name, the same in the
--   app, on the stream, in webhooks and in the preferences (order.filled, order.triggered,
--   order.expired, order.rejected, risk.daily_loss, account.reset, bot.error, bot.paused,
--   bot.budget_spent, copy.skipped, copy.reduced, copy.stopped, backtest.finished,
--   alert.triggered). The older snake_case names of stored rows are renamed.
-- * One router: every account_notifications row passes a BEFORE INSERT trigger that reads
--   its user's preferences (user_settings 'notification_preferences': {type: [channels]},
--   a type absent means every channel) and hands it to the webhook outbox (0038) when the
--   user wants 'webhook', and keeps the row (so the app and the live stream see it) when
--   the user wants 'in_app'. Whoever writes a notification, the engine, a worker or a
--   trigger, writes it in its own transaction: a rollback sends nothing anywhere.
-- * The engine's events become notifications in the transaction that causes them: an order
--   filled at placement (order.filled), a resting order triggered and filled
--   (order.triggered), expired or rejected; an account reset; a backtest finished.
-- * Account, portfolio and bot alerts (risk_alerts.alert_type 'account' | 'portfolio' |
--   'bot'), fired by one function, private.fire_alerts_v1(), with the price alerts'
--   frequency rules: account alerts after every fill of their account and on every price
--   refresh of a symbol the account holds; portfolio alerts on price refreshes; bot alerts
--   on the bot's events (entered error, budget spent, a trade's confidence below a level).

-- ------------------------------------------------------------------ one vocabulary
UPDATE account_notifications
   SET notification_type = CASE notification_type
         WHEN 'risk_limit' THEN 'risk.daily_loss'
         WHEN 'bot_budget' THEN 'bot.budget_spent'
         ELSE pg_catalog.regexp_replace(notification_type, '^(bot|copy)_', '\1.') END
 WHERE notification_type IN ('risk_limit', 'bot_budget')
    OR notification_type ~ '^(bot|copy)_';

-- Every type from now on is an event's dotted name (as webhooks require: 0038).
ALTER TABLE account_notifications
  ADD CONSTRAINT account_notifications_type_dotted
    CHECK (notification_type ~ '^[a-z0-9_]+(\.[a-z0-9_]+)+$') NOT VALID;

-- The daily loss notice (0006), under its event's name.
CREATE OR REPLACE FUNCTION private.note_daily_loss(p_account_id uuid) RETURNS void
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
    VALUES (acct.id, acct.user_id, 'risk.daily_loss', 'Daily loss limit reached',
            format('Realized loss today is %s, at or over the limit of %s. New buys are blocked until 00:00 UTC; sells are still allowed.',
                   round(-acct.day_realized_pnl, 2), acct.max_daily_loss),
            'warning', jsonb_build_object('day', today, 'limit', acct.max_daily_loss));
  END IF;
END
$$;

-- ------------------------------------------------------------------ the router
-- The channels a user wants an event on: their preference, else all of them.
CREATE FUNCTION private.notification_channels(p_user_id uuid, p_type text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    (SELECT CASE WHEN pg_catalog.jsonb_typeof(s.setting_value -> p_type) = 'array'
                 THEN s.setting_value -> p_type END
       FROM public.user_settings s
      WHERE s.user_id = p_user_id AND s.setting_name = 'notification_preferences'),
    '["in_app", "webhook"]'::jsonb)
$$;

-- Plain (see 0012): every name qualified. The webhook outbox function is the owner's.
CREATE FUNCTION private.route_notification() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  channels jsonb := private.notification_channels(NEW.user_id, NEW.notification_type);
BEGIN
  -- (the outbox only for a user with an endpoint: most have none, and the call is dear)
  IF channels ? 'webhook' AND EXISTS (
       SELECT 1 FROM public.webhook_endpoints e WHERE e.user_id = NEW.user_id AND e.enabled) THEN
    PERFORM private.enqueue_webhook_event(NEW.user_id, NEW.notification_type,
      pg_catalog.jsonb_build_object(
        'notification_id', NEW.id, 'account_id', NEW.account_id, 'title', NEW.title,
        'severity', NEW.severity) || coalesce(NEW.metadata, '{}'::jsonb));
  END IF;
  IF channels ? 'in_app' THEN
    RETURN NEW;
  END IF;
  RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION private.route_notification() FROM PUBLIC;
CREATE TRIGGER account_notifications_route BEFORE INSERT ON account_notifications
  FOR EACH ROW EXECUTE FUNCTION private.route_notification();
GRANT EXECUTE ON FUNCTION private.notification_channels(uuid, text),
  private.enqueue_webhook_event(uuid, text, jsonb) TO service_role;

-- ------------------------------------------------------------------ alert shapes
-- An alert about a bot or a portfolio goes with it (it was left behind, its target NULL,
-- which its shape below no longer allows).
ALTER TABLE risk_alerts
  DROP CONSTRAINT risk_alerts_bot_id_user_id_fkey,
  DROP CONSTRAINT risk_alerts_portfolio_id_user_id_fkey,
  ADD FOREIGN KEY (bot_id, user_id) REFERENCES ai_trading_bots (id, user_id) ON DELETE CASCADE,
  ADD FOREIGN KEY (portfolio_id, user_id) REFERENCES portfolios (id, user_id) ON DELETE CASCADE;
ALTER TABLE risk_alerts
  ADD COLUMN peak_value NUMERIC,   -- an account drawdown alert: the highest equity it saw
  ADD CONSTRAINT risk_alerts_account_shape CHECK (
    alert_type <> 'account' OR (
      account_id IS NOT NULL AND trigger_value IS NOT NULL
      AND CASE trigger_condition
            WHEN 'drawdown_pct' THEN trigger_value > 0 AND trigger_value <= 100
            WHEN 'daily_loss_pct' THEN trigger_value > 0 AND trigger_value <= 100
            WHEN 'position_pct' THEN trigger_value > 0 AND trigger_value <= 100
            WHEN 'cash_below' THEN trigger_value > 0
            ELSE false END)),
  ADD CONSTRAINT risk_alerts_portfolio_shape CHECK (
    alert_type <> 'portfolio' OR (
      portfolio_id IS NOT NULL AND trigger_value > 0
      AND trigger_condition IN ('value_above', 'value_below'))),
  ADD CONSTRAINT risk_alerts_bot_shape CHECK (
    alert_type <> 'bot' OR (
      bot_id IS NOT NULL
      AND CASE trigger_condition
            WHEN 'entered_error' THEN true
            WHEN 'budget_spent' THEN true
            WHEN 'confidence_below' THEN trigger_value > 0 AND trigger_value < 1
            ELSE false END));
CREATE INDEX risk_alerts_active_account_idx ON risk_alerts (account_id)
  WHERE status = 'active' AND alert_type = 'account';
CREATE INDEX risk_alerts_active_portfolio_idx ON risk_alerts (portfolio_id)
  WHERE status = 'active' AND alert_type = 'portfolio';
CREATE INDEX risk_alerts_active_bot_idx ON risk_alerts (bot_id)
  WHERE status = 'active' AND alert_type = 'bot';

-- A firing's user is its alert's, and goes with it (alert_id cascades): the second foreign
-- key only cost a check per firing (a tenth of a refresh that fires a thousand alerts).
ALTER TABLE alert_firings DROP CONSTRAINT alert_firings_user_id_fkey;

-- ------------------------------------------------------------------ one way to fire
-- Whether the frequency lets an alert that last fired at p_last fire at p_at: once (the
-- alert is active, so it is armed), once per bar (not yet in p_at's bar), every time (its
-- cooldown over). Inlined: the candidates' queries filter with it before locking anything.
CREATE FUNCTION private.alert_may_fire(p_frequency text, p_last timestamptz, p_cooldown integer,
                                       p_bar integer, p_at timestamptz)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT p_last IS NULL OR CASE p_frequency
    WHEN 'every_time' THEN p_last + pg_catalog.make_interval(secs => p_cooldown) <= p_at
    WHEN 'once_per_bar' THEN floor(extract(epoch FROM p_last) / p_bar)
                             <> floor(extract(epoch FROM p_at) / p_bar)
    ELSE true END
$$;

-- Fire the given alerts, each with the value that made it hold, at p_at: the frequency
-- decides the firing's key ('once', the bar, or p_key for every time), the cooldown
-- applies, and each firing gets its history row, its alert's new state and a notification,
-- once (the key is unique). The alerts are locked in id order first: fills and the price
-- worker fire the same alerts from different transactions, never in a deadlock.
CREATE FUNCTION private.fire_alerts_v1(p_ids uuid[], p_values numeric[], p_at timestamptz,
                                       p_key text, p_tick bigint DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  n integer;
BEGIN
  PERFORM 1 FROM public.risk_alerts WHERE id = ANY (p_ids) ORDER BY id FOR UPDATE;
  WITH c AS (
    SELECT a.*, x.value,
           CASE a.frequency
             WHEN 'once' THEN 'once:' || a.fire_count  -- re-armed (enabled again): anew
             WHEN 'once_per_bar'
               THEN 'bar:' || floor(extract(epoch FROM p_at) / a.bar_seconds)::bigint
             ELSE p_key END AS fire_key
      FROM unnest(p_ids, p_values) AS x(id, value)
      JOIN public.risk_alerts a ON a.id = x.id
     WHERE a.status = 'active' AND (a.expires_at IS NULL OR a.expires_at > p_at)
       AND private.alert_may_fire(a.frequency, a.last_fired_at, a.cooldown_seconds,
                                  a.bar_seconds, p_at)
  ),
  fired AS (
    INSERT INTO public.alert_firings (alert_id, user_id, fire_key, tick_id, symbol, value,
                                      trigger_value, fired_at)
    SELECT c.id, c.user_id, c.fire_key, p_tick, c.symbol, c.value, c.trigger_value, p_at FROM c
    ON CONFLICT (alert_id, fire_key) DO NOTHING
    RETURNING id, alert_id, value
  ),
  state AS (
    UPDATE public.risk_alerts a
       SET status = CASE WHEN a.frequency = 'once' THEN 'triggered' ELSE a.status END,
           current_value = f.value, triggered_at = p_at, last_fired_at = p_at,
           fire_count = a.fire_count + 1, updated_at = pg_catalog.now()
      FROM fired f WHERE a.id = f.alert_id
  ),
  noted AS (
    INSERT INTO public.account_notifications (account_id, user_id, notification_type, title,
                                              message, severity, metadata)
    SELECT acct.id, c.user_id, 'alert.triggered',
           pg_catalog.left(private.alert_title(c.alert_type, c.trigger_condition, c.trigger_value,
                                               c.symbol), 200),
           private.alert_message(c.alert_type, c.trigger_condition, c.trigger_value, f.value),
           CASE WHEN c.alert_type IN ('account', 'bot') THEN 'warning' ELSE 'info' END,
           pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
             'alert_id', c.id, 'firing_id', f.id, 'alert_type', c.alert_type,
             'condition', c.trigger_condition, 'symbol', c.symbol, 'value', f.value::text,
             'account_id', c.account_id, 'portfolio_id', c.portfolio_id, 'bot_id', c.bot_id,
             'tick_id', p_tick))
      FROM fired f
      JOIN c ON c.id = f.alert_id
      CROSS JOIN LATERAL (
        SELECT p.id FROM public.paper_trading_accounts p
         WHERE p.user_id = c.user_id
           AND (p.id = c.account_id OR c.account_id IS NULL)
         ORDER BY (p.id = c.account_id) DESC NULLS LAST,
                  (p.id = (SELECT b.account_id FROM public.ai_trading_bots b WHERE b.id = c.bot_id))
                    DESC NULLS LAST,
                  p.is_default DESC NULLS LAST, p.created_at
         LIMIT 1) acct
  )
  SELECT count(*)::integer INTO n FROM fired;
  RETURN n;
END
$$;

CREATE FUNCTION private.alert_title(p_type text, p_condition text, p_value numeric, p_symbol text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE p_type
    WHEN 'price' THEN p_symbol || ' ' || pg_catalog.replace(p_condition, '_', ' ') || ' '
                      || pg_catalog.trim_scale(p_value)::text
                      || CASE WHEN p_condition = 'moves_pct' THEN '%' ELSE '' END
    WHEN 'account' THEN CASE p_condition
      WHEN 'drawdown_pct' THEN 'Drawdown at ' || pg_catalog.trim_scale(p_value)::text || '% from peak'
      WHEN 'daily_loss_pct' THEN 'Daily loss at ' || pg_catalog.trim_scale(p_value)::text
                                 || '% of the limit'
      WHEN 'position_pct' THEN 'A position above ' || pg_catalog.trim_scale(p_value)::text
                               || '% of equity'
      ELSE 'Cash below ' || pg_catalog.trim_scale(p_value)::text END
    WHEN 'portfolio' THEN 'Portfolio value ' || pg_catalog.replace(p_condition, 'value_', '')
                          || ' ' || pg_catalog.trim_scale(p_value)::text
    ELSE CASE p_condition
      WHEN 'entered_error' THEN 'Bot stopped on an error'
      WHEN 'budget_spent' THEN 'Bot budget spent'
      ELSE 'Bot traded below ' || pg_catalog.trim_scale(p_value)::text || ' confidence' END
  END
$$;

CREATE FUNCTION private.alert_message(p_type text, p_condition text, p_trigger numeric,
                                      p_value numeric)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN p_type = 'price' AND p_condition = 'moves_pct'
      THEN 'Moved ' || pg_catalog.trim_scale(p_value)::text || '% (alert at '
           || pg_catalog.trim_scale(p_trigger)::text || '%)'
    WHEN p_type = 'price'
      THEN 'Price is ' || pg_catalog.trim_scale(p_value)::text || ' (alert at '
           || pg_catalog.trim_scale(p_trigger)::text || ')'
    WHEN p_type = 'account' AND p_condition = 'cash_below'
      THEN 'Cash is ' || round(p_value, 2)::text || ' (alert below '
           || pg_catalog.trim_scale(p_trigger)::text || ')'
    WHEN p_type = 'account'
      THEN 'Now ' || round(p_value, 2)::text || '% (alert at '
           || pg_catalog.trim_scale(p_trigger)::text || '%)'
    WHEN p_type = 'portfolio'
      THEN 'Value is ' || round(p_value, 2)::text || ' (alert at '
           || pg_catalog.trim_scale(p_trigger)::text || ')'
    WHEN p_condition = 'confidence_below'
      THEN 'A trade at confidence ' || pg_catalog.trim_scale(p_value)::text || ' (alert below '
           || pg_catalog.trim_scale(p_trigger)::text || ')'
    WHEN p_condition = 'budget_spent' THEN 'The bot holds until its budget allows again.'
    ELSE 'The bot stopped on an error; it needs a look before it runs again.'
  END
$$;

-- ------------------------------------------------------------------ account and portfolio
-- The figures an account alert reads, at the cached prices: equity, cash, the realized loss
-- today as a share of the limit, the largest position's share of equity.
CREATE FUNCTION private.account_alert_values(p_account_ids uuid[])
RETURNS TABLE (account_id uuid, equity numeric, cash numeric, daily_loss_pct numeric,
               position_pct numeric, initial_balance numeric)
LANGUAGE sql STABLE AS $$
  SELECT e.id, e.equity, e.balance,
         CASE WHEN e.day_realized_date = (pg_catalog.now() AT TIME ZONE 'UTC')::date
                   AND e.max_daily_loss > 0
              THEN greatest(-e.day_realized_pnl, 0) / e.max_daily_loss * 100 ELSE 0 END,
         coalesce(e.largest / nullif(e.equity, 0) * 100, 0), e.initial_balance
    FROM (
      SELECT a.*, a.balance + a.reserved_balance + coalesce(p.held, 0) AS equity, p.largest
        FROM public.paper_trading_accounts a
        LEFT JOIN (  -- as private.positions_value() (0006) values them, all accounts at once
          SELECT pos.account_id, max(pos.quantity * q.price_usd) AS largest,
                 sum(pos.quantity * q.price_usd) AS held
            FROM public.account_positions pos
            JOIN public.market_data_cache q ON q.symbol = pos.symbol
           WHERE pos.account_id = ANY (p_account_ids) AND pos.quantity > 0
           GROUP BY pos.account_id) p ON p.account_id = a.id
       WHERE a.id = ANY (p_account_ids)) e
$$;

-- Fire the active account alerts of these accounts that hold now (p_key: the event).
CREATE FUNCTION private.evaluate_account_alerts_v1(p_account_ids uuid[], p_key text,
                                                   p_tick bigint DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  ids uuid[];
  vals numeric[];
BEGIN
  -- the peak a drawdown is measured from: the highest equity seen, the initial balance at least
  WITH v AS MATERIALIZED (SELECT * FROM private.account_alert_values(p_account_ids)),
  r AS (
    SELECT r.id, r.trigger_condition, r.trigger_value, r.peak_value, v.equity, v.cash,
           v.daily_loss_pct, v.position_pct,
           greatest(r.peak_value, v.equity, v.initial_balance) AS peak,
           private.alert_may_fire(r.frequency, r.last_fired_at, r.cooldown_seconds,
                                  r.bar_seconds, pg_catalog.now()) AS may_fire
      FROM v JOIN public.risk_alerts r ON r.account_id = v.account_id
     WHERE r.status = 'active' AND r.alert_type = 'account'
  ),
  peaks AS (
    UPDATE public.risk_alerts x SET peak_value = r.peak
      FROM r
     WHERE x.id = r.id AND r.trigger_condition = 'drawdown_pct'
       AND r.peak IS DISTINCT FROM r.peak_value
  ),
  h AS (
    SELECT r.id, r.trigger_condition, r.trigger_value, r.may_fire,
           CASE r.trigger_condition
             WHEN 'drawdown_pct' THEN round((r.peak - r.equity) / nullif(r.peak, 0) * 100, 4)
             WHEN 'daily_loss_pct' THEN round(r.daily_loss_pct, 4)
             WHEN 'position_pct' THEN round(r.position_pct, 4)
             ELSE r.cash END AS value
      FROM r
  )
  SELECT array_agg(h.id ORDER BY h.id), array_agg(h.value ORDER BY h.id) INTO ids, vals
    FROM h
   WHERE h.may_fire
     AND CASE WHEN h.trigger_condition = 'cash_below' THEN h.value < h.trigger_value
              ELSE h.value >= h.trigger_value END;
  IF ids IS NULL THEN
    RETURN 0;
  END IF;
  RETURN private.fire_alerts_v1(ids, vals, pg_catalog.now(), p_key, p_tick);
END
$$;

-- A portfolio's value: the equity of its accounts.
CREATE FUNCTION private.evaluate_portfolio_alerts_v1(p_portfolio_ids uuid[], p_key text,
                                                     p_tick bigint DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  ids uuid[];
  vals numeric[];
BEGIN
  SELECT array_agg(r.id ORDER BY r.id), array_agg(pv.value ORDER BY r.id) INTO ids, vals
    FROM (
      SELECT pa.portfolio_id, sum(v.equity) AS value
        FROM public.portfolio_accounts pa
        JOIN private.account_alert_values(
               ARRAY(SELECT x.account_id FROM public.portfolio_accounts x
                      WHERE x.portfolio_id = ANY (p_portfolio_ids))) v
          ON v.account_id = pa.account_id
       WHERE pa.portfolio_id = ANY (p_portfolio_ids)
       GROUP BY pa.portfolio_id) pv
    JOIN public.risk_alerts r ON r.portfolio_id = pv.portfolio_id
   WHERE r.status = 'active' AND r.alert_type = 'portfolio'
     AND private.alert_may_fire(r.frequency, r.last_fired_at, r.cooldown_seconds, r.bar_seconds,
                                pg_catalog.now())
     AND CASE r.trigger_condition WHEN 'value_above' THEN pv.value > r.trigger_value
                                  ELSE pv.value < r.trigger_value END;
  IF ids IS NULL THEN
    RETURN 0;
  END IF;
  RETURN private.fire_alerts_v1(ids, vals, pg_catalog.now(), p_key, p_tick);
END
$$;

-- The account and portfolio alerts a price refresh touches: those over accounts holding a
-- symbol that changed (called by the alert worker after the price alerts of the tick).
CREATE FUNCTION private.evaluate_holdings_alerts_v1(p_symbols text[], p_tick bigint)
RETURNS integer
LANGUAGE sql AS $$
  SELECT private.evaluate_account_alerts_v1(
           ARRAY(SELECT DISTINCT r.account_id FROM public.risk_alerts r
                  WHERE r.status = 'active' AND r.alert_type = 'account'
                    AND EXISTS (SELECT 1 FROM public.account_positions p
                                 WHERE p.account_id = r.account_id AND p.symbol = ANY (p_symbols)
                                   AND p.quantity > 0)),
           'tick:' || p_tick, p_tick)
       + private.evaluate_portfolio_alerts_v1(
           ARRAY(SELECT DISTINCT r.portfolio_id FROM public.risk_alerts r
                  WHERE r.status = 'active' AND r.alert_type = 'portfolio'
                    AND EXISTS (SELECT 1 FROM public.portfolio_accounts pa
                                  JOIN public.account_positions p ON p.account_id = pa.account_id
                                 WHERE pa.portfolio_id = r.portfolio_id
                                   AND p.symbol = ANY (p_symbols) AND p.quantity > 0)),
           'tick:' || p_tick, p_tick)
$$;

-- "Moves by X%" alerts are few among the price alerts: their window's lookup reads them alone.
CREATE INDEX risk_alerts_active_moves_idx ON risk_alerts (symbol, window_seconds)
  WHERE status = 'active' AND alert_type = 'price' AND trigger_condition = 'moves_pct';

-- The price alerts one tick fires (fire_price_alerts of 0037, whose writing is now
-- fire_alerts_v1's: one way to fire for every type).
CREATE FUNCTION private.fire_price_alerts_v2(t private.alert_ticks, p_stale interval)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  ids uuid[];
  vals numeric[];
BEGIN
  WITH q AS (
    SELECT s.symbol, s.prev, s.price
    FROM unnest(t.symbols, t.prev, t.prices, t.quoted_at) AS s(symbol, prev, price, quoted_at)
    WHERE pg_catalog.clock_timestamp() - t.created_at <= p_stale
      AND s.quoted_at >= t.created_at - p_stale
  ),
  refs AS (  -- "moves by X% within W": the 1-minute close W before the tick
    SELECT w.symbol, w.window_seconds, c.close AS ref
    FROM (SELECT DISTINCT a.symbol, a.window_seconds FROM q
          JOIN public.risk_alerts a ON a.symbol = q.symbol AND a.status = 'active'
          WHERE a.alert_type = 'price' AND a.trigger_condition = 'moves_pct') w
    CROSS JOIN LATERAL (
      SELECT m.close FROM public.market_candles m
      WHERE m.symbol = w.symbol AND m.timeframe = '1m'
        AND m.open_time <= t.as_of - pg_catalog.make_interval(secs => w.window_seconds)
      ORDER BY m.open_time DESC LIMIT 1) c
  )
  SELECT array_agg(a.id ORDER BY a.id),
         array_agg(CASE WHEN a.trigger_condition = 'moves_pct'
                        THEN round((q.price - r.ref) / r.ref * 100, 4) ELSE q.price END
                   ORDER BY a.id)
    INTO ids, vals
    FROM q
    JOIN public.risk_alerts a ON a.symbol = q.symbol AND a.status = 'active'
    LEFT JOIN refs r ON r.symbol = a.symbol AND r.window_seconds = a.window_seconds
   WHERE a.alert_type = 'price'
     AND a.created_at <= t.created_at
     AND private.alert_may_fire(a.frequency, a.last_fired_at, a.cooldown_seconds, a.bar_seconds,
                                t.as_of)
     AND ((a.trigger_condition = 'crosses_above'
           AND q.prev < a.trigger_value AND q.price >= a.trigger_value)
       OR (a.trigger_condition = 'crosses_below'
           AND q.prev > a.trigger_value AND q.price <= a.trigger_value)
       OR (a.trigger_condition = 'above' AND q.price > a.trigger_value)
       OR (a.trigger_condition = 'below' AND q.price < a.trigger_value)
       OR (a.trigger_condition = 'moves_pct'
           AND abs(q.price - r.ref) >= r.ref * a.trigger_value / 100));
  IF ids IS NULL THEN
    RETURN 0;
  END IF;
  RETURN private.fire_alerts_v1(ids, vals, t.as_of, 'tick:' || t.id, t.id);
END
$$;

-- Evaluate up to p_limit open ticks (evaluate_alert_ticks_v1, 0037, and then the account and
-- portfolio alerts of the holders of the symbols each tick changed).
CREATE FUNCTION private.evaluate_alert_ticks_v2(p_limit integer, p_stale interval,
                                                OUT ticks integer, OUT fired integer)
LANGUAGE plpgsql AS $$
DECLARE
  t private.alert_ticks;
  fresh text[];
BEGIN
  ticks := 0;
  fired := 0;
  UPDATE public.risk_alerts SET status = 'expired', updated_at = pg_catalog.now()
  WHERE status = 'active' AND expires_at <= pg_catalog.now();
  WHILE ticks < p_limit LOOP
    SELECT * INTO t FROM private.alert_ticks WHERE done_at IS NULL ORDER BY id LIMIT 1
      FOR UPDATE;
    EXIT WHEN NOT FOUND;
    fired := fired + private.fire_price_alerts_v2(t, p_stale);
    IF pg_catalog.clock_timestamp() - t.created_at <= p_stale THEN
      SELECT array_agg(s.symbol) INTO fresh
        FROM unnest(t.symbols, t.quoted_at) AS s(symbol, quoted_at)
       WHERE s.quoted_at >= t.created_at - p_stale;
      IF fresh IS NOT NULL THEN
        fired := fired + private.evaluate_holdings_alerts_v1(fresh, t.id);
      END IF;
    END IF;
    UPDATE private.alert_ticks SET done_at = pg_catalog.clock_timestamp() WHERE id = t.id;
    ticks := ticks + 1;
  END LOOP;
END
$$;

-- ------------------------------------------------------------------ bots
-- Fire a bot's alerts of one condition; p_value: the figure (a trade's confidence).
CREATE FUNCTION private.evaluate_bot_alerts_v1(p_bot_id uuid, p_condition text,
                                               p_value numeric, p_key text)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  ids uuid[];
  vals numeric[];
BEGIN
  SELECT array_agg(r.id ORDER BY r.id), array_agg(coalesce(p_value, 0) ORDER BY r.id)
    INTO ids, vals
    FROM public.risk_alerts r
   WHERE r.bot_id = p_bot_id AND r.status = 'active' AND r.alert_type = 'bot'
     AND r.trigger_condition = p_condition
     AND (p_condition <> 'confidence_below' OR p_value < r.trigger_value);
  IF ids IS NULL THEN
    RETURN 0;
  END IF;
  RETURN private.fire_alerts_v1(ids, vals, pg_catalog.now(), p_key);
END
$$;

CREATE FUNCTION private.bot_status_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM private.evaluate_bot_alerts_v1(NEW.id, 'entered_error', NULL,
                                         'error:' || extract(epoch FROM pg_catalog.now())::text);
  RETURN NULL;
END
$$;
CREATE TRIGGER ai_trading_bots_alerts AFTER UPDATE OF status ON ai_trading_bots
  FOR EACH ROW WHEN (NEW.status = 'error' AND OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION private.bot_status_event();

CREATE FUNCTION private.bot_decision_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM private.evaluate_bot_alerts_v1(NEW.bot_id, 'budget_spent', NULL, 'decision:' || NEW.id);
  RETURN NULL;
END
$$;
CREATE TRIGGER bot_decisions_budget_insert AFTER INSERT ON bot_decisions
  FOR EACH ROW WHEN (NEW.abstain_code = 'budget_spent')
  EXECUTE FUNCTION private.bot_decision_event();
CREATE TRIGGER bot_decisions_budget_update AFTER UPDATE OF abstain_code ON bot_decisions
  FOR EACH ROW WHEN (NEW.abstain_code = 'budget_spent'
                     AND OLD.abstain_code IS DISTINCT FROM NEW.abstain_code)
  EXECUTE FUNCTION private.bot_decision_event();

-- ------------------------------------------------------------------ the engine's events
-- An order that filled, triggered, expired or was rejected: its notification, and after a
-- fill the account's alerts (and a bot's trade its confidence alerts). Runs inside the
-- engine's functions, as their owner.
CREATE FUNCTION private.order_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  kind text;
  label text := CASE NEW.order_type WHEN 'stop_loss' THEN 'Stop-loss'
                                    WHEN 'take_profit' THEN 'Take-profit'
                                    WHEN 'stop' THEN 'Stop order' WHEN 'limit' THEN 'Limit order'
                                    ELSE 'Order' END;
  what text := NEW.side || ' ' || pg_catalog.trim_scale(NEW.amount)::text || ' ' || NEW.symbol;
BEGIN
  IF TG_OP = 'INSERT' AND NEW.bot_id IS NOT NULL AND NEW.confidence_level IS NOT NULL
     AND NEW.status IN ('completed', 'pending') THEN
    PERFORM private.evaluate_bot_alerts_v1(NEW.bot_id, 'confidence_below', NEW.confidence_level,
                                           'trade:' || NEW.id);
  END IF;
  kind := CASE
    WHEN NEW.status = 'completed' AND TG_OP = 'UPDATE' THEN 'order.triggered'
    WHEN NEW.status = 'completed' THEN 'order.filled'
    WHEN NEW.status = 'expired' THEN 'order.expired'
    WHEN NEW.status = 'rejected' THEN 'order.rejected' END;
  IF kind IS NULL THEN
    RETURN NULL;
  END IF;
  INSERT INTO public.account_notifications (account_id, user_id, notification_type, title,
                                            message, severity, metadata)
  VALUES (NEW.account_id, NEW.user_id, kind,
    pg_catalog.left(CASE kind
      WHEN 'order.filled' THEN 'Filled: ' || what
      WHEN 'order.triggered' THEN label || ' triggered: ' || what
      WHEN 'order.expired' THEN label || ' expired: ' || what
      ELSE label || ' rejected: ' || what END, 200),
    CASE WHEN NEW.status = 'completed'
         THEN CASE NEW.side WHEN 'buy' THEN 'Bought ' ELSE 'Sold ' END
              || pg_catalog.trim_scale(NEW.amount)::text || ' ' || NEW.symbol || ' at '
              || pg_catalog.trim_scale(NEW.execution_price)::text
              || ' (fee ' || pg_catalog.trim_scale(round(coalesce(NEW.fee, 0), 8))::text || ')'
         ELSE coalesce(pg_catalog.left(NEW.status_reason, 500), NEW.status) END,
    CASE WHEN NEW.status = 'completed' THEN 'success'
         WHEN NEW.status = 'rejected' THEN 'warning' ELSE 'info' END,
    pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
      'order_id', NEW.id, 'symbol', NEW.symbol, 'side', NEW.side, 'order_type', NEW.order_type,
      'quantity', NEW.amount::text, 'price', NEW.execution_price::text,
      'reason', pg_catalog.left(NEW.status_reason, 200), 'bot_id', NEW.bot_id)));
  IF NEW.status = 'completed' AND EXISTS (
       SELECT 1 FROM public.risk_alerts r
        WHERE r.account_id = NEW.account_id AND r.status = 'active' AND r.alert_type = 'account')
  THEN
    PERFORM private.evaluate_account_alerts_v1(ARRAY[NEW.account_id], 'fill:' || NEW.id);
  END IF;
  RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION private.order_event() FROM PUBLIC;
-- Triggers fire in name order: these sort after paper_trades_stream_* (0012), so an order's
-- own stream event precedes its notification's.
CREATE TRIGGER paper_trades_then_notify_insert AFTER INSERT ON paper_trades
  FOR EACH ROW WHEN (NEW.status IN ('completed', 'expired', 'rejected') OR NEW.bot_id IS NOT NULL)
  EXECUTE FUNCTION private.order_event();
CREATE TRIGGER paper_trades_then_notify_status AFTER UPDATE OF status ON paper_trades
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                     AND NEW.status IN ('completed', 'expired', 'rejected'))
  EXECUTE FUNCTION private.order_event();

-- An account reset (its epoch moved on).
CREATE FUNCTION private.account_reset_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.account_notifications (account_id, user_id, notification_type, title,
                                            message, severity, metadata)
  VALUES (NEW.id, NEW.user_id, 'account.reset',
          pg_catalog.left('Account reset: ' || NEW.account_name, 200),
          'Back to the initial balance of ' || pg_catalog.trim_scale(NEW.initial_balance)::text
            || '; open orders were cancelled and positions cleared. History is kept.',
          'info', pg_catalog.jsonb_build_object('account_id', NEW.id, 'epoch', NEW.epoch));
  RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION private.account_reset_event() FROM PUBLIC;
CREATE TRIGGER paper_trading_accounts_reset_event AFTER UPDATE OF epoch ON paper_trading_accounts
  FOR EACH ROW WHEN (NEW.epoch > OLD.epoch)
  EXECUTE FUNCTION private.account_reset_event();

-- A backtest that finished (completed or failed), on its user's default account.
CREATE FUNCTION private.backtest_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.account_notifications (account_id, user_id, notification_type, title,
                                            message, severity, metadata)
  SELECT p.id, NEW.user_id, 'backtest.finished',
         pg_catalog.left('Backtest ' || NEW.status || ': ' || NEW.session_name, 200),
         CASE WHEN NEW.status = 'completed'
              THEN 'Final capital ' || round(coalesce(NEW.final_capital, 0), 2)::text || '.'
              ELSE 'The backtest failed; its page says why.' END,
         CASE WHEN NEW.status = 'completed' THEN 'success' ELSE 'error' END,
         pg_catalog.jsonb_build_object('backtest_id', NEW.id, 'status', NEW.status)
    FROM public.paper_trading_accounts p
   WHERE p.user_id = NEW.user_id
   ORDER BY p.is_default DESC NULLS LAST, p.created_at
   LIMIT 1;
  RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION private.backtest_event() FROM PUBLIC;
CREATE TRIGGER backtest_sessions_finished AFTER UPDATE OF status ON backtest_sessions
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                     AND NEW.status IN ('completed', 'failed'))
  EXECUTE FUNCTION private.backtest_event();

REVOKE EXECUTE ON FUNCTION
  private.fire_alerts_v1(uuid[], numeric[], timestamptz, text, bigint),
  private.evaluate_account_alerts_v1(uuid[], text, bigint),
  private.evaluate_portfolio_alerts_v1(uuid[], text, bigint),
  private.evaluate_holdings_alerts_v1(text[], bigint),
  private.evaluate_alert_ticks_v2(integer, interval),
  private.fire_price_alerts_v2(private.alert_ticks, interval),
  private.evaluate_bot_alerts_v1(uuid, text, numeric, text),
  private.bot_status_event(), private.bot_decision_event(),
  private.notification_channels(uuid, text), private.account_alert_values(uuid[]),
  private.alert_may_fire(text, timestamptz, integer, integer, timestamptz),
  private.alert_title(text, text, numeric, text), private.alert_message(text, text, numeric, numeric)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
  private.fire_alerts_v1(uuid[], numeric[], timestamptz, text, bigint),
  private.evaluate_account_alerts_v1(uuid[], text, bigint),
  private.evaluate_portfolio_alerts_v1(uuid[], text, bigint),
  private.evaluate_holdings_alerts_v1(text[], bigint),
  private.evaluate_alert_ticks_v2(integer, interval),
  private.fire_price_alerts_v2(private.alert_ticks, interval),
  private.evaluate_bot_alerts_v1(uuid, text, numeric, text),
  private.alert_title(text, text, numeric, text), private.alert_message(text, text, numeric, numeric),
  private.account_alert_values(uuid[]),
  private.alert_may_fire(text, timestamptz, integer, integer, timestamptz)
TO service_role;
