"""The strategy interface, one for backtests and live bots (API version 1).

A strategy:

1. declares its parameters as a pydantic model (``Params``), validated from
   ``ai_strategies.parameters`` or the CLI's ``--param`` pairs;
2. computes its indicators **once, vectorised**, over the whole series
   (:meth:`Strategy.indicators`). Every indicator must be *causal*: its value at bar
   ``i`` depends only on bars ``0..i``. The look-ahead test checks this for every
   built-in by changing bars after ``i``;
3. then decides per bar (:meth:`Strategy.decide`) from a :class:`BarContext` that exposes
   only data up to and including that bar, and the account's state (cash, position).

A decision taken on bar ``i``'s close executes at bar ``i + 1``'s open (market orders), or
rests from bar ``i + 1`` on (limit orders). The broker, not the strategy, fills orders.

Strategies whose decisions depend only on indicators (not on cash, position or fills)
and that trade all-in/all-out with market orders declare ``signal_only = True`` and
implement :meth:`Strategy.signals`; the engine's vectorised fast path then gives exactly
the trades of the bar-by-bar loop (property-tested).

Prices and indicators are float64 (they are measurements); money in the broker (cash,
fees, quantities, PnL) is :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

API_VERSION = 1

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
SignalArray = npt.NDArray[np.int8]


class Action(StrEnum):
    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"


class OrderKind(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


@dataclass(frozen=True, slots=True)
class Decision:
    """What a strategy wants after seeing one bar.

    ``size`` is a fraction in (0, 1]: of the free cash for a buy, of the position for a
    sell. ``None`` means all of it. ``limit_price`` is required for limit orders.
    ``stop_loss`` and ``take_profit`` are absolute prices; with a buy they become a
    one-cancels-other pair protecting the bought quantity, as in the live engine.
    """

    action: Action
    size: float | None = None
    order_type: OrderKind = OrderKind.MARKET
    limit_price: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    confidence: float | None = None
    reasoning: str = ""


HOLD = Decision(Action.HOLD)


@dataclass(frozen=True, slots=True)
class Bars:
    """Columnar OHLCV, oldest first. ``time`` is the bar's open time in epoch milliseconds
    (UTC); prices are in the quote currency (USD), volume in the base asset."""

    time: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return int(self.close.shape[0])

    def upto(self, i: int) -> Bars:
        """Views of bars ``0..i`` (inclusive); no copy."""
        end = i + 1
        return Bars(
            self.time[:end],
            self.open[:end],
            self.high[:end],
            self.low[:end],
            self.close[:end],
            self.volume[:end],
        )


@dataclass(slots=True)
class BarContext:
    """Everything a strategy may look at when deciding on bar ``i``.

    ``history`` and ``indicators`` are cut at ``i`` (views ``[: i + 1]``), so the last
    element of each is the current bar. The account fields are the broker's state after
    the fills of bar ``i``.
    """

    i: int
    history: Bars
    indicators: Mapping[str, FloatArray]
    cash: float
    quantity: float
    equity: float
    avg_entry_price: float | None
    open_orders: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def close(self) -> float:
        return float(self.history.close[-1])

    def value(self, name: str, back: int = 0) -> float:
        """Indicator ``name`` at ``i - back`` (NaN before it is defined or before bar 0)."""
        arr = self.indicators[name]
        idx = arr.shape[0] - 1 - back
        return float(arr[idx]) if idx >= 0 else float("nan")


class StrategyParams(BaseModel):
    """Base of every strategy's parameters: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=StrategyParams)


class Strategy(ABC, Generic[P]):
    """Base class of every strategy. Subclasses set ``name``, ``params_model`` and
    ``description``, and implement :meth:`indicators` and :meth:`decide`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    version: ClassVar[int] = 1
    api_version: ClassVar[int] = API_VERSION
    params_model: ClassVar[type[StrategyParams]]
    signal_only: ClassVar[bool] = False

    def __init__(self, params: P) -> None:
        self.params = params

    @classmethod
    def from_parameters(cls, raw: Mapping[str, Any]) -> Strategy[Any]:
        """Validate ``raw`` (e.g. ``ai_strategies.parameters``) and build the strategy."""
        params: Any = cls.params_model.model_validate(dict(raw))  # an instance of P
        return cls(params)

    def warmup(self) -> int:
        """Bars needed before the first decision can be other than hold."""
        return 0

    @abstractmethod
    def indicators(self, bars: Bars) -> dict[str, FloatArray]:
        """All indicators for the whole series, each the length of ``bars``, causal."""

    @abstractmethod
    def decide(self, ctx: BarContext) -> Decision:
        """The decision on bar ``ctx.i``'s close."""

    def signals(self, bars: Bars, indicators: Mapping[str, FloatArray]) -> SignalArray:
        """For ``signal_only`` strategies: per bar +1 (buy with all cash), -1 (sell the
        whole position) or 0 (hold), vectorised; must agree with :meth:`decide`."""
        raise NotImplementedError(f"{self.name} is not a signal-only strategy")
