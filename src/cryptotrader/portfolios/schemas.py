"""Portfolios as the services take and return them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

from cryptotrader.accounts.schemas import EXAMPLE_ACCOUNT_ID, AccountStatus
from cryptotrader.numbers import Money, Percent

Mode = Literal["paper", "live"]
Name = Annotated[str, Field(min_length=1, max_length=100, examples=["Main"])]
EXAMPLE_PORTFOLIO_ID = "e18a4b3f-6c2d-4f97-a051-3d7b9c8e2f16"
_MEMBER: JsonDict = {
    "account_id": EXAMPLE_ACCOUNT_ID,
    "account_name": "Swing BTC",
    "status": "active",
    "initial_balance": "100000.00000000",
    "equity": "100005.22257500",
    "total_pnl": "5.22257500",
    "added_at": "2025-01-02T09:00:00Z",
}


class PortfolioCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"name": "Long-term", "mode": "paper"}]},
    )

    name: Name
    mode: Mode = "paper"


class PortfolioUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"name": "Main", "is_default": True}]},
    )

    name: Name | None = None
    mode: Mode | None = None
    is_default: Literal[True] | None = Field(
        default=None, description="Make this your default portfolio (the previous one stops)."
    )

    @field_validator("name", "mode", "is_default")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null")
        return value


class MemberAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: UUID = Field(examples=[EXAMPLE_ACCOUNT_ID])


class PortfolioMember(BaseModel):
    """A member account valued at current prices."""

    model_config = ConfigDict(json_schema_extra={"examples": [_MEMBER]})

    account_id: UUID
    account_name: str
    status: AccountStatus
    initial_balance: Money
    equity: Money = Field(description="balance + reserved_balance + positions at price.")
    total_pnl: Money
    added_at: datetime


class Portfolio(BaseModel):
    """A group of the caller's accounts and their combined value at current prices."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_PORTFOLIO_ID,
                    "name": "Main",
                    "mode": "paper",
                    "is_default": True,
                    "accounts": [_MEMBER],
                    "total_value": "100005.22257500",
                    "initial_balance": "100000.00000000",
                    "total_pnl": "5.22257500",
                    "total_pnl_percentage": "0.005200",
                    "created_at": "2025-01-02T08:58:41Z",
                    "updated_at": "2025-01-15T14:30:02Z",
                }
            ]
        }
    )

    id: UUID
    name: str
    mode: Mode
    is_default: bool
    accounts: list[PortfolioMember]
    total_value: Money = Field(description="The members' equity, summed.")
    initial_balance: Money = Field(description="The members' initial balances, summed.")
    total_pnl: Money
    total_pnl_percentage: Percent
    created_at: datetime
    updated_at: datetime


class PortfolioSnapshot(BaseModel):
    """A portfolio at one UTC day's close, as the daily analytics job recorded it."""

    snapshot_date: date
    total_value: Money = Field(description="The members' equity at the day's close, summed.")
    pnl_daily: Money | None = Field(description="The day's PnL (flows excluded).")
    pnl_percentage: Percent | None
