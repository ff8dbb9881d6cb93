"""The admin capability's requests and answers: users with their ban state, every user's
accounts, the platform's public templates and the platform's state."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict, JsonValue

from cryptotrader.accounts.schemas import (
    EXAMPLE_ACCOUNT_ID,
    AccountStatus,
    AccountType,
    RiskLevel,
)
from cryptotrader.auth.schemas import EXAMPLE_USER_ID
from cryptotrader.market.schemas import FeedStatus
from cryptotrader.numbers import MONEY_PLACES, Money
from cryptotrader.templates.schemas import Tag, TemplateCreate

Reason = Annotated[
    str,
    Field(
        min_length=1,
        max_length=500,
        description="Why: kept in the audit trail.",
        examples=["chargeback fraud reported by the payment provider"],
    ),
]
_EMAIL = "alice@example.com"
_BANNED_UNTIL = "2025-02-15T00:00:00Z"


def _shows(example: JsonDict) -> ConfigDict:
    """The configuration of a model whose schema shows ``example``."""
    return ConfigDict(json_schema_extra={"examples": [example]})


def _request_shows(example: JsonDict) -> ConfigDict:
    """The configuration of a request body: unknown fields refused, text stripped, ``example``
    shown."""
    return ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [example]}
    )


def _example_of(model: type[BaseModel]) -> JsonValue:
    """The first example ``model``'s schema shows, to show it again inside another's."""
    extra = model.model_config.get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    if not isinstance(examples, list) or not examples:
        raise TypeError(f"{model.__name__} shows no example")
    return copy.deepcopy(examples[0])


# ------------------------------------------------------------------ users


class AdminUser(BaseModel):
    """A user as administrators see them: identity, ban state, activity, accounts."""

    model_config = _shows(
        {
            "id": EXAMPLE_USER_ID,
            "email": _EMAIL,
            "display_name": "Alice",
            "is_admin": False,
            "is_banned": True,
            "banned_until": _BANNED_UNTIL,
            "created_at": "2025-01-02T08:58:41Z",
            "last_sign_in_at": "2025-01-15T14:02:17Z",
            "account_count": 3,
        }
    )

    id: UUID
    email: str
    display_name: str | None
    is_admin: bool
    is_banned: bool = Field(description="Signing in and refreshing a session are refused.")
    banned_until: datetime | None = Field(
        description="When the ban ends; null when not banned or banned for good."
    )
    created_at: datetime
    last_sign_in_at: datetime | None
    account_count: int = Field(description="Paper accounts of the user, archived ones included.")


class BanRequest(BaseModel):
    model_config = _request_shows({"reason": "spam in public templates", "until": None})

    reason: Reason
    until: AwareDatetime | None = Field(
        default=None,
        description="When the ban ends (in the future, with a time zone); null: for good.",
        examples=[_BANNED_UNTIL],
    )

    @field_validator("until")
    @classmethod
    def _in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= datetime.now(UTC):
            raise ValueError("a ban ends in the future")
        return value


# ------------------------------------------------------------------ accounts


class SuspendRequest(BaseModel):
    model_config = _request_shows({"reason": "wash trading between own accounts"})

    reason: Reason


class AdminAccount(BaseModel):
    """An account of any user, with its owner."""

    model_config = _shows(
        {
            "id": EXAMPLE_ACCOUNT_ID,
            "user_id": EXAMPLE_USER_ID,
            "owner_email": _EMAIL,
            "account_name": "Swing BTC",
            "account_type": "swing_trading",
            "risk_level": "medium",
            "status": "suspended",
            "is_default": True,
            "balance": "95142.72257500",
            "reserved_balance": "0.00000000",
            "initial_balance": "100000.00000000",
            "created_at": "2025-01-02T09:00:00Z",
            "updated_at": "2025-01-15T14:30:02Z",
        }
    )

    id: UUID
    user_id: UUID
    owner_email: str
    account_name: str
    account_type: AccountType
    risk_level: RiskLevel
    status: AccountStatus
    is_default: bool
    balance: Money
    reserved_balance: Money
    initial_balance: Money
    created_at: datetime
    updated_at: datetime


# ------------------------------------------------------------------ templates


class AdminTemplateCreate(TemplateCreate):
    """A public template of the platform's (no creator), offered to every user."""

    is_public: bool = Field(
        default=True, description="Offered to every user; false: created retired."
    )


class TemplateUpdate(BaseModel):
    """The fields of a platform template to change (at least one)."""

    model_config = _request_shows(
        {"description": "Weekly BTC/ETH buys.", "max_daily_loss": "150.00"}
    )

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    account_type: AccountType | None = None
    risk_level: RiskLevel | None = None
    initial_balance: Decimal | None = Field(
        default=None, gt=0, le=Decimal("1e12"), decimal_places=MONEY_PLACES
    )
    max_daily_loss: Decimal | None = Field(
        default=None, gt=0, le=Decimal("1e12"), decimal_places=MONEY_PLACES
    )
    max_position_size: Decimal | None = Field(
        default=None, gt=0, le=Decimal("1e12"), decimal_places=MONEY_PLACES
    )
    trading_strategy: str | None = Field(default=None, min_length=1, max_length=100)
    color_theme: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    icon: str | None = Field(default=None, min_length=1, max_length=50)
    tags: list[Tag] | None = Field(default=None, max_length=20)
    is_public: bool | None = Field(
        default=None, description="true offers a retired template again."
    )

    @field_validator(
        "name",
        "account_type",
        "risk_level",
        "initial_balance",
        "max_daily_loss",
        "max_position_size",
        "trading_strategy",
        "color_theme",
        "icon",
        "tags",
        "is_public",
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null")
        return value


# ------------------------------------------------------------------ the platform


class FeedState(BaseModel):
    leading: bool = Field(description="A process leads the market feed now.")
    status: FeedStatus | None = Field(description="The feed's last state; null: none ever ran.")


class BacktestQueue(BaseModel):
    backtest_workers: int = Field(description="Backtest worker processes connected now.")
    pending: int
    running: int
    completed: int
    failed: int
    cancelled: int
    oldest_pending_seconds: float | None = Field(
        description="Age of the oldest pending session; null when none waits."
    )


class DatabaseState(BaseModel):
    version: str = Field(description="PostgreSQL's version.")
    size_bytes: int
    connections: int = Field(description="Sessions connected to this database now.")
    max_connections: int = Field(description="The server's limit, over all databases.")


class PlatformStatus(BaseModel):
    """The platform's state, read-only: market feed, backtest queue, database."""

    model_config = _shows(
        {
            "feed": {"leading": True, "status": _example_of(FeedStatus)},
            "backtests": {
                "backtest_workers": 2,
                "pending": 3,
                "running": 2,
                "completed": 148,
                "failed": 4,
                "cancelled": 7,
                "oldest_pending_seconds": 41.5,
            },
            "database": {
                "version": "18.0",
                "size_bytes": 48_734_208,
                "connections": 9,
                "max_connections": 100,
            },
            "checked_at": "2025-01-15T14:31:12Z",
        }
    )

    feed: FeedState
    backtests: BacktestQueue
    database: DatabaseState
    checked_at: datetime
