-- evaluate_ticks --
-- Evaluate up to %(limit)s open price ticks, oldest first, exactly once each.
SELECT ticks, fired FROM private.evaluate_alert_ticks_v2(%(limit)s, make_interval(secs => %(stale)s));

-- prune_ticks --
-- Evaluated ticks are kept an hour (for inspection), then deleted.
DELETE FROM private.alert_ticks WHERE done_at < now() - interval '1 hour';

-- record_tick --
-- The refresh's changed prices, for the evaluator (in the refresh's own transaction).
INSERT INTO private.alert_ticks (symbols, prev, prices, quoted_at, as_of)
VALUES (%(symbols)s, %(prev)s::numeric[], %(prices)s::numeric[], %(quoted_at)s::timestamptz[],
        coalesce(%(as_of)s, now()));

-- insert_alert --
-- An alert of the caller's, of any type (the service checked its target is the caller's).
INSERT INTO risk_alerts (user_id, account_id, portfolio_id, bot_id, alert_type, symbol,
                         trigger_condition, trigger_value, frequency, bar_seconds,
                         cooldown_seconds, window_seconds, expires_at)
VALUES ((SELECT auth.uid()), %(account_id)s, %(portfolio_id)s, %(bot_id)s, %(type)s,
        %(symbol)s, %(condition)s, %(value)s, %(frequency)s, %(bar_seconds)s,
        %(cooldown_seconds)s, %(window_seconds)s, %(expires_at)s)
RETURNING id, alert_type AS type, trigger_condition AS condition, trigger_value AS value,
          symbol, account_id, portfolio_id, bot_id, coalesce(status, 'active') AS status,
          frequency, bar_seconds, cooldown_seconds, window_seconds, expires_at, fire_count,
          last_fired_at, current_value, created_at, updated_at;

-- list_alerts --
-- The caller's alerts (the engine's own risk notes are not alerts), newest first;
-- keyset-paginated on (created_at, id).
SELECT id, alert_type AS type, trigger_condition AS condition, trigger_value AS value,
       symbol, account_id, portfolio_id, bot_id, coalesce(status, 'active') AS status,
       frequency, bar_seconds, cooldown_seconds, window_seconds, expires_at, fire_count,
       last_fired_at, current_value, created_at, updated_at
  FROM risk_alerts
 WHERE user_id = (SELECT auth.uid())
   AND alert_type IN ('price', 'account', 'portfolio', 'bot')
   AND (%(status)s::text IS NULL OR status = %(status)s::text)
   AND (%(type)s::text IS NULL OR alert_type = %(type)s::text)
   AND (%(symbol)s::text IS NULL OR symbol = upper(%(symbol)s::text))
   AND (%(account_id)s::uuid IS NULL OR account_id = %(account_id)s::uuid)
   AND (%(after_id)s::uuid IS NULL
        OR (created_at, id) < (%(after_at)s::timestamptz, %(after_id)s::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s::bigint;

-- get_alert --
SELECT id, alert_type AS type, trigger_condition AS condition, trigger_value AS value,
       symbol, account_id, portfolio_id, bot_id, coalesce(status, 'active') AS status,
       frequency, bar_seconds, cooldown_seconds, window_seconds, expires_at, fire_count,
       last_fired_at, current_value, created_at, updated_at
  FROM risk_alerts
 WHERE id = %(id)s AND user_id = (SELECT auth.uid())
   AND alert_type IN ('price', 'account', 'portfolio', 'bot');

-- lock_alert --
-- One of the caller's alerts, locked for a change (FOR UPDATE applies the update policy).
SELECT id, alert_type AS type, trigger_condition AS condition, trigger_value AS value,
       symbol, account_id, portfolio_id, bot_id, coalesce(status, 'active') AS status,
       frequency, bar_seconds, cooldown_seconds, window_seconds, expires_at, fire_count,
       last_fired_at, current_value, created_at, updated_at
  FROM risk_alerts
 WHERE id = %(id)s AND user_id = (SELECT auth.uid())
   AND alert_type IN ('price', 'account', 'portfolio', 'bot')
   FOR UPDATE;

-- update_alert --
-- The alert's new settings (the service merged and checked them as a whole).
UPDATE risk_alerts
   SET trigger_value = %(value)s, expires_at = %(expires_at)s, frequency = %(frequency)s,
       cooldown_seconds = %(cooldown_seconds)s, bar_seconds = %(bar_seconds)s,
       updated_at = now()
 WHERE id = %(id)s AND user_id = (SELECT auth.uid())
RETURNING id, alert_type AS type, trigger_condition AS condition, trigger_value AS value,
          symbol, account_id, portfolio_id, bot_id, coalesce(status, 'active') AS status,
          frequency, bar_seconds, cooldown_seconds, window_seconds, expires_at, fire_count,
          last_fired_at, current_value, created_at, updated_at;

-- enable_alert --
-- Active again, re-armed: its last triggering forgotten, a drawdown's peak measured afresh
-- (its history stays; a 'once' firing's key counts the firings before it, so it fires anew).
UPDATE risk_alerts
   SET status = 'active', triggered_at = NULL, expires_at = %(expires_at)s, peak_value = NULL,
       updated_at = now()
 WHERE id = %(id)s AND user_id = (SELECT auth.uid())
RETURNING id, alert_type AS type, trigger_condition AS condition, trigger_value AS value,
          symbol, account_id, portfolio_id, bot_id, coalesce(status, 'active') AS status,
          frequency, bar_seconds, cooldown_seconds, window_seconds, expires_at, fire_count,
          last_fired_at, current_value, created_at, updated_at;

-- disable_alert --
UPDATE risk_alerts SET status = 'disabled', updated_at = now()
 WHERE id = %(id)s AND user_id = (SELECT auth.uid())
   AND alert_type IN ('price', 'account', 'portfolio', 'bot')
RETURNING id, alert_type AS type, trigger_condition AS condition, trigger_value AS value,
          symbol, account_id, portfolio_id, bot_id, coalesce(status, 'active') AS status,
          frequency, bar_seconds, cooldown_seconds, window_seconds, expires_at, fire_count,
          last_fired_at, current_value, created_at, updated_at;

-- delete_alert --
-- Its firings go with it (ON DELETE CASCADE).
DELETE FROM risk_alerts
 WHERE id = %(id)s AND user_id = (SELECT auth.uid())
   AND alert_type IN ('price', 'account', 'portfolio', 'bot')
RETURNING id;

-- list_firings --
-- One alert's firings, newest first; keyset-paginated on (fired_at, id).
SELECT id, alert_id, symbol, value, trigger_value, tick_id, fired_at
  FROM alert_firings
 WHERE alert_id = %(alert_id)s AND user_id = (SELECT auth.uid())
   AND (%(after_id)s::uuid IS NULL
        OR (fired_at, id) < (%(after_at)s::timestamptz, %(after_id)s::uuid))
 ORDER BY fired_at DESC, id DESC
 LIMIT %(limit)s::bigint;

-- own_account --
-- Whether the caller owns the account (RLS alone would also show an admin everyone's).
SELECT id FROM paper_trading_accounts WHERE id = %(id)s AND user_id = (SELECT auth.uid());

-- own_portfolio --
SELECT id FROM portfolios WHERE id = %(id)s AND user_id = (SELECT auth.uid());

-- own_bot --
SELECT id FROM ai_trading_bots WHERE id = %(id)s AND user_id = (SELECT auth.uid());
