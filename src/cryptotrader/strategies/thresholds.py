"""Threshold strategies: long-only, all-in while a level is exceeded one way, all-out
while it is exceeded the other way. The signal repeats on every bar the condition holds;
repeated buys (no free cash) and sells (no position) are ignored by the broker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

import numpy as np
from pydantic import Field, model_validator

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


class RsiReversionParams(BuiltinParams):
    period: int = period_field(14, "RSI length in bars (Wilder's smoothing)")
    lower: float = Field(30.0, gt=0, lt=100, description="Buy while the RSI is below this")
    upper: float = Field(70.0, gt=0, lt=100, description="Sell while the RSI is above this")

    @model_validator(mode="after")
    def _lower_below_upper(self) -> Self:
        if self.lower >= self.upper:
            raise ValueError(f"lower ({self.lower}) must be below upper ({self.upper})")
        return self


class BollingerBreakoutParams(BuiltinParams):
    period: int = period_field(20, "Length of the moving average and deviation, in bars")
    std_dev: float = Field(
        2.0, gt=0, le=10, description="Band width in population standard deviations"
    )


def _signals(buy: ta.BoolArray, sell: ta.BoolArray) -> SignalArray:
    out = np.zeros(buy.shape[0], dtype=np.int8)
    out[buy] = 1
    out[sell] = -1
    return out


class RsiReversion(Strategy[RsiReversionParams]):
    name = "rsi_reversion"
    description = (
        "Mean reversion: buy with all cash while the RSI is below the lower level; "
        "sell the whole position while it is above the upper level."
    )
    params_model = RsiReversionParams
    signal_only = True

    def warmup(self) -> int:
        return self.params.period

    def indicators(self, bars: Bars) -> dict[str, FloatArray]:
        return {"rsi": ta.rsi(bars.close, self.params.period)}

    def signals(self, bars: Bars, indicators: Mapping[str, FloatArray]) -> SignalArray:
        r = indicators["rsi"]
        return _signals(r < self.params.lower, r > self.params.upper)

    def decide(self, ctx: BarContext) -> Decision:
        r = ctx.value("rsi")
        p = self.params
        if r < p.lower:
            return Decision(
                Action.BUY,
                confidence=confidence((p.lower - r) / p.lower),
                reasoning=f"RSI({p.period}) {r:.2f} below {num(p.lower)}",
            )
        if r > p.upper:
            return Decision(
                Action.SELL,
                confidence=confidence((r - p.upper) / (100.0 - p.upper)),
                reasoning=f"RSI({p.period}) {r:.2f} above {num(p.upper)}",
            )
        return HOLD


class BollingerBreakout(Strategy[BollingerBreakoutParams]):
    name = "bollinger_breakout"
    description = (
        "Breakout: buy with all cash when the close is above the upper Bollinger band; "
        "sell the whole position when the close is below the middle band (the SMA)."
    )
    params_model = BollingerBreakoutParams
    signal_only = True

    def warmup(self) -> int:
        return self.params.period - 1

    def indicators(self, bars: Bars) -> dict[str, FloatArray]:
        upper, middle, lower = ta.bollinger(bars.close, self.params.period, self.params.std_dev)
        return {"bb_upper": upper, "bb_middle": middle, "bb_lower": lower}

    def signals(self, bars: Bars, indicators: Mapping[str, FloatArray]) -> SignalArray:
        close = bars.close
        return _signals(close > indicators["bb_upper"], close < indicators["bb_middle"])

    def decide(self, ctx: BarContext) -> Decision:
        close = ctx.close
        upper, middle = ctx.value("bb_upper"), ctx.value("bb_middle")
        half_width = upper - middle  # >= 0; zero on a flat window
        if close > upper:
            strength = (close - upper) / half_width if half_width > 0 else 1.0
            return Decision(
                Action.BUY,
                confidence=confidence(strength),
                reasoning=f"close {num(close)} above the upper band {num(upper)}",
            )
        if close < middle:
            strength = (middle - close) / half_width if half_width > 0 else 1.0
            return Decision(
                Action.SELL,
                confidence=confidence(strength),
                reasoning=f"close {num(close)} below the middle band {num(middle)}",
            )
        return HOLD
