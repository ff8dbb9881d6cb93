-- The copy worker's statements (social/copying.py), as the service role, and the follower's
-- copy settings and copy log (RLS). The outbox and the log: migration 0035.

-- claim_copy_events --
-- Each trader's oldest unfinished event, if no worker holds it: a trader's events are fanned
-- out one after another, in their order; a dead worker's lease runs out and the next worker
-- takes the event over (its placed copies replay under their Idempotency-Keys).
UPDATE private.copy_events e
   SET lease_until = now() + make_interval(secs => %(lease)s), worker = %(worker)s,
       attempts = e.attempts + 1
 WHERE e.id IN (SELECT DISTINCT ON (p.leader_id) p.id FROM private.copy_events p
                 WHERE p.done_at IS NULL
                 ORDER BY p.leader_id, p.id)
   AND (e.lease_until IS NULL OR e.lease_until < now())
RETURNING e.id, e.leader_id, e.leader_trade_id, e.kind, e.target_follow_id, e.symbol, e.side,
          e.price, e.fraction, e.created_at;

-- copy_inputs --
-- Each follow that copies the event's trader and has no copy of it yet, with what sizing it
-- needs: the settings, the copy account now, today's price if fresh, the copied position.
SELECT f.id AS follow_id, f.user_id, f.copy_account_id AS account_id, f.trader_name,
       f.copy_mode AS mode, f.allocation_percentage AS allocation_pct,
       f.copy_fixed_amount AS fixed_amount, f.copy_min_order AS min_order,
       f.copy_max_per_trade AS max_per_trade, f.copy_slippage_pct AS slippage_pct,
       a.status = 'active' AS account_active, a.balance AS cash, a.taker_fee_rate,
       private.account_equity(a.id) AS equity,
       CASE WHEN m.last_updated >= now() - make_interval(secs => a.max_price_age_seconds)
            THEN m.price_usd END AS quote,
       coalesce((SELECT sum(CASE WHEN c.side = 'buy' THEN c.filled_quantity
                                 ELSE -c.filled_quantity END)
                   FROM copy_trades c
                  WHERE c.follow_id = f.id AND c.symbol = e.symbol
                    AND c.status IN ('filled', 'reduced')), 0) AS copied,
       coalesce((SELECT p.quantity - p.reserved_quantity FROM account_positions p
                  WHERE p.account_id = a.id AND p.symbol = e.symbol), 0) AS held,
       EXISTS (SELECT 1 FROM trader_profiles t
                WHERE t.user_id = e.leader_id AND t.is_listed) AS listed,
       f.user_id = ANY (e.chain) AS in_chain
  FROM private.copy_events e
  JOIN trader_follows f ON f.followed_id = e.leader_id
  JOIN paper_trading_accounts a ON a.id = f.copy_account_id AND a.user_id = f.user_id
  LEFT JOIN market_data_cache m ON m.symbol = e.symbol
 WHERE e.id = %(event_id)s
   AND f.copy_trading_enabled AND f.is_active
   AND (e.target_follow_id IS NULL OR f.id = e.target_follow_id)
   AND (e.kind = 'mirror' OR f.copy_started_at <= e.created_at)
   AND NOT EXISTS (SELECT 1 FROM copy_trades c WHERE c.event_id = e.id AND c.follow_id = f.id)
 ORDER BY f.id;

-- insert_copies --
-- The event's sized copies (status planned) and skips, once per follow.
INSERT INTO copy_trades (user_id, follow_id, event_id, leader_id, leader_trade_id, account_id,
                         kind, symbol, side, leader_price, entry_price, fraction, quote_price,
                         target_value, quantity, limit_price, status, reason, message,
                         completed_at)
SELECT r.user_id, r.follow_id, e.id, e.leader_id, e.leader_trade_id, r.account_id, e.kind,
       e.symbol, e.side, e.price, e.entry_price, e.fraction, r.quote_price, r.target_value,
       r.quantity,
       r.limit_price, r.status, r.reason, r.message,
       CASE WHEN r.status = 'skipped' THEN now() END
  FROM private.copy_events e,
       jsonb_to_recordset(%(rows)s::jsonb) AS r(user_id uuid, follow_id uuid, account_id uuid,
         quote_price numeric, target_value numeric, quantity numeric, limit_price numeric,
         status text, reason text, message text)
 WHERE e.id = %(event_id)s
