"""The leaderboard of the listed traders, ranked by the Deflated Sharpe Ratio, and a listed
trader's public performance (docs/social.md, "Leaderboard").

A trader's **track** over a period is their daily returns (their accounts' combined,
flow-adjusted equity) over the UTC days from the later of the period's start and their
listing (migration 0036's ``leaderboard_tracks``, which reads nothing of an unlisted
trader and gives out returns and counts, never money or accounts). From it, with
analytics/metrics.py's formulas: the compounded return, the deepest drawdown, the Sharpe
ratio annualised over 365 days; the win rate and count of the round trips closed in it;
and the Deflated Sharpe Ratio (analytics/deflated.py) of the daily Sharpe against the
expected best of the trader's **trials** (every backtest sweep combination and single
backtest they ran), with the variance of those trials' Sharpe ratios (annualised, as the
backtests report them: over 365 for a day). With fewer than two trial Sharpe ratios
known, the variance is that of a Sharpe estimate under the null over the track,
``1 / (T - 1)`` a day.

A trader appears once their track has ``min_days`` daily returns and ``min_trades``
closed round trips (the defaults: Settings' ``leaderboard_min_days`` and
``leaderboard_min_trades``). Ranked by the DSR by default (by return, Sharpe or the
smallest drawdown on request); a trader whose figure is undefined comes last, ties by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from cryptotrader.analytics import deflated, metrics
from cryptotrader.db.calls import fetch_all
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.social.errors import TraderNotFound
from cryptotrader.social.schemas import (
    LeaderboardEntry,
    LeaderboardPeriod,
    LeaderboardSort,
    TraderFigures,
    TraderPerformance,
    TraderPerformancePoint,
)

Q = load_queries("cryptotrader.social")
DAILY = float(metrics.DAYS_PER_YEAR)
PERIOD_DAYS: dict[LeaderboardPeriod, int | None] = {"7d": 7, "30d": 30, "90d": 90, "all": None}
# the figure each order ranks by, and whether more is better
SORT_BY: dict[LeaderboardSort, tuple[str, bool]] = {
    "dsr": ("deflated_sharpe", True),
    "return": ("total_return", True),
    "sharpe": ("sharpe_ratio", True),
    "drawdown": ("max_drawdown", False),
}


@dataclass(frozen=True, slots=True)
class Track:
    """One listed trader's public track, as migration 0036 gives it."""

    trader_id: UUID
    display_name: str
    category: str
    start: date
    days: list[date]
    returns: list[float]
    trades: int
    wins: int
    trials: int
    trials_variance: float | None  # of their annualised Sharpe ratios
    followers: int

    @classmethod
    def of(cls, row: dict[str, Any]) -> Track:
        variance = row["trials_sharpe_variance"]
        return cls(
            trader_id=row["trader_id"],
            display_name=row["display_name"],
            category=row["category"],
            start=row["track_start"],
            days=list(row["days"]),
            returns=[float(r) for r in row["returns"]],
            trades=row["closed_trades"],
            wins=row["winning_trades"],
            trials=row["trials"],
            trials_variance=None if variance is None else float(variance),
            followers=row["followers"],
        )


def period_start(period: LeaderboardPeriod, today: date) -> date | None:
    """The period's first UTC day: ``N`` days before today (so the last ``N`` daily closes
    up to yesterday's), None for all time."""
    days = PERIOD_DAYS[period]
    return None if days is None else today - timedelta(days=days)


def daily_trials_variance(track: Track) -> float:
    """``V`` per day: the trials' variance over 365, or ``1 / (T - 1)`` without one."""
    if track.trials_variance is not None:
        return max(track.trials_variance, 0.0) / DAILY
    observations = len(track.returns)
    return 1.0 / (observations - 1) if observations >= 2 else 0.0


def _ratio(value: float | None) -> Decimal | None:
    return Decimal(repr(value)) if value is not None and math.isfinite(value) else None


def _index(returns: list[float]) -> list[float]:
    """The cumulative return index: 1 at the base, then ``Π (1 + r)``."""
    out = [1.0]
    for r in returns:
        out.append(max(out[-1] * (1.0 + r), 0.0))
    return out


def _deflated(track: Track) -> tuple[float | None, float | None]:
    """The annualised expected maximum Sharpe of the trials, and the DSR."""
    found = deflated.moments(track.returns)
    if found is None:
        return None, None
    threshold = deflated.expected_max_sharpe(track.trials, daily_trials_variance(track))
    dsr = deflated.probabilistic_sharpe_ratio(
        found.sharpe, threshold, found.observations, found.skewness, found.kurtosis
    )
    return threshold * math.sqrt(DAILY), dsr


