"""Portfolios as the services take and return them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cryptotrader.accounts.schemas import AccountStatus

Mode = Literal["paper", "live"]
Name = Annotated[str, Field(min_length=1, max_length=100)]


class PortfolioCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    mode: Mode = "paper"


class PortfolioUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

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

    account_id: UUID


class PortfolioMember(BaseModel):
    """A member account valued at current prices."""

    account_id: UUID
    account_name: str
    status: AccountStatus
    initial_balance: Decimal
    equity: Decimal = Field(description="balance + reserved_balance + positions at price.")
    total_pnl: Decimal
    added_at: datetime


class Portfolio(BaseModel):
    """A group of the caller's accounts and their combined value at current prices."""

    id: UUID
    name: str
    mode: Mode
    is_default: bool
    accounts: list[PortfolioMember]
    total_value: Decimal = Field(description="The members' equity, summed.")
    initial_balance: Decimal = Field(description="The members' initial balances, summed.")
    total_pnl: Decimal
    total_pnl_percentage: Decimal
    created_at: datetime
    updated_at: datetime
