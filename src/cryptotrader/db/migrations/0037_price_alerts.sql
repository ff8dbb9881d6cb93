-- Alerts, part 1 (issue 16): price alerts evaluated set-based on every price refresh
-- (docs/alerts.md).
--
-- * risk_alerts gains TradingView's semantics: a frequency (once; once per bar, of
--   bar_seconds; every time, at most once per cooldown), an expiry, a window for "moves by
--   X%", and the count and time of its last firing. Status: active -> triggered (a once
--   alert is done; the others stay active and fire again), expired, disabled.
-- * private.alert_ticks: the outbox. Each price refresh that changed prices appends one
--   row in its own transaction (market/cache.py store_quotes): the symbols with their
--   previous and new price and the quote's own time. A tick is evaluated once, in order:
--   the evaluator locks the oldest open tick, so a second worker waits and then takes the
--   next one.
-- * alert_firings: the history, one row per firing with its unique key (alert, 'once' |
--   bar | tick): whatever runs twice fires once. Its user reads it (RLS).
-- * A stale price never fires: a tick older than the staleness limit when it is evaluated,
--   or a quote older than that limit when it was stored, is passed over.

ALTER TABLE risk_alerts DROP CONSTRAINT risk_alerts_status;
ALTER TABLE risk_alerts
  ADD CONSTRAINT risk_alerts_status
    CHECK (status IN ('active', 'triggered', 'acknowledged', 'expired', 'disabled')),
  ADD COLUMN frequency TEXT NOT NULL DEFAULT 'once'
    CHECK (frequency IN ('once', 'once_per_bar', 'every_time')),
  ADD COLUMN bar_seconds INTEGER NOT NULL DEFAULT 3600 CHECK (bar_seconds BETWEEN 60 AND 604800),
  ADD COLUMN cooldown_seconds INTEGER NOT NULL DEFAULT 0 CHECK (cooldown_seconds >= 0),
  ADD COLUMN window_seconds INTEGER CHECK (window_seconds BETWEEN 60 AND 604800),
  ADD COLUMN expires_at TIMESTAMPTZ,
  ADD COLUMN fire_count INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN last_fired_at TIMESTAMPTZ,
  ADD CONSTRAINT risk_alerts_price_shape CHECK (
    alert_type <> 'price' OR (
      symbol IS NOT NULL AND trigger_value IS NOT NULL
      AND trigger_condition IN ('crosses_above', 'crosses_below', 'above', 'below', 'moves_pct')
      AND (trigger_condition <> 'moves_pct' OR (window_seconds IS NOT NULL AND trigger_value > 0))));
CREATE INDEX risk_alerts_expiry_idx ON risk_alerts (expires_at)
  WHERE status = 'active' AND expires_at IS NOT NULL;

CREATE TABLE private.alert_ticks (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  symbols TEXT[] NOT NULL,
  prev NUMERIC[] NOT NULL,        -- the price before this refresh (NULL: the first quote)
  prices NUMERIC[] NOT NULL,
  quoted_at TIMESTAMPTZ[] NOT NULL,
  as_of TIMESTAMPTZ NOT NULL,     -- the market's time of the refresh (bars are counted in it)
  created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
  done_at TIMESTAMPTZ
);
CREATE INDEX alert_ticks_open_idx ON private.alert_ticks (id) WHERE done_at IS NULL;
GRANT SELECT, INSERT, UPDATE, DELETE ON private.alert_ticks TO service_role;

CREATE TABLE alert_firings (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  alert_id UUID NOT NULL REFERENCES risk_alerts(id) ON DELETE CASCADE,
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  fire_key TEXT NOT NULL,
  tick_id BIGINT,
  symbol TEXT,
  value NUMERIC NOT NULL,         -- the price (or the move, in %) that fired it
  trigger_value NUMERIC,
  fired_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (alert_id, fire_key)
);
CREATE INDEX alert_firings_user_idx ON alert_firings (user_id, fired_at DESC);
SELECT private.own_rows('alert_firings', ARRAY['select']);

