-- Reference data the system needs to work on a just-migrated database: one public
-- account template per account type, and the tracked coins with realistic prices
-- (CoinGecko, late December 2025; AUD at 1 USD = 1.4935 AUD). The market feed
-- replaces the prices on its first refresh; until then they are stale on purpose.

INSERT INTO account_templates (name, description, account_type, risk_level, initial_balance,
                               max_daily_loss, max_position_size, trading_strategy, color_theme,
                               icon, tags, is_public) VALUES
  ('Conservative', 'Capital preservation: small positions, tight daily loss limit, long horizon.',
   'conservative', 'low', 100000.00, 500.00, 2500.00, 'dca', '#10b981', 'Shield',
   '{long-term,low-risk}', true),
  ('Balanced', 'The default: moderate position sizes and a 1% daily loss limit.',
   'balanced', 'medium', 100000.00, 1000.00, 5000.00, 'manual', '#3b82f6', 'TrendingUp',
   '{default}', true),
  ('Aggressive', 'Large positions and a wide daily loss limit for high-conviction trading.',
   'aggressive', 'high', 100000.00, 5000.00, 25000.00, 'momentum', '#ef4444', 'Zap',
   '{high-risk,momentum}', true),
  ('Day Trader', 'Intraday: many small round trips, flat by the end of the day.',
   'day_trading', 'high', 50000.00, 2000.00, 10000.00, 'scalping', '#f59e0b', 'Clock',
   '{intraday,scalping}', true),
  ('Swing Trader', 'Multi-day trend trades with room for volatility.',
   'swing_trading', 'medium', 100000.00, 2500.00, 15000.00, 'swing', '#8b5cf6', 'Activity',
   '{swing,trend}', true);

CREATE TEMPORARY TABLE seed_coins (
  symbol text, coingecko_id text, name text, rank integer,
  price_usd numeric, volume_usd numeric, market_cap_usd numeric, change_pct numeric
) ON COMMIT DROP;
INSERT INTO seed_coins VALUES
  ('BTC', 'bitcoin', 'Bitcoin', 1, 87387, 31377869299, 1744910741787, -1.49),
  ('ETH', 'ethereum', 'Ethereum', 2, 2922.48, 13751868665, 352547418866, -1.57),
  ('USDT', 'tether', 'Tether', 3, 1.0002, 52000000000, 186000000000, 0.01),
  ('XRP', 'ripple', 'XRP', 4, 1.87, 2100000000, 112800000000, -0.82),
  ('BNB', 'binancecoin', 'BNB', 5, 840.52, 1350000000, 115700000000, -0.44),
  ('SOL', 'solana', 'Solana', 6, 122.63, 3100000000, 68900000000, -2.11),
  ('USDC', 'usd-coin', 'USDC', 7, 0.9998, 9800000000, 75600000000, 0.0),
  ('TRX', 'tron', 'TRON', 8, 0.2821, 610000000, 26700000000, 0.35),
  ('DOGE', 'dogecoin', 'Dogecoin', 9, 0.1262, 980000000, 19200000000, -2.64),
  ('ADA', 'cardano', 'Cardano', 10, 0.3521, 520000000, 12900000000, -1.93),
  ('LINK', 'chainlink', 'Chainlink', 11, 12.35, 410000000, 8370000000, -1.12),
  ('AVAX', 'avalanche-2', 'Avalanche', 12, 12.08, 290000000, 5160000000, -2.4),
  ('XLM', 'stellar', 'Stellar', 13, 0.2143, 150000000, 6950000000, -0.71),
  ('SUI', 'sui', 'Sui', 14, 1.432, 520000000, 5290000000, -3.05),
  ('BCH', 'bitcoin-cash', 'Bitcoin Cash', 15, 585.1, 340000000, 11650000000, 0.92),
  ('HBAR', 'hedera-hashgraph', 'Hedera', 16, 0.1121, 110000000, 4780000000, -1.36),
  ('LTC', 'litecoin', 'Litecoin', 17, 77.41, 380000000, 5930000000, -0.58),
  ('TON', 'the-open-network', 'Toncoin', 18, 1.581, 120000000, 3890000000, -1.01),
  ('DOT', 'polkadot', 'Polkadot', 19, 1.781, 180000000, 2900000000, -2.27),
  ('UNI', 'uniswap', 'Uniswap', 20, 5.953, 210000000, 3750000000, -1.84),
  ('SHIB', 'shiba-inu', 'Shiba Inu', 21, 7.21e-06, 140000000, 4250000000, -1.65),
  ('NEAR', 'near', 'NEAR Protocol', 22, 1.523, 160000000, 1950000000, -2.9),
  ('AAVE', 'aave', 'Aave', 23, 152.34, 260000000, 2320000000, -1.48),
  ('APT', 'aptos', 'Aptos', 24, 1.621, 90000000, 1210000000, -2.05),
  ('ATOM', 'cosmos', 'Cosmos Hub', 25, 1.982, 70000000, 960000000, -1.77),
  ('ICP', 'internet-computer', 'Internet Computer', 26, 2.951, 60000000, 1600000000, -1.21),
  ('ETC', 'ethereum-classic', 'Ethereum Classic', 27, 11.92, 80000000, 1840000000, -0.95),
  ('FIL', 'filecoin', 'Filecoin', 28, 1.321, 110000000, 930000000, -2.33),
  ('ARB', 'arbitrum', 'Arbitrum', 29, 0.1903, 190000000, 1060000000, -3.12),
  ('OP', 'optimism', 'Optimism', 30, 0.2811, 95000000, 520000000, -2.81);

INSERT INTO tracked_coins (symbol, coingecko_id, name, market_cap_rank)
SELECT symbol, coingecko_id, name, rank FROM seed_coins;

INSERT INTO market_data_cache (symbol, name, price_usd, price_aud, volume_24h_usd, volume_24h_aud,
                               change_24h, change_percentage_24h, market_cap_usd, market_cap_aud,
                               high_24h, low_24h, exchange)
SELECT symbol, name, price_usd, round(price_usd * 1.4935, 10), volume_usd,
       round(volume_usd * 1.4935, 2),
       round(price_usd - price_usd / (1 + change_pct / 100), 10), change_pct,
       market_cap_usd, round(market_cap_usd * 1.4935, 2),
       round(price_usd * 1.018, 10), round(price_usd * 0.983, 10), 'coingecko'
  FROM seed_coins;
