"""Daily analytics from history (migration 0030): an account that traded for 100 days, its
rows written by the daily step one day at a time, checked day by day against
analytics/metrics.py on an equity curve rebuilt here in plain Python from the same trades
and closes, and against empyrical on the same returns; a backfill and a run after a missed
day give the same rows; the portfolio's snapshots and analytics follow its members."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import empyrical
import numpy as np
import psycopg
import pytest

from cryptotrader.analytics import metrics
from cryptotrader.analytics import service as analytics
from cryptotrader.db.session import open_pool
from tests.support import Row, TestDatabase, create_user

DAYS = 100
SYMBOLS = ("BTC", "ETH", "SOL")
FEE_RATE = Decimal("0.001")
TODAY = datetime.now(UTC).date()
FIRST = TODAY - timedelta(days=DAYS)  # the account's first day
LAST = TODAY - timedelta(days=1)
SECOND_JOINS = FIRST + timedelta(days=50)  # a second account, added to the portfolio then
REL = 1e-9


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass
class History:
    user_id: UUID
    account: UUID
    second: UUID
    portfolio: UUID
    initial: Decimal
    closes: dict[str, dict[date, Decimal]]
    trades: list[dict[str, Any]] = field(default_factory=list)


def _walk(rng: random.Random, start: float, days: list[date]) -> dict[date, Decimal]:
    price = start
    out = {}
    for day in days:
        price *= math.exp(rng.gauss(0.0005, 0.03))
        out[day] = Decimal(f"{price:.2f}")
    return out


def _simulate(
    rng: random.Random,
    initial: Decimal,
    closes: dict[str, dict[date, Decimal]],
    first: date,
    last: date,
) -> list[dict[str, Any]]:
    """Buys and sells at about the day's close, cash never below zero, average-cost PnL."""
    cash = initial
    qty = dict.fromkeys(SYMBOLS, Decimal(0))
    cost = dict.fromkeys(SYMBOLS, Decimal(0))
    trades: list[dict[str, Any]] = []
    day = first
    while day <= last:
        for _ in range(rng.choice((0, 0, 1, 2, 3))):
            sym = rng.choice(SYMBOLS)
            price = (closes[sym][day] * Decimal(str(1 + rng.uniform(-0.01, 0.01)))).quantize(
                Decimal("0.01")
            )
            at = midnight(day) + timedelta(seconds=rng.randrange(60, 86_000))
            if qty[sym] > 0 and rng.random() < 0.5:
                amount = (
                    qty[sym]
                    if rng.random() < 0.5
                    else (qty[sym] / 2).quantize(Decimal("0.00000001"))
                )
                value = amount * price
                fee = (value * FEE_RATE).quantize(Decimal("0.00000001"))
                basis = cost[sym] * amount / qty[sym]
                realized = value - basis
                qty[sym] -= amount
                cost[sym] -= basis
                cash += value - fee
                trades.append(
                    {
                        "symbol": sym,
                        "side": "sell",
                        "amount": amount,
                        "price": price,
                        "value": value,
                        "fee": fee,
                        "realized": realized,
                        "at": at,
                    }
                )
            else:
                spend = (cash * Decimal(str(rng.uniform(0.05, 0.3)))).quantize(Decimal("0.01"))
                amount = (spend / price).quantize(Decimal("0.00000001"))
                value = amount * price
                fee = (value * FEE_RATE).quantize(Decimal("0.00000001"))
                if amount <= 0 or value + fee > cash:
                    continue
                qty[sym] += amount
                cost[sym] += value
                cash -= value + fee
                trades.append(
                    {
                        "symbol": sym,
                        "side": "buy",
                        "amount": amount,
                        "price": price,
                        "value": value,
                        "fee": fee,
                        "realized": Decimal(0),
                        "at": at,
                    }
                )
        day += timedelta(days=1)
    trades.sort(key=lambda t: t["at"])
    return trades


