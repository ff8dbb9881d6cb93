-- list_orders --
-- The caller's orders and trades (RLS), newest first, keyset-paginated on (created_at, id).
SELECT * FROM paper_trades
 WHERE (%(account_id)s::uuid IS NULL OR account_id = %(account_id)s)
   AND (%(status)s::text IS NULL OR status = %(status)s)
   AND (%(symbol)s::text IS NULL OR symbol = upper(%(symbol)s))
   AND (%(side)s::text IS NULL OR side = %(side)s)
   AND (%(bot_id)s::uuid IS NULL OR bot_id = %(bot_id)s)
   AND (%(category)s::text IS NULL OR trade_category = %(category)s)
   AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)
   AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s)
   AND (%(after_at)s::timestamptz IS NULL OR (created_at, id) < (%(after_at)s, %(after_id)s::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s;

-- place_orders --
-- The one order path (migration 0035): for each order of %(orders)s (a JSON array), as its
-- caller, claim its Idempotency-Key if any (a repeat replays the stored trade), place it
-- through execute_paper_trade(), set its risk score and write its audit row; a refusal
-- comes back as the order's error. One statement, on an autocommit connection.
SELECT g.idx, (g.trade).*, g.replayed, g.error_state, g.error_code, g.error_message
  FROM gateway.place_orders_v1(%(orders)s::jsonb) AS g
 ORDER BY g.idx;

-- preview_order --
-- What placing the order would do now (migration 0026): the estimated fill, reserve and
-- resulting cash and position, or the engine's refusal; as the caller (RLS), writing nothing.
SELECT %(account_id)s::uuid AS account_id, p.* FROM preview_paper_trade(
  p_account_id => %(account_id)s, p_symbol => %(symbol)s, p_side => %(side)s,
  p_amount => %(amount)s, p_order_type => %(order_type)s, p_limit_price => %(limit_price)s,
  p_stop_price => %(stop_price)s, p_time_in_force => %(time_in_force)s,
  p_expires_at => %(expires_at)s, p_stop_loss => %(stop_loss)s,
  p_take_profit => %(take_profit)s, p_bot_id => %(bot_id)s) AS p;

-- cancel_order --
-- Cancel a pending order of the caller's and its one-cancels-other sibling.
SELECT * FROM cancel_order(%(order_id)s);

-- get_order --
SELECT * FROM paper_trades WHERE id = %(order_id)s;

-- process_tick --
-- Fill, trigger and expire the pending orders a new price crosses (service role).
SELECT process_market_tick(%(symbol)s, %(price)s::numeric) AS n;

-- prune_expired_idempotency_keys --
-- Keys past their window (gateway.place_order_v2 in 0024: a day): a repeat after it is a
-- new request anyway, which would overwrite the row (service role; the maintenance job).
DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours';
