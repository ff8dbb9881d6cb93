"""/market: prices (public; no sign-in needed) and the feed's status."""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from cryptotrader.api.deps import AnyCaller
from cryptotrader.api.problems import responses
from cryptotrader.db.calls import fetch_one
from cryptotrader.db.session import as_anon
from cryptotrader.errors import InvalidRequest, UnknownSymbol
from cryptotrader.market import cache
from cryptotrader.market.candles import aggregate_candles, get_candles
from cryptotrader.market.schemas import TIMEFRAME_SECONDS, Timeframe

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
_PRICE_LIST = TypeAdapter(list[cache.Price])


class PriceListCache:
    """The rendered unfiltered price list per ``max_age_seconds``. When an entry expires,
    one request refreshes it while the others keep getting the previous body, so a burst of
    requests never turns into a burst of identical queries."""

    def __init__(self, ttl: float = PRICES_TTL, max_entries: int = 100) -> None:
        self.ttl = ttl
        self.max_entries = max_entries  # bounded: max_age_seconds is caller-chosen
        self.entries: dict[int, tuple[float, bytes]] = {}
        self.refreshing: set[int] = set()

    def fresh(self, key: int, now: float) -> bytes | None:
        """A body to serve now: a fresh one, or a stale one while another request refreshes."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry[0] > now or key in self.refreshing:
            return entry[1]
        return None

    def store(self, key: int, body: bytes, now: float) -> None:
        if len(self.entries) >= self.max_entries and key not in self.entries:
            self.entries.clear()
        self.entries[key] = (now + self.ttl, body)


@router.get(
    "/prices",
    response_model=list[cache.Price],
    responses=responses(InvalidRequest),
    summary="Every tracked price in USD and AUD, with its age",
    description=f"Public (a token, if sent, is not needed nor checked). The unfiltered list "
    f"is cached per process for {PRICES_TTL} s.",
)
async def prices(
    request: Request,
    symbols: Annotated[
        str | None, Query(max_length=2000, description="Comma-separated, e.g. `BTC,ETH`.")
    ] = None,
    max_age_seconds: MaxAge = 300,
) -> Response:
    wanted = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
    state = request.app.state
    if wanted is not None:
        async with as_anon(state.pool) as conn:  # the same public rows for every caller
            found = await cache.list_prices(conn, symbols=wanted, max_age_seconds=max_age_seconds)
        return Response(_PRICE_LIST.dump_json(found), media_type="application/json")
    price_cache: PriceListCache | None = getattr(state, "price_list_cache", None)
    if price_cache is None:
        price_cache = state.price_list_cache = PriceListCache()
    body = price_cache.fresh(max_age_seconds, time.monotonic())
    if body is not None:
        return Response(body, media_type="application/json")
    price_cache.refreshing.add(max_age_seconds)
    try:
        async with as_anon(state.pool) as conn:
            found = await cache.list_prices(conn, max_age_seconds=max_age_seconds)
        body = _PRICE_LIST.dump_json(found)
        price_cache.store(max_age_seconds, body, time.monotonic())
    finally:
        price_cache.refreshing.discard(max_age_seconds)
    return Response(body, media_type="application/json")


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
                    "open": "96880.00",
                    "high": "97310.00",
                    "low": "96750.00",
                    "close": "97250.00",
                    "volume": "412.53",
                    "bars": 4,
                    "complete": True,
                }
            ]
        }
    )

    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    bars: int | None = Field(
        default=None, description="Aggregated bars: how many source bars the bucket had."
    )
    complete: bool | None = Field(
        default=None, description="Aggregated bars: whether no source bar was missing."
    )


@router.get(
    "/candles",
    responses=responses(InvalidRequest),
    summary="OHLCV bars of a symbol, stored or aggregated on the fly",
    description="With `source_timeframe`, bars of `timeframe` are built from the stored "
    "finer bars (open of the first, close of the last, high/low the extremes, volume the "
    "sum), aligned to UTC; gaps are tolerated and reported in `bars`/`complete`. Without "
    "`from`, the newest `limit` bars.",
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
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[CandleOut]:
    if (
        source_timeframe is not None
        and TIMEFRAME_SECONDS[source_timeframe] >= TIMEFRAME_SECONDS[timeframe]
    ):
        raise InvalidRequest("source_timeframe must be finer than timeframe")
    latest = since is None
    async with caller.unit() as conn:
        if source_timeframe is None:
            rows = await get_candles(
                conn, symbol, timeframe, start=since, end=until, limit=limit, latest=latest
            )
            return [CandleOut.model_validate(c.model_dump()) for c in rows]
        built = await aggregate_candles(
            conn,
            symbol,
            timeframe,
            source_timeframe=source_timeframe,
            start=since,
            end=until,
            limit=limit,
            latest=latest,
        )
    return [CandleOut.model_validate(c.model_dump() | {"complete": c.complete}) for c in built]


@router.get("/feed", summary="The market feed's leader, last refresh and lag")
async def feed(caller: AnyCaller) -> FeedStatus | None:
    async with caller.unit() as conn:
        row = await fetch_one(
            conn,
            "SELECT *, extract(epoch FROM now() - last_success_at)::float8 AS lag_seconds"
            " FROM market_feed_status WHERE feed = 'market'",
        )
    return FeedStatus.model_validate(row) if row else None
