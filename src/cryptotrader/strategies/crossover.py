"""Crossover strategies: long-only, all-in on the cross above, all-out on the cross below.

A cross is backtesting.py's strict one (:func:`~cryptotrader.strategies.indicators.
crossover`): the line was strictly below on the previous bar and is strictly above now.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import ClassVar, Self

import numpy as np
from pydantic import model_validator

from cryptotrader.strategies import indicators as ta
from cryptotrader.strategies.base import (
    HOLD,
    Action,
    BarContext,
    Bars,
    Decision,
    FloatArray,
    SignalArray,
    Strategy,
)
from cryptotrader.strategies.rules import BuiltinParams, confidence, num, period_field

_FULL_SPREAD = 0.005  # a 0.5 % gap between the lines at the cross is full confidence


class FastSlowParams(BuiltinParams):
    fast: int
    slow: int

    @model_validator(mode="after")
    def _fast_below_slow(self) -> Self:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be below slow ({self.slow})")
        return self


class SmaCrossoverParams(FastSlowParams):
    fast: int = period_field(10, "Fast SMA length in bars (1 = the close itself)", 1)
    slow: int = period_field(30, "Slow SMA length in bars", 2)


class EmaCrossoverParams(FastSlowParams):
    fast: int = period_field(12, "Fast EMA length in bars (1 = the close itself)", 1)
    slow: int = period_field(26, "Slow EMA length in bars", 2)


class MacdParams(FastSlowParams):
    fast: int = period_field(12, "Fast EMA length in bars", 2)
    slow: int = period_field(26, "Slow EMA length in bars", 2)
    signal: int = period_field(9, "Signal line EMA length in bars", 1)


def _cross_signals(a: FloatArray, b: FloatArray) -> SignalArray:
    out = np.zeros(a.shape[0], dtype=np.int8)
    out[ta.crossover(a, b)] = 1
    out[ta.crossover(b, a)] = -1
    return out


class _MovingAverageCrossover(Strategy[FastSlowParams]):
    signal_only: ClassVar[bool] = True
    _label: ClassVar[str]

    def __init__(self, params: FastSlowParams) -> None:
        super().__init__(params)
        label = self._label
        self._fast_key = f"{label.lower()}_fast"
        self._slow_key = f"{label.lower()}_slow"
        self._fast_name = f"{label}({params.fast})"
        self._slow_name = f"{label}({params.slow})"

    def warmup(self) -> int:
        return self.params.slow

    def indicators(self, bars: Bars) -> dict[str, FloatArray]:
        return {
            self._fast_key: self._average(bars.close, self.params.fast),
            self._slow_key: self._average(bars.close, self.params.slow),
        }

    @abstractmethod
    def _average(self, close: FloatArray, period: int) -> FloatArray: ...

    def signals(self, bars: Bars, indicators: Mapping[str, FloatArray]) -> SignalArray:
        return _cross_signals(indicators[self._fast_key], indicators[self._slow_key])

    def decide(self, ctx: BarContext) -> Decision:
        fast, slow = ctx.value(self._fast_key), ctx.value(self._slow_key)
        fast_prev, slow_prev = ctx.value(self._fast_key, 1), ctx.value(self._slow_key, 1)
        if fast_prev < slow_prev and fast > slow:
            action, verb = Action.BUY, "above"
        elif slow_prev < fast_prev and slow > fast:
            action, verb = Action.SELL, "below"
        else:
            return HOLD
        return Decision(
            action,
            confidence=confidence(abs(fast - slow) / abs(slow) / _FULL_SPREAD),
            reasoning=f"{self._fast_name} {num(fast)} crossed {verb} {self._slow_name} {num(slow)}",
        )


class SmaCrossover(_MovingAverageCrossover):
    name = "sma_crossover"
    description = (
        "Buy with all cash when the fast SMA crosses above the slow SMA; "
        "sell the whole position when it crosses below."
    )
    params_model = SmaCrossoverParams
    _label = "SMA"

    def _average(self, close: FloatArray, period: int) -> FloatArray:
        return ta.sma(close, period)


class EmaCrossover(_MovingAverageCrossover):
    name = "ema_crossover"
    description = (
        "Buy with all cash when the fast EMA crosses above the slow EMA; "
        "sell the whole position when it crosses below."
    )
    params_model = EmaCrossoverParams
    _label = "EMA"

    def _average(self, close: FloatArray, period: int) -> FloatArray:
        return ta.ema(close, period)


class MacdCrossover(Strategy[MacdParams]):
    name = "macd"
    description = (
        "Buy with all cash when the MACD line crosses above its signal line; "
        "sell the whole position when it crosses below."
    )
    params_model = MacdParams
    signal_only = True

    def warmup(self) -> int:
        return self.params.slow + self.params.signal - 1

    def indicators(self, bars: Bars) -> dict[str, FloatArray]:
        p = self.params
        line, signal, hist = ta.macd(bars.close, p.fast, p.slow, p.signal)
        return {"macd": line, "macd_signal": signal, "macd_hist": hist}

    def signals(self, bars: Bars, indicators: Mapping[str, FloatArray]) -> SignalArray:
        return _cross_signals(indicators["macd"], indicators["macd_signal"])

    def decide(self, ctx: BarContext) -> Decision:
        line, signal = ctx.value("macd"), ctx.value("macd_signal")
        line_prev, signal_prev = ctx.value("macd", 1), ctx.value("macd_signal", 1)
        if line_prev < signal_prev and line > signal:
            action, verb = Action.BUY, "above"
        elif signal_prev < line_prev and signal > line:
            action, verb = Action.SELL, "below"
        else:
            return HOLD
        return Decision(
            action,
            # a histogram of 0.1 % of the price is full confidence
            confidence=confidence(abs(line - signal) / ctx.close / 0.001),
            reasoning=f"MACD {num(line)} crossed {verb} its signal {num(signal)}",
        )
