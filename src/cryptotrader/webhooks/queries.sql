-- list_endpoints --
-- The caller's endpoints, newest first; keyset-paginated on (created_at, id).
SELECT id, url, description, event_types, enabled, disabled_reason, created_at, updated_at
  FROM webhook_endpoints
 WHERE user_id = (SELECT auth.uid())
   AND (%(after_id)s::uuid IS NULL
        OR (created_at, id) < (%(after_at)s::timestamptz, %(after_id)s::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s::bigint;

-- get_endpoint --
SELECT id, url, description, event_types, enabled, disabled_reason, created_at, updated_at
  FROM webhook_endpoints
 WHERE id = %(id)s;

-- count_endpoints --
SELECT count(*) AS n FROM webhook_endpoints WHERE user_id = (SELECT auth.uid());

-- create_endpoint --
INSERT INTO webhook_endpoints (user_id, url, description, event_types, enabled, disabled_reason)
VALUES ((SELECT auth.uid()), %(url)s, %(description)s, %(event_types)s::text[], %(enabled)s,
        CASE WHEN %(enabled)s THEN NULL ELSE 'user' END)
RETURNING id, url, description, event_types, enabled, disabled_reason, created_at, updated_at;

-- set_secret --
SELECT public.set_webhook_secret(%(id)s, %(secret)s, %(grace_seconds)s) AS previous_expires_at;

-- update_endpoint --
-- Change the given fields (a flag says which); enabling clears the reason it was disabled.
UPDATE webhook_endpoints
   SET url = CASE WHEN %(set_url)s THEN %(url)s ELSE url END,
       description = CASE WHEN %(set_description)s THEN %(description)s ELSE description END,
       event_types = CASE WHEN %(set_event_types)s THEN %(event_types)s::text[] ELSE event_types END,
       enabled = CASE WHEN %(set_enabled)s THEN %(enabled)s ELSE enabled END,
       disabled_reason = CASE
         WHEN NOT %(set_enabled)s THEN disabled_reason
         WHEN %(enabled)s THEN NULL
         ELSE coalesce(disabled_reason, 'user') END
 WHERE id = %(id)s
RETURNING id, url, description, event_types, enabled, disabled_reason, created_at, updated_at;

-- delete_endpoint --
DELETE FROM webhook_endpoints WHERE id = %(id)s RETURNING id;

-- list_deliveries --
-- One endpoint's deliveries, newest first, each with its attempts in order.
SELECT d.id, d.endpoint_id, d.msg_id, d.event_type, d.payload, d.status, d.attempts,
       d.next_attempt_at, d.last_status_code, d.last_latency_ms, d.last_error, d.created_at,
       d.delivered_at,
       coalesce((SELECT jsonb_agg(jsonb_build_object(
                   'attempt', a.attempt, 'outcome', a.outcome, 'url', a.url,
                   'status_code', a.status_code, 'latency_ms', a.latency_ms, 'error', a.error,
                   'attempted_at', a.attempted_at) ORDER BY a.attempt)
                   FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]') AS attempt_log
  FROM webhook_deliveries d
 WHERE d.endpoint_id = %(endpoint_id)s
   AND (%(id)s::uuid IS NULL OR d.id = %(id)s::uuid)
   AND (%(status)s::text IS NULL OR d.status = %(status)s::text)
   AND (%(after_id)s::uuid IS NULL
        OR (d.created_at, d.id) < (%(after_at)s::timestamptz, %(after_id)s::uuid))
 ORDER BY d.created_at DESC, d.id DESC
 LIMIT %(limit)s::bigint;

-- send_test --
SELECT public.send_webhook_test(%(endpoint_id)s) AS id;

-- redeliver --
SELECT public.redeliver_webhook(%(endpoint_id)s, %(id)s) AS id;

-- enqueue_event --
-- (the service role's, for tests and the system: the engine's triggers call it in SQL)
SELECT private.enqueue_webhook_event(%(user_id)s, %(type)s, %(data)s) AS deliveries;

-- delivery_to_send --
-- What attempt ``attempt`` of a delivery needs: the target, the body, the secrets signing
-- it (the previous one only until it expires). No row: the delivery is gone.
SELECT d.id, d.msg_id, d.event_type, d.payload, d.status, d.attempts, d.round_start,
       e.url, e.enabled,
       s.secret,
       CASE WHEN s.previous_expires_at > now() THEN s.previous_secret END AS previous_secret
  FROM webhook_deliveries d
  JOIN webhook_endpoints e ON e.id = d.endpoint_id
  LEFT JOIN private.webhook_secrets s ON s.endpoint_id = e.id
 WHERE d.id = %(id)s;

-- record_attempt --
SELECT private.record_webhook_attempt_v1(
  %(id)s, %(attempt)s, %(outcome)s, %(url)s, %(status_code)s, %(latency_ms)s, %(error)s,
  %(delay)s::double precision, %(max_attempts)s) AS status;

-- sweep --
SELECT private.sweep_webhook_deliveries(make_interval(secs => %(grace)s)) AS deferred;
