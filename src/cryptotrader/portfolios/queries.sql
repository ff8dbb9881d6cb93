-- list_portfolios --
-- The caller's portfolios, the default one first, then the oldest first; keyset-paginated
-- on (0 for the default else 1, created_at, id).
SELECT id, name, coalesce(mode, 'paper') AS mode, coalesce(is_default, false) AS is_default,
       created_at, updated_at
  FROM portfolios
 WHERE user_id = (SELECT auth.uid())
   AND (%(after_id)s::uuid IS NULL
        OR (CASE WHEN is_default THEN 0 ELSE 1 END, created_at, id)
           > (%(after_rank)s::int, %(after_at)s::timestamptz, %(after_id)s::uuid))
 ORDER BY CASE WHEN is_default THEN 0 ELSE 1 END, created_at, id
 LIMIT %(limit)s::bigint;

-- get_portfolio --
SELECT id, name, coalesce(mode, 'paper') AS mode, coalesce(is_default, false) AS is_default,
       created_at, updated_at
  FROM portfolios WHERE id = %(id)s;

-- lock_portfolio --
-- One of the caller's portfolios, locked for a change (FOR UPDATE also applies the update
-- policy, so only the owner gets a row).
SELECT id, coalesce(is_default, false) AS is_default FROM portfolios WHERE id = %(id)s FOR UPDATE;

-- list_members --
-- The member accounts of the given portfolios valued at current prices, oldest member first.
SELECT pa.portfolio_id, a.id AS account_id, a.account_name, a.status, a.initial_balance,
       a.balance + a.reserved_balance + v.positions_value AS equity, pa.added_at
  FROM portfolio_accounts pa
  JOIN paper_trading_accounts a ON a.id = pa.account_id
  CROSS JOIN LATERAL (
    SELECT coalesce(sum(p.quantity * m.price_usd), 0) AS positions_value
      FROM account_positions p JOIN market_data_cache m ON m.symbol = p.symbol
     WHERE p.account_id = a.id AND p.quantity > 0) v
 WHERE pa.portfolio_id = ANY (%(ids)s)
 ORDER BY pa.added_at, a.id;

-- insert_portfolio --
INSERT INTO portfolios (user_id, name, mode)
VALUES ((SELECT auth.uid()), %(name)s, %(mode)s)
RETURNING id;

-- update_portfolio --
-- Rename, change mode and/or make it the default; a flag says which.
UPDATE portfolios
   SET name = CASE WHEN %(set_name)s THEN %(name)s ELSE name END,
       mode = CASE WHEN %(set_mode)s THEN %(mode)s::trading_mode_enum ELSE mode END,
       is_default = CASE WHEN %(set_is_default)s THEN true ELSE is_default END
 WHERE id = %(id)s
RETURNING id;

-- delete_portfolio --
DELETE FROM portfolios WHERE id = %(id)s AND NOT coalesce(is_default, false) RETURNING id;

-- add_member --
-- The composite foreign key (account_id, user_id) makes another user's account a violation,
-- exactly like a missing one. Already a member: no row, nothing changes.
INSERT INTO portfolio_accounts (portfolio_id, account_id, user_id)
VALUES (%(portfolio_id)s, %(account_id)s, (SELECT auth.uid()))
ON CONFLICT (portfolio_id, account_id) DO NOTHING
RETURNING account_id;

-- remove_member --
DELETE FROM portfolio_accounts
 WHERE portfolio_id = %(portfolio_id)s AND account_id = %(account_id)s
RETURNING account_id;

-- list_snapshots --
-- One portfolio's daily snapshots (written by the daily analytics job), newest first.
SELECT snapshot_date, total_value, pnl_daily, pnl_percentage
  FROM portfolio_snapshots
 WHERE portfolio_id = %(portfolio_id)s
 ORDER BY snapshot_date DESC
 LIMIT %(limit)s::bigint;
