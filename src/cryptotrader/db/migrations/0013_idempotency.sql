-- Idempotency-Key support for POST /orders: the first request with a key stores its
-- response; a repeat with the same key and body gets that response, never a second trade.
-- The unique key makes a concurrent repeat wait for the first to commit.
CREATE TABLE idempotency_keys (
  user_id UUID NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  key TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  request_hash TEXT NOT NULL,
  status_code INTEGER,
  response JSONB,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
SELECT private.own_rows('idempotency_keys', ARRAY['select', 'insert', 'update']);
REVOKE UPDATE ON idempotency_keys FROM authenticated;
GRANT UPDATE (status_code, response) ON idempotency_keys TO authenticated;
