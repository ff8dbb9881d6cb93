"""Backtest sessions: what a request holds, what ``backtest_config`` stores, and how a
result is shaped as JSON (decimals as strings, times as ISO-8601 UTC).

``backtest_config`` of a session is a :class:`SessionConfig`:
``{"strategy", "parameters", "sweep", "rank_by", "config", "source"}``. ``sweep`` maps a
parameter to its values (already expanded; a request may give ``"5:50:5"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, Self
from uuid import UUID

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    computed_field,
    field_serializer,
    field_validator,
    model_validator,
)

from cryptotrader.backtest.errors import InvalidSweep
from cryptotrader.backtest.sweep import (
    MAX_COMBINATIONS,
    RANK_METRICS,
    ParamValue,
    parse_range,
)
from cryptotrader.backtest.types import BacktestConfig, Trade
from cryptotrader.market.schemas import Timeframe
from cryptotrader.numbers import (
    BPS_PLACES,
    FEE_RATE_PLACES,
    MONEY_PLACES,
    PERCENT_PLACES,
    PRICE_PLACES,
    QUANTITY_PLACES,
    RATIO_PLACES,
    Money,
    Percent,
    Price,
    Quantity,
    Ratio,
    fixed,
    fixed_by_key,
)

EXAMPLE_CREATE: dict[str, Any] = {
    "session_name": "SMA 10/30 on BTC, H1 2021",
    "symbol": "BTC",
    "timeframe": "1h",
    "start": "2021-01-01T00:00:00Z",
    "end": "2021-06-30T00:00:00Z",
    "strategy": "sma_crossover",
    "parameters": {"fast": 10, "slow": 30},
    "sweep": {"fast": [5, 10, 15, 20], "slow": [30, 50]},
    "rank_by": "sharpe_ratio",
    "config": {
        "initial_capital": "10000",
        "fill_model": "fixed",
        "slippage_bps": "5",
        "taker_fee_rate": "0.001",
        "maker_fee_rate": "0.0008",
    },
}


class DataSource(BaseModel):
    """Where the bars come from: stored candles, or a CSV file the CLI read (recorded
    for the record only: a worker never reads files named in a session)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["database", "csv"] = "database"
    path: str | None = Field(default=None, max_length=1000)


class BacktestSpec(BaseModel):
    """What a session runs: the strategy, its parameters, an optional sweep, the broker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: str | None = Field(
        default=None, max_length=100, description="A built-in strategy's name."
    )
    parameters: dict[str, ParamValue | None] = Field(
        default_factory=dict,
        description="The strategy's parameters (GET /strategies/{name}); an unknown one is "
        "refused.",
    )
    sweep: dict[str, list[ParamValue]] | None = Field(
        default=None,
        description="Values per parameter (or range strings like '5:50:5'); a grid run.",
    )
    rank_by: str = Field(default="sharpe_ratio", description="Metric that ranks a sweep.")
    config: BacktestConfig = Field(default_factory=BacktestConfig)

    @field_validator("sweep", mode="before")
    @classmethod
    def _expand_ranges(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        try:
            return {k: parse_range(v) if isinstance(v, str) else v for k, v in value.items()}
        except InvalidSweep as exc:  # pydantic reports ValueErrors only
            raise ValueError(exc.detail) from None

    @field_validator("sweep")
    @classmethod
    def _sweep_size(
        cls, value: dict[str, list[ParamValue]] | None
    ) -> dict[str, list[ParamValue]] | None:
        if value is None:
            return None
        if not value or any(not v for v in value.values()):
            raise ValueError("a sweep needs at least one value for every parameter")
        if math.prod(len(v) for v in value.values()) > MAX_COMBINATIONS:
            raise ValueError(f"a sweep may have at most {MAX_COMBINATIONS:,} combinations")
        return value

    @field_validator("rank_by")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in RANK_METRICS:
            raise ValueError(f"cannot rank by {value!r} (one of {', '.join(RANK_METRICS)})")
        return value


class SessionConfig(BacktestSpec):
    """The ``backtest_config`` JSON of a session."""

    source: DataSource = Field(default_factory=DataSource)


class BacktestCreate(BacktestSpec):
    """A new session as the API takes it: the strategy is a built-in ``strategy`` name or a
    ``strategy_id`` (an ``ai_strategies`` row of the same user; see
    ``service.resolve_strategy``); bars open in ``[start, end)``."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_CREATE]})

    session_name: str | None = Field(default=None, min_length=1, max_length=200)
    symbol: str = Field(min_length=1, max_length=32, examples=["BTC"])
    timeframe: Timeframe = "1h"
    strategy_id: UUID | None = None
    start: datetime = Field(examples=["2021-01-01T00:00:00Z"])
    end: datetime = Field(examples=["2021-06-30T00:00:00Z"])

    @field_validator("symbol")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if (self.strategy is None) == (self.strategy_id is None):
            raise ValueError("give either a strategy name or a strategy_id")
        return self

    def session_request(self) -> SessionRequest:
        """The service's request (bars from the stored candles)."""
        return SessionRequest.model_validate(self.model_dump())


