-- list_accounts --
-- The caller's accounts (RLS) valued at current prices, default first, then oldest first;
-- keyset-paginated on (0 for the default else 1, created_at, id).
SELECT a.*, v.positions_value, a.balance + a.reserved_balance + v.positions_value AS equity
  FROM (SELECT * FROM paper_trading_accounts
         WHERE (%(include_archived)s OR status <> 'archived')
           AND (%(after_id)s::uuid IS NULL
                OR (CASE WHEN is_default THEN 0 ELSE 1 END, created_at, id)
                   > (%(after_rank)s::int, %(after_at)s::timestamptz, %(after_id)s::uuid))
         ORDER BY CASE WHEN is_default THEN 0 ELSE 1 END, created_at, id
         LIMIT %(limit)s::bigint) a
  CROSS JOIN LATERAL (
    SELECT coalesce(sum(p.quantity * m.price_usd), 0) AS positions_value
      FROM account_positions p JOIN market_data_cache m ON m.symbol = p.symbol
     WHERE p.account_id = a.id AND p.quantity > 0) v
 ORDER BY CASE WHEN a.is_default THEN 0 ELSE 1 END, a.created_at, a.id;

-- get_account --
-- One account valued at current prices; counts the access when %(record_access)s (a view of
-- the account), not for a re-read of a part of it (a page's live fragment, its chart).
WITH touched AS (
  UPDATE paper_trading_accounts
     SET last_accessed = now(), access_count = access_count + 1
   WHERE id = %(id)s AND %(record_access)s
  RETURNING *
), found AS (
  SELECT * FROM touched
  UNION ALL
  SELECT * FROM paper_trading_accounts WHERE id = %(id)s AND NOT %(record_access)s
)
SELECT a.*, v.positions_value, a.balance + a.reserved_balance + v.positions_value AS equity
  FROM found a
  CROSS JOIN LATERAL (
    SELECT coalesce(sum(p.quantity * m.price_usd), 0) AS positions_value
      FROM account_positions p JOIN market_data_cache m ON m.symbol = p.symbol
     WHERE p.account_id = a.id AND p.quantity > 0) v;

-- insert_account --
-- A new account of the caller; the database sets the opening balance.
INSERT INTO paper_trading_accounts (
  user_id, account_name, account_type, risk_level, initial_balance, max_daily_loss,
  max_position_size, trading_strategy, color_theme, icon, tags, description, is_default)
VALUES (
  auth.uid(), %(account_name)s, %(account_type)s, %(risk_level)s, %(initial_balance)s,
  %(max_daily_loss)s, %(max_position_size)s, %(trading_strategy)s, %(color_theme)s, %(icon)s,
  %(tags)s, %(description)s, %(is_default)s)
RETURNING id;

-- from_template --
-- A new account from a template, through the database function.
SELECT id FROM create_account_from_template(%(template_id)s, %(account_name)s,
                                            %(is_default)s, %(initial_balance)s);

-- update_account --
-- A template for psycopg.sql: the assignments of the fields given, and the account's id.
UPDATE paper_trading_accounts SET {} WHERE id = {} RETURNING id;

-- set_status --
-- Pause, resume or archive (suspension is for admins; the database enforces it).
UPDATE paper_trading_accounts SET status = %(status)s::account_status_enum
 WHERE id = %(id)s RETURNING id;

-- set_default --
-- The default account, and the setting that names it, together.
WITH made AS (
  UPDATE paper_trading_accounts SET is_default = true WHERE id = %(id)s RETURNING id, user_id
), noted AS (
  INSERT INTO user_settings (user_id, setting_name, setting_value)
  SELECT user_id, 'default_account_id', to_jsonb(id::text) FROM made
  ON CONFLICT (user_id, setting_name) DO UPDATE SET setting_value = EXCLUDED.setting_value
)
SELECT id FROM made;

-- reset_account --
SELECT id FROM reset_paper_account(%(id)s, %(reason)s);

-- list_positions --
-- Open positions valued at current prices, the largest first; keyset-paginated on
-- (value at the current price, symbol): a page starts after the previous page's last row.
SELECT * FROM (
  SELECT p.symbol, p.quantity, p.reserved_quantity, p.avg_entry_price, p.cost_basis,
         p.realized_pnl, p.opened_at, m.price_usd AS price, p.quantity * m.price_usd AS market_value,
         p.quantity * m.price_usd - p.cost_basis AS unrealized_pnl,
         p.quantity * coalesce(m.price_usd, 0) AS sort_value
    FROM account_positions p LEFT JOIN market_data_cache m ON m.symbol = p.symbol
   WHERE p.account_id = %(id)s AND p.quantity > 0) pos
 WHERE %(after_symbol)s::text IS NULL
    OR sort_value < %(after_value)s::numeric
    OR (sort_value = %(after_value)s::numeric AND symbol > %(after_symbol)s::text)
 ORDER BY sort_value DESC, symbol
 LIMIT %(limit)s::bigint;

-- list_audit --
-- Balance history, newest first, keyset-paginated on (created_at, id). The engine writes a
-- fill's quantity, price and fee into metadata as JSON numbers, which a JSON reader takes as
-- binary floats: they are read as the numerics' exact text (the stored rows stay as written).
SELECT id, action, old_balance, new_balance, amount_changed, reason, created_at,
       metadata || jsonb_strip_nulls(jsonb_build_object(
         'quantity', CASE WHEN jsonb_typeof(metadata -> 'quantity') = 'number'
                          THEN metadata ->> 'quantity' END,
         'price', CASE WHEN jsonb_typeof(metadata -> 'price') = 'number'
                       THEN metadata ->> 'price' END,
         'fee', CASE WHEN jsonb_typeof(metadata -> 'fee') = 'number'
                     THEN metadata ->> 'fee' END)) AS metadata
  FROM paper_account_audit
 WHERE account_id = %(id)s
   AND (%(after_id)s::uuid IS NULL
        OR (created_at, id) < (%(after_at)s::timestamptz, %(after_id)s::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s;

-- account_exists --
SELECT 1 FROM paper_trading_accounts WHERE id = %(id)s;

-- equity_curves --
-- Each account's equity after every fill of its current epoch: cash from the fills' cash
-- flows, positions valued at each symbol's last fill price (a step curve; snapshots at
-- market prices come with analytics). A position's value changes only when its symbol
-- fills: from q' * p' to q * p, where q' = q - (this fill's signed quantity) and p' is the
-- symbol's previous fill price; so the total is the running sum over the account of every
-- fill's change in cash and in its own symbol's value (one window pass per partition).
-- Thinned to about %(points)s points per account: every k-th fill and the last one.
WITH acct AS (
  SELECT id, epoch, initial_balance FROM paper_trading_accounts WHERE id = ANY(%(ids)s::uuid[])
), fills AS (
  SELECT t.account_id, t.filled_at AS at, t.id, t.execution_price AS price,
         CASE WHEN t.side = 'buy' THEN -(t.total_value + t.fee) ELSE t.total_value - t.fee END
           AS cash_change,
         CASE WHEN t.side = 'buy' THEN t.amount ELSE -t.amount END AS signed,
         sum(CASE WHEN t.side = 'buy' THEN t.amount ELSE -t.amount END) OVER bysymbol AS held,
         lag(t.execution_price) OVER bysymbol AS previous_price
    FROM paper_trades t JOIN acct a ON a.id = t.account_id AND t.account_epoch = a.epoch
   WHERE t.account_id = ANY(%(ids)s::uuid[]) AND t.status = 'completed'
     AND t.filled_at IS NOT NULL
  WINDOW bysymbol AS (PARTITION BY t.account_id, t.symbol COLLATE "C"
                      ORDER BY t.filled_at, t.id ROWS UNBOUNDED PRECEDING)
), curve AS (
  SELECT f.account_id, f.at, f.id,
         a.initial_balance + sum(f.cash_change + f.held * f.price
                                 - (f.held - f.signed) * coalesce(f.previous_price, 0))
           OVER byaccount AS equity,
         row_number() OVER byaccount AS n,
         count(*) OVER (PARTITION BY f.account_id) AS total
    FROM fills f JOIN acct a ON a.id = f.account_id
  WINDOW byaccount AS (PARTITION BY f.account_id ORDER BY f.at, f.id ROWS UNBOUNDED PRECEDING)
)
SELECT account_id, at, round(equity, 8) AS equity
  FROM curve
 WHERE total <= %(points)s OR n = total OR n %% greatest(1, total / %(points)s) = 0
 ORDER BY account_id, at, id;