ON CONFLICT (event_id, follow_id) WHERE event_id IS NOT NULL DO NOTHING
RETURNING id, status;

-- planned_copies --
-- What is still to place: the event's planned copies (also those a dead worker left), or,
-- with no event, the stop-loss closes left planned for a while.
SELECT c.id, c.user_id, c.follow_id, c.event_id, c.account_id, c.symbol, c.side, c.quantity,
       c.limit_price, c.reason, c.kind
  FROM copy_trades c
 WHERE c.status = 'planned'
   AND ((%(event_id)s::bigint IS NOT NULL AND c.event_id = %(event_id)s)
     OR (%(event_id)s::bigint IS NULL AND c.event_id IS NULL
         AND c.created_at < now() - make_interval(secs => %(older_than)s)))
 ORDER BY c.created_at, c.id;

-- record_copies --
-- What placing each copy did: filled (reduced when sizing cut it) or skipped, with the
-- follower's trade; then a notification for each copy that was reduced or skipped.
WITH done AS (
  UPDATE copy_trades c
     SET status = r.status, reason = r.reason, message = r.message, trade_id = r.trade_id,
         trade_created_at = r.trade_created_at, filled_quantity = coalesce(r.filled_quantity, 0),
         execution_price = r.execution_price, total_value = coalesce(r.total_value, 0),
         fee = coalesce(r.fee, 0), completed_at = now()
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(id uuid, status text, reason text,
           message text, trade_id uuid, trade_created_at timestamptz, filled_quantity numeric,
           execution_price numeric, total_value numeric, fee numeric)
   WHERE c.id = r.id AND c.status = 'planned'
  RETURNING c.*
)
INSERT INTO account_notifications (account_id, user_id, notification_type, title, message,
                                   severity, metadata)
SELECT d.account_id, d.user_id, 'copy.' || d.status,
       left('Copy of ' || coalesce(f.trader_name, 'a trader') || ' ' || d.side || ' '
            || d.symbol || CASE WHEN d.status = 'skipped' THEN ' skipped' ELSE ' reduced' END,
            200),
       coalesce(d.message, d.reason),
       CASE WHEN d.status = 'skipped' THEN 'warning' ELSE 'info' END,
       jsonb_build_object('copy_trade_id', d.id, 'follow_id', d.follow_id, 'reason', d.reason,
                          'symbol', d.symbol, 'side', d.side, 'trade_id', d.trade_id)
  FROM done d LEFT JOIN trader_follows f ON f.id = d.follow_id
 WHERE d.status IN ('skipped', 'reduced');

-- notify_skips --
-- The notifications of the copies that were skipped when they were sized.
INSERT INTO account_notifications (account_id, user_id, notification_type, title, message,
                                   severity, metadata)
SELECT c.account_id, c.user_id, 'copy.skipped',
       left('Copy of ' || coalesce(f.trader_name, 'a trader') || ' ' || c.side || ' '
            || c.symbol || ' skipped', 200),
       coalesce(c.message, c.reason), 'warning',
       jsonb_build_object('copy_trade_id', c.id, 'follow_id', c.follow_id, 'reason', c.reason,
                          'symbol', c.symbol, 'side', c.side)
  FROM copy_trades c LEFT JOIN trader_follows f ON f.id = c.follow_id
 WHERE c.status = 'skipped' AND c.id = ANY (%(ids)s::uuid[]);

-- finish_copy_event --
UPDATE private.copy_events SET done_at = now(), lease_until = NULL
 WHERE id = %(event_id)s AND done_at IS NULL;

-- stop_losses_due --
-- Copies whose loss since they started reached their stop-loss share of what was allocated.
SELECT f.id AS follow_id
  FROM trader_follows f
 WHERE f.copy_trading_enabled AND f.copy_stop_loss_pct IS NOT NULL AND f.copy_allocated_usd > 0
   AND f.copy_base_pnl - private.copy_pnl(f.id)
       >= f.copy_allocated_usd * f.copy_stop_loss_pct / 100;

