"""Cursor pagination: opaque cursors over (created_at, id), newest first."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Generic, Protocol, TypeVar
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel

from cryptotrader.errors import InvalidRequest

T = TypeVar("T")
MAX_LIMIT = 500

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size (at most {MAX_LIMIT}).")]
Cursor = Annotated[
    str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
]


class InvalidCursor(InvalidRequest):
    code = "invalid_cursor"
    title = "Invalid cursor"


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(created_at: datetime, row_id: UUID) -> str:
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, UUID] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, row_id = raw.split("|")
        return datetime.fromisoformat(at), UUID(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("the cursor is not one this API issued") from exc


class _Keyed(Protocol):
    created_at: datetime
    id: UUID


K = TypeVar("K", bound=_Keyed)


def page_of(items: list[K], limit: int) -> Page[K]:
    """A page of newest-first rows; a full page carries the cursor of its last row."""
    last = items[-1] if len(items) == limit else None
    cursor = encode_cursor(last.created_at, last.id) if last else None
    return Page(items=items, next_cursor=cursor)  # unparametrised: K is only for the checker
