"""Tear sheets of an account, a portfolio and a backtest: their curves loaded, the figures
made by analytics/tearsheet.py (metrics.py's formulas).

- An **account**'s curve is its ``account_analytics`` daily closes in its current epoch,
  from the epoch's start (dated the day before the first row); its round trips are the
  epoch's ``account_round_trips``.
- A **portfolio**'s is its ``portfolio_analytics`` flow-adjusted equity index (adding a
  member is a flow, not a return); its round trips are its members' in their current
  epochs, from the day each joined.
- A **backtest**'s is its stored ``equity_curve`` at its bars (the timeframe's
  annualisation), with BTC's close of the same bars as the benchmark, and its closed
  trades. A curve stored thinned (more bars than the 2,000 points kept) is no regular
  series of bars: it is taken at UTC days instead, the last stored point of each day.

Each loader takes the caller's unit (RLS: another user's subject is not found).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.analytics import metrics
from cryptotrader.analytics.schemas import Performance, Period, Subject, SubjectKind, TearSheet
from cryptotrader.analytics.tearsheet import RoundTrip, build_tearsheet
from cryptotrader.backtest import service as backtests
from cryptotrader.db.calls import fetch_all, fetch_one, require
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.market.schemas import TIMEFRAME_SECONDS
from cryptotrader.portfolios.errors import PortfolioNotFound

Q = load_queries("cryptotrader.analytics")
DAY = timedelta(days=1)
DAILY = float(metrics.DAYS_PER_YEAR)


def _number(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _today() -> date:
    return datetime.now(UTC).date()


def _daily_curve(
    rows: Sequence[dict[str, Any]],
) -> tuple[list[datetime], list[float], list[float | None]]:
    """Daily rows as points labelled with their day, after the start point."""
    if not rows:
        return [], [], []
    first = rows[0]
    times = [_midnight(first["day"] - DAY), *(_midnight(r["day"]) for r in rows)]
    equity = [float(first["start_equity"]), *(float(r["equity"]) for r in rows)]
    bench = [_number(first["start_benchmark"]), *(_number(r["benchmark"]) for r in rows)]
    return times, equity, bench


def _trips(rows: Sequence[dict[str, Any]]) -> list[RoundTrip]:
    return [(r["closed_at"], float(r["pnl"])) for r in rows]


def _answer(kind: SubjectKind, subject_id: UUID, name: str, sheet: TearSheet) -> Performance:
    subject = Subject(kind=kind, id=subject_id, name=name)
    return Performance.model_validate(dict(sheet) | {"subject": subject})


async def account_performance(conn: Conn, account_id: UUID, period: Period) -> Performance:
    """The tear sheet of one of the caller's accounts, over its current epoch. Raises
    AccountNotFound."""
    account = require(
        await fetch_one(conn, Q["account_subject"], {"account_id": account_id}), AccountNotFound()
    )
    params = {"account_id": account_id, "epoch": account["epoch"]}
    times, equity, bench = _daily_curve(await fetch_all(conn, Q["account_curve"], params))
    trips = _trips(await fetch_all(conn, Q["account_round_trips"], params))
    sheet = build_tearsheet(
        times, equity, bench, trips, periods_per_year=DAILY, period=period, today=_today()
    )
    return _answer("account", account_id, account["name"], sheet)


async def portfolio_performance(conn: Conn, portfolio_id: UUID, period: Period) -> Performance:
    """The tear sheet of one of the caller's portfolios (its flow-adjusted equity index).
    Raises PortfolioNotFound."""
    params = {"portfolio_id": portfolio_id}
    portfolio = require(await fetch_one(conn, Q["portfolio_subject"], params), PortfolioNotFound())
    times, equity, bench = _daily_curve(await fetch_all(conn, Q["portfolio_curve"], params))
    trips = _trips(await fetch_all(conn, Q["portfolio_round_trips"], params))
    sheet = build_tearsheet(
        times, equity, bench, trips, periods_per_year=DAILY, period=period, today=_today()
    )
    return _answer("portfolio", portfolio_id, portfolio["name"], sheet)


def _bar_ms(timeframe: str | None, times: Sequence[datetime]) -> int:
    if timeframe in TIMEFRAME_SECONDS:
        return TIMEFRAME_SECONDS[timeframe] * 1000
    if len(times) < 2:
        return metrics.DAY_MS
    steps = sorted(int((b - a).total_seconds() * 1000) for a, b in itertools.pairwise(times))
    return max(1, steps[len(steps) // 2])


def _daily_closes(points: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    """The last point of each UTC day (the points ascending)."""
    last: dict[date, tuple[datetime, float]] = {}
    for at, value in points:
        last[at.astimezone(UTC).date()] = (at, value)
    return list(last.values())


async def backtest_performance(conn: Conn, session_id: UUID, period: Period) -> Performance:
    """The tear sheet of one of the caller's backtests over its bars (empty until it
    completes); its windows end at its last bar's day. Raises SessionNotFound."""
    session = await backtests.get_session(conn, session_id)
    points = [(datetime.fromisoformat(t), float(v)) for t, v in session["equity_curve"] or []]
    bars = int((session["results_data"] or {}).get("bars") or len(points))
    timeframe: str | None = session["timeframe"]
    bar = timedelta(milliseconds=_bar_ms(timeframe, [t for t, _ in points]))
    thinned = len(points) < bars
    if thinned:
        points, bar = _daily_closes(points), DAY
    closes = await fetch_all(
        conn,
        Q["benchmark_closes"],
        {"timeframe": timeframe or "", "times": [t for t, _ in points]},
    )
    price = {r["open_time"]: float(r["close"]) for r in closes}
    bench = [price.get(t) for t, _ in points]
    times = (
        [_midnight(t.astimezone(UTC).date()) for t, _ in points]
        if thinned
        else [t for t, _ in points]
    )
    trips = [
        (datetime.fromisoformat(t["exit_time"]), float(t["pnl"]))
        for t in session["trade_history"] or []
        if t.get("closed", True)
    ]
    sheet = build_tearsheet(
        times,
        [v for _, v in points],
        bench,
        trips,
        periods_per_year=metrics.periods_per_year(int(bar.total_seconds() * 1000)),
        period=period,
        today=times[-1].astimezone(UTC).date() if times else _today(),
        bar=bar,
    )
    return _answer("backtest", session_id, session["session_name"], sheet)
