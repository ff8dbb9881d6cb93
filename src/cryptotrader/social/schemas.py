"""Trader profiles and follows as the services take and return them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

EXAMPLE_TRADER_ID = "7c2b9f1e-4d3a-4e5b-8f6a-9b0c1d2e3f4a"
EXAMPLE_FOLLOW_ID = "f0110a5e-2b3c-4d5e-8f9a-0b1c2d3e4f5a"
Shows = Literal["statistics", "statistics_and_trades"]
Name = Annotated[str, Field(min_length=1, max_length=60)]
Category = Annotated[str, Field(min_length=1, max_length=40)]


class TraderProfileUpdate(BaseModel):
    """What a trader publishes. Listing it makes it public; unlisting hides it again."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "is_listed": True,
                    "display_name": "Alice",
                    "category": "Swing",
                    "bio": "BTC and ETH swing trades on the daily chart.",
                    "shows": "statistics_and_trades",
                    "trade_delay_minutes": 60,
                }
            ]
        },
    )

    is_listed: bool = False
    display_name: Name
    category: Category = "Other"
    bio: str | None = Field(default=None, max_length=500)
    shows: Shows = Field(
        default="statistics", description="statistics only, or statistics and trades."
    )
    trade_delay_minutes: int = Field(
        default=0, ge=0, le=10080, description="Trades are shown this long after they fill."
    )


class TraderProfile(BaseModel):
    """A trader's own profile, as they see it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": EXAMPLE_TRADER_ID,
                    "is_listed": True,
                    "display_name": "Alice",
                    "category": "Swing",
                    "bio": "BTC and ETH swing trades on the daily chart.",
                    "shows": "statistics_and_trades",
                    "trade_delay_minutes": 60,
                    "listed_at": "2025-01-10T09:00:00Z",
                    "created_at": "2025-01-10T09:00:00Z",
                    "updated_at": "2025-01-10T09:00:00Z",
                }
            ]
        }
    )

    user_id: UUID
    is_listed: bool
    display_name: str
    category: str
    bio: str | None
    shows: Shows
    trade_delay_minutes: int
    listed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PublicTrader(BaseModel):
    """A listed trader as anyone sees them: the published columns only."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_TRADER_ID,
                    "display_name": "Alice",
                    "category": "Swing",
                    "bio": "BTC and ETH swing trades on the daily chart.",
                    "shows": "statistics_and_trades",
                    "trade_delay_minutes": 60,
                    "listed_at": "2025-01-10T09:00:00Z",
                    "followers": 12,
                }
            ]
        }
    )

    id: UUID
    display_name: str
    category: str
    bio: str | None
    shows: Shows
    trade_delay_minutes: int
    listed_at: datetime
    followers: int


class FollowCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"trader_id": EXAMPLE_TRADER_ID}]}
    )

    trader_id: UUID = Field(description="A listed trader's id (see /traders).")


class Follow(BaseModel):
    """One of the caller's follows."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_FOLLOW_ID,
                    "trader_id": EXAMPLE_TRADER_ID,
                    "trader_name": "Alice",
                    "trader_category": "Swing",
                    "is_active": True,
                    "copy_trading_enabled": False,
                    "followed_at": "2025-01-12T10:00:00Z",
                    "created_at": "2025-01-12T10:00:00Z",
                    "updated_at": "2025-01-12T10:00:00Z",
                }
            ]
        }
    )

    id: UUID
    trader_id: UUID
    trader_name: str
    trader_category: str
    is_active: bool
    copy_trading_enabled: bool
    followed_at: datetime
    created_at: datetime
    updated_at: datetime