-- The price alerts one tick fires: one statement over the alerts of the symbols that
-- changed (the partial index on risk_alerts (symbol) WHERE active), then the firings, the
-- alerts' new state and a notification each, written together.
CREATE FUNCTION private.fire_price_alerts(t private.alert_ticks, p_stale interval)
RETURNS integer
LANGUAGE sql AS $$
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
  ),
  hit AS (
    SELECT a.id, a.user_id, a.account_id, a.symbol, a.trigger_condition, a.trigger_value,
           a.frequency,
           CASE WHEN a.trigger_condition = 'moves_pct'
                THEN round((q.price - r.ref) / r.ref * 100, 4) ELSE q.price END AS value,
           CASE a.frequency
             WHEN 'once' THEN 'once'
             WHEN 'once_per_bar'
               THEN 'bar:' || floor(extract(epoch FROM t.as_of) / a.bar_seconds)::bigint
             ELSE 'tick:' || t.id END AS fire_key
    FROM q
    JOIN public.risk_alerts a ON a.symbol = q.symbol AND a.status = 'active'
    LEFT JOIN refs r ON r.symbol = a.symbol AND r.window_seconds = a.window_seconds
    WHERE a.alert_type = 'price'
      AND a.created_at <= t.created_at
      AND (a.expires_at IS NULL OR a.expires_at > t.as_of)
      AND CASE a.trigger_condition
            WHEN 'crosses_above' THEN q.prev < a.trigger_value AND q.price >= a.trigger_value
            WHEN 'crosses_below' THEN q.prev > a.trigger_value AND q.price <= a.trigger_value
            WHEN 'above' THEN q.price > a.trigger_value
            WHEN 'below' THEN q.price < a.trigger_value
            WHEN 'moves_pct' THEN abs(q.price - r.ref) >= r.ref * a.trigger_value / 100
            ELSE false END
      AND (a.frequency <> 'every_time' OR a.last_fired_at IS NULL
           OR a.last_fired_at + pg_catalog.make_interval(secs => a.cooldown_seconds) <= t.as_of)
  ),
  fired AS (
    INSERT INTO public.alert_firings (alert_id, user_id, fire_key, tick_id, symbol, value,
                                      trigger_value, fired_at)
    SELECT h.id, h.user_id, h.fire_key, t.id, h.symbol, h.value, h.trigger_value, t.as_of
    FROM hit h
    ON CONFLICT (alert_id, fire_key) DO NOTHING
    RETURNING id, alert_id, value
  ),
  state AS (
    UPDATE public.risk_alerts a
    SET status = CASE WHEN a.frequency = 'once' THEN 'triggered' ELSE a.status END,
        current_value = f.value, triggered_at = t.as_of, last_fired_at = t.as_of,
        fire_count = a.fire_count + 1, updated_at = pg_catalog.now()
    FROM fired f WHERE a.id = f.alert_id
  ),
  noted AS (
    INSERT INTO public.account_notifications (account_id, user_id, notification_type, title,
                                              message, severity, metadata)
    SELECT acct.id, h.user_id, 'alert.triggered',
           pg_catalog.left(h.symbol || ' ' || pg_catalog.replace(h.trigger_condition, '_', ' ')
                           || ' ' || h.trigger_value::text
                           || CASE WHEN h.trigger_condition = 'moves_pct' THEN '%' ELSE '' END, 200),
           CASE WHEN h.trigger_condition = 'moves_pct'
                THEN h.symbol || ' moved ' || f.value::text || '% (alert at '
                     || h.trigger_value::text || '%)'
                ELSE h.symbol || ' is at ' || f.value::text || ' (alert at '
                     || h.trigger_value::text || ')' END,
           'info',
           pg_catalog.jsonb_build_object('alert_id', h.id, 'firing_id', f.id, 'symbol', h.symbol,
                                         'value', f.value::text, 'tick_id', t.id)
    FROM fired f
    JOIN hit h ON h.id = f.alert_id
    CROSS JOIN LATERAL (
      SELECT p.id FROM public.paper_trading_accounts p
      WHERE p.user_id = h.user_id AND (h.account_id IS NULL OR p.id = h.account_id)
      ORDER BY p.is_default DESC NULLS LAST, p.created_at LIMIT 1) acct
  )
  SELECT count(*)::integer FROM fired
$$;
REVOKE EXECUTE ON FUNCTION private.fire_price_alerts(private.alert_ticks, interval) FROM PUBLIC;

-- Evaluate up to p_limit open ticks, oldest first; each is locked, evaluated and marked
-- done in this transaction (a concurrent caller waits on it, then sees it done and takes
-- the next). Active alerts past their expiry become expired first.
CREATE FUNCTION private.evaluate_alert_ticks_v1(p_limit integer, p_stale interval,
                                                OUT ticks integer, OUT fired integer)
LANGUAGE plpgsql AS $$
DECLARE
  t private.alert_ticks;
BEGIN
  ticks := 0;
  fired := 0;
  UPDATE public.risk_alerts SET status = 'expired', updated_at = pg_catalog.now()
  WHERE status = 'active' AND expires_at <= pg_catalog.now();
  WHILE ticks < p_limit LOOP
    SELECT * INTO t FROM private.alert_ticks WHERE done_at IS NULL ORDER BY id LIMIT 1
      FOR UPDATE;
    EXIT WHEN NOT FOUND;
    fired := fired + private.fire_price_alerts(t, p_stale);
    UPDATE private.alert_ticks SET done_at = pg_catalog.clock_timestamp() WHERE id = t.id;
    ticks := ticks + 1;
  END LOOP;
END
$$;
REVOKE EXECUTE ON FUNCTION private.evaluate_alert_ticks_v1(integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION private.evaluate_alert_ticks_v1(integer, interval),
  private.fire_price_alerts(private.alert_ticks, interval) TO service_role;
