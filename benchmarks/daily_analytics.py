"""The daily analytics job for 10,000 accounts with a year of history, against computing the
same numbers in Python per account (the naive reference), in the same run.

Setup (not measured): ``--accounts`` users with their default account opened a year ago
(``--days``), daily candles of eight coins over that year, and about ``--trips`` round trips
per account (a buy, then a sell of the same amount 1-20 days later) as completed fills.
The year of daily rows is then built by the backfill (``analytics.service.backfill``, the
daily step run day by day), which also prints its own speed.

Measured, the best of ``--runs``:
- **ours**: the daily job's work for the next day, ``analytics.service.run_day`` (one
  set-based step over every account, with the portfolios, in ``--shards`` parts by user
  at once), as the jobs worker runs it;
- **reference**: for each account, read its fills, rebuild its daily equity curve from the
  fills and the closes, find its round trips and call ``analytics.metrics.summarize`` (the
  closes are read once and shared, as a well-written per-account job would). It covers the
  accounts of ``--sample`` (default all) and is scaled to all of them.
The two are checked to agree (Sharpe, max drawdown, win rate) on the sampled accounts.

Target: at least 10x faster than the reference and under 60 s.

    .venv/bin/python benchmarks/daily_analytics.py [--accounts 10000] [--days 365]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

import _harness as h
from cryptotrader.analytics import metrics
from cryptotrader.analytics import service as analytics
from cryptotrader.config import Settings
from cryptotrader.db.session import open_pool

SYMBOLS = ("BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "DOT")
TARGET_RATIO = 10.0
TARGET_S = 60.0
INITIAL = Decimal(100_000)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def setup(owner: str, accounts: int, days: int, trips: int, first: date) -> None:
    h.create_accounts(owner, accounts)
    with psycopg.connect(owner) as conn, conn.transaction():
        # the monthly trade and quarterly analytics partitions a platform running for the
        # year has (its maintenance job creates each ahead), not the default partitions
        month = date(first.year, first.month, 1) - timedelta(days=1)
        while month <= datetime.now(UTC).date():
            lo = date(month.year, month.month, 1)
            hi = (lo + timedelta(days=32)).replace(day=1)
            quarter = date(lo.year, 3 * ((lo.month - 1) // 3) + 1, 1)
            conn.execute(
                "SELECT private.create_range_partition('public.paper_trades', %s, 'created_at',"
                " %s, %s)",
                [f"paper_trades_{lo:%Y_%m}", f"{lo} 00:00:00+00", f"{hi} 00:00:00+00"],
            )
            for table, key in (
                ("account_analytics", "analytics_date"),
                ("portfolio_analytics", "analytics_date"),
                ("portfolio_snapshots", "snapshot_date"),
            ):
                conn.execute(
                    "SELECT private.create_range_partition(%s::regclass, %s, %s, %s, %s)",
                    [
                        f"public.{table}",
                        f"{table}_{quarter:%Y}_q{(quarter.month - 1) // 3 + 1}",
                        key,
                        str(quarter),
                        str((quarter + timedelta(days=95)).replace(day=1)),
                    ],
                )
            month = hi
        conn.execute(
            "UPDATE paper_trading_accounts SET initial_balance = %s, balance = %s, created_at = %s",
            [INITIAL, INITIAL, midnight(first) + timedelta(hours=1)],
        )
        conn.execute(
            "UPDATE portfolio_accounts SET added_at = %s", [midnight(first) + timedelta(hours=1)]
        )
        # a seeded random walk per coin, one daily candle a day from the day before the first
        conn.execute("SELECT setseed(0.42)")
        conn.execute(
            """INSERT INTO market_candles (symbol, timeframe, open_time, open, high, low, close)
               SELECT s.symbol, '1d', %(start)s::timestamptz + make_interval(days => d.i),
                      px, px, px, px
                 FROM unnest(%(symbols)s::text[], %(prices)s::numeric[]) AS s(symbol, p0)
                 CROSS JOIN LATERAL (
                   SELECT i, round((s.p0 * exp(sum(random() * 0.06 - 0.0295)
                                    OVER (ORDER BY i)))::numeric, 6) AS px
                     FROM generate_series(0, %(days)s + 1) i) d
               ON CONFLICT DO NOTHING""",
            {
                "start": midnight(first) - timedelta(days=1),
                "symbols": list(SYMBOLS),
                "prices": [60000.0, 3000.0, 150.0, 600.0, 0.6, 0.45, 0.15, 7.0],
                "days": days,
            },
        )
        # round trips: a buy at a day's close, the same amount sold 1-20 days later
        conn.execute(
            """CREATE TEMP TABLE legs AS
               SELECT a.id AS account_id, a.user_id,
                      (%(symbols)s::text[])[1 + floor(random() * %(n)s)::int] AS symbol,
                      o.d AS open_day,
                      least(o.d + 1 + floor(random() * 20)::int, %(last)s) AS close_day,
                      (500 + floor(random() * 2000))::numeric AS spend
                 FROM paper_trading_accounts a
                 CROSS JOIN generate_series(1, %(trips)s) k
                 CROSS JOIN LATERAL (
                   SELECT floor(random() * (%(last)s - 1))::int + k * 0 AS d) o""",
            {"symbols": list(SYMBOLS), "n": len(SYMBOLS), "trips": trips, "last": days - 1},
        )
        conn.execute(
            """INSERT INTO paper_trades (user_id, account_id, symbol, side, amount, price,
                 execution_price, total_value, fee, status, realized_pnl, filled_at, closed_at,
                 created_at, timestamp, account_epoch)
               SELECT l.user_id, l.account_id, l.symbol, t.side, q.qty, t.px, t.px,
                      q.qty * t.px, round(q.qty * t.px * 0.001, 8), 'completed',
                      CASE WHEN t.side = 'sell' THEN q.qty * (t.px - b.close) ELSE 0 END,
                      t.at, t.at, t.at, t.at, 0
                 FROM legs l
                 JOIN market_candles b ON b.symbol = l.symbol AND b.timeframe = '1d'
                  AND b.open_time = %(first)s::timestamptz + make_interval(days => l.open_day)
                 JOIN market_candles c ON c.symbol = l.symbol AND c.timeframe = '1d'
                  AND c.open_time = %(first)s::timestamptz + make_interval(days => l.close_day)
                 CROSS JOIN LATERAL (SELECT round(l.spend / b.close, 8) AS qty) q
                 CROSS JOIN LATERAL (VALUES
                   ('buy', b.close,
                    b.open_time + interval '1 hour' + make_interval(secs => random() * 3600)),
                   ('sell', c.close,
                    c.open_time + interval '20 hours' + make_interval(secs => random() * 3600))
                 ) AS t(side, px, at)""",
            {"first": midnight(first)},
        )
        conn.execute("ANALYZE")


def reference(owner: str, ids: list[str], first: date, day: date) -> tuple[float, dict[str, Any]]:
    """Per account in Python: its fills, its daily equity curve, its round trips, summarize."""
    with psycopg.connect(owner) as conn:
        closes: dict[str, dict[date, float]] = defaultdict(dict)
        for sym, at, close in conn.execute(
            "SELECT symbol, open_time, close FROM market_candles WHERE timeframe = '1d'"
        ):
            closes[sym][at.astimezone(UTC).date()] = float(close)
        started = time.perf_counter()
        out = {}
        days = [first + timedelta(days=i) for i in range((day - first).days + 1)]
        bench = [closes["BTC"][first - timedelta(days=1)]] + [closes["BTC"][d] for d in days]
        for account in ids:
            fills = conn.execute(
                "SELECT symbol, side, amount, total_value, fee, realized_pnl, filled_at"
                " FROM paper_trades WHERE account_id = %s AND status = 'completed'"
                " AND account_epoch = 0 AND filled_at < %s ORDER BY filled_at, id",
                [account, midnight(day + timedelta(days=1))],
            ).fetchall()
            cash = float(INITIAL)
            qty: dict[str, Decimal] = defaultdict(Decimal)
            trip: dict[str, float] = defaultdict(float)
            pnls: list[float] = []
            curve = [cash]
            i = 0
            for d in days:
                end = midnight(d + timedelta(days=1))
                while i < len(fills) and fills[i][6] < end:
                    sym, side, amount, value, fee, realized, _ = fills[i]
                    sign = 1 if side == "buy" else -1
                    qty[sym] += sign * amount
                    cash += float(-(value + fee) if sign > 0 else value - fee)
                    trip[sym] += float(realized - fee)
                    if qty[sym] == 0:
                        pnls.append(trip.pop(sym))
                        del qty[sym]
                    i += 1
                curve.append(cash + sum(float(q) * closes[s][d] for s, q in qty.items()))
            out[account] = metrics.summarize(
                curve, periods_per_year=365, trade_pnls=pnls, benchmark=bench
            )
        return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--trips", type=int, default=36)
    parser.add_argument("--sample", type=int, default=0, help="reference accounts (0: all)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--shards",
        type=int,
        default=Settings.model_fields["analytics_shards"].get_default(call_default_factory=True),
        help="parts of the run at once (default the daily job's: the cores, up to 8)",
    )
    opts = parser.parse_args()
    print(f"machine: {h.machine()}")
    today = datetime.now(UTC).date()
    day = today - timedelta(days=1)  # the day the measured run covers
    first = day - timedelta(days=opts.days)  # a year of history before it
    with h.server() as srv, h.app_database(srv, "ctbench_analytics") as db:
        print(f"server: {srv.describe()}")
        started = time.perf_counter()
        setup(db.owner, opts.accounts, opts.days, opts.trips, first)
        with psycopg.connect(db.owner) as conn:
            fills = conn.execute("SELECT count(*) FROM paper_trades").fetchone()
        print(
            f"setup: {opts.accounts:,} accounts, {fills[0] if fills else 0:,} fills, "
            f"{time.perf_counter() - started:.1f} s"
        )

        async def ours() -> tuple[float, float]:
            pool = open_pool(db.app, min_size=1, max_size=max(2, opts.shards))
            await pool.open()
            try:
                started = time.perf_counter()
                shown = [0.0]

                def progress(d: date, done: int, total: int) -> None:
                    if time.perf_counter() - shown[0] > 30:
                        shown[0] = time.perf_counter()
                        print(f"  backfill {done}/{total} days ({d})", flush=True)

                await analytics.backfill(
                    pool, day - timedelta(days=1), on_day=progress, shards=opts.shards
                )
                backfill_s = time.perf_counter() - started
                print(
                    f"history: {opts.days} days backfilled in {backfill_s:.1f} s "
                    f"({backfill_s / opts.days:.2f} s a day)"
                )
                best = math.inf
                for _ in range(opts.runs):
                    h.checkpoint(db.owner)
                    started = time.perf_counter()
                    count = await analytics.run_day(pool, day, shards=opts.shards)
                    best = min(best, time.perf_counter() - started)
                    print(
                        f"ours: the day's rows for {count:,} accounts in "
                        f"{time.perf_counter() - started:.2f} s"
                    )
                return best, backfill_s
            finally:
                await pool.close()

        ours_s, _ = asyncio.run(ours())
        with psycopg.connect(db.owner) as conn:
            ids = [
                str(r[0])
                for r in conn.execute(
                    "SELECT id FROM paper_trading_accounts ORDER BY id"
                ).fetchall()
            ]
            sample = ids if opts.sample <= 0 else ids[:: max(1, len(ids) // opts.sample)]
            ref_s, want = reference(db.owner, sample, first, day)
            rows = {
                str(r[0]): r
                for r in conn.execute(
                    "SELECT account_id, sharpe_ratio, max_drawdown, win_rate FROM account_analytics"
                    " WHERE analytics_date = %s AND account_id = ANY(%s)",
                    [day, sample],
                ).fetchall()
            }
        # (the reference carries cash in floats over the year, ours in NUMERIC: they agree to
        # about 1e-9 relative; the exact equality is tests/analytics/test_daily_history.py's)
        for account, summary in want.items():
            _, sharpe, mdd, win = rows[account]
            for name, got, expect in (
                ("sharpe_ratio", sharpe, summary["sharpe_ratio"]),
                ("max_drawdown", mdd, summary["max_drawdown"]),
                ("win_rate", win, summary["win_rate"]),
            ):
                if (got is None) != (expect is None) or (
                    got is not None and not math.isclose(float(got), float(expect), rel_tol=1e-6)
                ):
                    raise SystemExit(f"{account} {name}: ours {got} != reference {expect}")
        ref_all = ref_s * len(ids) / len(sample)
        print(
            f"reference: {len(sample):,} accounts in {ref_s:.2f} s"
            f" ({ref_all:.1f} s for {len(ids):,}); the two agree"
        )
        ratio = ref_all / ours_s
        h.emit(
            {
                "benchmark": "daily_analytics",
                "value": round(ours_s, 3),
                "unit": "s",
                "reference": round(ref_all, 3),
                "ratio": round(ratio, 2),
                "target": TARGET_RATIO,
                "pass": ratio >= TARGET_RATIO and ours_s < TARGET_S,
                "accounts": len(ids),
                "shards": opts.shards,
                "days": opts.days,
            }
        )


if __name__ == "__main__":
    main()
