"""A long-only grid: the further the price falls below a reference, the more it holds.

Levels sit at ``reference * (1 - k * spacing)`` for ``k = 1..levels``. With the close at
or below ``k`` levels (and above level ``k + 1``), the target is ``k / levels`` of the
equity in the asset: nothing above the first level, everything at or below the last.
When the holdings are off the target by more than half a level's share and no order of
the strategy is resting, it rebalances with one limit order at the grid: a buy limit at
level ``k`` (at or above the close) or a sell limit at level ``k + 1`` (below it), so
buys never pay more, and sells never get less, than a grid price. A resting order that
the market has left keeps the strategy waiting until it fills.
"""

from __future__ import annotations

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
    OrderKind,
    Strategy,
)
from cryptotrader.strategies.rules import BuiltinParams, num


class GridParams(BuiltinParams):
    levels: int = Field(10, ge=1, le=1000, description="Number of buy levels")
    spacing: float = Field(
        0.01, gt=0, lt=1, description="Distance between levels, a fraction of the reference"
    )
    reference: float | None = Field(
        None, gt=0, description="Top of the grid (quote price); default: the first close"
    )

    @model_validator(mode="after")
    def _levels_above_zero(self) -> Self:
        if self.levels * self.spacing >= 1:
            raise ValueError("levels * spacing must be below 1 (every level above zero)")
        return self


class Grid(Strategy[GridParams]):
    name = "grid"
    description = (
        "Long-only grid: hold k/levels of the equity when the close is k levels below the "
        "reference; rebalance with limit orders at the grid levels."
    )
    params_model = GridParams

    def _reference(self, close: FloatArray) -> float:
        ref = self.params.reference
        return float(close[0]) if ref is None else ref

    def indicators(self, bars: Bars) -> dict[str, FloatArray]:
        """``grid_level``: how many levels are at or above the close (0..levels)."""
        close = bars.close
        if close.shape[0] == 0:
            return {"grid_level": np.empty(0)}
        ref, p = self._reference(close), self.params
        level = np.floor((ref - close) / (ref * p.spacing))
        return {"grid_level": np.clip(level, 0, p.levels)}

    def decide(self, ctx: BarContext) -> Decision:
        level = ctx.value("grid_level")
        if ctx.open_orders or not ctx.equity > 0 or not level >= 0:
            return HOLD
        p, close = self.params, ctx.close
        k = int(level)
        target = k / p.levels
        gap = target - ctx.quantity * close / ctx.equity
        if abs(gap) <= 0.5 / p.levels:
            return HOLD
        ref = self._reference(ctx.history.close)
        where = f"close {num(close)} at {k} of {p.levels} levels below {num(ref)}"
        if gap > 0 and ctx.cash > 0:
            limit = ref * (1 - k * p.spacing)
            return Decision(
                Action.BUY,
                size=None if k == p.levels else min(1.0, gap * ctx.equity / ctx.cash),
                order_type=OrderKind.LIMIT,
                limit_price=limit,
                confidence=1.0,
                reasoning=f"{where}: hold {target:.0%} of equity, buy limit {num(limit)}",
            )
        if gap < 0 and ctx.quantity > 0:
            limit = ref * (1 - min(k + 1, p.levels) * p.spacing)
            return Decision(
                Action.SELL,
                size=None if k == 0 else min(1.0, -gap * ctx.equity / (ctx.quantity * close)),
                order_type=OrderKind.LIMIT,
                limit_price=limit,
                confidence=1.0,
                reasoning=f"{where}: hold {target:.0%} of equity, sell limit {num(limit)}",
            )
        return HOLD
