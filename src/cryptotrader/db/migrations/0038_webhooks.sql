-- Alerts, part 3 (issue 16): signed webhooks (Standard Webhooks), delivered as procrastinate
-- jobs (docs/alerts.md, "Webhooks").
--
-- * webhook_endpoints: a user's endpoints (URL, description, the event types it wants, none
--   for all; a pattern ending in ".*" takes a family), enabled or disabled ('user', or 'gone'
--   when it answered 410). Its owner reads and writes it (RLS).
-- * private.webhook_secrets: each endpoint's signing secret, and during a rotation the
--   previous one until it expires. Only the service role reads it (the sender); a user sets
--   it only through public.set_webhook_secret, which never returns it: the API shows a
--   secret once, when it generates it.
-- * webhook_deliveries: one row per event per endpoint, with its webhook-id (msg_id, the same
--   on every attempt), the thin payload as it is signed, and its state; webhook_attempts:
--   one row per attempt (status code, latency, error). Their owner reads them (RLS).
-- * private.enqueue_webhook_event(user, type, data): the deliveries of one event and, in the
--   same transaction, the procrastinate job of each (task webhooks.deliver): a rollback sends
--   nothing, and a committed event always has its job. Each attempt is recorded by
--   private.record_webhook_attempt_v1, which defers the next attempt's job in the same
--   transaction. private.sweep_webhook_deliveries re-defers a pending delivery left without
--   a job (one failed by a bug, or deleted), so no event is lost.

-- ------------------------------------------------------------------ endpoints
CREATE TABLE webhook_endpoints (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  url TEXT NOT NULL CHECK (length(url) <= 2000 AND url ~ '^https?://'),
  description TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  event_types TEXT[] NOT NULL DEFAULT '{}' CHECK (cardinality(event_types) <= 50),
  enabled BOOLEAN NOT NULL DEFAULT true,
  disabled_reason TEXT CHECK (disabled_reason IN ('gone', 'user')),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (id, user_id),
  CONSTRAINT webhook_endpoints_reason_when_disabled CHECK (disabled_reason IS NULL OR NOT enabled)
);
CREATE INDEX webhook_endpoints_user_idx ON webhook_endpoints (user_id, created_at DESC, id DESC);
CREATE TRIGGER webhook_endpoints_updated_at BEFORE UPDATE ON webhook_endpoints
  FOR EACH ROW EXECUTE FUNCTION private.set_updated_at();
SELECT private.own_rows('webhook_endpoints');

