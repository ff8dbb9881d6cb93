"""/market: prices (public; no sign-in needed) and the feed's status."""

from __future__ import annotations

import time
from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from cryptotrader.api.deps import AnyCaller
from cryptotrader.api.health import feed_status
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
from cryptotrader.market import cache
from cryptotrader.market.candles import AggregatedCandle, read_candles
from cryptotrader.market.errors import NoCandles
from cryptotrader.market.schemas import TIMEFRAME_SECONDS, Timeframe
from cryptotrader.numbers import Price, Quantity

router = APIRouter(prefix="/market", tags=["market"])
MaxAge = Annotated[
    int, Query(ge=1, le=86400, description="A price older than this many seconds is `stale`.")
]


class FeedStatus(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "leader": "api-1:4127",
                    "provider": "coingecko",
                    "leader_since": "2025-01-15T08:00:04Z",
                    "last_refresh_at": "2025-01-15T14:31:00Z",
                    "last_success_at": "2025-01-15T14:31:00Z",
                    "last_error": None,
                    "refresh_count": 1302,
                    "error_count": 3,
                    "lag_seconds": 12.4,
                }
            ]
        }
    )

    leader: str = Field(description="The process running the feed (host:pid).")
    provider: str
    leader_since: datetime
    last_refresh_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    refresh_count: int
    error_count: int
    lag_seconds: float | None


# The full price list is the same for every caller and changes once per feed refresh:
# each process serves it from memory for up to PRICES_TTL seconds (ages may lag that much).
PRICES_TTL = 0.5
_PRICE_PAGE = TypeAdapter(Page[cache.Price])


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
    response_model=Page[cache.Price],
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
            found = await cache.list_prices(
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
            found = await cache.list_prices(conn, max_age_seconds=max_age_seconds, limit=limit)
        body = _price_page(found, limit)
        price_cache.store(key, body, time.monotonic())
    finally:
        price_cache.refreshing.discard(key)
    return Response(body, media_type="application/json")


def _price_page(found: list[cache.Price], limit: int) -> bytes:
    page = page_by(found, limit, cache.price_key)
    return _PRICE_PAGE.dump_json(Page[cache.Price](items=found, next_cursor=page.next_cursor))


@router.get(
    "/prices/{symbol}", responses=responses(UnknownSymbol, InvalidRequest), summary="One price"
)
async def price(caller: AnyCaller, symbol: str, max_age_seconds: MaxAge = 300) -> cache.Price:
    async with caller.unit() as conn:
        found = await cache.list_prices(
            conn, symbols=[symbol[:15]], max_age_seconds=max_age_seconds
        )
    if not found:
        raise UnknownSymbol(f"unknown symbol {symbol.upper()[:15]}")
    return found[0]


class CandleOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "open_time": "2025-01-15T14:00:00Z",
                    "open": "96880.0000000000",
                    "high": "97310.0000000000",
                    "low": "96750.0000000000",
                    "close": "97250.0000000000",
                    "volume": "412.53000000",
                    "bars": 4,
                    "complete": True,
                }
            ]
        }
    )

    open_time: datetime
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Quantity = Field(description="Traded quantity of the asset.")
    bars: int | None = Field(
        default=None, description="Aggregated bars: how many source bars the bucket had."
    )
    complete: bool | None = Field(
        default=None, description="Aggregated bars: whether no source bar was missing."
    )


class CandlePage(Page[CandleOut]):
    """A page of bars, and what they were built from."""

    source_timeframe: Timeframe = Field(
        description="The stored bars the items come from: `timeframe` itself, or a finer "
        "one they were aggregated from."
    )


def _utc(t: datetime | None) -> datetime | None:
    """Naive times are UTC (as candles.py reads them)."""
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def _direction(text: str) -> str:
    if text not in ("forward", "backward"):
        raise ValueError(f"not a direction: {text!r}")
    return text


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
    if (
        source_timeframe is not None
        and TIMEFRAME_SECONDS[source_timeframe] >= TIMEFRAME_SECONDS[timeframe]
    ):
        raise InvalidRequest("source_timeframe must be finer than timeframe")
    since, until = _utc(since), _utc(until)
    latest = since is None
    key = decode_key(cursor, _direction, datetime.fromisoformat)
    if key is not None:  # the next page: the cursor's side of its last bar
        latest = key[0] == "backward"
        if latest:
            until = key[1] if until is None else min(until, key[1])
        else:
            after = key[1] + timedelta(microseconds=1)
            since = after if since is None else max(since, after)
    async with caller.unit() as conn:
        series = await read_candles(
            conn,
            symbol,
            timeframe,
            source_timeframe=source_timeframe,
            start=since,
            end=until,
            limit=limit,
            latest=latest,
        )
    items = [
        CandleOut.model_validate(
            c.model_dump() | ({"complete": c.complete} if isinstance(c, AggregatedCandle) else {})
        )
        for c in series.bars
    ]
    next_cursor = None
    if len(items) == limit:
        next_cursor = (
            encode_key("backward", items[0].open_time)
            if latest
            else encode_key("forward", items[-1].open_time)
        )
    return CandlePage(items=items, next_cursor=next_cursor, source_timeframe=series.source)


@router.get("/feed", summary="The market feed's leader, last refresh and lag")
async def feed(caller: AnyCaller) -> FeedStatus | None:
    async with caller.unit() as conn:
        row = await feed_status(conn)
    return FeedStatus.model_validate(row) if row else None
