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
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cryptotrader.backtest.sweep import (
    MAX_COMBINATIONS,
    RANK_METRICS,
    InvalidSweep,
    ParamValue,
    parse_range,
)
from cryptotrader.backtest.types import BacktestConfig, Trade
from cryptotrader.market.schemas import Timeframe

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
    parameters: dict[str, Any] = Field(default_factory=dict)
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
    """A value as JSON: Decimal as a string, datetime as ISO-8601, numpy scalars as
    Python numbers, NaN and infinities as null; containers recursively."""
    if isinstance(value, Decimal):
        return str(value)
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
    """One round trip as JSON (decimals as strings)."""
    return {
        "entry_time": iso(trade.entry_time),
        "exit_time": iso(trade.exit_time),
        "entry_price": str(trade.entry_price),
        "exit_price": str(trade.exit_price),
        "quantity": str(trade.quantity),
        "entry_fee": str(trade.entry_fee),
        "exit_fee": str(trade.exit_fee),
        "pnl": str(trade.pnl),
        "return_pct": str(trade.return_pct),
        "exit_reason": trade.exit_reason,
        "closed": trade.closed,
    }


# ------------------------------------------------------------------ API answers

SessionStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
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
    "initial_capital": "10000",
    "final_capital": "13482.17",
    "total_trades": 41,
    "sharpe_ratio": "1.284",
    "status": "completed",
    "progress": "1",
    "error": None,
    "created_at": "2025-01-15T14:30:00Z",
    "started_at": "2025-01-15T14:30:01Z",
    "completed_at": "2025-01-15T14:30:04Z",
}
_EXAMPLE_TRADE: dict[str, Any] = {
    "entry_time": "2021-01-03T09:00:00Z",
    "exit_time": "2021-01-11T06:00:00Z",
    "entry_price": "32866.48",
    "exit_price": "35521.09",
    "quantity": "0.30366",
    "entry_fee": "9.98",
    "exit_fee": "10.79",
    "pnl": "785.31",
    "return_pct": "7.8531",
    "exit_reason": "signal",
    "closed": True,
}
_EXAMPLE_STATS: dict[str, Any] = {
    "total_return": 34.82,
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
    initial_capital: Decimal | None
    final_capital: Decimal | None
    total_trades: int | None
    sharpe_ratio: Decimal | None
    status: SessionStatus
    progress: Decimal = Field(description="Fraction done, 0 to 1 (1 once completed).")
    error: str | None = Field(description="Why it failed, for a failed session.")
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class BacktestTrade(BaseModel):
    """One round trip of the (best) run."""

    entry_time: datetime
    exit_time: datetime
    entry_price: Decimal
    exit_price: Decimal
    quantity: Decimal
    entry_fee: Decimal
    exit_fee: Decimal
    pnl: Decimal = Field(description="Net of both fees.")
    return_pct: Decimal
    exit_reason: str
    closed: bool = Field(description="False for the position still open at the end.")


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
                        if k in ("strategy", "parameters", "rank_by", "config")
                    }
                    | {"sweep": None, "source": {"kind": "database", "path": None}},
                    "winning_trades": 18,
                    "losing_trades": 23,
                    "win_rate": "0.439",
                    "profit_factor": "1.71",
                    "max_drawdown": "0.213",
                    "sortino_ratio": "1.902",
                    "calmar_ratio": "2.87",
                    "results_data": {
                        "strategy": "sma_crossover",
                        "parameters": {"fast": 10, "slow": 30},
                        "bars": 4320,
                        "first_bar": "2021-01-01T00:00:00Z",
                        "last_bar": "2021-06-29T23:00:00Z",
                        "initial_capital": "10000",
                        "final_capital": "13482.17",
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
    win_rate: Decimal | None
    profit_factor: Decimal | None = Field(description="Null when undefined (no losing trade).")
    max_drawdown: Decimal | None
    sortino_ratio: Decimal | None
    calmar_ratio: Decimal | None
    results_data: dict[str, Any] = Field(
        description="Every statistic, the parameters and configuration, the data range and, "
        "for a sweep, its grid."
    )
    equity_curve: list[tuple[datetime, float]] = Field(
        description="`[time, equity]` points, at most 2,000."
    )
    trade_history: list[BacktestTrade]


class BacktestResultRow(BaseModel):
    """One parameter set's result; a sweep has one per combination, best first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "2b7e9c14-6d3a-4f81-a5c2-8e0f1d9b3a67",
                    "rank": 1,
                    "parameters": {"fast": 10, "slow": 30},
                    "final_capital": "13482.17",
                    "total_return": "34.8217",
                    "total_trades": 41,
                    "winning_trades": 18,
                    "losing_trades": 23,
                    "win_rate": "0.439",
                    "profit_factor": "1.71",
                    "max_drawdown": "0.213",
                    "sharpe_ratio": "1.284",
                    "sortino_ratio": "1.902",
                    "calmar_ratio": "2.87",
                    "stats": _EXAMPLE_STATS,
                }
            ]
        }
    )

    id: UUID
    rank: int | None = Field(description="1 is the best by the session's `rank_by`.")
    parameters: dict[str, Any]
    final_capital: Decimal
    total_return: Decimal
    total_trades: int
    winning_trades: int
    losing_trades: int
    win_rate: Decimal | None
    profit_factor: Decimal | None
    max_drawdown: Decimal | None
    sharpe_ratio: Decimal | None
    sortino_ratio: Decimal | None
    calmar_ratio: Decimal | None
    stats: dict[str, Any]