def _insert_trades(
    conn: psycopg.Connection[Row], account: UUID, user_id: UUID, trades: list[dict[str, Any]]
) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO paper_trades (user_id, account_id, symbol, side, amount, price,
                 execution_price, total_value, fee, status, realized_pnl, filled_at, closed_at,
                 created_at, timestamp, account_epoch)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'completed', %s, %s, %s, %s, %s, 0)""",
            [
                (
                    user_id,
                    account,
                    t["symbol"],
                    t["side"],
                    t["amount"],
                    t["price"],
                    t["price"],
                    t["value"],
                    t["fee"],
                    t["realized"],
                    t["at"],
                    t["at"],
                    t["at"],
                    t["at"],
                )
                for t in trades
            ],
        )


@pytest.fixture(scope="module")
def history(module_db: TestDatabase) -> History:
    rng = random.Random(20261203)
    days = [FIRST - timedelta(days=3) + timedelta(days=i) for i in range(DAYS + 4)]
    closes = {
        s: _walk(rng, p, days) for s, p in zip(SYMBOLS, (60_000.0, 3_000.0, 150.0), strict=False)
    }
    with module_db.owner() as conn:
        user_id = create_user(conn)
        acct = conn.execute(
            "SELECT id, initial_balance FROM paper_trading_accounts WHERE user_id = %s", [user_id]
        ).fetchone()
        assert acct is not None
        conn.execute(
            "UPDATE paper_trading_accounts SET created_at = %s WHERE id = %s",
            [midnight(FIRST) + timedelta(hours=8), acct["id"]],
        )
        second = conn.execute(
            """SELECT (private.create_account_from_template(%s, (SELECT id FROM account_templates
                        WHERE created_by IS NULL ORDER BY created_at, id LIMIT 1),
                        'Second', false, NULL)).id""",
            [user_id],
        ).fetchone()
        assert second is not None
        second_id = second["id"]
        conn.execute(
            "UPDATE paper_trading_accounts SET created_at = %s WHERE id = %s",
            [midnight(SECOND_JOINS) + timedelta(hours=3), second_id],
        )
        portfolio = conn.execute(
            "SELECT portfolio_id FROM portfolio_accounts WHERE account_id = %s", [acct["id"]]
        ).fetchone()
        assert portfolio is not None
        conn.execute(
            "UPDATE portfolio_accounts SET added_at = %s WHERE account_id = %s",
            [midnight(FIRST) + timedelta(hours=8), acct["id"]],
        )
        conn.execute("DELETE FROM portfolio_accounts WHERE account_id = %s", [second_id])
        conn.execute(
            "INSERT INTO portfolio_accounts (portfolio_id, account_id, user_id, added_at)"
            " VALUES (%s, %s, %s, %s)",
            [
                portfolio["portfolio_id"],
                second_id,
                user_id,
                midnight(SECOND_JOINS) + timedelta(hours=4),
            ],
        )
        conn.execute(
            """INSERT INTO market_candles (symbol, timeframe, open_time, open, high, low, close)
               SELECT s, '1d', t, c, c, c, c
                 FROM unnest(%s::text[], %s::timestamptz[], %s::numeric[]) AS u(s, t, c)
               ON CONFLICT DO NOTHING""",
            [
                [s for s in SYMBOLS for _ in days],
                [midnight(d) for _ in SYMBOLS for d in days],
                [closes[s][d] for s in SYMBOLS for d in days],
            ],
        )
        trades = _simulate(rng, acct["initial_balance"], closes, FIRST, LAST)
        _insert_trades(conn, acct["id"], user_id, trades)
        second_initial = conn.execute(
            "SELECT initial_balance FROM paper_trading_accounts WHERE id = %s", [second_id]
        ).fetchone()
        assert second_initial is not None
        second_trades = _simulate(
            rng, second_initial["initial_balance"], closes, SECOND_JOINS, LAST
        )
        _insert_trades(conn, second_id, user_id, second_trades)
        h = History(
            user_id,
            acct["id"],
            second_id,
            portfolio["portfolio_id"],
            acct["initial_balance"],
            closes,
            trades,
        )
        day = FIRST
        while day <= LAST:  # the daily job, once a day, for these accounts
            conn.execute("SELECT private.analytics_run(%s, %s)", [day, [h.account, h.second]])
            day += timedelta(days=1)
    return h


# ------------------------------------------------------------------ the plain reference


def _equity_curve(
    h: History,
    trades: list[dict[str, Any]],
    first: date,
    last: date,
    initial: Decimal | None = None,
) -> list[float]:
    """[initial, equity at the close of each day]: cash plus positions at that day's close."""
    cash = h.initial if initial is None else initial
    curve = [float(cash)]
    qty = dict.fromkeys(SYMBOLS, Decimal(0))
    i = 0
    day = first
    while day <= last:
        end = midnight(day + timedelta(days=1))
        while i < len(trades) and trades[i]["at"] < end:
            t = trades[i]
            sign = 1 if t["side"] == "buy" else -1
            qty[t["symbol"]] += sign * t["amount"]
            cash += -(t["value"] + t["fee"]) if sign > 0 else t["value"] - t["fee"]
            i += 1
        curve.append(float(cash + sum(q * h.closes[s][day] for s, q in qty.items())))
        day += timedelta(days=1)
    return curve


