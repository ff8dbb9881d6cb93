"""Accounts as the services take and return them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_serializer, model_validator

from cryptotrader.auth.schemas import EXAMPLE_USER_ID
from cryptotrader.numbers import (
    BPS_PLACES,
    FEE_RATE_PLACES,
    MONEY_PLACES,
    PRICE_PLACES,
    QUANTITY_PLACES,
    Bps,
    FeeRate,
    Money,
    Percent,
    Price,
    Quantity,
    Ratio,
    as_fixed,
)

AccountType = Literal["conservative", "balanced", "aggressive", "day_trading", "swing_trading"]
RiskLevel = Literal["very_low", "low", "medium", "high", "very_high", "aggressive"]
AccountStatus = Literal["active", "paused", "archived", "suspended"]
FillModel = Literal["ideal", "fixed", "volume"]

_COLOR = r"^#[0-9a-fA-F]{6}$"
# The examples tell one story: Alice's account bought 0.05 BTC at ~97,000 USD.
EXAMPLE_ACCOUNT_ID = "0b6c3e8a-5f2d-4c71-9a43-7e1d2b9f6c05"
_TEMPLATE_ID = "5e2b8c71-3f4a-4d9e-b6a0-8c1f7d2e9a43"  # templates.schemas.EXAMPLE_TEMPLATE_ID
_TRADE_ID = "a3d9f2c1-7b4e-4f68-8c15-9e2a6d0b7f34"  # trading.schemas.EXAMPLE_ORDER_ID
# The decimals the engine writes into a trade's audit metadata, by key, and their scales:
# read as the numerics' exact text (accounts/queries.sql), shown like the trade's own fields.
METADATA_DECIMALS = {"quantity": QUANTITY_PLACES, "price": PRICE_PLACES, "fee": MONEY_PLACES}


class AccountCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "account_name": "Swing BTC",
                    "account_type": "swing_trading",
                    "risk_level": "medium",
                    "initial_balance": "100000.00",
                    "max_daily_loss": "1500.00",
                    "max_position_size": "10000.00",
                    "color_theme": "#f59e0b",
                    "tags": ["btc", "swing"],
                    "description": "Multi-day BTC swings around the weekly range.",
                }
            ]
        },
    )

    account_name: str = Field(min_length=1, max_length=100, examples=["Swing BTC"])
    account_type: AccountType = "balanced"
    risk_level: RiskLevel = "medium"
    initial_balance: Decimal = Field(
        default=Decimal("100000.00"), gt=0, le=Decimal("1e12"), decimal_places=MONEY_PLACES
    )
    max_daily_loss: Decimal = Field(default=Decimal("1000.00"), gt=0, decimal_places=MONEY_PLACES)
    max_position_size: Decimal = Field(
        default=Decimal("5000.00"), gt=0, decimal_places=MONEY_PLACES
    )
    trading_strategy: str = Field(default="manual", max_length=100)
    color_theme: str = Field(default="#3b82f6", pattern=_COLOR)
    icon: str = Field(default="TrendingUp", max_length=50)
    tags: list[str] = Field(default_factory=list, max_length=20)
    description: str | None = Field(default=None, max_length=2000)
    is_default: bool = False


class AccountFromTemplate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "template_id": _TEMPLATE_ID,
                    "account_name": "Conservative DCA",
                    "initial_balance": "25000.00",
                }
            ]
        },
    )

    template_id: UUID = Field(examples=[_TEMPLATE_ID])
    account_name: str = Field(min_length=1, max_length=100, examples=["Conservative DCA"])
    is_default: bool = False
    initial_balance: Decimal | None = Field(
        default=None, gt=0, le=Decimal("1e12"), decimal_places=MONEY_PLACES
    )


class AccountUpdate(BaseModel):
    """Fields a user may change; money columns are not among them."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "account_name": "Swing BTC (tight)",
                    "max_daily_loss": "1000.00",
                    "tags": ["btc", "swing", "tight-stops"],
                    "fill_model": "fixed",
                    "slippage_bps": "5",
                    "max_price_age_seconds": 120,
                }
            ]
        },
    )

    account_name: str | None = Field(default=None, min_length=1, max_length=100)
    account_type: AccountType | None = None
    risk_level: RiskLevel | None = None
    max_daily_loss: Decimal | None = Field(default=None, gt=0, decimal_places=MONEY_PLACES)
    max_position_size: Decimal | None = Field(default=None, gt=0, decimal_places=MONEY_PLACES)
    trading_strategy: str | None = Field(default=None, max_length=100)
    color_theme: str | None = Field(default=None, pattern=_COLOR)
    icon: str | None = Field(default=None, max_length=50)
    tags: list[str] | None = Field(default=None, max_length=20)
    description: str | None = Field(default=None, max_length=2000)
    fill_model: FillModel | None = None
    slippage_bps: Decimal | None = Field(default=None, ge=0, le=1000, decimal_places=BPS_PLACES)
    taker_fee_rate: Decimal | None = Field(
        default=None, ge=0, le=Decimal("0.05"), decimal_places=FEE_RATE_PLACES
    )
    maker_fee_rate: Decimal | None = Field(
        default=None, ge=0, le=Decimal("0.05"), decimal_places=FEE_RATE_PLACES
    )
    max_price_age_seconds: int | None = Field(default=None, ge=1, le=86400)

    @model_validator(mode="after")
    def _no_nulls(self) -> AccountUpdate:
        """Omit a field to leave it; only the description may be cleared with null."""
        nulls = [
            n for n in self.model_fields_set if getattr(self, n) is None and n != "description"
        ]
        if nulls:
            raise ValueError(f"{', '.join(sorted(nulls))} cannot be null (omit it to keep it)")
        return self


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        default=None, max_length=500, examples=["Starting over with a new strategy"]
    )


