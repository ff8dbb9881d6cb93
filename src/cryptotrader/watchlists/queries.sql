-- list_watchlists --
-- The caller's watchlists, the default one first, then the oldest first; keyset-paginated
-- on (0 for the default else 1, created_at, id).
SELECT id, name, symbols, is_default, created_at, updated_at
  FROM watchlists
 WHERE user_id = (SELECT auth.uid())
   AND (%(after_id)s::uuid IS NULL
        OR (CASE WHEN is_default THEN 0 ELSE 1 END, created_at, id)
           > (%(after_rank)s::int, %(after_at)s::timestamptz, %(after_id)s::uuid))
 ORDER BY CASE WHEN is_default THEN 0 ELSE 1 END, created_at, id
 LIMIT %(limit)s::bigint;

-- get_watchlist --
SELECT id, name, symbols, is_default, created_at, updated_at FROM watchlists WHERE id = %(id)s;

-- lock_watchlist --
-- One of the caller's watchlists, locked for a change (FOR UPDATE also applies the update
-- policy, so only the owner gets a row).
SELECT id, name, symbols, is_default, created_at, updated_at
  FROM watchlists WHERE id = %(id)s FOR UPDATE;

-- insert_watchlist --
-- A new watchlist; no row when the caller already has one with this name.
INSERT INTO watchlists (user_id, name, symbols, is_default)
VALUES ((SELECT auth.uid()), %(name)s, %(symbols)s, %(is_default)s)
ON CONFLICT (user_id, name) DO NOTHING
RETURNING id, name, symbols, is_default, created_at, updated_at;

-- name_taken --
SELECT 1 FROM watchlists
 WHERE user_id = (SELECT auth.uid()) AND name = %(name)s AND id <> %(id)s;

-- update_watchlist --
-- Rename and/or (un)mark default; a flag says which.
UPDATE watchlists
   SET name = CASE WHEN %(set_name)s THEN %(name)s ELSE name END,
       is_default = CASE WHEN %(set_is_default)s THEN %(is_default)s ELSE is_default END
 WHERE id = %(id)s
RETURNING id, name, symbols, is_default, created_at, updated_at;

-- set_symbols --
UPDATE watchlists SET symbols = %(symbols)s WHERE id = %(id)s
RETURNING id, name, symbols, is_default, created_at, updated_at;

-- delete_watchlist --
DELETE FROM watchlists WHERE id = %(id)s RETURNING id;

-- known_symbols --
-- Which of the given symbols have a price.
SELECT symbol FROM market_data_cache WHERE symbol = ANY (%(symbols)s);
