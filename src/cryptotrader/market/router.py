"""/market: prices (public; no sign-in needed) and the feed's status."""

from __future__ import annotations

import time
from collections.abc import Hashable
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field, TypeAdapter

from cryptotrader.api.deps import AnyCaller
from cryptotrader.api.pagination import (
    Cursor,
    InvalidCursor,
    Limit,
    Page,
    decode_key,
    encode_key,
    page_by,
)
from cryptotrader.api.problems import responses
from cryptotrader.db.session import as_anon
from cryptotrader.errors import InvalidRequest, UnknownSymbol
from cryptotrader.market import service
from cryptotrader.market.errors import NoCandles
from cryptotrader.market.schemas import CandleOut, FeedStatus, Timeframe
from cryptotrader.market.service import Price

router = APIRouter(prefix="/market", tags=["market"])
MaxAge = Annotated[
    int, Query(ge=1, le=86400, description="A price older than this many seconds is `stale`.")
]


# The full price list is the same for every caller and changes once per feed refresh:
# each process serves it from memory for up to PRICES_TTL seconds (ages may lag that much).
PRICES_TTL = 0.5
_PRICE_PAGE = TypeAdapter(Page[Price])


class PriceListCache:
    """The rendered first page of the unfiltered price list per ``max_age_seconds`` and
    ``limit``. When an entry expires,
    one request refreshes it while the others keep getting the previous body, so a burst of
    requests never turns into a burst of identical queries."""

    def __init__(self, ttl: float = PRICES_TTL, max_entries: int = 100) -> None:
        self.ttl = ttl
        self.max_entries = max_entries  # bounded: max_age_seconds is caller-chosen
        self.entries: dict[Hashable, tuple[float, bytes]] = {}
        self.refreshing: set[Hashable] = set()

    def fresh(self, key: Hashable, now: float) -> bytes | None:
        """A body to serve now: a fresh one, or a stale one while another request refreshes."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry[0] > now or key in self.refreshing:
            return entry[1]
        return None

    def store(self, key: Hashable, body: bytes, now: float) -> None:
        if len(self.entries) >= self.max_entries and key not in self.entries:
            self.entries.clear()
        self.entries[key] = (now + self.ttl, body)


@router.get(
    "/prices",
    response_model=Page[Price],
    responses=responses(InvalidRequest, InvalidCursor),
    summary="Every tracked price in USD and AUD, with its age",
    description=f"Public (a token, if sent, is not needed nor checked). The largest market "
    f"cap first; pages are cut at the previous page's last market cap. The unfiltered first "
    f"page is cached per process for {PRICES_TTL} s.",
)
async def prices(
    request: Request,
    symbols: Annotated[
        str | None, Query(max_length=2000, description="Comma-separated, e.g. `BTC,ETH`.")
    ] = None,
    max_age_seconds: MaxAge = 300,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Response:
    wanted = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
    after = decode_key(cursor, Decimal, str)
    state = request.app.state
    if wanted is not None or after is not None:
        async with as_anon(state.pool) as conn:  # the same public rows for every caller
            found = await service.list_prices(
                conn, symbols=wanted, max_age_seconds=max_age_seconds, after=after, limit=limit
            )
        return Response(_price_page(found, limit), media_type="application/json")
    price_cache: PriceListCache | None = getattr(state, "price_list_cache", None)
    if price_cache is None:
        price_cache = state.price_list_cache = PriceListCache()
    key = (max_age_seconds, limit)
    body = price_cache.fresh(key, time.monotonic())
    if body is not None:
        return Response(body, media_type="application/json")
    price_cache.refreshing.add(key)
    try:
        async with as_anon(state.pool) as conn:
            found = await service.list_prices(conn, max_age_seconds=max_age_seconds, limit=limit)
        body = _price_page(found, limit)
        price_cache.store(key, body, time.monotonic())
    finally:
        price_cache.refreshing.discard(key)
    return Response(body, media_type="application/json")


def _price_page(found: list[Price], limit: int) -> bytes:
    page = page_by(found, limit, service.price_key)
    return _PRICE_PAGE.dump_json(Page[Price](items=found, next_cursor=page.next_cursor))


@router.get(
    "/prices/{symbol}", responses=responses(UnknownSymbol, InvalidRequest), summary="One price"
)
async def price(
    caller: AnyCaller,
    symbol: Annotated[str, Path(examples=["BTC"])],
    max_age_seconds: MaxAge = 300,
) -> Price:
    async with caller.unit() as conn:
        return await service.get_price(conn, symbol, max_age_seconds=max_age_seconds)


class CandlePage(Page[CandleOut]):
    """A page of bars, and what they were built from."""

    source_timeframe: Timeframe = Field(
        description="The stored bars the items come from: `timeframe` itself, or a finer "
        "one they were aggregated from."
    )


@router.get(
    "/candles",
    responses=responses(InvalidRequest, InvalidCursor, NoCandles),
    summary="OHLCV bars of a symbol, stored or aggregated on the fly",
    description="With `source_timeframe`, bars of `timeframe` are built from the stored "
    "finer bars (open of the first, close of the last, high/low the extremes, volume the "
    "sum), aligned to UTC; gaps are tolerated and reported in `bars`/`complete`. Without it, "
    "the stored bars of `timeframe`, or, when the symbol has none of that timeframe, bars "
    "built from a finer stored one, the coarsest that divides it, as backtests do "
    "(`source_timeframe` in the answer says which); "
    "nothing to read or build from is `no_candles`. Oldest first. With `from`, the first "
    "`limit` bars from there and `next_cursor` goes on forward; without `from`, the newest "
    "`limit` bars and `next_cursor` goes back in time.",
)
async def candles(
    caller: AnyCaller,
    symbol: Annotated[
        str, Query(min_length=1, max_length=15, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,14}$")
    ],
    timeframe: Timeframe,
    source_timeframe: Timeframe | None = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=5000, description="Page size (at most 5000).")] = 500,
) -> CandlePage:
    key = decode_key(cursor, service.direction, datetime.fromisoformat)
    async with caller.unit() as conn:
        window = await service.list_candles(
            conn,
            symbol,
            timeframe,
            source_timeframe=source_timeframe,
            start=since,
            end=until,
            after=(key[0], key[1]) if key else None,
            limit=limit,
        )
    next_cursor = encode_key(*window.next_key) if window.next_key else None
    return CandlePage(
        items=window.items, next_cursor=next_cursor, source_timeframe=window.source_timeframe
    )


@router.get("/feed", summary="The market feed's leader, last refresh and lag")
async def feed(caller: AnyCaller) -> FeedStatus | None:
    async with caller.unit() as conn:
        return await service.feed_status(conn)
