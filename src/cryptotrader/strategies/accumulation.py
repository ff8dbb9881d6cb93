"""Accumulation strategies: buy on a schedule, never sell."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

import numpy as np
from pydantic import Field, model_validator

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
from cryptotrader.strategies.rules import BuiltinParams, num


class DcaParams(BuiltinParams):
    every: int = Field(24, ge=1, le=1_000_000, description="Buy every this many bars")
    fraction: float = Field(0.1, gt=0, le=1, description="Share of the free cash spent on each buy")
    amount: float | None = Field(
        None,
        gt=0,
        description="Quote currency (USD) spent on each buy instead of a fraction; "
        "all the free cash when less is left",
    )

    @model_validator(mode="after")
    def _fraction_or_amount(self) -> Self:
        if self.amount is not None and "fraction" in self.model_fields_set:
            raise ValueError("give either fraction or amount, not both")
        return self


class BuyAndHoldParams(BuiltinParams):
    start_bar: int = Field(
        0,
        ge=0,
        description="Bar to buy on, e.g. another strategy's warm-up so that both "
        "start at the same bar",
    )


class Dca(Strategy[DcaParams]):
    name = "dca"
    description = (
        "Dollar-cost averaging: buy a fixed fraction of the free cash, or a fixed amount, "
        "on bar 0 and every N bars after; never sell."
    )
    params_model = DcaParams

    def indicators(self, bars: Bars) -> dict[str, FloatArray]:
        return {}

    def decide(self, ctx: BarContext) -> Decision:
        p = self.params
        if ctx.i % p.every or not ctx.cash > 0:
            return HOLD
        if p.amount is None:
            size, what = p.fraction, f"{p.fraction:.4g} of the free cash"
        else:
            size, what = min(1.0, p.amount / ctx.cash), f"{num(p.amount)} of quote currency"
        return Decision(
            Action.BUY,
            size=size,
            confidence=1.0,
            reasoning=f"scheduled buy every {p.every} bars: {what}",
        )


class BuyAndHold(Strategy[BuyAndHoldParams]):
    name = "buy_and_hold"
    description = "Buy with all cash on the start bar and never sell (the benchmark)."
    params_model = BuyAndHoldParams
    signal_only = True

    def warmup(self) -> int:
        return self.params.start_bar

    def indicators(self, bars: Bars) -> dict[str, FloatArray]:
        return {}

    def signals(self, bars: Bars, indicators: Mapping[str, FloatArray]) -> SignalArray:
        out = np.zeros(len(bars), dtype=np.int8)
        out[self.params.start_bar : self.params.start_bar + 1] = 1
        return out

    def decide(self, ctx: BarContext) -> Decision:
        if ctx.i != self.params.start_bar:
            return HOLD
        return Decision(Action.BUY, confidence=1.0, reasoning=f"buy and hold from bar {ctx.i}")
