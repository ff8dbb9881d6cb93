"""Account templates as the services take and return them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from cryptotrader.accounts.schemas import AccountType, RiskLevel

Tag = Annotated[str, Field(min_length=1, max_length=50)]


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    account_type: AccountType = "balanced"
    risk_level: RiskLevel = "medium"
    initial_balance: Decimal = Field(default=Decimal("100000.00"), gt=0, le=Decimal("1e12"))
    max_daily_loss: Decimal = Field(default=Decimal("1000.00"), gt=0, le=Decimal("1e12"))
    max_position_size: Decimal = Field(default=Decimal("5000.00"), gt=0, le=Decimal("1e12"))
    trading_strategy: str = Field(default="manual", min_length=1, max_length=100)
    color_theme: str = Field(default="#3b82f6", pattern=r"^#[0-9a-fA-F]{6}$")
    icon: str = Field(default="TrendingUp", min_length=1, max_length=50)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    is_public: bool = Field(
        default=False, description="Shared with every user (and anonymous visitors)."
    )


class RatingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5, examples=[4])


class Template(BaseModel):
    """A template with its rating (the average of users' ratings) and the caller's own."""

    id: UUID
    name: str
    description: str | None
    account_type: AccountType
    risk_level: RiskLevel
    initial_balance: Decimal
    max_daily_loss: Decimal | None
    max_position_size: Decimal | None
    trading_strategy: str | None
    color_theme: str | None
    icon: str | None
    tags: list[str]
    is_public: bool
    is_builtin: bool = Field(description="Shipped with the system (no creator).")
    is_own: bool = Field(description="Created by the caller.")
    usage_count: int
    rating: Decimal
    rating_count: int
    my_rating: int | None = Field(default=None, description="The caller's rating, if any.")
    created_at: datetime
    updated_at: datetime | None
