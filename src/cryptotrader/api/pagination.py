"""Cursor pagination: every list answers a :class:`Page`, ``{items, next_cursor}``, and
takes ``limit`` and ``cursor``. A cursor is opaque to clients: the key of the last row of
the previous page (keyset pagination), most often (created_at, id) newest first
(:func:`page_of`); lists in another order carry their own key (:func:`page_by`)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, Protocol, TypeVar
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


KeyPart = str | int | bool | datetime | UUID | Decimal
_SEPARATOR = "|"


def _text(part: KeyPart) -> str:
    text = part.isoformat() if isinstance(part, datetime) else str(part)
    if _SEPARATOR in text:
        raise ValueError(f"a cursor key cannot hold {_SEPARATOR!r}: {text!r}")
    return text


def encode_key(*parts: KeyPart) -> str:
    """The cursor of a row whose sort key is ``parts``."""
    raw = _SEPARATOR.join(_text(part) for part in parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_key(cursor: str | None, *kinds: Callable[[str], Any]) -> tuple[Any, ...] | None:
    """The key :func:`encode_key` put in ``cursor``, each part read by its ``kinds``
    (``int``, ``UUID``, :func:`flag`, ...); None for no cursor. Raises InvalidCursor."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        parts = raw.split(_SEPARATOR)
        if len(parts) != len(kinds):
            raise ValueError("not the key of this list")
        return tuple(kind(part) for kind, part in zip(kinds, parts, strict=True))
    except (ValueError, binascii.Error, UnicodeDecodeError, InvalidOperation) as exc:
        raise InvalidCursor("the cursor is not one this API issued") from exc


def flag(text: str) -> bool:
    """A boolean part of a key."""
    if text not in ("True", "False"):
        raise ValueError(f"not a flag: {text!r}")
    return text == "True"


def encode_cursor(created_at: datetime, row_id: UUID) -> str:
    return encode_key(created_at, row_id)


def decode_cursor(cursor: str | None) -> tuple[datetime, UUID] | None:
    key = decode_key(cursor, datetime.fromisoformat, UUID)
    return None if key is None else (key[0], key[1])


class _Keyed(Protocol):
    created_at: datetime
    id: UUID


K = TypeVar("K", bound=_Keyed)


def page_of(items: list[K], limit: int) -> Page[K]:
    """A page of newest-first rows; a full page carries the cursor of its last row."""
    return page_by(items, limit, lambda row: (row.created_at, row.id))


def page_by(items: list[T], limit: int, key: Callable[[T], Sequence[KeyPart]]) -> Page[T]:
    """A page of rows in the order ``key`` sorts them; a full page carries the cursor of
    its last row (the next page, possibly empty, starts after it)."""
    cursor = encode_key(*key(items[-1])) if items and len(items) >= limit else None
    return Page(items=items, next_cursor=cursor)  # unparametrised: T is only for the checker


def default_first_key(row: Any) -> tuple[int, datetime, UUID]:
    """The key of lists that show the default row first, then the oldest: (0 for the
    default row else 1, created_at, id); SQL sorts on the same three."""
    return (0 if row.is_default else 1, row.created_at, row.id)


def decode_default_first(cursor: str | None) -> tuple[int, datetime, UUID] | None:
    key = decode_key(cursor, int, datetime.fromisoformat, UUID)
    return None if key is None else (key[0], key[1], key[2])
