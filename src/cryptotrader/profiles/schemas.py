"""The caller's profile and settings as the services take and return them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    TypeAdapter,
    field_validator,
)

from cryptotrader.auth.schemas import EXAMPLE_USER_ID
from cryptotrader.notifications.schemas import PREFERENCES_SETTING, Preferences
from cryptotrader.numbers import FEE_RATE_PLACES, FeeRate, Money


class Profile(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_USER_ID,
                    "email": "alice@example.com",
                    "display_name": "Alice",
                    "avatar_url": "https://avatars.example.com/alice.png",
                    "paper_balance": "100000.00000000",
                    "created_at": "2025-01-02T08:58:41Z",
                }
            ]
        }
    )

    id: UUID
    email: str
    display_name: str | None
    avatar_url: str | None
    paper_balance: Money | None
    created_at: datetime


class ProfileUpdate(BaseModel):
    """The profile fields a user may change; null clears the avatar, never the name."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "display_name": "Alice",
                    "avatar_url": "https://avatars.example.com/alice.png",
                }
            ]
        },
    )

    display_name: str | None = Field(default=None, min_length=1, max_length=100, examples=["Alice"])
    avatar_url: str | None = Field(
        default=None,
        max_length=500,
        description="An http(s) URL, or null to remove it.",
        examples=["https://avatars.example.com/alice.png"],
    )

    @field_validator("display_name")
    @classmethod
    def _name_not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("display_name cannot be null")
        return value

    @field_validator("avatar_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if (
            parts.scheme.lower() not in ("http", "https")
            or not parts.hostname
            or any(c.isspace() for c in value)
        ):
            raise ValueError("must be an http or https URL")
        return value


class SettingValue(BaseModel):
    """The body of PUT /me/settings/{name}; each setting checks the value its own way."""

    model_config = ConfigDict(extra="forbid")

    value: JsonValue = Field(examples=["AUD"])


class Setting(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "display_currency",
                    "value": "AUD",
                    "is_default": False,
                    "updated_at": "2025-01-15T14:35:12Z",
                }
            ]
        }
    )

    name: str
    value: JsonValue
    is_default: bool = Field(description="True when the value is the default (never set).")
    updated_at: datetime | None


# ------------------------------------------------------------------ the known settings


class FeeOverrides(BaseModel):
    model_config = ConfigDict(extra="forbid")

    taker_fee_rate: FeeRate | None = Field(
        default=None, ge=0, le=Decimal("0.05"), decimal_places=FEE_RATE_PLACES
    )
    maker_fee_rate: FeeRate | None = Field(
        default=None, ge=0, le=Decimal("0.05"), decimal_places=FEE_RATE_PLACES
    )


class Notifications(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: StrictBool
    push: StrictBool


@dataclass(frozen=True)
class SettingRule:
    """How one setting's value is checked, described for clients, and what it defaults to."""

    adapter: TypeAdapter[Any]
    rule: str
    default: JsonValue

    def validate(self, value: JsonValue) -> JsonValue:
        """The value in its stored JSON form; raises pydantic.ValidationError."""
        checked = self.adapter.validate_python(value)
        stored: JsonValue = self.adapter.dump_python(checked, mode="json", exclude_none=True)
        return stored


# default_account_id defaults to the account marked default (see the service).
SETTINGS: dict[str, SettingRule] = {
    "display_currency": SettingRule(
        TypeAdapter(Literal["USD", "AUD"]), 'one of "USD", "AUD"', "USD"
    ),
    "default_account_id": SettingRule(
        TypeAdapter(UUID), "the id (a UUID) of one of your accounts", None
    ),
    "theme": SettingRule(
        TypeAdapter(Literal["light", "dark", "system"]), 'one of "light", "dark", "system"', "dark"
    ),
    "fee_overrides": SettingRule(
        TypeAdapter(FeeOverrides),
        'an object with "taker_fee_rate" and/or "maker_fee_rate", each from 0 to 0.05',
        {},
    ),
    "notifications": SettingRule(
        TypeAdapter(Notifications),
        'an object {"email": true|false, "push": true|false}',
        {"email": True, "push": False},
    ),
    PREFERENCES_SETTING: SettingRule(
        TypeAdapter(Preferences),
        "an object of event type (order.filled, alert.triggered, ...) to the list of channels"
        ' it goes to ("in_app", "webhook"); an event left out goes to every channel, an empty'
        " list to none",
        {},
    ),
}
