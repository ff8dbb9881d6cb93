"""Copy trading: one trader's fill copied to 1,000 followers, and the trader's own order
latency with 1,000 copiers beside it with none.

Setup (not measured): 1,001 users (one trader, listed; 1,000 followers), each on their
default account with limits raised; every follower copies the trader in ratio mode with
10% of their account (the follows are written directly as the schema owner, through the
same triggers as the API's).

Measured, in the same run:
  * the trader's orders: ``trading.service.place_order`` (the one order path, one statement
    as the trader, as the API places an order), market buys and sells of 0.001 BTC one
    after another, in 20 alternating blocks of 100: with the 1,000 copies active and with
    them paused (no copier: the reference). The trader is listed in both, so each fill
    appends its event to the outbox in both (a listed trader's fills are their public
    track, which the what-if replays); what differs is the copiers. The copy worker does
    not run during these blocks, so the figure is what the trader's own transaction pays
    for having copiers, not two cores shared with the fan-out; p50 and p99 of each;
  * the fan-out: two more buys of the trader, each followed by ``CopyWorker.run_once()``
    until its event is done: the 1,000 copies sized in one statement, placed through the
    one order path as each follower (batches of 50 orders, 4 at a time: the defaults) and
    recorded, every one filled. The first warms the worker's connections up (a running
    worker's are warm); the second is timed, from the trader's order returning to the last
    copy recorded.

Targets: all 1,000 copies filled in under 2 s on 2 cores; the trader's p50 and p99 with
1,000 copiers within 10% of those with none. The last line printed is one JSON object.

    .venv/bin/python benchmarks/copy_fanout.py [--followers 1000] [--orders 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from decimal import Decimal
from typing import Any

import psycopg

import _harness as h
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.session import Conn, open_pool, user_claims
from cryptotrader.social.copying import CopyWorker
from cryptotrader.trading import service as trading
from cryptotrader.trading.schemas import OrderRequest

FANOUT_TARGET_S = 2.0
LATENCY_TARGET = 1.10
BLOCK = 100


def setup(db: h.AppDatabase, followers: int) -> tuple[str, str]:
    pairs = h.create_accounts(db.owner, followers + 1)
    (leader, leader_acct), rest = pairs[0], pairs[1:]
    with psycopg.connect(db.owner) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO trader_profiles (user_id, is_listed, display_name)"
            " VALUES (%s, true, 'Lead')",
            [leader],
        )
        conn.execute(
            "INSERT INTO trader_follows (user_id, follower_id, followed_id, trader_name,"
            "   copy_trading_enabled, copy_account_id, allocation_percentage)"
            " SELECT f.u::uuid, f.u::uuid, %s, 'Lead', true, f.a::uuid, 10"
            "   FROM unnest(%s::text[], %s::text[]) AS f(u, a)",
            [leader, [u for u, _ in rest], [a for _, a in rest]],
        )
    return leader, leader_acct


def set_copiers(db: h.AppDatabase, active: bool) -> None:
    with psycopg.connect(db.owner, autocommit=True) as conn:
        conn.execute("UPDATE trader_follows SET is_active = %s", [active])
        conn.execute("UPDATE market_data_cache SET last_updated = now() WHERE symbol = 'BTC'")


async def order_block(pool: Any, actor: Actor, account: str, n: int, start: int) -> list[float]:
    took = []
    for i in range(n):
        order = OrderRequest(
            account_id=account,  # type: ignore[arg-type]
            symbol="BTC",
            side="buy" if (start + i) % 2 == 0 else "sell",
            amount=Decimal("0.001"),
        )
        began = time.perf_counter()
        await trading.place_order(pool, actor, order)
        took.append((time.perf_counter() - began) * 1000)
    return took


async def latencies(
    db: h.AppDatabase, leader: str, account: str, orders: int
) -> dict[str, list[float]]:
    actor = Actor(claims=user_claims(leader))
    out: dict[str, list[float]] = {"copiers": [], "none": []}
    pool = open_pool(db.app, min_size=1, max_size=4)
    await pool.open()
    try:
        await order_block(pool, actor, account, 50, 0)  # warm-up
        blocks = max(2, orders // BLOCK)
        for b in range(blocks):
            active = b % 2 == 0
            await asyncio.to_thread(set_copiers, db, active)
            took = await order_block(pool, actor, account, BLOCK, b * BLOCK)
            out["copiers" if active else "none"].extend(took)
    finally:
        await pool.close()
    return out


async def fan_out(db: h.AppDatabase, leader: str, account: str) -> tuple[float, dict[str, int]]:
    with psycopg.connect(db.owner, autocommit=True) as conn:  # the latency blocks' events
        conn.execute("UPDATE private.copy_events SET done_at = now() WHERE done_at IS NULL")
    set_copiers(db, True)
    h.checkpoint(db.owner)
    pool = open_pool(db.app, min_size=8, max_size=16)
    await pool.open()
    worker = CopyWorker(pool, concurrency=4, identity="bench")
    try:
        actor = Actor(claims=user_claims(leader))
        elapsed = 0.0
        for amount in ("0.5", "0.5"):  # the first warms the worker's connections up
            order = OrderRequest(
                account_id=account,  # type: ignore[arg-type]
                symbol="BTC",
                side="buy",
                amount=Decimal(amount),
            )
            await trading.place_order(pool, actor, order)
            began = time.perf_counter()
            while await worker.run_once():
                pass
            elapsed = time.perf_counter() - began
    finally:
        await pool.close()
    with psycopg.connect(db.owner) as conn:
        rows = conn.execute(
            "SELECT c.status, count(*) FROM copy_trades c"
            " WHERE c.event_id = (SELECT max(event_id) FROM copy_trades) GROUP BY c.status"
        ).fetchall()
    return elapsed, {r[0]: int(r[1]) for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=2000, help="trader orders, both kinds")
    opts = parser.parse_args()
    print(f"machine: {h.machine()}")
    with h.server() as srv, h.app_database(srv, "ctbench_copy") as db:
        leader, account = setup(db, opts.followers)
        h.checkpoint(db.owner)
        lat = asyncio.run(latencies(db, leader, account, opts.orders))
        fanout_s, statuses = asyncio.run(fan_out(db, leader, account))
    stats: dict[str, tuple[float, float]] = {}
    for kind, values in lat.items():
        ordered = sorted(values)
        stats[kind] = (h.percentile(ordered, 0.5), h.percentile(ordered, 0.99))
        print(
            f"trader orders, {kind:>7}: n={len(values)}"
            f" p50 {stats[kind][0]:.2f} ms, p99 {stats[kind][1]:.2f} ms"
        )
    print(f"fan-out: {fanout_s:.2f} s for {opts.followers} followers ({statuses})")
    p50_ratio = stats["copiers"][0] / stats["none"][0]
    p99_ratio = stats["copiers"][1] / stats["none"][1]
    filled = statuses.get("filled", 0)
    ok = (
        fanout_s < FANOUT_TARGET_S
        and filled == opts.followers
        and p50_ratio <= LATENCY_TARGET
        and p99_ratio <= LATENCY_TARGET
    )
    h.emit(
        {
            "benchmark": "copy_fanout",
            "value": round(fanout_s, 3),
            "unit": f"s to fill the copies of one trade to {opts.followers} followers",
            "reference": round(stats["none"][0], 3),
            "ratio": round(p50_ratio, 3),
            "target": FANOUT_TARGET_S,
            "reference_unit": "ms, the trader's order p50 with no copiers (ratio: with / without)",
            "latency_target": LATENCY_TARGET,
            "p50_ms": {
                "copiers": round(stats["copiers"][0], 3),
                "none": round(stats["none"][0], 3),
            },
            "p99_ms": {
                "copiers": round(stats["copiers"][1], 3),
                "none": round(stats["none"][1], 3),
            },
            "p99_ratio": round(p99_ratio, 3),
            "copies_filled": filled,
            "pass": ok,
        }
    )


if __name__ == "__main__":
    main()


_ = Conn  # the pool's connection type, for readers
