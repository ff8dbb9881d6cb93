"""What goes into a backtest and what comes out (the contract between the engine, the
sessions service, the CLI and the worker)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cryptotrader.strategies.base import FloatArray, IntArray

FillModelName = Literal["ideal", "fixed", "volume"]
ExitReason = Literal["signal", "stop_loss", "take_profit", "end"]
Progress = Callable[[int, int], None]
"""Called as ``progress(done_bars, total_bars)`` now and then while a run goes on."""


class BacktestConfig(BaseModel):
    """The broker's settings; the defaults are the live engine's account defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    initial_capital: Decimal = Field(default=Decimal("10000"), gt=0)
    fill_model: FillModelName = "fixed"
    slippage_bps: Decimal = Field(default=Decimal("5"), ge=0, le=500)
    taker_fee_rate: Decimal = Field(default=Decimal("0.001"), ge=0, lt=1)
    maker_fee_rate: Decimal = Field(default=Decimal("0.0008"), ge=0, lt=1)


# Fill and Trade are read-only records, hashable and compared by value, but not
# ``frozen``: a frozen dataclass sets each field through ``object.__setattr__``, which
# made creating them a third of the fast path's time (a million-bar backtest books tens
# of thousands). Treat them as immutable. Keyword-only: built field by field, by name.
@dataclass(kw_only=True, slots=True, unsafe_hash=True)
class Fill:
    """One execution: ``bar`` is the index of the bar it happened in."""

    bar: int
    time: datetime
    side: Literal["buy", "sell"]
    order_type: Literal["market", "limit", "stop"]
    price: Decimal
    quantity: Decimal
    fee: Decimal
    reason: str


@dataclass(kw_only=True, slots=True, unsafe_hash=True)
class Trade:
    """A round trip: one entry and the exit that closed it. An open position at the end
    is a trade too (``closed`` False, :attr:`is_open`), with ``exit_reason = "end"``,
    marked at the last close without an exit fee; the statistics count it among the
    trades (``total_trades``, ``open_trades``) with that PnL."""

    entry_bar: int
    entry_time: datetime
    entry_price: Decimal
    exit_bar: int
    exit_time: datetime
    exit_price: Decimal
    quantity: Decimal
    entry_fee: Decimal
    exit_fee: Decimal
    pnl: Decimal
    """Net of both fees: ``(exit - entry) * quantity - entry_fee - exit_fee``."""
    return_pct: Decimal
    exit_reason: ExitReason
    closed: bool = True

    @property
    def is_open(self) -> bool:
        """Still open at the end: valued at the last close, not sold."""
        return not self.closed


@dataclass(slots=True)
class BacktestResult:
    strategy: str
    parameters: dict[str, Any]
    config: BacktestConfig
    time: IntArray
    """Epoch milliseconds of every bar (the equity curve's x axis)."""
    equity: FloatArray
    """Mark-to-market equity at every bar's close."""
    initial_capital: Decimal
    final_capital: Decimal
    fills: list[Fill] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    exposure: float = 0.0
    """Share of bars with a position open."""
    stats: dict[str, Any] = field(default_factory=dict)
    fast_path: bool = False

    @property
    def bars(self) -> int:
        return int(np.asarray(self.time).shape[0])