class SessionRequest(BacktestCreate):
    """A new session as the CLI and the services take it: also a data source and a bot."""

    source: DataSource = Field(default_factory=DataSource)
    bot_id: UUID | None = None

    def stored_config(self) -> dict[str, Any]:
        """The ``backtest_config`` JSON."""
        return SessionConfig.model_validate(
            self.model_dump(include=set(SessionConfig.model_fields))
        ).model_dump(mode="json")

    def default_name(self) -> str:
        what = self.strategy or "strategy"
        kind = "sweep" if self.sweep else "backtest"
        return f"{what} {kind} {self.symbol} {self.timeframe}"


# ------------------------------------------------------------------ JSON shaping


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC (``2021-01-01T00:00:00Z``)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    """A value as JSON: Decimal as a string in plain notation (never an exponent),
    datetime as ISO-8601, numpy scalars as Python numbers, NaN and infinities as null;
    containers recursively."""
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else None
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def trade_record(trade: Trade) -> dict[str, Any]:
    """One round trip as JSON (decimals as strings, each with its type's scale: see
    cryptotrader.numbers)."""
    return {
        "entry_time": iso(trade.entry_time),
        "exit_time": iso(trade.exit_time),
        "entry_price": fixed(trade.entry_price, PRICE_PLACES),
        "exit_price": fixed(trade.exit_price, PRICE_PLACES),
        "quantity": fixed(trade.quantity, QUANTITY_PLACES),
        "entry_fee": fixed(trade.entry_fee, MONEY_PLACES),
        "exit_fee": fixed(trade.exit_fee, MONEY_PLACES),
        "pnl": fixed(trade.pnl, MONEY_PLACES),
        "return_pct": fixed(trade.return_pct, PERCENT_PLACES),
        "exit_reason": trade.exit_reason,
        "closed": trade.closed,
        "is_open": trade.is_open,
    }


# ------------------------------------------------------------------ API answers

SessionStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
# A session's results: null until it completes (the columns default to 0).
RESULT_FIELDS = frozenset(
    {
        "final_capital",
        "total_trades",
        "winning_trades",
        "losing_trades",
        "win_rate",
        "profit_factor",
        "max_drawdown",
        "sharpe_ratio",
        "sortino_ratio",
        "calmar_ratio",
    }
)
_UNKNOWN_UNTIL_DONE = "Null until the run completes."
# The decimal strings of the stored documents (backtest_config, results_data), by key.
DOCUMENT_DECIMALS = {
    "initial_capital": MONEY_PLACES,
    "final_capital": MONEY_PLACES,
    "total_return": RATIO_PLACES,
    "slippage_bps": BPS_PLACES,
    "taker_fee_rate": FEE_RATE_PLACES,
    "maker_fee_rate": FEE_RATE_PLACES,
}
EXAMPLE_SESSION_ID = "5e1c7a2b-93d4-4f0e-b6a8-2c9d1f3e7b40"
EXAMPLE_USER_ID = "8f14e45f-ceea-4672-9c1b-7e3d2a6b5c91"
_EXAMPLE_SUMMARY: dict[str, Any] = {
    "id": EXAMPLE_SESSION_ID,
    "session_name": "SMA 10/30 on BTC, H1 2021",
    "symbol": "BTC",
    "timeframe": "1h",
    "strategy": "sma_crossover",
    "strategy_id": None,
    "start_date": "2021-01-01T00:00:00Z",
    "end_date": "2021-06-30T00:00:00Z",
    "initial_capital": "10000.00000000",
    "final_capital": "13482.17000000",
    "total_trades": 41,
    "sharpe_ratio": "1.28400000",
    "status": "completed",
    "progress": "1.00000000",
    "error": None,
    "created_at": "2025-01-15T14:30:00Z",
    "started_at": "2025-01-15T14:30:01Z",
    "completed_at": "2025-01-15T14:30:04Z",
}
_EXAMPLE_TRADE: dict[str, Any] = {
    "entry_time": "2021-01-03T09:00:00Z",
    "exit_time": "2021-01-11T06:00:00Z",
    "entry_price": "32866.4800000000",
    "exit_price": "35521.0900000000",
    "quantity": "0.30366000",
    "entry_fee": "9.98000000",
    "exit_fee": "10.79000000",
    "pnl": "785.31000000",
    "return_pct": "7.853100",
    "exit_reason": "signal",
    "closed": True,
    "is_open": False,
}
_EXAMPLE_CONFIG: dict[str, Any] = {  # EXAMPLE_CREATE's config as the API shows it
    "initial_capital": "10000.00000000",
    "fill_model": "fixed",
    "slippage_bps": "5.0000",
    "taker_fee_rate": "0.001000",
    "maker_fee_rate": "0.000800",
}
_EXAMPLE_STATS: dict[str, Any] = {
    "total_return": 0.3482,
    "win_rate": 0.439,
    "profit_factor": 1.71,
    "max_drawdown": 0.213,
    "sharpe_ratio": 1.284,
    "total_trades": 41,
}


class BacktestSummary(BaseModel):
    """A session as listed: its status and headline numbers, without the results."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_SUMMARY]})

    id: UUID
    session_name: str
    symbol: str
    timeframe: str | None
    strategy: str | None = Field(description="The built-in strategy, when named directly.")
    strategy_id: UUID | None
    start_date: datetime
    end_date: datetime
    initial_capital: Money | None
    final_capital: Money | None = Field(description=_UNKNOWN_UNTIL_DONE)
    total_trades: int | None = Field(description=_UNKNOWN_UNTIL_DONE)
    sharpe_ratio: Ratio | None = Field(description=_UNKNOWN_UNTIL_DONE)
    status: SessionStatus
    progress: Ratio = Field(description="Fraction done, 0 to 1 (1 once completed).")
    error: str | None = Field(description="Why it failed, for a failed session.")
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None

    @model_validator(mode="after")
    def _results_only_once_completed(self) -> Self:
        """The columns' defaults (0) are no results: until a run completes they are null."""
        if self.status != "completed":
            for name in RESULT_FIELDS & type(self).model_fields.keys():
                setattr(self, name, None)
        return self


class BacktestTrade(BaseModel):
    """One round trip of the (best) run."""

    entry_time: datetime
    exit_time: datetime
    entry_price: Price
    exit_price: Price
    quantity: Quantity
    entry_fee: Money
    exit_fee: Money
    pnl: Money = Field(description="Net of both fees.")
    return_pct: Percent = Field(description="pnl over the entry's cost, in percent.")
    exit_reason: str
    closed: bool = Field(description="False for the position still open at the end.")

    @computed_field(  # type: ignore[prop-decorator]
        description="True for the position still open at the end: exit at the last close, "
        "pnl valued there (no exit fee). It counts among the session's trades."
    )
    @property
    def is_open(self) -> bool:
        return not self.closed


