"""The caller's watchlists: named, ordered lists of symbols that have a price.

Another user's watchlist is not visible (RLS): WatchlistNotFound, exactly like a missing one.
Adding a symbol already on the list changes nothing (idempotent); removing one that is not
there changes nothing either.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.calls import fetch_all, fetch_one, require
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.errors import InvalidRequest, UnknownSymbol
from cryptotrader.watchlists.errors import WatchlistFull, WatchlistNameTaken, WatchlistNotFound
from cryptotrader.watchlists.schemas import (
    MAX_SYMBOLS,
    Watchlist,
    WatchlistCreate,
    WatchlistUpdate,
)

Q = load_queries("cryptotrader.watchlists")


async def list_watchlists(
    conn: Conn, *, after: tuple[int, datetime, UUID] | None = None, limit: int | None = None
) -> list[Watchlist]:
    """The caller's watchlists, the default one first, then the oldest first. ``after`` is
    the (0 for the default else 1, created_at, id) of the previous page's last watchlist;
    ``limit`` None: all."""
    rank, at, row_id = after if after is not None else (None, None, None)
    rows = await fetch_all(
        conn,
        Q["list_watchlists"],
        {"after_rank": rank, "after_at": at, "after_id": row_id, "limit": limit},
    )
    return [Watchlist.model_validate(r) for r in rows]


async def get_watchlist(conn: Conn, watchlist_id: UUID) -> Watchlist:
    """Raises WatchlistNotFound."""
    row = await fetch_one(conn, Q["get_watchlist"], {"id": watchlist_id})
    return Watchlist.model_validate(require(row, WatchlistNotFound()))


async def _lock(conn: Conn, watchlist_id: UUID) -> dict[str, Any]:
    row = await fetch_one(conn, Q["lock_watchlist"], {"id": watchlist_id})
    return require(row, WatchlistNotFound())


async def _require_known(conn: Conn, symbols: list[str]) -> None:
    if not symbols:
        return
    rows = await fetch_all(conn, Q["known_symbols"], {"symbols": symbols})
    unknown = [s for s in symbols if s not in {r["symbol"] for r in rows}]
    if unknown:
        raise UnknownSymbol(f"no price for {', '.join(unknown)}")


async def create_watchlist(conn: Conn, actor: Actor, data: WatchlistCreate) -> Watchlist:
    """A new watchlist. Raises UnknownSymbol, WatchlistNameTaken. Audited
    ``watchlist.create``."""
    await _require_known(conn, data.symbols)
    row = await fetch_one(conn, Q["insert_watchlist"], data.model_dump())
    watchlist = Watchlist.model_validate(
        require(row, WatchlistNameTaken(f"you already have a watchlist named {data.name!r}"))
    )
    details = {"name": watchlist.name, "symbols": len(watchlist.symbols)}
    await audit.record(conn, actor, "watchlist.create", "watchlist", watchlist.id, details)
    return watchlist


async def update_watchlist(
    conn: Conn, actor: Actor, watchlist_id: UUID, changes: WatchlistUpdate
) -> Watchlist:
    """Rename it and/or make it (or stop it being) the default one. Raises
    WatchlistNotFound, WatchlistNameTaken, InvalidRequest when nothing is given. Audited
    ``watchlist.update`` with the changes."""
    fields = changes.model_dump(exclude_unset=True)
    await _lock(conn, watchlist_id)
    if not fields:
        raise InvalidRequest("no field to change")
    if "name" in fields and await fetch_one(
        conn, Q["name_taken"], {"name": fields["name"], "id": watchlist_id}
    ):
        raise WatchlistNameTaken(f"you already have a watchlist named {fields['name']!r}")
    params = {
        "id": watchlist_id,
        "set_name": "name" in fields,
        "name": fields.get("name"),
        "set_is_default": "is_default" in fields,
        "is_default": fields.get("is_default"),
    }
    row = await fetch_one(conn, Q["update_watchlist"], params)
    watchlist = Watchlist.model_validate(require(row, WatchlistNotFound()))
    details = changes.model_dump(mode="json", exclude_unset=True)
    await audit.record(conn, actor, "watchlist.update", "watchlist", watchlist_id, details)
    return watchlist


async def delete_watchlist(conn: Conn, actor: Actor, watchlist_id: UUID) -> None:
    """Raises WatchlistNotFound. Audited ``watchlist.delete``."""
    require(await fetch_one(conn, Q["delete_watchlist"], {"id": watchlist_id}), WatchlistNotFound())
    await audit.record(conn, actor, "watchlist.delete", "watchlist", watchlist_id)


async def _set_symbols(conn: Conn, watchlist_id: UUID, symbols: list[str]) -> Watchlist:
    row = await fetch_one(conn, Q["set_symbols"], {"id": watchlist_id, "symbols": symbols})
    return Watchlist.model_validate(require(row, WatchlistNotFound()))


async def add_symbol(conn: Conn, actor: Actor, watchlist_id: UUID, symbol: str) -> Watchlist:
    """Append a symbol (one already there is a no-op). Raises WatchlistNotFound,
    UnknownSymbol, WatchlistFull. Audited ``watchlist.add_symbol`` with whether it changed."""
    watchlist, changed = await _append(conn, watchlist_id, symbol)
    details = {"symbol": symbol, "changed": changed}
    await audit.record(conn, actor, "watchlist.add_symbol", "watchlist", watchlist_id, details)
    return watchlist


async def _append(conn: Conn, watchlist_id: UUID, symbol: str) -> tuple[Watchlist, bool]:
    current = await _lock(conn, watchlist_id)
    await _require_known(conn, [symbol])
    symbols: list[str] = current["symbols"]
    if symbol in symbols:
        return Watchlist.model_validate(current), False
    if len(symbols) >= MAX_SYMBOLS:
        raise WatchlistFull(f"a watchlist holds at most {MAX_SYMBOLS} symbols")
    return await _set_symbols(conn, watchlist_id, [*symbols, symbol]), True


async def remove_symbol(conn: Conn, actor: Actor, watchlist_id: UUID, symbol: str) -> Watchlist:
    """Remove a symbol (upper-cased; one not there is a no-op). Raises WatchlistNotFound.
    Audited ``watchlist.remove_symbol`` with whether it changed."""
    symbol = symbol.strip().upper()
    watchlist, changed = await _remove(conn, watchlist_id, symbol)
    details = {"symbol": symbol, "changed": changed}
    await audit.record(conn, actor, "watchlist.remove_symbol", "watchlist", watchlist_id, details)
    return watchlist


async def _remove(conn: Conn, watchlist_id: UUID, symbol: str) -> tuple[Watchlist, bool]:
    current = await _lock(conn, watchlist_id)
    symbols: list[str] = current["symbols"]
    if symbol not in symbols:
        return Watchlist.model_validate(current), False
    return await _set_symbols(conn, watchlist_id, [s for s in symbols if s != symbol]), True


async def replace_symbols(
    conn: Conn, actor: Actor, watchlist_id: UUID, symbols: list[str]
) -> Watchlist:
    """Replace the symbols (a reorder, or a new set), each of which must have a price.
    Raises WatchlistNotFound, UnknownSymbol. Audited ``watchlist.replace_symbols``."""
    await _lock(conn, watchlist_id)
    await _require_known(conn, symbols)
    watchlist = await _set_symbols(conn, watchlist_id, symbols)
    details = {"symbols": symbols}
    await audit.record(conn, actor, "watchlist.replace_symbols", "watchlist", watchlist_id, details)
    return watchlist
