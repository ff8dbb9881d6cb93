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

-- claim_idempotency_key --
-- First use of a key by this user; waits for a concurrent first use to finish.
INSERT INTO idempotency_keys (user_id, key, request_hash)
VALUES (auth.uid(), %(key)s, %(request_hash)s)
ON CONFLICT (user_id, key) DO NOTHING
RETURNING key;

-- read_idempotency_key --
SELECT request_hash, status_code, response FROM idempotency_keys
 WHERE user_id = auth.uid() AND key = %(key)s;

-- store_idempotent_response --
UPDATE idempotency_keys SET status_code = %(status_code)s, response = %(response)s
 WHERE user_id = auth.uid() AND key = %(key)s;
