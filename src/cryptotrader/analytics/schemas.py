"""Tear sheets: one answer shape for an account's, a portfolio's and a backtest's
performance, so the dashboard draws all three with one component."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from cryptotrader.accounts.schemas import EXAMPLE_ACCOUNT_ID
from cryptotrader.numbers import Money, Ratio

Period = Literal["30d", "90d", "ytd", "1y", "all"]
WindowName = Literal["MTD", "3M", "YTD", "1Y", "All"]
SubjectKind = Literal["account", "portfolio", "backtest"]
PERIODS: tuple[Period, ...] = ("30d", "90d", "ytd", "1y", "all")
WINDOWS: tuple[WindowName, ...] = ("MTD", "3M", "YTD", "1Y", "All")

_T0, _T1, _T2 = "2024-12-31T00:00:00Z", "2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z"
_Z = "0.00000000"
_STATS: JsonDict = {
    "window": "All",
    "start": _T0,
    "end": _T2,
    "points": 3,
    "total_return": "0.00800000",
    "annual_return": "3.27093106",
    "volatility": "0.35424000",
    "sharpe_ratio": "8.50000000",
    "sortino_ratio": None,
    "max_drawdown": "0.00000000",
    "max_drawdown_start": None,
    "max_drawdown_end": None,
    "current_drawdown": "0.00000000",
    "calmar_ratio": None,
    "alpha": "0.81000000",
    "beta": "0.41000000",
    "correlation": "1.00000000",
    "total_trades": 2,
    "winning_trades": 1,
    "losing_trades": 1,
    "win_rate": "0.50000000",
    "avg_win": "950.00000000",
    "avg_loss": "-150.00000000",
    "profit_factor": "6.33333333",
    "expectancy": "400.00000000",
    "best_trade": "950.00000000",
    "worst_trade": "-150.00000000",
}
_YEAR: JsonDict = {
    "year": 2025,
    "months": [
        {"month": m, "total_return": "0.00800000" if m == 1 else None} for m in range(1, 13)
    ],
    "year_return": "0.00800000",
}
EXAMPLE_PERFORMANCE: JsonDict = {
    "subject": {"kind": "account", "id": EXAMPLE_ACCOUNT_ID, "name": "Swing BTC"},
    "period": "all",
    "as_of": _T2,
    "periods_per_year": 365.0,
    "series": [
        {"at": _T0, "equity": "100000.00000000", "benchmark": "100000.00000000", "drawdown": _Z},
        {"at": _T1, "equity": "100300.00000000", "benchmark": "100120.00000000", "drawdown": _Z},
        {"at": _T2, "equity": "100800.00000000", "benchmark": None, "drawdown": _Z},
    ],
    "rolling": {
        "window": 30,
        "points": [{"at": t, "sharpe_ratio": None, "volatility": None} for t in (_T0, _T1, _T2)],
    },
    "monthly_returns": [_YEAR],
    "drawdowns": [],
    "stats": [_STATS],
}


class Subject(BaseModel):
    """What the tear sheet is of."""

    kind: SubjectKind
    id: UUID
    name: str


class PerformancePoint(BaseModel):
    """One point of the drawn curve."""

    at: datetime = Field(
        description="A daily point is labelled with its UTC day (00:00) and holds that day's "
        "close; a backtest's point is its bar's time. The first is the period's base (the "
        "close before it starts)."
    )
    equity: Money
    benchmark: Money | None = Field(
        description="BTC bought and held, scaled to the equity at the period's first point "
        "where its price is known; null where the price is unknown."
    )
    drawdown: Ratio = Field(description="The fall from the drawn curve's running high (0 to -1).")


class RollingPoint(BaseModel):
    at: datetime
    sharpe_ratio: Ratio | None
    volatility: Ratio | None = Field(description="Annualised.")


class RollingStats(BaseModel):
    """Sharpe ratio and annualised volatility over the ``window`` returns ending at each
    drawn point (the whole history's, so the period's first points have one too); null
    until there are as many."""

    window: int = Field(description="Returns per window (30: 30 days for daily points).")
    points: list[RollingPoint]


class MonthReturn(BaseModel):
    month: int = Field(ge=1, le=12)
    total_return: Ratio | None = Field(description="Null without data that month.")


class MonthlyReturns(BaseModel):
    """One calendar year: each month's return compounded from the equity at month ends."""

    model_config = ConfigDict(json_schema_extra={"examples": [_YEAR]})

    year: int
    months: list[MonthReturn] = Field(min_length=12, max_length=12, description="Jan to Dec.")
    year_return: Ratio | None = Field(description="From the last close before the year.")


class DrawdownPeriod(BaseModel):
    """One fall from a high back to it (pyfolio's drawdown table; never overlapping)."""

    start: datetime = Field(description="The peak the fall began from.")
    trough: datetime
    recovery: datetime | None = Field(description="Back at the peak; null if not yet.")
    depth: Ratio = Field(description="Peak to trough, a positive fraction (0.25 is 25 %).")


class WindowStats(BaseModel):
    """metrics.summarize over one window's equity and the round trips closed in it."""

    window: WindowName = Field(
        description="MTD, 3M, YTD, 1Y (calendar, to the tear sheet's day) or All."
    )
    start: datetime | None = Field(description="The window's base point (null: no data).")
    end: datetime | None
    points: int
    total_return: Ratio | None
    annual_return: Ratio | None
    volatility: Ratio | None
    sharpe_ratio: Ratio | None
    sortino_ratio: Ratio | None
    max_drawdown: Ratio | None
    max_drawdown_start: datetime | None
    max_drawdown_end: datetime | None
    current_drawdown: Ratio | None
    calmar_ratio: Ratio | None
    alpha: Ratio | None = Field(description="Null unless BTC's price is known at every point.")
    beta: Ratio | None
    correlation: Ratio | None
    total_trades: int = Field(description="Closed round trips whose close is in the window.")
    winning_trades: int
    losing_trades: int
    win_rate: Ratio | None
    avg_win: Money | None
    avg_loss: Money | None
    profit_factor: Ratio | None
    expectancy: Money | None
    best_trade: Money | None
    worst_trade: Money | None


class TearSheet(BaseModel):
    """The figures of a tear sheet (what :func:`build_tearsheet` makes from a curve)."""

    period: Period
    as_of: datetime | None = Field(description="The last point's time (null: no data yet).")
    periods_per_year: float
    series: list[PerformancePoint] = Field(description="The period's points, oldest first.")
    rolling: RollingStats
    monthly_returns: list[MonthlyReturns] = Field(description="All the history, oldest first.")
    drawdowns: list[DrawdownPeriod] = Field(description="The period's five deepest, deepest first.")
    stats: list[WindowStats] = Field(description="MTD, 3M, YTD, 1Y and All, whatever the period.")


class Performance(TearSheet):
    """A tear sheet of an account (its current epoch), a portfolio (its flow-adjusted
    equity index) or a backtest (its bars)."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_PERFORMANCE]})

    subject: Subject
