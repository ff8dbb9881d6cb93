"""One simulated feed refresh for 100 symbols, including the tick processing it causes.

Setup (not measured): a fresh database with 100 tracked symbols (the 30 reference coins
plus 70 synthetic ones), 100 accounts, and 10,000 resting limit BUY orders on BTC at
99 % of the price; then the cached BTC price is lowered to 95 % so the feed's next
price crosses every order. Measured: ONE ``MarketFeed.refresh`` with the simulated
provider, as the leader does it: fetch 100 quotes, upsert the cache and NOTIFY in one
transaction, then ``process_market_tick`` for every symbol whose price changed. All
10,000 orders must be filled afterwards. Target: under 2 s.

    .venv/bin/python benchmarks/feed_tick.py [--orders 10000] [--symbols 100]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row

import _harness as h
from cryptotrader.config import Settings
from cryptotrader.market.feed import MarketFeed
from cryptotrader.market.providers import simulated_from_cache

TARGET_S = 2.0
PLACE = """
SELECT count(*) FROM generate_series(1, %(n)s) g
 CROSS JOIN LATERAL execute_paper_trade(
   %(account)s::uuid, 'BTC', 'buy', 0.001, 'limit', %(limit)s::numeric - g * 0.01) t
 WHERE t.status = 'pending'
"""
SYNTHETIC = """
INSERT INTO tracked_coins (symbol, coingecko_id, name, market_cap_rank)
SELECT 'SYN' || g, 'synthetic-' || g, 'Synthetic ' || g, 100 + g FROM generate_series(1, %(n)s) g;
INSERT INTO market_data_cache
  (symbol, name, price_usd, price_aud, volume_24h_usd, high_24h, low_24h)
SELECT 'SYN' || g, 'Synthetic ' || g, 10 + g, (10 + g) * 1.4935, 1e6, 11 + g, 9 + g
  FROM generate_series(1, %(n)s) g;
"""


def prepare(owner: str, symbols: int, orders: int, accounts: list[tuple[str, str]]) -> Decimal:
    with psycopg.connect(owner, autocommit=True, row_factory=dict_row) as conn:
        have = conn.execute("SELECT count(*) AS n FROM tracked_coins").fetchone()
        extra = symbols - int(have["n"]) if have else symbols
        if extra > 0:
            conn.execute(SYNTHETIC.replace("%(n)s", str(extra)))
        conn.execute("UPDATE market_data_cache SET last_updated = now()")
        price = h.market_price(owner)
        limit = round(price * Decimal("0.99"), 2)
        per, rest = divmod(orders, len(accounts))
        for i, (_user, account) in enumerate(accounts):
            n = per + (1 if i < rest else 0)
            conn.execute(PLACE, {"n": n, "account": account, "limit": limit})
        conn.execute(
            "UPDATE market_data_cache SET price_usd = %s, last_updated = now()"
            " WHERE symbol = 'BTC'",
            [round(price * Decimal("0.95"), 2)],
        )
        conn.execute("VACUUM ANALYZE")
    h.checkpoint(owner)
    return limit


async def measure(app: str, owner: str) -> tuple[float, int, int]:
    feed_conn = await psycopg.AsyncConnection.connect(app, autocommit=True, row_factory=dict_row)
    async with feed_conn:
        await feed_conn.execute(
            "SELECT set_config('role','service_role',false),"
            " set_config('request.jwt.claims','{\"role\":\"service_role\"}',false)"
        )
        async with feed_conn.transaction():
            provider = await simulated_from_cache(Settings(market_seed=1), feed_conn)
        feed = MarketFeed(conninfo=app, provider=provider)
        await feed_conn.execute(
            "INSERT INTO market_feed_status (leader, provider) VALUES (%s, 'simulated')",
            [feed.identity],
        )
        started = time.perf_counter()
        result = await feed.refresh(feed_conn)
        elapsed = time.perf_counter() - started
    if result.error:
        raise SystemExit(f"refresh failed: {result.error}")
    return elapsed, result.symbols_updated, result.orders_processed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--accounts", type=int, default=100)
    opts = parser.parse_args()
    print(f"machine: {h.machine()}")
    with h.server() as srv, h.app_database(srv, "ctbench_feed") as db:
        accounts = h.create_accounts(db.owner, opts.accounts)
        limit = prepare(db.owner, opts.symbols, opts.orders, accounts)
        print(f"  setup: {opts.orders} limit buys at {limit}, {opts.symbols} symbols")
        elapsed, symbols, processed = asyncio.run(measure(db.app, db.owner))
        with psycopg.connect(db.owner) as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE status = 'completed'),"
                " count(*) FILTER (WHERE status = 'pending') FROM paper_trades"
            ).fetchone()
    assert row is not None
    if row[0] != opts.orders or row[1] != 0:
        raise SystemExit(f"expected {opts.orders} fills, got {row[0]} ({row[1]} pending)")
    print(f"refresh: {symbols} quotes stored, {processed} orders filled in {elapsed:.3f} s")
    h.emit(
        {
            "benchmark": "feed_tick",
            "value": round(elapsed, 4),
            "unit": "s",
            "reference": TARGET_S,
            "ratio": round(elapsed / TARGET_S, 4),
            "target": TARGET_S,
            "pass": elapsed < TARGET_S,
            "symbols": symbols,
            "orders": processed,
        }
    )


if __name__ == "__main__":
    main()
