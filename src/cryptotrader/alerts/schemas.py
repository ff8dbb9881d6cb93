"""What an alert is made of: price, account, portfolio and bot alerts (issue 16), as the
services take and return them.

The shapes are the database's (migration 0037's risk_alerts_price_shape, and 0039's
account, portfolio and bot shapes): ``type`` is stored as alert_type, ``condition`` as
trigger_condition and ``value`` as trigger_value, so a body these models accept is a row
the database accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from cryptotrader.accounts.schemas import EXAMPLE_ACCOUNT_ID
from cryptotrader.numbers import Price

EXAMPLE_ALERT_ID = "a1e27b0c-3d4f-4e5a-9b6c-7d8e9f0a1b2c"
EXAMPLE_FIRING_ID = "f1a2b3c4-d5e6-4f70-8a9b-0c1d2e3f4a5b"
AlertType = Literal["price", "account", "portfolio", "bot"]
ALERT_TYPES: tuple[AlertType, ...] = ("price", "account", "portfolio", "bot")
AlertStatus = Literal["active", "triggered", "acknowledged", "expired", "disabled"]
# Below 1e15 with at most 10 decimals: the scale a value is shown with (numbers.Price).
Value = Annotated[Decimal, Field(lt=Decimal("1e15"), decimal_places=10)]
Symbol = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9._-]+$")]


class PriceCondition(StrEnum):
    """TradingView's: a cross is a fresh one against the previous price; above and below
    hold whenever the price is past the value; a move is against the 1-minute close one
    window earlier, in percent either way."""

    crosses_above = "crosses_above"
    crosses_below = "crosses_below"
    above = "above"
    below = "below"
    moves_pct = "moves_pct"


class AccountCondition(StrEnum):
    """drawdown_pct: equity X% below its peak; daily_loss_pct: the day's realized loss at
    X% of the account's max_daily_loss; position_pct: any position above X% of equity;
    cash_below: cash under X USD."""

    drawdown_pct = "drawdown_pct"
    daily_loss_pct = "daily_loss_pct"
    position_pct = "position_pct"
    cash_below = "cash_below"


class PortfolioCondition(StrEnum):
    """The portfolio's value (its members' equity) above or below X USD."""

    value_above = "value_above"
    value_below = "value_below"


class BotCondition(StrEnum):
    """entered_error: the bot stopped on an error; budget_spent: its daily model budget is
    spent; confidence_below: a decision's confidence under X (0 to 1)."""

    entered_error = "entered_error"
    budget_spent = "budget_spent"
    confidence_below = "confidence_below"


class Frequency(StrEnum):
    """once: fires once, then the alert is triggered (done); once_per_bar: at most once per
    bar of ``bar_seconds``; every_time: on every tick it holds, at most once a cooldown."""

    once = "once"
    once_per_bar = "once_per_bar"
    every_time = "every_time"


def in_future(value: datetime | None) -> datetime | None:
    """An expiry must be ahead (an alert that is already over would never fire)."""
    if value is not None and value.astimezone(UTC) <= datetime.now(UTC):
        raise ValueError("must be in the future")
    return value


class AlertSchedule(BaseModel):
    """What every alert has: how often it fires, until when, and where its notices go."""

    model_config = ConfigDict(extra="forbid")

    frequency: Frequency = Frequency.once
    bar_seconds: int = Field(default=3600, ge=60, le=604800)
    cooldown_seconds: int = Field(default=0, ge=0, le=2_000_000_000)
    expires_at: datetime | None = None
    account_id: UUID | None = Field(
        default=None,
        description="Where its notices go (your default account when none); for an account"
        " alert, the account it watches.",
        examples=[EXAMPLE_ACCOUNT_ID],
    )


class PriceAlertCreate(AlertSchedule):
    """A price alert (also made by the services' own callers: its expiry is not checked)."""

    symbol: Symbol
    condition: PriceCondition
    value: Value = Field(gt=0, description="The price (USD), or the move in percent.")
    window_seconds: int | None = Field(default=None, ge=60, le=604800)

    @model_validator(mode="after")
    def _window_for_moves(self) -> Self:
        if (self.condition is PriceCondition.moves_pct) != (self.window_seconds is not None):
            raise ValueError("window_seconds is for moves_pct alerts, and they need one")
        return self


class _Ahead(BaseModel):
    @field_validator("expires_at", check_fields=False)
    @classmethod
    def _ahead(cls, value: datetime | None) -> datetime | None:
        return in_future(value)


class PriceAlertIn(_Ahead, PriceAlertCreate):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"type": "price", "symbol": "BTC", "condition": "crosses_above", "value": "100000"}
            ]
        }
    )

    type: Literal["price"]


class AccountAlertIn(_Ahead, AlertSchedule):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "account",
                    "account_id": EXAMPLE_ACCOUNT_ID,
                    "condition": "drawdown_pct",
                    "value": "10",
                }
            ]
        }
    )

    type: Literal["account"]
    account_id: UUID = Field(description="The account it watches.", examples=[EXAMPLE_ACCOUNT_ID])
    condition: AccountCondition
    value: Value = Field(gt=0, description="A percentage (0 < X <= 100), or USD for cash_below.")

    @model_validator(mode="after")
    def _percent(self) -> Self:
        if self.condition is not AccountCondition.cash_below and self.value > 100:
            raise ValueError(f"{self.condition.value} is a percentage: at most 100")
        return self


