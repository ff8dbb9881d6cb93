"""Account templates as the services take and return them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cryptotrader.accounts.schemas import AccountType, RiskLevel
from cryptotrader.numbers import MONEY_PLACES, Money, Score

Tag = Annotated[str, Field(min_length=1, max_length=50)]
EXAMPLE_TEMPLATE_ID = "5e2b8c71-3f4a-4d9e-b6a0-8c1f7d2e9a43"


class TemplateCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "Conservative DCA",
                    "description": "Weekly BTC/ETH buys, small positions, 0.5% daily loss limit.",
                    "account_type": "conservative",
                    "risk_level": "low",
                    "initial_balance": "25000.00",
                    "max_daily_loss": "125.00",
                    "max_position_size": "2500.00",
                    "trading_strategy": "dca",
                    "color_theme": "#10b981",
                    "icon": "Shield",
                    "tags": ["dca", "long-term"],
                    "is_public": True,
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=100, examples=["Conservative DCA"])
    description: str | None = Field(default=None, max_length=2000)
    account_type: AccountType = "balanced"
    risk_level: RiskLevel = "medium"
    initial_balance: Decimal = Field(
        default=Decimal("100000.00"), gt=0, le=Decimal("1e12"), decimal_places=MONEY_PLACES
    )
    max_daily_loss: Decimal = Field(
        default=Decimal("1000.00"), gt=0, le=Decimal("1e12"), decimal_places=MONEY_PLACES
    )
    max_position_size: Decimal = Field(
        default=Decimal("5000.00"), gt=0, le=Decimal("1e12"), decimal_places=MONEY_PLACES
    )
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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_TEMPLATE_ID,
                    "name": "Conservative DCA",
                    "description": "Weekly BTC/ETH buys, small positions, 0.5% daily loss limit.",
                    "account_type": "conservative",
                    "risk_level": "low",
                    "initial_balance": "25000.00000000",
                    "max_daily_loss": "125.00000000",
                    "max_position_size": "2500.00000000",
                    "trading_strategy": "dca",
                    "color_theme": "#10b981",
                    "icon": "Shield",
                    "tags": ["dca", "long-term"],
                    "is_public": True,
                    "is_builtin": False,
                    "is_own": False,
                    "usage_count": 128,
                    "rating": "4.30",
                    "rating_count": 27,
                    "my_rating": 4,
                    "created_at": "2024-11-20T16:05:33Z",
                    "updated_at": "2024-12-01T10:12:00Z",
                }
            ]
        }
    )

    id: UUID
    name: str
    description: str | None
    account_type: AccountType
    risk_level: RiskLevel
    initial_balance: Money
    max_daily_loss: Money | None
    max_position_size: Money | None
    trading_strategy: str | None
    color_theme: str | None
    icon: str | None
    tags: list[str]
    is_public: bool
    is_builtin: bool = Field(description="Shipped with the system (no creator).")
    is_own: bool = Field(description="Created by the caller.")
    usage_count: int
    rating: Score | None = Field(description="The users' average rating; null until rated.")
    rating_count: int
    my_rating: int | None = Field(default=None, description="The caller's rating, if any.")
    created_at: datetime
    updated_at: datetime | None

    @model_validator(mode="after")
    def _unrated(self) -> Template:
        if self.rating_count == 0:  # the column's 0 means "no rating yet", not a rating of 0
            self.rating = None
        return self
