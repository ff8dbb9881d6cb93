-- evaluate_ticks --
-- Evaluate up to %(limit)s open price ticks, oldest first, exactly once each.
SELECT ticks, fired FROM private.evaluate_alert_ticks_v1(%(limit)s, make_interval(secs => %(stale)s));

-- prune_ticks --
-- Evaluated ticks are kept an hour (for inspection), then deleted.
DELETE FROM private.alert_ticks WHERE done_at < now() - interval '1 hour';

-- record_tick --
-- The refresh's changed prices, for the evaluator (in the refresh's own transaction).
INSERT INTO private.alert_ticks (symbols, prev, prices, quoted_at, as_of)
VALUES (%(symbols)s, %(prev)s::numeric[], %(prices)s::numeric[], %(quoted_at)s::timestamptz[],
        coalesce(%(as_of)s, now()));

-- create_price_alert --
-- A price alert of the caller's (RLS: the row is the caller's own).
INSERT INTO risk_alerts (user_id, account_id, alert_type, symbol, trigger_condition,
                         trigger_value, frequency, bar_seconds, cooldown_seconds,
                         window_seconds, expires_at)
VALUES (%(user_id)s, %(account_id)s, 'price', %(symbol)s, %(condition)s, %(value)s,
        %(frequency)s, %(bar_seconds)s, %(cooldown_seconds)s, %(window_seconds)s,
        %(expires_at)s)
RETURNING id, symbol, trigger_condition, trigger_value, frequency, status, expires_at,
          created_at;
