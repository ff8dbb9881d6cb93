"""Watchlists as the services take and return them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

MAX_SYMBOLS = 500  # the table's CHECK (watchlists_symbols_limit)


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _distinct(symbols: list[str]) -> list[str]:
    if len(set(symbols)) != len(symbols):
        raise ValueError("symbols must not repeat")
    return symbols


Symbol = Annotated[
    str, BeforeValidator(_upper), Field(pattern=r"^[A-Z0-9]{1,15}$", examples=["BTC"])
]
Symbols = Annotated[
    list[Symbol],
    Field(max_length=MAX_SYMBOLS, description="In display order, each once."),
    AfterValidator(_distinct),
]
Name = Annotated[str, Field(min_length=1, max_length=100)]


class WatchlistCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    symbols: Symbols = Field(default_factory=list)
    is_default: bool = False


class WatchlistUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name | None = None
    is_default: bool | None = None

    @field_validator("name", "is_default")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null")
        return value


class SymbolAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: Symbol


class SymbolList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbols: Symbols


class Watchlist(BaseModel):
    id: UUID
    name: str
    symbols: list[str]
    is_default: bool
    created_at: datetime
    updated_at: datetime
