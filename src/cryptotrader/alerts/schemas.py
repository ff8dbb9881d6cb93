"""What a price alert is made of (issue 16; the API's shapes come with its routes)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PriceCondition(StrEnum):
    """TradingView's: a cross is a fresh one against the previous price; above and below
    hold whenever the price is past the value; a move is against the 1-minute close one
    window earlier, in percent either way."""

    crosses_above = "crosses_above"
    crosses_below = "crosses_below"
    above = "above"
    below = "below"
    moves_pct = "moves_pct"


class Frequency(StrEnum):
    """once: fires once, then the alert is triggered (done); once_per_bar: at most once per
    bar of ``bar_seconds``; every_time: on every tick it holds, at most once a cooldown."""

    once = "once"
    once_per_bar = "once_per_bar"
    every_time = "every_time"


class PriceAlertCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=20)
    condition: PriceCondition
    value: Decimal = Field(gt=0, description="The price (USD), or the move in percent.")
    frequency: Frequency = Frequency.once
    bar_seconds: int = Field(default=3600, ge=60, le=604800)
    cooldown_seconds: int = Field(default=0, ge=0)
    window_seconds: int | None = Field(default=None, ge=60, le=604800)
    expires_at: datetime | None = None
    account_id: UUID | None = Field(default=None, description="Where its notices go.")

    @model_validator(mode="after")
    def _window_for_moves(self) -> Self:
        if (self.condition is PriceCondition.moves_pct) != (self.window_seconds is not None):
            raise ValueError("window_seconds is for moves_pct alerts, and they need one")
        return self


class EvaluationRound(BaseModel):
    """One call of the evaluator: the ticks it took and the alerts they fired."""

    ticks: int
    fired: int
