-- lock_holders --
-- How many sessions of this database hold the session-level advisory lock of the bigint
-- `key`, exclusively or shared. pg_locks lists the locks of every database on the server,
-- and shows a bigint key as classid (its high 32 bits) and objid (its low 32 bits) with
-- objsubid 1 (a pair of int4 keys has objsubid 2).
SELECT count(*)::int AS holders
  FROM pg_locks
 WHERE locktype = 'advisory' AND granted AND objsubid = 1
   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND classid = (%(key)s::bigint >> 32)::oid
   AND objid = (%(key)s::bigint & 4294967295)::oid;

-- price_freshness --
-- The cached prices against the strictest price age an order can meet. The engine
-- (execute_paper_trade) refuses an order as stale_price when its symbol's price is NULL or
-- older than its account's max_price_age_seconds, and only accounts whose status is not
-- other than 'active' get that far; so the smallest of theirs decides, or the column's
-- default (what a new account gets) when there is none. Same predicate as the engine's.
WITH strictest AS (
  SELECT coalesce(
    (SELECT min(max_price_age_seconds) FROM paper_trading_accounts
      WHERE status = 'active' OR status IS NULL),
    (SELECT pg_get_expr(d.adbin, d.adrelid)::int
       FROM pg_attrdef d
       JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
      WHERE d.adrelid = 'public.paper_trading_accounts'::regclass
        AND a.attname = 'max_price_age_seconds')
  ) AS max_age
)
SELECT s.max_age AS max_price_age_seconds,
       count(m.symbol)::int AS symbols,
       extract(epoch FROM now() - min(m.last_updated))::float8 AS oldest_age_seconds,
       coalesce(array_agg(m.symbol ORDER BY m.symbol) FILTER (
         WHERE m.last_updated IS NULL OR m.last_updated < now() - make_interval(secs => s.max_age)
       ), '{}') AS stale_symbols
  FROM strictest s
  LEFT JOIN market_data_cache m ON true
 GROUP BY s.max_age;
