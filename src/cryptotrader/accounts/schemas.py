"""Accounts as the services take and return them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

AccountType = Literal["conservative", "balanced", "aggressive", "day_trading", "swing_trading"]
RiskLevel = Literal["very_low", "low", "medium", "high", "very_high", "aggressive"]
AccountStatus = Literal["active", "paused", "archived", "suspended"]
FillModel = Literal["ideal", "fixed", "volume"]

_COLOR = r"^#[0-9a-fA-F]{6}$"


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    account_name: str = Field(min_length=1, max_length=100)
    account_type: AccountType = "balanced"
    risk_level: RiskLevel = "medium"
    initial_balance: Decimal = Field(default=Decimal("100000.00"), gt=0, le=Decimal("1e12"))
    max_daily_loss: Decimal = Field(default=Decimal("1000.00"), gt=0)
    max_position_size: Decimal = Field(default=Decimal("5000.00"), gt=0)
    trading_strategy: str = Field(default="manual", max_length=100)
    color_theme: str = Field(default="#3b82f6", pattern=_COLOR)
    icon: str = Field(default="TrendingUp", max_length=50)
    tags: list[str] = Field(default_factory=list, max_length=20)
    description: str | None = Field(default=None, max_length=2000)
    is_default: bool = False


class AccountFromTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    template_id: UUID
    account_name: str = Field(min_length=1, max_length=100)
    is_default: bool = False
    initial_balance: Decimal | None = Field(default=None, gt=0, le=Decimal("1e12"))


class AccountUpdate(BaseModel):
    """Fields a user may change; money columns are not among them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    account_name: str | None = Field(default=None, min_length=1, max_length=100)
    account_type: AccountType | None = None
    risk_level: RiskLevel | None = None
    max_daily_loss: Decimal | None = Field(default=None, gt=0)
    max_position_size: Decimal | None = Field(default=None, gt=0)
    trading_strategy: str | None = Field(default=None, max_length=100)
    color_theme: str | None = Field(default=None, pattern=_COLOR)
    icon: str | None = Field(default=None, max_length=50)
    tags: list[str] | None = Field(default=None, max_length=20)
    description: str | None = Field(default=None, max_length=2000)
    fill_model: FillModel | None = None
    slippage_bps: Decimal | None = Field(default=None, ge=0, le=1000)
    taker_fee_rate: Decimal | None = Field(default=None, ge=0, le=Decimal("0.05"))
    maker_fee_rate: Decimal | None = Field(default=None, ge=0, le=Decimal("0.05"))
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


class Account(BaseModel):
    """An account with its value at current prices."""

    id: UUID
    user_id: UUID
    account_name: str
    account_type: AccountType
    risk_level: RiskLevel
    status: AccountStatus
    is_default: bool
    balance: Decimal
    reserved_balance: Decimal
    initial_balance: Decimal
    positions_value: Decimal
    equity: Decimal
    total_pnl: Decimal
    total_pnl_percentage: Decimal
    fees_paid: Decimal
    max_daily_loss: Decimal
    max_position_size: Decimal
    trading_strategy: str | None
    color_theme: str | None
    icon: str | None
    tags: list[str]
    description: str | None
    fill_model: FillModel
    slippage_bps: Decimal
    taker_fee_rate: Decimal
    maker_fee_rate: Decimal
    max_price_age_seconds: int
    epoch: int
    template_id: UUID | None
    last_accessed: datetime | None
    access_count: int
    created_at: datetime
    updated_at: datetime


class Position(BaseModel):
    symbol: str
    quantity: Decimal
    reserved_quantity: Decimal
    avg_entry_price: Decimal
    cost_basis: Decimal
    realized_pnl: Decimal
    price: Decimal | None
    market_value: Decimal | None
    unrealized_pnl: Decimal | None
    opened_at: datetime


class AuditEntry(BaseModel):
    id: UUID
    action: str
    old_balance: Decimal | None
    new_balance: Decimal | None
    amount_changed: Decimal | None
    reason: str | None
    metadata: dict[str, object]
    created_at: datetime
