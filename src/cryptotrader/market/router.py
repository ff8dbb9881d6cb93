"""/market: prices (public; no sign-in needed) and the feed's status."""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, TypeAdapter

from cryptotrader.api.deps import AnyCaller
from cryptotrader.api.problems import responses
from cryptotrader.db.calls import fetch_one
from cryptotrader.errors import InvalidRequest, UnknownSymbol
from cryptotrader.market import cache
from cryptotrader.market.candles import aggregate_candles, get_candles
from cryptotrader.market.schemas import TIMEFRAME_SECONDS, Timeframe

router = APIRouter(prefix="/market", tags=["market"])
MaxAge = Annotated[
    int, Query(ge=1, le=86400, description="A price older than this many seconds is `stale`.")
]


class FeedStatus(BaseModel):
    leader: str
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


@router.get(
    "/prices",
    response_model=list[cache.Price],
    summary="Every tracked price in USD and AUD, with its age",
    description=f"Public. The unfiltered list is cached per process for {PRICES_TTL} s.",
)
async def prices(
    request: Request,
    caller: AnyCaller,
    symbols: Annotated[
        str | None, Query(max_length=2000, description="Comma-separated, e.g. `BTC,ETH`.")
    ] = None,
    max_age_seconds: MaxAge = 300,
) -> Response:
    wanted = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
    now = time.monotonic()
    state = request.app.state
    if not hasattr(state, "price_list_cache"):
        state.price_list_cache = {}
    _price_list: dict[int, tuple[float, bytes]] = state.price_list_cache
    cached = _price_list.get(max_age_seconds) if wanted is None else None
    if cached is not None and cached[0] > now:
        return Response(cached[1], media_type="application/json")
    async with caller.unit() as conn:
        found = await cache.list_prices(conn, symbols=wanted, max_age_seconds=max_age_seconds)
    body = _PRICE_LIST.dump_json(found)
    if wanted is None:
        if len(_price_list) > 100:  # bounded: max_age_seconds is caller-chosen
            _price_list.clear()
        _price_list[max_age_seconds] = (now + PRICES_TTL, body)
    return Response(body, media_type="application/json")


@router.get("/prices/{symbol}", responses=responses(UnknownSymbol), summary="One price")
async def price(caller: AnyCaller, symbol: str, max_age_seconds: MaxAge = 300) -> cache.Price:
    async with caller.unit() as conn:
        found = await cache.list_prices(
            conn, symbols=[symbol[:15]], max_age_seconds=max_age_seconds
        )
    if not found:
        raise UnknownSymbol(f"unknown symbol {symbol.upper()[:15]}")
    return found[0]


class CandleOut(BaseModel):
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
