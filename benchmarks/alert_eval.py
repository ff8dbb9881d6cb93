"""Alert evaluation: one price refresh of 100 symbols over 100,000 active alerts.

Setup (not measured): 1,000 users, 100 alerts each (100,000), on 100 symbols, mixed:
crosses above and below, above, below; once, once per bar, every time with a cooldown;
trigger values spread around the price so a share of them fire.

Measured, in the same run, on the same rows (median of 5 rounds, each rolled back so every
round sees the same state):
  * ours: the refresh's tick recorded, then ``private.evaluate_alert_ticks_v1``: every
    alert of the 100 symbols in one statement, the firings, the alerts' state and a
    notification each written (one transaction, as the alert worker runs it);
  * the reference: the naive way, in Python: read the same active alerts of those symbols
    and evaluate each one's condition, frequency and cooldown in a loop. It writes nothing,
    so it is a lower bound of what the naive evaluator costs.

Target: under 500 ms on 2 cores. The last line printed is one JSON object.

    .venv/bin/python benchmarks/alert_eval.py [--users 1000] [--per-user 100]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg

import _harness as h

SYMBOLS = [f"S{i:03d}" for i in range(100)]
TARGET_MS = 500.0


def setup(db: h.AppDatabase, users: int, per_user: int) -> None:
    pairs = h.create_accounts(db.owner, users)
    with psycopg.connect(db.owner) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO risk_alerts (user_id, alert_type, symbol, trigger_condition,"
            "   trigger_value, frequency, bar_seconds, cooldown_seconds, created_at)"
            " SELECT u::uuid, 'price', 'S' || lpad((g %% 100)::text, 3, '0'),"
            "   (ARRAY['crosses_above', 'crosses_below', 'above', 'below'])[1 + g %% 4],"
            "   90 + (g * 7919 %% 2000) / 100.0,"
            "   (ARRAY['once', 'once_per_bar', 'every_time'])[1 + (g / 4) %% 3], 3600, 60,"
            "   now() - interval '1 hour'"
            " FROM unnest(%s::text[]) AS u, generate_series(1, %s) g",
            [[u for u, _ in pairs], per_user],
        )
        conn.execute("ANALYZE risk_alerts")


def tick(rng: random.Random) -> dict[str, tuple[Decimal, Decimal]]:
    return {
        s: (Decimal(100), Decimal(100) + Decimal(rng.randint(-1000, 1000)) / 100) for s in SYMBOLS
    }


def ours(app: str, prices: dict[str, tuple[Decimal, Decimal]]) -> tuple[float, int]:
    conn = h.connect_as_service(app)
    try:
        conn.autocommit = False
        now = datetime.now(UTC)
        started = time.perf_counter()
        conn.execute(
            "INSERT INTO private.alert_ticks (symbols, prev, prices, quoted_at, as_of)"
            " VALUES (%s, %s::numeric[], %s::numeric[], %s::timestamptz[], now())",
            [list(prices), [p for p, _ in prices.values()], [n for _, n in prices.values()],
             [now] * len(prices)],
        )  # fmt: skip
        row = conn.execute(
            "SELECT fired FROM private.evaluate_alert_ticks_v1(1, interval '120 seconds')"
        ).fetchone()
        took = (time.perf_counter() - started) * 1000
        conn.rollback()
    finally:
        conn.close()
    assert row is not None
    return took, int(row[0])


def naive(app: str, prices: dict[str, tuple[Decimal, Decimal]]) -> tuple[float, int]:
    conn = h.connect_as_service(app)
    try:
        now = datetime.now(UTC)
        started = time.perf_counter()
        rows = conn.execute(
            "SELECT id, symbol, trigger_condition, trigger_value, frequency, bar_seconds,"
            "   cooldown_seconds, last_fired_at, expires_at FROM risk_alerts"
            " WHERE status = 'active' AND alert_type = 'price' AND symbol = ANY(%s)",
            [list(prices)],
        ).fetchall()
        fired = sum(1 for r in rows if _fires(r, prices[r[1]], now))
        took = (time.perf_counter() - started) * 1000
    finally:
        conn.close()
    return took, fired


def _fires(r: Any, quote: tuple[Decimal, Decimal], now: datetime) -> bool:
    _, _, cond, value, freq, _bar, cooldown, last, expires = r
    prev, price = quote
    if expires is not None and expires <= now:
        return False
    hit = {
        "crosses_above": prev < value <= price,
        "crosses_below": prev > value >= price,
        "above": price > value,
        "below": price < value,
    }[cond]
    if hit and freq == "every_time" and last is not None:
        return bool((now - last).total_seconds() >= cooldown)
    return hit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--per-user", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    opts = parser.parse_args()
    print(f"machine: {h.machine()}")
    rng = random.Random(7)
    with h.server() as srv, h.app_database(srv, "ctbench_alerts") as db:
        setup(db, opts.users, opts.per_user)
        h.checkpoint(db.owner)
        mine, ref, counts = [], [], set()
        for _ in range(opts.rounds):
            prices = tick(rng)
            took, fired = ours(db.app, prices)
            ref_took, ref_fired = naive(db.app, prices)
            mine.append(took)
            ref.append(ref_took)
            counts.add((fired, ref_fired))
            print(f"round: ours {took:.1f} ms ({fired} fired), naive {ref_took:.1f} ms"
                  f" ({ref_fired} would fire)")  # fmt: skip
    value, reference = statistics.median(mine), statistics.median(ref)
    same = all(a == b for a, b in counts)
    h.emit(
        {
            "benchmark": "alert_eval",
            "value": round(value, 1),
            "unit": f"ms to evaluate {opts.users * opts.per_user} alerts on one refresh of"
            f" {len(SYMBOLS)} symbols (median of {opts.rounds})",
            "reference": round(reference, 1),
            "ratio": round(reference / value, 2),
            "target": TARGET_MS,
            "same_firings": same,
            "pass": value < TARGET_MS and same,
        }
    )


if __name__ == "__main__":
    main()