class PortfolioAlertIn(_Ahead, AlertSchedule):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "portfolio",
                    "portfolio_id": "e18a4b3f-6c2d-4f97-a051-3d7b9c8e2f16",
                    "condition": "value_below",
                    "value": "90000",
                }
            ]
        }
    )

    type: Literal["portfolio"]
    portfolio_id: UUID
    condition: PortfolioCondition
    value: Value = Field(gt=0, description="The portfolio's value (USD).")


class BotAlertIn(_Ahead, AlertSchedule):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "bot",
                    "bot_id": "b07c1e55-2f4a-4d1b-9a7e-5c3d2e1f0a9b",
                    "condition": "entered_error",
                }
            ]
        }
    )

    type: Literal["bot"]
    bot_id: UUID
    condition: BotCondition
    value: Value | None = Field(default=None, description="For confidence_below: 0 < X < 1.")

    @model_validator(mode="after")
    def _value_for_confidence(self) -> Self:
        if self.condition is BotCondition.confidence_below:
            if self.value is None or not 0 < self.value < 1:
                raise ValueError("confidence_below needs a value between 0 and 1 (exclusive)")
        elif self.value is not None:
            raise ValueError(f"{self.condition.value} takes no value")
        return self


AlertCreate = Annotated[
    PriceAlertIn | AccountAlertIn | PortfolioAlertIn | BotAlertIn, Field(discriminator="type")
]
ALERT_CREATE: TypeAdapter[Any] = TypeAdapter(AlertCreate)


class AlertUpdate(BaseModel):
    """Fields to change; the alert's shape is checked again as a whole."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"value": "105000", "cooldown_seconds": 60}]},
    )

    value: Value | None = None
    expires_at: datetime | None = Field(default=None, description="null: it never expires.")
    frequency: Frequency | None = None
    cooldown_seconds: int | None = Field(default=None, ge=0, le=2_000_000_000)
    bar_seconds: int | None = Field(default=None, ge=60, le=604800)

    @field_validator("value", "frequency", "cooldown_seconds", "bar_seconds")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null")
        return value

    @field_validator("expires_at")
    @classmethod
    def _ahead(cls, value: datetime | None) -> datetime | None:
        return in_future(value)


class AlertEnable(BaseModel):
    """An expired alert (or one whose expiry has passed) needs a new expiry, or null."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"expires_at": "2030-01-01T00:00:00Z"}]}
    )

    expires_at: datetime | None = Field(default=None, description="null: it never expires.")

    @field_validator("expires_at")
    @classmethod
    def _ahead(cls, value: datetime | None) -> datetime | None:
        return in_future(value)


class AlertFilter(BaseModel):
    status: AlertStatus | None = None
    type: AlertType | None = None
    symbol: str | None = None
    account_id: UUID | None = None


class Alert(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_ALERT_ID,
                    "type": "price",
                    "condition": "crosses_above",
                    "value": "100000.0000000000",
                    "symbol": "BTC",
                    "account_id": None,
                    "portfolio_id": None,
                    "bot_id": None,
                    "status": "active",
                    "frequency": "once",
                    "bar_seconds": 3600,
                    "cooldown_seconds": 0,
                    "window_seconds": None,
                    "expires_at": None,
                    "fire_count": 0,
                    "last_fired_at": None,
                    "current_value": None,
                    "created_at": "2025-01-15T09:02:10Z",
                    "updated_at": "2025-01-15T09:02:10Z",
                }
            ]
        }
    )

    id: UUID
    type: AlertType
    condition: str
    value: Price | None = Field(description="The price, percentage or USD amount it is set at.")
    symbol: str | None
    account_id: UUID | None
    portfolio_id: UUID | None
    bot_id: UUID | None
    status: AlertStatus
    frequency: Frequency
    bar_seconds: int
    cooldown_seconds: int
    window_seconds: int | None
    expires_at: datetime | None
    fire_count: int
    last_fired_at: datetime | None
    current_value: Price | None = Field(description="The value at its last firing.")
    created_at: datetime
    updated_at: datetime


class AlertFiring(BaseModel):
    """One firing of an alert: the value that fired it, when."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_FIRING_ID,
                    "alert_id": EXAMPLE_ALERT_ID,
                    "symbol": "BTC",
                    "value": "100250.0000000000",
                    "trigger_value": "100000.0000000000",
                    "tick_id": 1042,
                    "fired_at": "2025-01-15T10:15:00Z",
                }
            ]
        }
    )

    id: UUID
    alert_id: UUID
    symbol: str | None
    value: Price
    trigger_value: Price | None
    tick_id: int | None
    fired_at: datetime


class EvaluationRound(BaseModel):
    """One call of the evaluator: the ticks it took and the alerts they fired."""

    ticks: int
    fired: int
