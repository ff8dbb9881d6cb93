-- One order path. gateway.place_order_v2() is what every order goes through (the API, the
-- CLI, the seed, and later bots and copy trading): one statement that switches to its
-- caller, claims the caller's Idempotency-Key when one is given (replaying the stored
-- trade for a repeat of the same request, refusing a repeat of a different one), calls
-- execute_paper_trade() and writes the audit row with public.record_audit(), the one
-- function every action's audit row is written by.
--
-- gateway.place_order() (0016) stays until no code calls it, then a later migration drops
-- it; its signature could not change in place (the guide: a changed signature gets a
-- versioned name).

-- The one writer of audit_logs. SECURITY INVOKER: the row is the caller's (RLS checks
-- user_id = auth.uid() for users; the service role may write any).
CREATE FUNCTION public.record_audit(
  p_action text,
  p_resource_type text,
  p_resource_id text DEFAULT NULL,
  p_details jsonb DEFAULT '{}',
  p_ip inet DEFAULT NULL,
  p_user_agent text DEFAULT NULL,
  p_user_id uuid DEFAULT NULL
) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO public.audit_logs (user_id, action, resource_type, resource_id, details,
                                 ip_address, user_agent)
  VALUES (coalesce(p_user_id, auth.uid()), p_action, p_resource_type, p_resource_id,
          coalesce(p_details, '{}'), p_ip, nullif(pg_catalog.left(p_user_agent, 500), ''));
$$;
REVOKE ALL ON FUNCTION public.record_audit(text, text, text, jsonb, inet, text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.record_audit(text, text, text, jsonb, inet, text, uuid)
  TO authenticated, service_role;

-- An expired key may be claimed again: its row is overwritten by the new claim.
GRANT UPDATE (request_hash, created_at) ON idempotency_keys TO authenticated;

CREATE FUNCTION gateway.place_order_v2(
  p_claims text,
  p_ip inet,
  p_user_agent text,
  p_idempotency_key text,
  p_request_hash text,
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
  p_notes text DEFAULT NULL,
  OUT trade public.paper_trades,
  OUT replayed boolean
)
-- No SET clause (see 0016): the role switch must last to the end of the transaction.
LANGUAGE plpgsql AS $$
DECLARE
  seen record;
  -- a key is remembered for a day (Stripe's window); after that it is a new request
  key_window CONSTANT interval := interval '24 hours';
BEGIN
  IF current_user::text IN ('anon', 'authenticated', 'service_role')
     OR NOT pg_catalog.pg_has_role(current_user, 'authenticated', 'MEMBER') THEN
    RAISE EXCEPTION 'gateway.place_order_v2() is for the application''s login role'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM pg_catalog.set_config('role', 'authenticated', true),
          pg_catalog.set_config('request.jwt.claims', p_claims, true);
  replayed := false;
  IF p_idempotency_key IS NOT NULL THEN
    -- the first use claims the key; a concurrent first use makes this wait until it ends
    INSERT INTO public.idempotency_keys AS k (user_id, key, request_hash)
    VALUES (auth.uid(), p_idempotency_key, p_request_hash)
    ON CONFLICT (user_id, key) DO UPDATE
      SET request_hash = EXCLUDED.request_hash, status_code = NULL, response = NULL,
          created_at = pg_catalog.now()
      WHERE k.created_at < pg_catalog.now() - key_window
    RETURNING k.key INTO seen;
    IF NOT FOUND THEN  -- used within the window, and committed
      SELECT k.request_hash, k.response INTO seen FROM public.idempotency_keys k
       WHERE k.user_id = auth.uid() AND k.key = p_idempotency_key;
      IF seen.request_hash IS DISTINCT FROM p_request_hash OR seen.response IS NULL THEN
        -- private.reject()'s form; the caller's role may not use schema private
        RAISE EXCEPTION USING ERRCODE = 'CT422', HINT = 'idempotency_key_reused',
          MESSAGE = 'this Idempotency-Key was used for a different order';
      END IF;
      trade := pg_catalog.jsonb_populate_record(NULL::public.paper_trades, seen.response);
      replayed := true;
      RETURN;
    END IF;
  END IF;
  trade := public.execute_paper_trade(
    p_account_id, p_symbol, p_side, p_amount, p_order_type, p_limit_price, p_stop_price,
    p_time_in_force, p_expires_at, p_stop_loss, p_take_profit, p_bot_id, p_reasoning,
    p_confidence_level, p_trade_category, p_tags, p_notes);
  IF p_idempotency_key IS NOT NULL THEN
    UPDATE public.idempotency_keys k SET status_code = 201, response = pg_catalog.to_jsonb(trade)
     WHERE k.user_id = auth.uid() AND k.key = p_idempotency_key;
  END IF;
  PERFORM public.record_audit(
    'order.place', 'order', (trade).id::text,
    pg_catalog.jsonb_build_object('symbol', (trade).symbol, 'side', (trade).side,
                                  'type', (trade).order_type, 'status', (trade).status),
    p_ip, p_user_agent);
END
$$;
REVOKE ALL ON FUNCTION gateway.place_order_v2(text, inet, text, text, text, uuid, text, text,
  numeric, text, numeric, numeric, text, timestamptz, numeric, numeric, uuid, text, numeric, text,
  text[], text) FROM PUBLIC;
-- The login role is created per installation and holds no grant of its own (see 0016); the
-- function refuses the API roles itself.
GRANT EXECUTE ON FUNCTION gateway.place_order_v2(text, inet, text, text, text, uuid, text, text,
  numeric, text, numeric, numeric, text, timestamptz, numeric, numeric, uuid, text, numeric, text,
  text[], text) TO PUBLIC;