def _round_trips(trades: list[dict[str, Any]]) -> list[tuple[datetime, float]]:
    """(closed at, net PnL) of every flat-to-flat run of one symbol."""
    qty = dict.fromkeys(SYMBOLS, Decimal(0))
    pnl = dict.fromkeys(SYMBOLS, Decimal(0))
    out = []
    for t in trades:
        sign = 1 if t["side"] == "buy" else -1
        qty[t["symbol"]] += sign * t["amount"]
        pnl[t["symbol"]] += t["realized"] - t["fee"]
        if qty[t["symbol"]] == 0:
            out.append((t["at"], float(pnl[t["symbol"]])))
            pnl[t["symbol"]] = Decimal(0)
    return out


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=REL, abs_tol=1e-12)


def _rows(db: TestDatabase, account: UUID) -> list[Row]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT * FROM account_analytics WHERE account_id = %s ORDER BY analytics_date",
            [account],
        ).fetchall()


COLUMN_OF = {
    "volatility": "volatility",
    "sharpe_ratio": "sharpe_ratio",
    "sortino_ratio": "sortino_ratio",
    "max_drawdown": "max_drawdown",
    "current_drawdown": "current_drawdown",
    "alpha": "alpha",
    "beta": "beta",
    "correlation": "correlation",
    "win_rate": "win_rate",
    "avg_win": "avg_win",
    "avg_loss": "avg_loss",
    "profit_factor": "profit_factor",
    "total_trades": "total_trades",
    "winning_trades": "winning_trades",
    "losing_trades": "losing_trades",
}
CUSTOM = (
    "total_return",
    "annual_return",
    "calmar_ratio",
    "expectancy",
    "best_trade",
    "worst_trade",
)


