-- The live stream's events about orders and notifications (api/stream.py).
--
-- Not NOTIFY: PostgreSQL serialises the commits of every transaction that sends one (a
-- database-wide lock held through the WAL flush), which would put every order of every
-- account in one line. Instead the triggers append to an UNLOGGED outbox (no WAL, one
-- index), which each API process reads every ~50 ms, de-duplicating by id and watching
-- for ids that commit late. Like NOTIFY it is transactional: a rolled back trade leaves
-- no event. Events live a minute; the readers delete older ones. (Prices, announced once
-- per refresh, still use NOTIFY ct_prices: market/cache.py.)
-- Payloads are small: no free text beyond a truncated status_reason and the title.
-- Decimals are strings, as everywhere in the API.

CREATE UNLOGGED TABLE private.stream_events (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  channel TEXT NOT NULL CHECK (channel IN ('orders', 'notifications')),
  user_id UUID NOT NULL,
  payload JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
GRANT USAGE ON SCHEMA private TO service_role;
GRANT SELECT, INSERT, DELETE ON private.stream_events TO service_role;

-- The trigger functions are plain (no SECURITY DEFINER, no SET clause: that costs a
-- configuration save and restore on every row). Users never write these tables' watched
-- columns themselves: every trade row is written inside the engine's SECURITY DEFINER
-- functions, whose triggers run as the owner, and notifications by those or by the
-- service, which may append to the outbox. Every name in the bodies is qualified.

-- an order was placed (any status) or changed status (filled, cancelled, expired, rejected)
CREATE FUNCTION private.stream_order_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO private.stream_events (channel, user_id, payload)
  VALUES ('orders', NEW.user_id, pg_catalog.jsonb_build_object(
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
    'at', pg_catalog.clock_timestamp()));
  RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION private.stream_order_event() FROM PUBLIC;

-- Two triggers: an INSERT trigger's WHEN may not mention OLD. Setting status to the value
-- it already has is no event.
CREATE TRIGGER paper_trades_stream_insert AFTER INSERT ON paper_trades
  FOR EACH ROW EXECUTE FUNCTION private.stream_order_event();
CREATE TRIGGER paper_trades_stream_status AFTER UPDATE OF status ON paper_trades
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION private.stream_order_event();

-- a new account notification for its user (the body is not sent: the client fetches it,
-- under RLS, when it wants it)
CREATE FUNCTION private.stream_notification_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO private.stream_events (channel, user_id, payload)
  VALUES ('notifications', NEW.user_id, pg_catalog.jsonb_build_object(
    'type', 'notification',
    'user_id', NEW.user_id,
    'id', NEW.id,
    'account_id', NEW.account_id,
    'notification_type', NEW.notification_type,
    'title', NEW.title,
    'severity', NEW.severity,
    'at', pg_catalog.clock_timestamp()));
  RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION private.stream_notification_event() FROM PUBLIC;

CREATE TRIGGER account_notifications_stream AFTER INSERT ON account_notifications
  FOR EACH ROW EXECUTE FUNCTION private.stream_notification_event();
