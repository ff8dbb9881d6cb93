-- The live stream's events: orders and notifications announced with NOTIFY, which the API
-- processes LISTEN to and fan out to their websocket clients (api/stream.py). NOTIFY is
-- transactional: a rolled back trade announces nothing, a committed one exactly once, at
-- commit. Prices are announced on ct_prices by the feed (market/cache.py).
-- Payloads are small and bounded (PostgreSQL refuses one of 8000 bytes or more): no free
-- text beyond a truncated status_reason and the notification's title (VARCHAR(200)).
-- Decimals are strings, as everywhere in the API.

-- ct_orders: an order was placed (any status) or changed status (filled, cancelled,
-- expired, rejected). user_id routes it to its owner's connections only.
CREATE FUNCTION private.notify_order() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  PERFORM pg_catalog.pg_notify('ct_orders', pg_catalog.json_build_object(
    'type', 'order',
    'user_id', NEW.user_id,
    'account_id', NEW.account_id,
    'id', NEW.id,
    'symbol', pg_catalog.left(NEW.symbol, 32),
    'side', NEW.side,
    'order_type', NEW.order_type,
    'status', NEW.status,
    'amount', NEW.amount::text,
    'execution_price', NEW.execution_price::text,
    'status_reason', pg_catalog.left(NEW.status_reason, 500),
    'at', pg_catalog.clock_timestamp())::text);
  RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION private.notify_order() FROM PUBLIC;

-- Two triggers: an INSERT trigger's WHEN may not mention OLD. Setting status to the value
-- it already has is no event.
CREATE TRIGGER paper_trades_notify_insert AFTER INSERT ON paper_trades
  FOR EACH ROW EXECUTE FUNCTION private.notify_order();
CREATE TRIGGER paper_trades_notify_status AFTER UPDATE OF status ON paper_trades
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION private.notify_order();

-- ct_notifications: a new account notification for its user (the message body is not
-- sent: the client fetches it, under RLS, when it wants it).
CREATE FUNCTION private.notify_account_notification() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  PERFORM pg_catalog.pg_notify('ct_notifications', pg_catalog.json_build_object(
    'type', 'notification',
    'user_id', NEW.user_id,
    'id', NEW.id,
    'account_id', NEW.account_id,
    'notification_type', NEW.notification_type,
    'title', NEW.title,
    'severity', NEW.severity,
    'at', pg_catalog.clock_timestamp())::text);
  RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION private.notify_account_notification() FROM PUBLIC;

CREATE TRIGGER account_notifications_notify AFTER INSERT ON account_notifications
  FOR EACH ROW EXECUTE FUNCTION private.notify_account_notification();