def test_every_day_equals_metrics_py_on_the_rebuilt_curve(
    module_db: TestDatabase, history: History
) -> None:
    rows = _rows(module_db, history.account)
    assert [r["analytics_date"] for r in rows] == [FIRST + timedelta(days=i) for i in range(DAYS)]
    curve = _equity_curve(history, history.trades, FIRST, LAST)
    bench = [
        float(history.closes["BTC"][FIRST - timedelta(days=1) + timedelta(days=i)])
        for i in range(DAYS + 1)
    ]
    trips = _round_trips(history.trades)
    assert len(trips) >= 10
    for k, row in enumerate(rows):
        end = midnight(row["analytics_date"] + timedelta(days=1))
        pnls = [p for at, p in trips if at < end]
        want = metrics.summarize(
            curve[: k + 2], periods_per_year=365, trade_pnls=pnls, benchmark=bench[: k + 2]
        )
        custom = row["custom_metrics"]
        assert _close(custom["equity"], curve[k + 1]), (k, custom["equity"], curve[k + 1])
        assert _close(row["daily_return"], curve[k + 1] / curve[k] - 1)
        week = curve[max(k + 1 - 7, 0)]
        assert _close(row["weekly_return"], curve[k + 1] / week - 1)
        for key, column in COLUMN_OF.items():
            assert _close(row[column], want[key]), (k, key, row[column], want[key])
        for key in CUSTOM:
            assert _close(custom[key], want[key]), (k, key, custom[key], want[key])
        assert _close(row["benchmark_return"], bench[k + 1] / bench[k] - 1)


def test_the_last_day_equals_empyrical_on_the_same_returns(
    module_db: TestDatabase, history: History
) -> None:
    rows = _rows(module_db, history.account)
    curve = np.array(_equity_curve(history, history.trades, FIRST, LAST))
    bench = np.array(
        [
            float(history.closes["BTC"][FIRST - timedelta(days=1) + timedelta(days=i)])
            for i in range(DAYS + 1)
        ]
    )
    for k in (89, DAYS - 1):  # 90 days, and all 100
        r = curve[1 : k + 2] / curve[: k + 1] - 1
        b = bench[1 : k + 2] / bench[: k + 1] - 1
        row = rows[k]
        assert _close(row["sharpe_ratio"], empyrical.sharpe_ratio(r, annualization=365))
        assert _close(row["sortino_ratio"], empyrical.sortino_ratio(r, annualization=365))
        assert _close(row["volatility"], empyrical.annual_volatility(r, annualization=365))
        assert _close(row["max_drawdown"], -empyrical.max_drawdown(r))
        alpha, beta = empyrical.alpha_beta(r, b, annualization=365)
        assert _close(row["alpha"], alpha) and _close(row["beta"], beta)
        assert _close(
            row["custom_metrics"]["annual_return"], empyrical.annual_return(r, annualization=365)
        )
        assert _close(
            row["custom_metrics"]["calmar_ratio"], empyrical.calmar_ratio(r, annualization=365)
        )


def test_round_trips_are_the_flat_to_flat_runs(module_db: TestDatabase, history: History) -> None:
    with module_db.owner() as conn:
        got = conn.execute(
            "SELECT closed_at, pnl FROM account_round_trips WHERE account_id = %s"
            " ORDER BY closed_at",
            [history.account],
        ).fetchall()
    want = _round_trips(history.trades)
    assert [r["closed_at"] for r in got] == [at for at, _ in want]
    assert all(_close(r["pnl"], p) for r, (_, p) in zip(got, want, strict=True))


SNAPSHOT = (
    "SELECT analytics_date, daily_return, weekly_return, monthly_return, quarterly_return, "
    "yearly_return, volatility, sharpe_ratio, sortino_ratio, max_drawdown, current_drawdown, "
    "total_trades, winning_trades, losing_trades, win_rate, avg_win, avg_loss, profit_factor, "
    "active_positions, largest_position, portfolio_diversity, cash_percentage, benchmark_return, "
    "alpha, beta, correlation, custom_metrics FROM {table} WHERE {key} = ANY(%s) "
    "ORDER BY {key}, analytics_date"
)


