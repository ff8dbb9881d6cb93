-- The order gateway: one statement that places an order as its caller and records the
-- audit row, so the API's hottest path is one round trip instead of five (BEGIN, role
-- switch, the call, the audit insert, COMMIT).
--
-- gateway.place_order() is an ordinary SECURITY INVOKER function. Called by the app's
-- login role in autocommit mode, it switches its own (implicit, single-statement)
-- transaction to `authenticated` with the caller's claims, exactly as the API's units do
-- (set_config(..., is_local => true)), and only then calls execute_paper_trade(), so every
-- statement after the switch runs as the caller and RLS applies. The API roles themselves
-- may not call it: claims are the app's to assert, never a user's.

CREATE SCHEMA gateway;
REVOKE ALL ON SCHEMA gateway FROM PUBLIC;
-- The login role is created per installation (and owns nothing, holds no grant of its own),
-- so usage goes to PUBLIC and the function checks who is calling.
GRANT USAGE ON SCHEMA gateway TO PUBLIC;

CREATE FUNCTION gateway.place_order(
  p_claims text,
  p_ip inet,
  p_user_agent text,
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
-- No SET clause: a function-level SET would make PostgreSQL restore settings at exit, and
-- the role switch must last to the end of the transaction. Every name is qualified.
LANGUAGE plpgsql AS $$
DECLARE
  t public.paper_trades;
BEGIN
  IF current_user::text IN ('anon', 'authenticated', 'service_role')
     OR NOT pg_catalog.pg_has_role(current_user, 'authenticated', 'MEMBER') THEN
    RAISE EXCEPTION 'gateway.place_order() is for the application''s login role'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM pg_catalog.set_config('role', 'authenticated', true),
          pg_catalog.set_config('request.jwt.claims', p_claims, true);
  t := public.execute_paper_trade(
    p_account_id, p_symbol, p_side, p_amount, p_order_type, p_limit_price, p_stop_price,
    p_time_in_force, p_expires_at, p_stop_loss, p_take_profit, p_bot_id, p_reasoning,
    p_confidence_level, p_trade_category, p_tags, p_notes);
  INSERT INTO public.audit_logs (user_id, action, resource_type, resource_id, details,
                                 ip_address, user_agent)
  VALUES (auth.uid(), 'order.place', 'order', t.id::text,
          pg_catalog.jsonb_build_object('symbol', t.symbol, 'side', t.side,
                                        'type', t.order_type, 'status', t.status),
          p_ip, pg_catalog.left(p_user_agent, 500));
  RETURN t;
END
$$;
REVOKE ALL ON FUNCTION gateway.place_order(text, inet, text, uuid, text, text, numeric, text,
  numeric, numeric, text, timestamptz, numeric, numeric, uuid, text, numeric, text, text[], text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gateway.place_order(text, inet, text, uuid, text, text, numeric, text,
  numeric, numeric, text, timestamptz, numeric, numeric, uuid, text, numeric, text, text[], text)
  TO PUBLIC;
