"""/watchlists: thin HTTP over the watchlists service."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, status

from cryptotrader.api.deps import SignedIn
from cryptotrader.api.pagination import (
    Cursor,
    InvalidCursor,
    Limit,
    Page,
    decode_default_first,
    default_first_key,
    page_by,
)
from cryptotrader.api.problems import responses
from cryptotrader.errors import InvalidRequest, NotAuthenticated, UnknownSymbol
from cryptotrader.watchlists import service
from cryptotrader.watchlists.errors import WatchlistFull, WatchlistNameTaken, WatchlistNotFound
from cryptotrader.watchlists.schemas import (
    EXAMPLE_WATCHLIST_ID,
    SymbolAdd,
    SymbolList,
    Watchlist,
    WatchlistCreate,
    WatchlistUpdate,
)

router = APIRouter(prefix="/watchlists", tags=["watchlists"])
ONE = responses(NotAuthenticated, WatchlistNotFound)
WatchlistId = Annotated[UUID, Path(examples=[EXAMPLE_WATCHLIST_ID])]
SymbolPath = Annotated[str, Path(min_length=1, max_length=15, examples=["BTC"])]


@router.get(
    "",
    responses=responses(NotAuthenticated, InvalidCursor),
    summary="Your watchlists, the default one first, then the oldest first",
)
async def list_watchlists(
    caller: SignedIn, cursor: Cursor = None, limit: Limit = 100
) -> Page[Watchlist]:
    async with caller.unit() as conn:
        items = await service.list_watchlists(conn, after=decode_default_first(cursor), limit=limit)
    return page_by(items, limit, default_first_key)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=responses(NotAuthenticated, UnknownSymbol, WatchlistNameTaken, InvalidRequest),
    summary="Create a watchlist",
)
async def create_watchlist(caller: SignedIn, body: WatchlistCreate) -> Watchlist:
    async with caller.unit() as conn:
        return await service.create_watchlist(conn, caller.actor, body)


@router.get("/{watchlist_id}", responses=ONE, summary="One watchlist")
async def get_watchlist(caller: SignedIn, watchlist_id: WatchlistId) -> Watchlist:
    async with caller.unit() as conn:
        return await service.get_watchlist(conn, watchlist_id)


@router.patch(
    "/{watchlist_id}",
    responses=responses(NotAuthenticated, WatchlistNotFound, WatchlistNameTaken, InvalidRequest),
    summary="Rename, or make it your default watchlist",
)
async def update_watchlist(
    caller: SignedIn, watchlist_id: WatchlistId, body: WatchlistUpdate
) -> Watchlist:
    async with caller.unit() as conn:
        return await service.update_watchlist(conn, caller.actor, watchlist_id, body)


@router.delete(
    "/{watchlist_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ONE,
    summary="Delete a watchlist",
)
async def delete_watchlist(caller: SignedIn, watchlist_id: WatchlistId) -> None:
    async with caller.unit() as conn:
        await service.delete_watchlist(conn, caller.actor, watchlist_id)


@router.post(
    "/{watchlist_id}/symbols",
    responses=responses(NotAuthenticated, WatchlistNotFound, UnknownSymbol, WatchlistFull),
    summary="Add a symbol at the end (already there: nothing changes)",
)
async def add_symbol(caller: SignedIn, watchlist_id: WatchlistId, body: SymbolAdd) -> Watchlist:
    async with caller.unit() as conn:
        return await service.add_symbol(conn, caller.actor, watchlist_id, body.symbol)


@router.delete(
    "/{watchlist_id}/symbols/{symbol}",
    responses=responses(ONE, InvalidRequest),
    summary="Remove a symbol (not there: nothing changes)",
)
async def remove_symbol(
    caller: SignedIn, watchlist_id: WatchlistId, symbol: SymbolPath
) -> Watchlist:
    async with caller.unit() as conn:
        return await service.remove_symbol(conn, caller.actor, watchlist_id, symbol)


@router.put(
    "/{watchlist_id}/symbols",
    responses=responses(NotAuthenticated, WatchlistNotFound, UnknownSymbol),
    summary="Replace or reorder the symbols",
    description="The list becomes exactly `symbols`, in that order: each must have a price, "
    "none may repeat, at most 500.",
)
async def replace_symbols(
    caller: SignedIn, watchlist_id: WatchlistId, body: SymbolList
) -> Watchlist:
    async with caller.unit() as conn:
        return await service.replace_symbols(conn, caller.actor, watchlist_id, body.symbols)
