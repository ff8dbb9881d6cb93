-- freshen_quotes --
-- Without a running feed the reference prices are old; the demo trades at them.
UPDATE market_data_cache SET last_updated = now()
 WHERE last_updated < now() - interval '1 minute'

-- account_named --
SELECT 1 FROM paper_trading_accounts WHERE account_name = %(name)s

-- system_template --
-- The oldest public system template of the type.
SELECT t.id
  FROM account_templates t
 WHERE t.account_type = %(account_type)s AND t.created_by IS NULL AND t.is_public
 ORDER BY t.created_at
 LIMIT 1

-- watchlist_named --
SELECT 1 FROM watchlists WHERE name = %(name)s

-- trade_count --
SELECT count(*) AS n FROM paper_trades

-- accounts --
SELECT account_name, id FROM paper_trading_accounts

-- price --
SELECT price_usd FROM market_data_cache WHERE symbol = %(symbol)s

-- bot_count --
SELECT count(*) AS n FROM ai_trading_bots

-- default_account --
SELECT id FROM paper_trading_accounts WHERE is_default AND user_id = (SELECT auth.uid())