class Account(BaseModel):
    """An account with its value at current prices."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_ACCOUNT_ID,
                    "user_id": EXAMPLE_USER_ID,
                    "account_name": "Swing BTC",
                    "account_type": "swing_trading",
                    "risk_level": "medium",
                    "status": "active",
                    "is_default": True,
                    "balance": "95142.72257500",
                    "reserved_balance": "0.00000000",
                    "initial_balance": "100000.00000000",
                    "positions_value": "4862.50000000",
                    "equity": "100005.22257500",
                    "total_pnl": "5.22257500",
                    "total_pnl_percentage": "0.005223",
                    "fees_paid": "4.85242500",
                    "max_daily_loss": "1500.00000000",
                    "max_position_size": "10000.00000000",
                    "trading_strategy": "manual",
                    "color_theme": "#f59e0b",
                    "icon": "TrendingUp",
                    "tags": ["btc", "swing"],
                    "description": "Multi-day BTC swings around the weekly range.",
                    "fill_model": "fixed",
                    "slippage_bps": "5.0000",
                    "taker_fee_rate": "0.001000",
                    "maker_fee_rate": "0.000800",
                    "max_price_age_seconds": 300,
                    "epoch": 0,
                    "template_id": None,
                    "last_accessed": "2025-01-15T14:31:10Z",
                    "access_count": 42,
                    "created_at": "2025-01-02T09:00:00Z",
                    "updated_at": "2025-01-15T14:30:02Z",
                }
            ]
        }
    )

    id: UUID
    user_id: UUID
    account_name: str
    account_type: AccountType
    risk_level: RiskLevel
    status: AccountStatus
    is_default: bool
    balance: Money
    reserved_balance: Money
    initial_balance: Money
    positions_value: Money
    equity: Money
    total_pnl: Money
    total_pnl_percentage: Percent
    fees_paid: Money
    max_daily_loss: Money
    max_position_size: Money
    trading_strategy: str | None
    color_theme: str | None
    icon: str | None
    tags: list[str]
    description: str | None
    fill_model: FillModel
    slippage_bps: Bps
    taker_fee_rate: FeeRate
    maker_fee_rate: FeeRate
    max_price_age_seconds: int
    epoch: int
    template_id: UUID | None
    last_accessed: datetime | None
    access_count: int
    created_at: datetime
    updated_at: datetime


class Position(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "symbol": "BTC",
                    "quantity": "0.05000000",
                    "reserved_quantity": "0.00000000",
                    "avg_entry_price": "97048.5000000000",
                    "cost_basis": "4852.42500000",
                    "realized_pnl": "0.00000000",
                    "price": "97250.0000000000",
                    "market_value": "4862.50000000",
                    "unrealized_pnl": "10.07500000",
                    "opened_at": "2025-01-15T14:30:02Z",
                }
            ]
        }
    )

    symbol: str
    quantity: Quantity
    reserved_quantity: Quantity
    avg_entry_price: Price
    cost_basis: Money
    realized_pnl: Money
    price: Price | None
    market_value: Money | None
    unrealized_pnl: Money | None
    opened_at: datetime


class AuditEntry(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "9d4e7a12-8b3c-4e6f-a2d1-5c0b8f3e7a69",
                    "action": "trade_buy",
                    "old_balance": "100000.00000000",
                    "new_balance": "95142.72257500",
                    "amount_changed": "-4857.27742500",
                    "reason": None,
                    "metadata": {
                        "trade_id": _TRADE_ID,
                        "symbol": "BTC",
                        "quantity": "0.05000000",
                        "price": "97048.5000000000",
                        "fee": "4.85242500",
                    },
                    "created_at": "2025-01-15T14:30:02Z",
                }
            ]
        }
    )

    id: UUID
    action: str
    old_balance: Money | None
    new_balance: Money | None
    amount_changed: Money | None
    reason: str | None
    metadata: dict[str, object]
    created_at: datetime

    @field_serializer("metadata", when_used="json")
    def _metadata_decimals(self, metadata: dict[str, object]) -> dict[str, object]:
        return {
            k: as_fixed(v, METADATA_DECIMALS[k]) if k in METADATA_DECIMALS else v
            for k, v in metadata.items()
        }


class EquityPoint(BaseModel):
    at: datetime
    equity: Money
    drawdown: Ratio = Field(
        description="The fall from the curve's running high, as a fraction (0 to -1)."
    )


class EquityCurve(BaseModel):
    """An account's equity after each fill of its current epoch (positions at their last
    fill's price), thinned to at most ``points``, and its equity now at current prices."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account_id": "0b6f9d2e-4c1a-4e7b-9a35-d8e2f1c07b64",
                    "points": [
                        {
                            "at": "2025-01-15T14:30:02Z",
                            "equity": "99995.14757500",
                            "drawdown": "0.00000000",
                        },
                        {
                            "at": "2025-01-16T09:12:44Z",
                            "equity": "100412.50000000",
                            "drawdown": "0.00000000",
                        },
                    ],
                    "max_drawdown": "0.00000000",
                }
            ]
        }
    )

    account_id: UUID
    points: list[EquityPoint]
    max_drawdown: Ratio = Field(description="The deepest fall as a fraction (0 to -1).")


class AccountTotals(BaseModel):
    accounts: int
    equity: Money
    cash: Money
    total_pnl: Money
    total_pnl_percentage: Percent