def _everything(db: TestDatabase, h: History) -> dict[str, list[Row]]:
    with db.owner() as conn:
        return {
            "accounts": conn.execute(
                SNAPSHOT.format(table="account_analytics", key="account_id"),
                [[h.account, h.second]],
            ).fetchall(),
            "portfolio": conn.execute(
                SNAPSHOT.format(table="portfolio_analytics", key="portfolio_id"), [[h.portfolio]]
            ).fetchall(),
            "snapshots": conn.execute(
                "SELECT snapshot_date, total_value, pnl_daily, pnl_percentage, positions_snapshot "
                "FROM portfolio_snapshots WHERE portfolio_id = %s ORDER BY snapshot_date",
                [h.portfolio],
            ).fetchall(),
            "trips": conn.execute(
                "SELECT account_id, symbol, opened_at, closed_at, pnl, fills"
                " FROM account_round_trips "
                "WHERE account_id = ANY(%s) ORDER BY account_id, closed_at, symbol",
                [[h.account, h.second]],
            ).fetchall(),
        }


@pytest.mark.anyio
async def test_a_backfill_writes_the_rows_the_daily_job_wrote(
    module_db: TestDatabase, history: History
) -> None:
    daily = _everything(module_db, history)
    assert len(daily["accounts"]) == DAYS + (LAST - SECOND_JOINS).days + 1
    pool = open_pool(module_db.app_conninfo, min_size=1, max_size=2)
    await pool.open()
    seen: list[int] = []
    try:
        days = await analytics.backfill(
            pool,
            LAST,
            [history.account, history.second],
            on_day=lambda _d, done, _t: seen.append(done),
        )
    finally:
        await pool.close()
    assert days == DAYS and seen == list(range(1, DAYS + 1))
    assert _everything(module_db, history) == daily


def test_a_missed_day_is_caught_up_to_the_same_rows(
    module_db: TestDatabase, history: History
) -> None:
    daily = _everything(module_db, history)
    with module_db.owner() as conn:  # the last five runs never happened
        conn.execute(
            "SELECT private.analytics_forget(%s, %s)",
            [[history.account, history.second], LAST - timedelta(days=4)],
        )
        conn.execute(
            "SELECT private.analytics_run(%s, %s)", [LAST, [history.account, history.second]]
        )
        rerun = conn.execute(
            "SELECT private.analytics_run(%s, %s)", [LAST, [history.account, history.second]]
        ).fetchone()
    assert rerun is not None
    assert _everything(module_db, history) == daily


def test_the_portfolio_follows_its_members_and_a_new_member_is_a_flow(
    module_db: TestDatabase, history: History
) -> None:
    rows = _everything(module_db, history)
    first_curve = _equity_curve(history, history.trades, FIRST, LAST)
    with module_db.owner() as conn:
        second_initial = conn.execute(
            "SELECT initial_balance FROM paper_trading_accounts WHERE id = %s", [history.second]
        ).fetchone()["initial_balance"]  # type: ignore[index]
        second_trades = conn.execute(
            "SELECT symbol, side, amount, total_value AS value, fee, realized_pnl AS realized,"
            " filled_at AS at "
            "FROM paper_trades WHERE account_id = %s ORDER BY filled_at",
            [history.second],
        ).fetchall()
    second_curve = _equity_curve(history, list(second_trades), SECOND_JOINS, LAST, second_initial)
    snaps = rows["snapshots"]
    assert [s["snapshot_date"] for s in snaps] == [FIRST + timedelta(days=i) for i in range(DAYS)]
    offset = (SECOND_JOINS - FIRST).days
    index = [float(history.initial)]
    for k, snap in enumerate(snaps):
        total = first_curve[k + 1] + (second_curve[k - offset + 1] if k >= offset else 0.0)
        assert _close(snap["total_value"], total)
        base = first_curve[k] + (second_curve[k - offset] if k >= offset else 0.0)
        assert _close(snap["pnl_daily"], total - base)
        index.append(index[-1] * (total / base))
    portfolio = rows["portfolio"]
    last = portfolio[-1]
    bench = [
        float(history.closes["BTC"][FIRST - timedelta(days=1) + timedelta(days=i)])
        for i in range(DAYS + 1)
    ]
    want = metrics.summarize(index, periods_per_year=365, benchmark=bench)
    assert _close(last["custom_metrics"]["equity"], index[-1])
    for key in ("volatility", "sharpe_ratio", "sortino_ratio", "max_drawdown", "alpha", "beta"):
        assert _close(last[key], want[key]), (key, last[key], want[key])
    # the day the second account joined, its money is not a return
    assert abs(float(portfolio[offset]["daily_return"])) < 0.2
    with module_db.owner() as conn:
        p = conn.execute(
            "SELECT total_value, initial_balance FROM portfolios WHERE id = %s", [history.portfolio]
        ).fetchone()
    assert p is not None and _close(p["total_value"], snaps[-1]["total_value"])
    assert p["initial_balance"] == history.initial + second_initial