def figures(track: Track, copiers_pnl: Decimal | None = None) -> TraderFigures:
    """The published figures of a track (metrics.py's formulas, deflated.py's DSR)."""
    equity = _index(track.returns)
    enough = len(equity) >= 2
    threshold, dsr = _deflated(track)
    return TraderFigures(
        track_start=track.start,
        days_active=len(track.returns),
        total_return=_ratio(metrics.total_return(equity)) if enough else None,
        max_drawdown=_ratio(metrics.drawdown(equity).max_drawdown) if enough else None,
        sharpe_ratio=_ratio(metrics.sharpe_ratio(track.returns, DAILY)),
        win_rate=_ratio(track.wins / track.trades) if track.trades else None,
        trades=track.trades,
        followers=track.followers,
        copiers_pnl=copiers_pnl,
        trials=track.trials,
        expected_max_sharpe=_ratio(threshold),
        deflated_sharpe=_ratio(dsr),
    )


def _order(sort: LeaderboardSort) -> Any:
    name, more_is_better = SORT_BY[sort]

    def key(entry: tuple[Track, TraderFigures]) -> tuple[bool, Decimal, str, str]:
        track, shown = entry
        value: Decimal | None = getattr(shown, name)
        signed = Decimal(0) if value is None else (-value if more_is_better else value)
        return (value is None, signed, track.display_name.casefold(), str(track.trader_id))

    return key


async def _tracks(conn: Conn, start: date | None, trader_id: UUID | None = None) -> list[Track]:
    rows = await fetch_all(
        conn, Q["leaderboard_tracks"], {"from_day": start, "trader_id": trader_id}
    )
    return [Track.of(r) for r in rows]


async def _copiers_pnl(conn: Conn, traders: list[UUID]) -> dict[UUID, Decimal | None]:
    if not traders:
        return {}
    rows = await fetch_all(conn, Q["copiers_pnl"], {"ids": traders})
    return {r["id"]: r["pnl"] for r in rows}


async def leaderboard(
    conn: Conn,
    *,
    period: LeaderboardPeriod,
    min_days: int,
    min_trades: int,
    sort: LeaderboardSort = "dsr",
    limit: int = 100,
    after_rank: int = 0,
    today: date | None = None,
) -> list[LeaderboardEntry]:
    """The listed traders with at least ``min_days`` daily returns and ``min_trades``
    closed round trips in the period's track, ranked by ``sort`` (the DSR by default):
    the ``limit`` places after ``after_rank``."""
    start = period_start(period, today or datetime.now(UTC).date())
    eligible = [
        (t, figures(t))
        for t in await _tracks(conn, start)
        if len(t.returns) >= min_days and t.trades >= min_trades
    ]
    ranked = sorted(eligible, key=_order(sort))
    shown = list(enumerate(ranked, start=1))[after_rank : after_rank + limit]
    pnl = await _copiers_pnl(conn, [t.trader_id for _, (t, _) in shown])
    return [
        LeaderboardEntry(
            rank=rank,
            trader_id=t.trader_id,
            display_name=t.display_name,
            category=t.category,
            **f.model_dump(exclude={"copiers_pnl"}),
            copiers_pnl=pnl.get(t.trader_id),
        )
        for rank, (t, f) in shown
    ]


async def trader_performance(
    conn: Conn, trader_id: UUID, period: LeaderboardPeriod, *, today: date | None = None
) -> TraderPerformance:
    """A listed trader's public figures and equity curve (the cumulative return index by
    day, from the track's base) over the period. Raises TraderNotFound (also for one who
    is not listed)."""
    start = period_start(period, today or datetime.now(UTC).date())
    found = await _tracks(conn, start, trader_id)
    if not found:
        raise TraderNotFound()
    track = found[0]
    pnl = (await _copiers_pnl(conn, [track.trader_id])).get(track.trader_id)
    index = _index(track.returns)
    times = [track.days[0] - timedelta(days=1), *track.days] if track.days else []
    drawdowns = metrics.drawdown_series(index)
    points = [
        TraderPerformancePoint(
            at=datetime(d.year, d.month, d.day, tzinfo=UTC),
            index=Decimal(repr(value)),
            drawdown=Decimal(repr(fall)),
        )
        for d, value, fall in zip(times, index, drawdowns, strict=False)
    ]
    return TraderPerformance(
        trader_id=track.trader_id, period=period, figures=figures(track, pnl), points=points
    )