CREATE TABLE private.webhook_secrets (
  endpoint_id UUID PRIMARY KEY REFERENCES public.webhook_endpoints(id) ON DELETE CASCADE,
  secret TEXT NOT NULL CHECK (secret ~ '^whsec_[A-Za-z0-9+/]{32}$'),
  previous_secret TEXT CHECK (previous_secret ~ '^whsec_[A-Za-z0-9+/]{32}$'),
  previous_expires_at TIMESTAMPTZ,
  rotated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
REVOKE ALL ON private.webhook_secrets FROM PUBLIC;
GRANT SELECT ON private.webhook_secrets TO service_role;

-- ------------------------------------------------------------------ deliveries and attempts
CREATE TABLE webhook_deliveries (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  endpoint_id UUID NOT NULL,
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  msg_id TEXT NOT NULL UNIQUE,
  event_type TEXT NOT NULL,
  payload JSONB NOT NULL,          -- {"type", "timestamp", "data"}: the body, as it is signed
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'delivered', 'failed', 'gone', 'refused')),
  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  round_start INTEGER NOT NULL DEFAULT 0,  -- attempts before the last manual redelivery
  next_attempt_at TIMESTAMPTZ,
  last_status_code INTEGER,
  last_latency_ms INTEGER,
  last_error TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  delivered_at TIMESTAMPTZ,
  UNIQUE (id, user_id),
  FOREIGN KEY (endpoint_id, user_id) REFERENCES webhook_endpoints (id, user_id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
  WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx
  ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_user_idx ON webhook_deliveries (user_id, created_at DESC);
SELECT private.own_rows('webhook_deliveries', ARRAY['select']);

CREATE TABLE webhook_attempts (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  delivery_id UUID NOT NULL,
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL CHECK (attempt >= 1),
  outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'gone', 'retry', 'refused', 'skipped')),
  url TEXT NOT NULL,
  status_code INTEGER,
  latency_ms INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  attempted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (delivery_id, attempt),
  FOREIGN KEY (delivery_id, user_id) REFERENCES webhook_deliveries (id, user_id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_user_idx ON webhook_attempts (user_id);
SELECT private.own_rows('webhook_attempts', ARRAY['select']);

-- ------------------------------------------------------------------ the jobs
-- The job that makes attempt p_attempt of a delivery, at p_at (NULL: now). The lock keeps
-- two jobs of one delivery from running at once. procrastinate's functions and triggers
-- name its tables unqualified, hence its schema first on the path.
CREATE FUNCTION private.defer_webhook_job(p_delivery_id uuid, p_attempt integer,
                                          p_at timestamptz)
RETURNS bigint LANGUAGE sql SET search_path = procrastinate, pg_catalog AS $$
  SELECT (procrastinate.procrastinate_defer_jobs_v1(ARRAY[ROW(
    'default', 'webhooks.deliver', 0, 'webhook:' || p_delivery_id::text, NULL,
    jsonb_build_object('delivery_id', p_delivery_id::text, 'attempt', p_attempt), p_at
  )::procrastinate.procrastinate_job_to_defer_v1]))[1]
$$;
REVOKE EXECUTE ON FUNCTION private.defer_webhook_job(uuid, integer, timestamptz) FROM PUBLIC;

-- The thin Standard Webhooks payload, its timestamp in whole seconds (the sender rebuilds
-- the same bytes from it).
CREATE FUNCTION private.webhook_payload(p_type text, p_data jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = '' AS $$
  SELECT pg_catalog.jsonb_build_object(
    'type', p_type,
    'timestamp', pg_catalog.to_char(pg_catalog.date_trunc('second', pg_catalog.now())
                                    AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'data', p_data)
$$;
REVOKE EXECUTE ON FUNCTION private.webhook_payload(text, jsonb) FROM PUBLIC;

CREATE FUNCTION private.check_webhook_event(p_type text, p_data jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  IF p_type IS NULL OR p_type !~ '^[a-z0-9_]+(\.[a-z0-9_]+)+$' OR length(p_type) > 100 THEN
    PERFORM private.reject('invalid_webhook_event',
      pg_catalog.format('event type %L is not dotted lowercase (order.filled)', p_type), 'CT422');
  END IF;
  IF p_data IS NULL OR pg_catalog.jsonb_typeof(p_data) <> 'object' THEN
    PERFORM private.reject('invalid_webhook_event', 'event data must be a JSON object', 'CT422');
  END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION private.check_webhook_event(text, jsonb) FROM PUBLIC;

-- Does an endpoint subscribed to p_types (none: all) take events of type p_type?
CREATE FUNCTION private.webhook_wants(p_types text[], p_type text) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$
  SELECT pg_catalog.cardinality(p_types) = 0 OR p_type = ANY (p_types)
      OR EXISTS (SELECT 1 FROM pg_catalog.unnest(p_types) t
                  WHERE t LIKE '%.*' AND pg_catalog.starts_with(p_type, pg_catalog.rtrim(t, '*')))
$$;
REVOKE EXECUTE ON FUNCTION private.webhook_wants(text[], text) FROM PUBLIC;

-- THE CONTRACT for the engine's triggers (0039 and later): one pending delivery of event
-- p_type with data p_data (a JSON object, thin: ids and a few fields) per enabled endpoint
-- of p_user_id that takes it, each with a fresh webhook-id and its job, in the caller's
-- transaction. Returns how many. p_type must be dotted lowercase ('order.filled'), else
-- CT422 invalid_webhook_event. Owner only (and the service role): call it from SECURITY
-- DEFINER code.
CREATE FUNCTION private.enqueue_webhook_event(p_user_id uuid, p_type text, p_data jsonb)
RETURNS integer LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
  n integer;
BEGIN
  PERFORM private.check_webhook_event(p_type, p_data);
  WITH made AS (
    INSERT INTO public.webhook_deliveries (endpoint_id, user_id, msg_id, event_type, payload,
                                           next_attempt_at)
    SELECT e.id, e.user_id, 'msg_' || pg_catalog.replace(gen_random_uuid()::text, '-', ''),
           p_type, private.webhook_payload(p_type, p_data), pg_catalog.now()
      FROM public.webhook_endpoints e
     WHERE e.user_id = p_user_id AND e.enabled AND private.webhook_wants(e.event_types, p_type)
     ORDER BY e.created_at, e.id
    RETURNING id)
  SELECT pg_catalog.count(private.defer_webhook_job(m.id, 1, NULL)) INTO n FROM made m;
  RETURN n;
END
$$;
REVOKE EXECUTE ON FUNCTION private.enqueue_webhook_event(uuid, text, jsonb) FROM PUBLIC;

-- One attempt's result: logged, the delivery's state moved on, and on 'retry' the next
-- attempt's job deferred p_delay seconds ahead (or the delivery failed after
-- p_max_attempts in this round); 'gone' disables the endpoint. An attempt already recorded
-- (a job that ran twice) changes nothing. Returns the delivery's status, NULL when it was
-- not this attempt's to record.
CREATE FUNCTION private.record_webhook_attempt_v1(
  p_delivery_id uuid, p_attempt integer, p_outcome text, p_url text, p_status_code integer,
  p_latency_ms integer, p_error text, p_delay double precision, p_max_attempts integer)
RETURNS text LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
  d public.webhook_deliveries;
  next_status text;
BEGIN
  SELECT * INTO d FROM public.webhook_deliveries
   WHERE id = p_delivery_id AND status = 'pending' AND attempts = p_attempt - 1 FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  INSERT INTO public.webhook_attempts (delivery_id, user_id, attempt, outcome, url, status_code,
                                       latency_ms, error)
  VALUES (d.id, d.user_id, p_attempt, p_outcome, p_url, p_status_code, p_latency_ms,
          pg_catalog.left(p_error, 2000));
  next_status := CASE p_outcome
    WHEN 'delivered' THEN 'delivered' WHEN 'gone' THEN 'gone' WHEN 'refused' THEN 'refused'
    WHEN 'skipped' THEN 'failed'
    ELSE CASE WHEN p_attempt - d.round_start >= p_max_attempts THEN 'failed' ELSE 'pending' END
  END;
  UPDATE public.webhook_deliveries
     SET status = next_status, attempts = p_attempt, last_status_code = p_status_code,
         last_latency_ms = p_latency_ms, last_error = pg_catalog.left(p_error, 2000),
         delivered_at = CASE WHEN next_status = 'delivered' THEN pg_catalog.now() END,
         next_attempt_at = CASE WHEN next_status = 'pending'
           THEN pg_catalog.now() + pg_catalog.make_interval(secs => p_delay) END
   WHERE id = d.id;
  IF next_status = 'pending' THEN
    PERFORM private.defer_webhook_job(d.id, p_attempt + 1,
      pg_catalog.now() + pg_catalog.make_interval(secs => p_delay));
  ELSIF next_status = 'gone' THEN
    UPDATE public.webhook_endpoints SET enabled = false, disabled_reason = 'gone'
     WHERE id = d.endpoint_id;
  END IF;
  RETURN next_status;
END
$$;
REVOKE EXECUTE ON FUNCTION private.record_webhook_attempt_v1(uuid, integer, text, text, integer,
  integer, text, double precision, integer) FROM PUBLIC;

-- Pending deliveries overdue by p_grace with no job waiting or running (their job failed
-- for good, or was deleted): a job each again. Returns how many.
CREATE FUNCTION private.sweep_webhook_deliveries(p_grace interval) RETURNS integer
LANGUAGE sql SET search_path = '' AS $$
  SELECT pg_catalog.count(private.defer_webhook_job(d.id, d.attempts + 1, NULL))::integer
    FROM public.webhook_deliveries d
   WHERE d.status = 'pending' AND d.next_attempt_at < pg_catalog.now() - p_grace
     AND NOT EXISTS (SELECT 1 FROM procrastinate.procrastinate_jobs j
                      WHERE j.lock = 'webhook:' || d.id::text
                        AND j.status IN ('todo', 'doing'))
$$;
REVOKE EXECUTE ON FUNCTION private.sweep_webhook_deliveries(interval) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION private.defer_webhook_job(uuid, integer, timestamptz),
  private.webhook_payload(text, jsonb), private.check_webhook_event(text, jsonb),
  private.webhook_wants(text[], text),
  private.enqueue_webhook_event(uuid, text, jsonb),
  private.record_webhook_attempt_v1(uuid, integer, text, text, integer, integer, text,
                                    double precision, integer),
  private.sweep_webhook_deliveries(interval) TO service_role;

-- ------------------------------------------------------------------ what users call
-- SECURITY DEFINER: each writes what its caller may not (the secret, a delivery, its job),
-- only for an endpoint of auth.uid().

-- Set the endpoint's signing secret (the API generated it); a second call rotates it: the
-- old secret keeps signing beside the new one for p_grace_seconds. Returns when the old
-- one stops (NULL on the first call).
CREATE FUNCTION public.set_webhook_secret(p_endpoint_id uuid, p_secret text,
                                          p_grace_seconds integer)
RETURNS timestamptz LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  expires timestamptz;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM public.webhook_endpoints
                  WHERE id = p_endpoint_id AND user_id = auth.uid()) THEN
    PERFORM private.reject('webhook_endpoint_not_found', 'webhook endpoint not found', 'CT404');
  END IF;
  IF p_secret IS NULL OR p_secret !~ '^whsec_[A-Za-z0-9+/]{32}$'
     OR p_grace_seconds IS NULL OR p_grace_seconds NOT BETWEEN 0 AND 604800 THEN
    PERFORM private.reject('invalid_request', 'invalid webhook secret or grace period', 'CT422');
  END IF;
  INSERT INTO private.webhook_secrets AS s (endpoint_id, secret)
  VALUES (p_endpoint_id, p_secret)
  ON CONFLICT (endpoint_id) DO UPDATE
     SET previous_secret = s.secret,
         previous_expires_at = pg_catalog.now() + pg_catalog.make_interval(secs => p_grace_seconds),
         secret = EXCLUDED.secret, rotated_at = pg_catalog.now()
  RETURNING s.previous_expires_at INTO expires;
  RETURN expires;
END
$$;

-- A webhook.test event to one enabled endpoint of the caller; returns its delivery.
CREATE FUNCTION public.send_webhook_test(p_endpoint_id uuid) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  e public.webhook_endpoints;
  made uuid;
BEGIN
  SELECT * INTO e FROM public.webhook_endpoints
   WHERE id = p_endpoint_id AND user_id = auth.uid();
  IF NOT FOUND THEN
    PERFORM private.reject('webhook_endpoint_not_found', 'webhook endpoint not found', 'CT404');
  END IF;
  IF NOT e.enabled THEN
    PERFORM private.reject('webhook_endpoint_disabled', 'the endpoint is disabled', 'CT409');
  END IF;
  INSERT INTO public.webhook_deliveries (endpoint_id, user_id, msg_id, event_type, payload,
                                         next_attempt_at)
  VALUES (e.id, e.user_id, 'msg_' || pg_catalog.replace(gen_random_uuid()::text, '-', ''),
          'webhook.test',
          private.webhook_payload('webhook.test', pg_catalog.jsonb_build_object(
            'endpoint_id', e.id, 'message', 'A test event from CryptoTrader Pro')),
          pg_catalog.now())
  RETURNING id INTO made;
  PERFORM private.defer_webhook_job(made, 1, NULL);
  RETURN made;
END
$$;

-- Deliver one of the caller's deliveries again now, with its webhook-id and body: a new
-- round of attempts when it had finished, an earlier attempt when it was still pending.
CREATE FUNCTION public.redeliver_webhook(p_endpoint_id uuid, p_delivery_id uuid) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  d public.webhook_deliveries;
BEGIN
  SELECT * INTO d FROM public.webhook_deliveries
   WHERE id = p_delivery_id AND endpoint_id = p_endpoint_id AND user_id = auth.uid()
     FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM private.reject('webhook_delivery_not_found', 'webhook delivery not found', 'CT404');
  END IF;
  IF NOT (SELECT enabled FROM public.webhook_endpoints WHERE id = d.endpoint_id) THEN
    PERFORM private.reject('webhook_endpoint_disabled', 'the endpoint is disabled', 'CT409');
  END IF;
  UPDATE public.webhook_deliveries
     SET round_start = CASE WHEN status = 'pending' THEN round_start ELSE attempts END,
         status = 'pending', next_attempt_at = pg_catalog.now(), delivered_at = NULL
   WHERE id = d.id;
  PERFORM private.defer_webhook_job(d.id, d.attempts + 1, NULL);
  RETURN d.id;
END
$$;

REVOKE ALL ON FUNCTION public.set_webhook_secret(uuid, text, integer),
  public.send_webhook_test(uuid), public.redeliver_webhook(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.set_webhook_secret(uuid, text, integer),
  public.send_webhook_test(uuid), public.redeliver_webhook(uuid, uuid) TO authenticated;