# ------------------------------------------------------------------ a run in shards

EVERY_ROW = {
    "accounts": "SELECT to_jsonb(t) - 'id' - 'created_at' - 'updated_at' AS r"
    " FROM account_analytics t ORDER BY account_id, analytics_date",
    "portfolios": "SELECT to_jsonb(t) - 'id' - 'created_at' - 'updated_at' AS r"
    " FROM portfolio_analytics t ORDER BY portfolio_id, analytics_date",
    "snapshots": "SELECT to_jsonb(t) - 'id' - 'created_at' AS r"
    " FROM portfolio_snapshots t ORDER BY portfolio_id, snapshot_date",
    "state": "SELECT to_jsonb(t) AS r FROM private.analytics_state t ORDER BY subject_id, day",
    "trips": "SELECT to_jsonb(t) - 'id' AS r"
    " FROM account_round_trips t ORDER BY account_id, closed_at, symbol, pnl",
    "portfolio_columns": "SELECT id, current_balance, total_value, initial_balance, total_pnl,"
    " total_pnl_percentage, positions FROM portfolios ORDER BY id",
}


def _every_row(db: TestDatabase) -> dict[str, list[Row]]:
    with db.owner() as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in EVERY_ROW.items()}


@pytest.mark.anyio
async def test_a_run_in_shards_writes_the_rows_of_one_run(
    module_db: TestDatabase, history: History
) -> None:
    """Twelve more traders over the last ten days; the day run over everyone as one part and
    as three (each its own transaction, at once) writes the same rows, catch-up included."""
    rng = random.Random(31)
    start = LAST - timedelta(days=9)
    with module_db.owner() as conn:
        for _ in range(12):
            user_id = create_user(conn)
            acct = conn.execute(
                "SELECT id, initial_balance FROM paper_trading_accounts WHERE user_id = %s",
                [user_id],
            ).fetchone()
            assert acct is not None
            conn.execute(
                "UPDATE paper_trading_accounts SET created_at = %s WHERE id = %s",
                [midnight(start) + timedelta(hours=2), acct["id"]],
            )
            conn.execute(
                "UPDATE portfolio_accounts SET added_at = %s WHERE account_id = %s",
                [midnight(start) + timedelta(hours=2), acct["id"]],
            )
            trades = _simulate(rng, acct["initial_balance"], history.closes, start, LAST)
            _insert_trades(conn, acct["id"], user_id, trades)
        shards = conn.execute(
            "SELECT count(DISTINCT private.analytics_shard(id, 3)) AS n FROM profiles"
        ).fetchone()
    assert shards is not None and shards["n"] > 1  # the parts are not all one
    pool = open_pool(module_db.app_conninfo, min_size=1, max_size=3)
    await pool.open()
    try:
        # the new accounts are caught up from their first day, then the day is written
        assert await analytics.run_day(pool, LAST, shards=1) == 14
        one = _every_row(module_db)
        with module_db.owner() as conn:
            conn.execute("SELECT private.analytics_forget(NULL, %s)", [start])
        assert await analytics.run_day(pool, LAST, shards=3) == 14
    finally:
        await pool.close()
    assert len(one["accounts"]) == DAYS + (LAST - SECOND_JOINS).days + 1 + 12 * 10
    assert _every_row(module_db) == one
