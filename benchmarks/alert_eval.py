"""Alert evaluation: one price refresh of 100 symbols over 100,000 active alerts.

Setup (not measured): 1,000 users, 100 alerts each (100,000) of mixed types: 90 price
alerts on 100 symbols (crosses above and below, above, below; once, once per bar, every
time with a one-minute cooldown; levels spread +-10 % around the price), 8 account alerts
(drawdown from peak, a position's share of equity, the day's loss against the limit, cash
below a level) and 2 portfolio alerts (value above, below) on each user's account, which
holds 5 of the symbols in a portfolio. Then a first refresh at the starting prices is
evaluated and committed, as the alert worker would have: the alerts already true fire there
(TradingView fires an "above" at once), so the measured refresh sees the state a live
system is in.

Measured, in the same run, on the same rows (median of 5 rounds, each rolled back so every
round sees the same state): a refresh that moves each symbol by up to 1 % (the cache's
prices updated and the tick recorded, as market/cache.py does, before the clock starts),
then
  * ours: ``private.evaluate_alert_ticks_v2``, as the alert worker runs it: every price
    alert of the 100 symbols in one statement, then the account and portfolio alerts of
    the accounts holding them, the firings, the alerts' state and a notification each
    written, in one transaction;
  * the reference: the naive way, in Python: read the same active alerts, the accounts,
    their positions and the prices, and evaluate each alert's condition, frequency and
    cooldown in a loop. It writes nothing, so it is a lower bound of what a naive
    evaluator costs.

Both must find the same firings. Target: under 500 ms on 2 cores. The last line printed is
one JSON object.

    .venv/bin/python benchmarks/alert_eval.py [--users 1000] [--per-user 100]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg

import _harness as h

SYMBOLS = [f"S{i:03d}" for i in range(100)]
TARGET_MS = 500.0
ACCOUNT_ALERTS = [("drawdown_pct", 2), ("drawdown_pct", 8), ("position_pct", 30),
                  ("position_pct", 60), ("daily_loss_pct", 50), ("daily_loss_pct", 90),
                  ("cash_below", 50000), ("cash_below", 5000)]  # fmt: skip


def setup(db: h.AppDatabase, users: int, per_user: int) -> None:
    pairs = h.create_accounts(db.owner, users)
    price_alerts = per_user - len(ACCOUNT_ALERTS) - 2
    with psycopg.connect(db.owner) as conn, conn.transaction():
        conn.execute("SELECT setseed(0.7)")
        conn.execute(
            "INSERT INTO market_data_cache (symbol, name, price_usd, price_aud)"
            " SELECT s, s, 100, 150 FROM unnest(%s::text[]) s"
            " ON CONFLICT (symbol) DO UPDATE SET price_usd = 100, last_updated = now()",
            [SYMBOLS],
        )
        users_, accounts = [u for u, _ in pairs], [a for _, a in pairs]
        # each account: 100,000 of cash less 5 positions of 20 units bought at 100
        conn.execute(
            "UPDATE paper_trading_accounts SET balance = 90000, initial_balance = 100000,"
            "   max_daily_loss = 1000, day_realized_pnl = -(random() * 1000)::numeric(12, 2),"
            "   day_realized_date = (now() AT TIME ZONE 'UTC')::date"
            " WHERE id = ANY(%s::uuid[])",
            [accounts],
        )
        conn.execute(
            "INSERT INTO account_positions (user_id, account_id, symbol, quantity,"
            "   avg_entry_price, cost_basis)"
            " SELECT u, a, 'S' || lpad(((i * 5 + k) %% 100)::text, 3, '0'), 20, 100, 2000"
            " FROM unnest(%s::uuid[], %s::uuid[]) WITH ORDINALITY AS x(u, a, i),"
            "   generate_series(0, 4) k",
            [users_, accounts],
        )
        conn.execute(
            "INSERT INTO risk_alerts (user_id, alert_type, symbol, trigger_condition,"
            "   trigger_value, frequency, bar_seconds, cooldown_seconds, created_at)"
            " SELECT u::uuid, 'price', 'S' || lpad((g %% 100)::text, 3, '0'),"
            "   (ARRAY['crosses_above', 'crosses_below', 'above', 'below'])[1 + g %% 4],"
            "   round((90 + random() * 20)::numeric, 2),"
            "   (ARRAY['once', 'once_per_bar', 'every_time'])[1 + (g / 4) %% 3], 3600, 60,"
            "   now() - interval '1 hour'"
            " FROM unnest(%s::text[]) AS u, generate_series(1, %s) g",
            [users_, price_alerts],
        )
        conn.execute(
            "INSERT INTO risk_alerts (user_id, account_id, alert_type, trigger_condition,"
            "   trigger_value, frequency, cooldown_seconds, created_at)"
            " SELECT u, a, 'account', c, v, (ARRAY['once', 'every_time'])[1 + n %% 2], 60,"
            "   now() - interval '1 hour'"
            " FROM unnest(%s::uuid[], %s::uuid[]) AS x(u, a),"
            "   unnest(%s::text[], %s::numeric[]) WITH ORDINALITY AS y(c, v, n)",
            [users_, accounts, [c for c, _ in ACCOUNT_ALERTS], [v for _, v in ACCOUNT_ALERTS]],
        )
        conn.execute(
            "WITH p AS (INSERT INTO portfolios (user_id, name)"
            "   SELECT u, 'Bench' FROM unnest(%s::uuid[]) u RETURNING id, user_id),"
            " pa AS (INSERT INTO portfolio_accounts (portfolio_id, account_id, user_id)"
            "   SELECT p.id, a.id, p.user_id FROM p"
            "   JOIN paper_trading_accounts a ON a.user_id = p.user_id AND a.is_default)"
            " INSERT INTO risk_alerts (user_id, portfolio_id, alert_type, trigger_condition,"
            "   trigger_value, frequency, cooldown_seconds, created_at)"
            " SELECT p.user_id, p.id, 'portfolio', c, v, 'every_time', 60,"
            "   now() - interval '1 hour'"
            " FROM p, (VALUES ('value_above', 100500), ('value_below', 99500)) AS y(c, v)",
            [users_],
        )
        conn.execute("ANALYZE")


def warm_up(app: str) -> None:
    """The first refresh, at the starting prices, evaluated and committed."""
    conn = h.connect_as_service(app)
    try:
        with conn.transaction():
            _record(conn, {s: (Decimal(100), Decimal(100)) for s in SYMBOLS})
            conn.execute("SELECT private.evaluate_alert_ticks_v2(10, interval '120 seconds')")
    finally:
        conn.close()


def tick(rng: random.Random) -> dict[str, tuple[Decimal, Decimal]]:
    return {
        s: (Decimal(100), Decimal(100) + Decimal(rng.randint(-100, 100)) / 100) for s in SYMBOLS
    }


def _record(conn: psycopg.Connection[Any], prices: dict[str, tuple[Decimal, Decimal]]) -> None:
    now = datetime.now(UTC)
    conn.execute(
        "UPDATE market_data_cache m SET price_usd = q.price, last_updated = now()"
        " FROM unnest(%s::text[], %s::numeric[]) AS q(symbol, price) WHERE m.symbol = q.symbol",
        [list(prices), [n for _, n in prices.values()]],
    )
    conn.execute(
        "INSERT INTO private.alert_ticks (symbols, prev, prices, quoted_at, as_of)"
        " VALUES (%s, %s::numeric[], %s::numeric[], %s::timestamptz[], now())",
        [list(prices), [p for p, _ in prices.values()], [n for _, n in prices.values()],
         [now] * len(prices)],
    )  # fmt: skip


def ours(app: str, prices: dict[str, tuple[Decimal, Decimal]]) -> tuple[float, int]:
    conn = h.connect_as_service(app)
    try:
        conn.autocommit = False
        _record(conn, prices)
        started = time.perf_counter()
        row = conn.execute(
            "SELECT fired FROM private.evaluate_alert_ticks_v2(1, interval '120 seconds')"
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
        conn.autocommit = False
        _record(conn, prices)  # the same prices in the cache, not timed
        now = datetime.now(UTC)
        started = time.perf_counter()
        alerts = conn.execute(
            "SELECT id, alert_type, symbol, trigger_condition, trigger_value, frequency,"
            "   bar_seconds, cooldown_seconds, last_fired_at, expires_at, account_id,"
            "   portfolio_id, peak_value FROM risk_alerts WHERE status = 'active'"
            "   AND alert_type IN ('price', 'account', 'portfolio')"
        ).fetchall()
        figures = _account_figures(conn, now)
        members = defaultdict(list)
        for pid, aid in conn.execute("SELECT portfolio_id, account_id FROM portfolio_accounts"):
            members[pid].append(aid)
        held = {
            a for (a,) in conn.execute(
                "SELECT DISTINCT account_id FROM account_positions"
                " WHERE quantity > 0 AND symbol = ANY(%s)", [list(prices)])
        }  # fmt: skip
        fired = sum(1 for r in alerts if _fires(r, prices, figures, members, held, now))
        took = (time.perf_counter() - started) * 1000
        conn.rollback()
    finally:
        conn.close()
    return took, fired


def _account_figures(conn: psycopg.Connection[Any], now: datetime) -> dict[Any, dict[str, Any]]:
    quotes = dict(conn.execute("SELECT symbol, price_usd FROM market_data_cache").fetchall())
    figures: dict[Any, dict[str, Any]] = {}
    today = now.date()
    for aid, bal, res, init, mdl, day_pnl, day in conn.execute(
        "SELECT id, balance, reserved_balance, initial_balance, max_daily_loss,"
        "   day_realized_pnl, day_realized_date FROM paper_trading_accounts"
    ):
        loss = max(-day_pnl, 0) / mdl * 100 if day == today and mdl > 0 else Decimal(0)
        figures[aid] = {"cash": bal, "equity": bal + res, "largest": Decimal(0),
                        "initial": init, "daily_loss_pct": loss}  # fmt: skip
    for aid, sym, qty in conn.execute(
        "SELECT account_id, symbol, quantity FROM account_positions WHERE quantity > 0"
    ):
        if sym in quotes and aid in figures:
            value = qty * quotes[sym]
            figures[aid]["equity"] += value
            figures[aid]["largest"] = max(figures[aid]["largest"], value)
    return figures


def _frequency_allows(r: Any, now: datetime) -> bool:
    freq, bar, cooldown, last, expires = r[5], r[6], r[7], r[8], r[9]
    if expires is not None and expires <= now:
        return False
    if last is None:
        return True
    if freq == "once_per_bar":
        return int(last.timestamp() // bar) != int(now.timestamp() // bar)
    if freq == "every_time":
        return bool((now - last).total_seconds() >= cooldown)
    return True


def _fires(
    r: Any,
    prices: dict[str, tuple[Decimal, Decimal]],
    figures: dict[Any, dict[str, Any]],
    members: dict[Any, list[Any]],
    held: set[Any],
    now: datetime,
) -> bool:
    kind, symbol, cond, value = r[1], r[2], r[3], r[4]
    if kind == "price":
        if symbol not in prices:
            return False
        prev, price = prices[symbol]
        hit = {
            "crosses_above": prev < value <= price,
            "crosses_below": prev > value >= price,
            "above": price > value,
            "below": price < value,
        }[cond]
    elif kind == "account":
        if r[10] not in held:
            return False  # a refresh moves the accounts holding what it moved
        f = figures[r[10]]
        peak = max(x for x in (r[12], f["equity"], f["initial"]) if x is not None)
        figure = {
            "drawdown_pct": round((peak - f["equity"]) / peak * 100, 4),
            "position_pct": round(f["largest"] / f["equity"] * 100, 4),
            "daily_loss_pct": round(f["daily_loss_pct"], 4),
            "cash_below": f["cash"],
        }[cond]
        hit = figure < value if cond == "cash_below" else figure >= value
    else:
        total = sum(figures[a]["equity"] for a in members[r[11]])
        hit = total > value if cond == "value_above" else total < value
    return hit and _frequency_allows(r, now)


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
        warm_up(db.app)
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
