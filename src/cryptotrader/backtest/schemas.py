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
from typing import Any, Literal
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


class DataSource(BaseModel):
    """Where the bars come from: stored candles, or a CSV file the CLI read (recorded
    for the record only: a worker never reads files named in a session)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["database", "csv"] = "database"
    path: str | None = Field(default=None, max_length=1000)


class SessionConfig(BaseModel):
    """The ``backtest_config`` JSON of a session."""

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
    source: DataSource = Field(default_factory=DataSource)

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


class SessionRequest(SessionConfig):
    """A new session: the strategy is a built-in ``strategy`` name or a ``strategy_id``
    (an ``ai_strategies`` row of the same user; see ``service.resolve_strategy``)."""

    session_name: str | None = Field(default=None, min_length=1, max_length=200)
    symbol: str = Field(min_length=1, max_length=32)
    timeframe: Timeframe = "1h"
    strategy_id: UUID | None = None
    bot_id: UUID | None = None
    start: datetime
    end: datetime

    @field_validator("symbol")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value

    @model_validator(mode="after")
    def _consistent(self) -> SessionRequest:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if (self.strategy is None) == (self.strategy_id is None):
            raise ValueError("give either a strategy name or a strategy_id")
        return self

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