-- stop_copy --
-- Stop a copy at its stop-loss (once: the row must still be copying), tell its follower, and
-- plan the closes of its copied positions when it asks for them.
WITH stopped AS (
  UPDATE trader_follows f
     SET copy_trading_enabled = false, copy_stopped_at = now(), copy_stop_reason = 'stop_loss',
         updated_at = now()
   WHERE f.id = %(follow_id)s AND f.copy_trading_enabled
  RETURNING f.*, f.copy_base_pnl - private.copy_pnl(f.id) AS loss
), note AS (
  INSERT INTO account_notifications (account_id, user_id, notification_type, title, message,
                                     severity, metadata)
  SELECT s.copy_account_id, s.user_id, 'copy.stopped',
         left('Copy of ' || s.trader_name || ' stopped at its stop-loss', 200),
         'The copy lost ' || round(s.loss, 2) || ', '
           || round(s.loss / s.copy_allocated_usd * 100, 2) || '%% of the '
           || round(s.copy_allocated_usd, 2) || ' allocated; copying has stopped'
           || CASE WHEN s.copy_stop_closes THEN ' and its positions are being closed'
                   ELSE '' END || '.',
         'warning', jsonb_build_object('follow_id', s.id, 'reason', 'stop_loss')
    FROM stopped s
  RETURNING 1
)
INSERT INTO copy_trades (user_id, follow_id, leader_id, account_id, kind, symbol, side,
                         leader_price, fraction, quote_price, quantity, status)
SELECT s.user_id, s.id, s.followed_id, s.copy_account_id, 'stop_close', b.symbol, 'sell',
       m.price_usd, 1, m.price_usd, least(b.qty, coalesce(p.quantity - p.reserved_quantity, 0)),
       'planned'
  FROM stopped s
  JOIN LATERAL (SELECT c.symbol, sum(CASE WHEN c.side = 'buy' THEN c.filled_quantity
                                          ELSE -c.filled_quantity END) AS qty
                  FROM copy_trades c
                 WHERE c.follow_id = s.id AND c.status IN ('filled', 'reduced')
                 GROUP BY c.symbol) b ON b.qty > 0
  JOIN market_data_cache m ON m.symbol = b.symbol
  LEFT JOIN account_positions p ON p.account_id = s.copy_account_id AND p.symbol = b.symbol
 WHERE s.copy_stop_closes AND least(b.qty, coalesce(p.quantity - p.reserved_quantity, 0)) > 0
RETURNING id;

-- gap_follow --
-- The caller's follow, for its copy gap (RLS).
SELECT f.id, f.followed_id AS trader_id, f.copy_allocated_usd AS allocated,
       f.copy_started_at AS started_at
  FROM trader_follows f
 WHERE f.id = %(id)s AND f.follower_id = (SELECT auth.uid()) AND f.followed_id IS NOT NULL;

-- gap_rows --
-- A follow's copy log, oldest first, without the copies still being placed (RLS).
SELECT c.kind, c.symbol, c.side, c.leader_price, c.entry_price, c.fraction, c.target_value,
       c.status, c.filled_quantity, c.total_value, c.fee, c.created_at
  FROM copy_trades c
 WHERE c.follow_id = %(id)s AND c.status <> 'planned'
 ORDER BY c.created_at, c.id;

-- prices --
SELECT symbol, price_usd FROM market_data_cache WHERE symbol = ANY (%(symbols)s::text[]);

-- trader_track --
-- A listed trader's fills of the last %(days)s days as their copies would have been sized
-- (service role; the what-if returns only what its replay adds up to). Nothing for a
-- trader who is not listed.
SELECT e.symbol, e.side, e.price, e.fraction, e.created_at
  FROM private.copy_events e
 WHERE e.leader_id = %(trader_id)s AND e.kind = 'trade'
   AND e.created_at >= now() - make_interval(days => %(days)s)
   AND EXISTS (SELECT 1 FROM trader_profiles p WHERE p.user_id = e.leader_id AND p.is_listed)
 ORDER BY e.id;

-- trader_listed --
SELECT 1 AS listed FROM trader_profiles WHERE user_id = %(trader_id)s AND is_listed;
