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
Name = Annotated[str, Field(min_length=1, max_length=100, examples=["Majors"])]
EXAMPLE_WATCHLIST_ID = "c7f41e09-2a6b-4d3c-8e5f-1b9a0d6c2e78"


class WatchlistCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"name": "Majors", "symbols": ["BTC", "ETH", "SOL"], "is_default": True}]
        },
    )

    name: Name
    symbols: Symbols = Field(default_factory=list)
    is_default: bool = False


class WatchlistUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"name": "Large caps", "is_default": True}]},
    )

    name: Name | None = None
    is_default: bool | None = None

    @field_validator("name", "is_default")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null")
        return value


class SymbolAdd(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"symbol": "SOL"}]})

    symbol: Symbol


class SymbolList(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"symbols": ["ETH", "BTC", "SOL"]}]}
    )

    symbols: Symbols


class Watchlist(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_WATCHLIST_ID,
                    "name": "Majors",
                    "symbols": ["BTC", "ETH", "SOL"],
                    "is_default": True,
                    "created_at": "2025-01-03T11:20:45Z",
                    "updated_at": "2025-01-15T09:02:10Z",
                }
            ]
        }
    )

    id: UUID
    name: str
    symbols: list[str]
    is_default: bool
    created_at: datetime
    updated_at: datetime
