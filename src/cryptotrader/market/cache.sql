-- tracked_coins --
-- The coins the feed refreshes.
SELECT symbol, coingecko_id, name FROM tracked_coins WHERE is_active ORDER BY market_cap_rank NULLS LAST, symbol;

-- current_prices --
-- Current USD prices of the given symbols.
SELECT symbol, price_usd FROM market_data_cache WHERE symbol = ANY(%(symbols)s);

-- upsert_quotes --
-- One row per symbol, replaced by the newest quote.
INSERT INTO market_data_cache AS m (
  symbol, name, price_usd, price_aud, volume_24h_usd, volume_24h_aud, change_24h,
  change_percentage_24h, market_cap_usd, market_cap_aud, high_24h, low_24h, exchange, last_updated)
SELECT * FROM unnest(
  %(symbol)s::text[], %(name)s::text[], %(price_usd)s::numeric[], %(price_aud)s::numeric[],
  %(volume_24h_usd)s::numeric[], %(volume_24h_aud)s::numeric[], %(change_24h)s::numeric[],
  %(change_percentage_24h)s::numeric[], %(market_cap_usd)s::numeric[], %(market_cap_aud)s::numeric[],
  %(high_24h)s::numeric[], %(low_24h)s::numeric[], %(exchange)s::text[], %(last_updated)s::timestamptz[])
ON CONFLICT (symbol) DO UPDATE SET
  name = coalesce(EXCLUDED.name, m.name), price_usd = EXCLUDED.price_usd, price_aud = EXCLUDED.price_aud,
  volume_24h_usd = coalesce(EXCLUDED.volume_24h_usd, m.volume_24h_usd),
  volume_24h_aud = coalesce(EXCLUDED.volume_24h_aud, m.volume_24h_aud),
  change_24h = coalesce(EXCLUDED.change_24h, m.change_24h),
  change_percentage_24h = coalesce(EXCLUDED.change_percentage_24h, m.change_percentage_24h),
  market_cap_usd = coalesce(EXCLUDED.market_cap_usd, m.market_cap_usd),
  market_cap_aud = coalesce(EXCLUDED.market_cap_aud, m.market_cap_aud),
  high_24h = coalesce(EXCLUDED.high_24h, m.high_24h), low_24h = coalesce(EXCLUDED.low_24h, m.low_24h),
  exchange = EXCLUDED.exchange, last_updated = EXCLUDED.last_updated;

-- upsert_live_bars --
-- The feed's quotes folded into 1-minute bars (source 'feed'), in the transaction that
-- stores them: a minute's first quote opens its bar, each later one moves its high, low
-- and close and adds its volume. The timeframes above are aggregated from these on read,
-- as from imported ones. A bar from elsewhere (an import, a backfill) is never touched.
INSERT INTO market_candles AS c (symbol, timeframe, open_time, open, high, low, close, volume, source)
SELECT q.symbol, '1m', date_trunc('minute', q.at, 'UTC'), q.price, q.price, q.price, q.price,
       coalesce(q.volume, 0), 'feed'
  FROM unnest(%(symbol)s::text[], %(price_usd)s::numeric[], %(last_updated)s::timestamptz[],
              %(volume)s::numeric[]) AS q(symbol, price, at, volume)
ON CONFLICT (symbol, timeframe, open_time) DO UPDATE
   SET high = greatest(c.high, EXCLUDED.high), low = least(c.low, EXCLUDED.low),
       close = EXCLUDED.close, volume = c.volume + EXCLUDED.volume
 WHERE c.source = 'feed';

-- list_prices --
-- Every cached price with its age; stale when older than max_age_seconds. The largest
-- market cap first (none: last), keyset-paginated on (market cap or -1, symbol).
SELECT symbol, name, price_usd, price_aud, volume_24h_usd, change_percentage_24h, market_cap_usd,
       high_24h, low_24h, exchange, last_updated,
       extract(epoch FROM now() - last_updated)::float8 AS age_seconds,
       last_updated < now() - make_interval(secs => %(max_age_seconds)s) AS stale
  FROM market_data_cache
 WHERE (%(symbols)s::text[] IS NULL OR symbol = ANY(%(symbols)s))
   AND (%(after_symbol)s::text IS NULL
        OR coalesce(market_cap_usd, -1) < %(after_cap)s::numeric
        OR (coalesce(market_cap_usd, -1) = %(after_cap)s::numeric AND symbol > %(after_symbol)s::text))
 ORDER BY coalesce(market_cap_usd, -1) DESC, symbol
 LIMIT %(limit)s::bigint;

-- recent_closes --
-- The newest closes of a symbol at the finest stored timeframe, oldest first.
SELECT timeframe, close FROM (
  SELECT timeframe, open_time, close,
         dense_rank() OVER (ORDER BY CASE timeframe WHEN '1m' THEN 1 WHEN '5m' THEN 2 WHEN '15m' THEN 3
                                                    WHEN '30m' THEN 4 WHEN '1h' THEN 5 WHEN '4h' THEN 6
                                                    ELSE 7 END) AS finest
    FROM market_candles WHERE symbol = %(symbol)s
) c WHERE finest = 1 ORDER BY open_time DESC LIMIT %(limit)s;

-- feed_status_claim --
-- The new leader's row.
INSERT INTO market_feed_status (feed, leader, provider, leader_since)
VALUES ('market', %(leader)s, %(provider)s, now())
ON CONFLICT (feed) DO UPDATE SET leader = EXCLUDED.leader, provider = EXCLUDED.provider,
  leader_since = now(), last_error = NULL;

-- feed_status_refresh --
-- After each refresh: what happened.
UPDATE market_feed_status
   SET last_refresh_at = now(),
       last_success_at = CASE WHEN %(error)s::text IS NULL THEN now() ELSE last_success_at END,
       last_error = %(error)s, refresh_count = refresh_count + 1,
       error_count = error_count + (%(error)s::text IS NOT NULL)::int,
       symbols_updated = %(symbols)s, orders_processed = orders_processed + %(orders)s,
       market_time = CASE WHEN %(error)s::text IS NULL
                          THEN coalesce(%(market_time)s::timestamptz, now()) ELSE market_time END
 WHERE feed = 'market' AND leader = %(leader)s;

-- notify_prices --
-- One chunk of changed prices to the stream's listeners ({symbol: [usd, aud]}).
SELECT pg_notify(%(channel)s,
                 json_build_object('type', 'prices', 'at', now(), 'prices', %(prices)s::json)::text)

-- try_feed_lock --
-- The feed leader's lock: a session-level advisory lock, held while the connection lives.
SELECT pg_try_advisory_lock(%(key)s) AS ok
