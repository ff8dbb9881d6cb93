"""One market tick that fills 10,000 resting limit orders: process_market_tick() latency.

Setup (not measured): a fresh database, 100 accounts (by default) with raised limits,
and 10,000 pending GTC limit BUY orders on BTC spread over them, all priced below the
market (between 90 % and 80 % of the cached price), placed through
execute_paper_trade() so each reserves its cash as a real order would; then
VACUUM ANALYZE and a checkpoint. Measured: ONE call of
``SELECT process_market_tick('BTC', <half the market price>)`` as ``service_role``
through the app's login role, in its own transaction (commit included), which crosses
and fills every one of them. Afterwards all of them must be 'completed'.

Target: under 2 seconds. The last line printed is one JSON object with the result.

    .venv/bin/python benchmarks/tick_processing.py [--orders 10000] [--accounts 100]
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal

import psycopg

import _harness as h

SYMBOL = "BTC"
TARGET_S = 2.0

# n resting limit buys for one account, prices spread from hi down towards lo
PLACE = """
SELECT count(*) FROM generate_series(1, %(n)s) g
 CROSS JOIN LATERAL execute_paper_trade(
   %(account)s::uuid, 'BTC', 'buy', %(amount)s::numeric, 'limit',
   round(%(hi)s::numeric - (%(hi)s::numeric - %(lo)s::numeric) * g / %(n)s, 2)) t
 WHERE t.status = 'pending'
"""


def place_orders(
    owner: str, accounts: list[tuple[str, str]], orders: int, amount: Decimal, price: Decimal
) -> None:
    """``orders`` resting limit buys spread over the accounts, one transaction per account.

    As the owner, execute_paper_trade() takes the service path (any account), which
    validates, reserves and records exactly as for the user."""
    hi, lo = round(price * Decimal("0.90"), 2), round(price * Decimal("0.80"), 2)
    per, extra = divmod(orders, len(accounts))
    placed = 0
    with psycopg.connect(owner, autocommit=True) as conn:
        for i, (_user, account) in enumerate(accounts):
            n = per + (1 if i < extra else 0)
            if n == 0:
                continue
            row = conn.execute(
                PLACE, {"n": n, "account": account, "amount": amount, "hi": hi, "lo": lo}
            ).fetchone()
            placed += int(row[0]) if row else 0
        conn.execute("VACUUM ANALYZE")
    if placed != orders:
        raise SystemExit(f"placed {placed} resting orders, expected {orders}")


def measure_tick(app: str, tick_price: Decimal) -> tuple[float, int]:
    """Seconds for one process_market_tick() call (its own transaction), and its result."""
    with h.connect_as_service(app) as conn:
        conn.execute("SELECT 1").fetchall()  # connection fully set up first
        t0 = time.perf_counter()
        row = conn.execute(
            "SELECT process_market_tick(%s, %s::numeric)", [SYMBOL, tick_price]
        ).fetchone()
        elapsed = time.perf_counter() - t0
    return elapsed, int(row[0]) if row else -1


def verify(owner: str, orders: int) -> None:
    with psycopg.connect(owner) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'completed'),"
            "       count(*) FILTER (WHERE status = 'pending'),"
            "       count(*) FILTER (WHERE status NOT IN ('completed', 'pending'))"
            "  FROM paper_trades WHERE order_type = 'limit'"
        ).fetchone()
        reserved = conn.execute(
            "SELECT coalesce(sum(reserved_balance), 0) FROM paper_trading_accounts"
        ).fetchone()
    completed, pending, other = row if row else (0, 0, 0)
    print(f"  after: {completed} completed, {pending} pending, {other} other")
    if completed != orders or pending or other:
        raise SystemExit(f"expected all {orders} orders completed")
    if reserved is None or reserved[0] != 0:
        raise SystemExit(f"cash still reserved after every order filled: {reserved}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10000, help="resting limit orders")
    parser.add_argument("--accounts", type=int, default=100, help="accounts holding them")
    parser.add_argument("--amount", type=Decimal, default=Decimal("0.01"), help="BTC per order")
    opts = parser.parse_args()
    if opts.orders < 1 or opts.accounts < 1:
        parser.error("--orders and --accounts must be at least 1")

    print(f"machine: {h.machine()}")
    with h.server() as srv, h.app_database(srv, "ctbench_tick") as db:
        print(f"server: {srv.describe()}")
        t0 = time.perf_counter()
        accounts = h.create_accounts(db.owner, opts.accounts, SYMBOL)
        price = h.market_price(db.owner, SYMBOL)
        place_orders(db.owner, accounts, opts.orders, opts.amount, price)
        h.checkpoint(db.owner)
        print(
            f"  setup: {opts.orders} resting limit buys on {opts.accounts} accounts"
            f" in {time.perf_counter() - t0:.1f} s (not measured)"
        )
        tick_price = round(price * Decimal("0.5"), 2)
        seconds, done = measure_tick(db.app, tick_price)
        print(f"  process_market_tick('{SYMBOL}', {tick_price}) returned {done}")
        if done != opts.orders:
            raise SystemExit(f"process_market_tick ended {done} orders, expected {opts.orders}")
        verify(db.owner, opts.orders)

    print(
        f"process_market_tick: {seconds:.3f} s for {opts.orders} fills"
        f" ({seconds / opts.orders * 1e6:.0f} µs per fill; target < {TARGET_S} s)"
    )
    h.emit(
        {
            "benchmark": "tick_processing",
            "value": round(seconds, 4),
            "unit": "s",
            "reference": TARGET_S,
            "ratio": round(seconds / TARGET_S, 4),
            "target": TARGET_S,
            "pass": seconds < TARGET_S,
            "orders": opts.orders,
        }
    )


if __name__ == "__main__":
    main()