class Backtest(BacktestSummary):
    """A whole session: configuration, statistics and, once completed, its results."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _EXAMPLE_SUMMARY
                | {
                    "backtest_config": {
                        k: v
                        for k, v in EXAMPLE_CREATE.items()
                        if k in ("strategy", "parameters", "rank_by")
                    }
                    | {
                        "config": _EXAMPLE_CONFIG,
                        "sweep": None,
                        "source": {"kind": "database", "path": None},
                    },
                    "winning_trades": 18,
                    "losing_trades": 23,
                    "win_rate": "0.43900000",
                    "profit_factor": "1.71000000",
                    "max_drawdown": "0.21300000",
                    "sortino_ratio": "1.90200000",
                    "calmar_ratio": "2.87000000",
                    "results_data": {
                        "strategy": "sma_crossover",
                        "parameters": {"fast": 10, "slow": 30},
                        "bars": 4320,
                        "first_bar": "2021-01-01T00:00:00Z",
                        "last_bar": "2021-06-29T23:00:00Z",
                        "config": _EXAMPLE_CONFIG,
                        "initial_capital": "10000.00000000",
                        "final_capital": "13482.17000000",
                        "stats": _EXAMPLE_STATS,
                        "exposure": 0.512,
                        "fast_path": True,
                    },
                    "equity_curve": [
                        ["2021-01-01T00:00:00Z", 10000.0],
                        ["2021-06-29T23:00:00Z", 13482.17],
                    ],
                    "trade_history": [_EXAMPLE_TRADE],
                }
            ]
        }
    )

    backtest_config: dict[str, Any] = Field(
        description="strategy, parameters, sweep, rank_by, config (the broker), source."
    )
    winning_trades: int | None
    losing_trades: int | None
    win_rate: Ratio | None
    profit_factor: Ratio | None = Field(
        description="Null when undefined (no losing trade), and until the run completes."
    )
    max_drawdown: Ratio | None
    sortino_ratio: Ratio | None
    calmar_ratio: Ratio | None
    results_data: dict[str, Any] = Field(
        description="Every statistic, the parameters and configuration, the data range and, "
        "for a sweep, its grid."
    )
    equity_curve: list[tuple[datetime, float]] = Field(
        description="`[time, equity]` points, at most 2,000."
    )
    trade_history: list[BacktestTrade]

    @field_serializer("backtest_config", "results_data", when_used="json")
    def _document_decimals(self, document: dict[str, Any]) -> Any:
        return fixed_by_key(document, DOCUMENT_DECIMALS)


class BacktestResultRow(BaseModel):
    """One parameter set's result; a sweep has one per combination, best first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "2b7e9c14-6d3a-4f81-a5c2-8e0f1d9b3a67",
                    "rank": 1,
                    "parameters": {"fast": 10, "slow": 30},
                    "final_capital": "13482.17000000",
                    "total_return": "0.34821700",
                    "total_trades": 41,
                    "winning_trades": 18,
                    "losing_trades": 23,
                    "win_rate": "0.43900000",
                    "profit_factor": "1.71000000",
                    "max_drawdown": "0.21300000",
                    "sharpe_ratio": "1.28400000",
                    "sortino_ratio": "1.90200000",
                    "calmar_ratio": "2.87000000",
                    "stats": _EXAMPLE_STATS,
                }
            ]
        }
    )

    id: UUID
    rank: int | None = Field(description="1 is the best by the session's `rank_by`.")
    parameters: dict[str, Any]
    final_capital: Money
    total_return: Ratio
    total_trades: int
    winning_trades: int
    losing_trades: int
    win_rate: Ratio | None
    profit_factor: Ratio | None
    max_drawdown: Ratio | None
    sharpe_ratio: Ratio | None
    sortino_ratio: Ratio | None
    calmar_ratio: Ratio | None
    stats: dict[str, Any]
