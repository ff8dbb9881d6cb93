"""Market data as the API and the CLI read it: prices, bars and the feed's status.

The one way in for readers: it wraps what the cache (market/cache.py) and the candle store
(market/candles.py) provide, so a router calls only this module. The feed itself
(market/feed.py) writes; nothing here does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from cryptotrader.db.calls import fetch_one
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.errors import InvalidRequest, UnknownSymbol
from cryptotrader.market import cache, candles
from cryptotrader.market.cache import Price, price_key
from cryptotrader.market.schemas import (
    TIMEFRAME_SECONDS,
    CandleOut,
    CandleWindow,
    Direction,
    FeedStatus,
    Timeframe,
)

Q = load_queries("cryptotrader.market")
list_prices = cache.list_prices

__all__ = [
    "Price",
    "feed_status",
    "get_price",
    "list_candles",
    "list_prices",
    "price_key",
    "usd_rate",
]


async def get_price(conn: Conn, symbol: str, *, max_age_seconds: int = 300) -> Price:
    """One cached price with its age (symbols are at most 15 characters). Raises
    UnknownSymbol."""
    found = await cache.list_prices(conn, symbols=[symbol[:15]], max_age_seconds=max_age_seconds)
    if not found:
        raise UnknownSymbol(f"unknown symbol {symbol.upper()[:15]}")
    return found[0]


def direction(text: str) -> Direction:
    """``text`` when it is a page direction, else ValueError (a page cursor's key)."""
    if text == "forward":
        return "forward"
    if text == "backward":
        return "backward"
    raise ValueError(f"not a direction: {text!r}")


async def list_candles(
    conn: Conn,
    symbol: str,
    timeframe: Timeframe,
    *,
    source_timeframe: Timeframe | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    after: tuple[Direction, datetime] | None = None,
    limit: int = 500,
) -> CandleWindow:
    """A page of bars of ``timeframe``, oldest first: stored, or built from the finer
    ``source_timeframe`` (without it, from the coarsest finer stored one when there is none
    of ``timeframe``). From ``start``, the first ``limit`` bars and the next page goes on
    forward; without it, the newest ``limit`` bars and the next page goes back in time.
    ``after`` is the previous page's ``next_key``. Raises InvalidRequest, NoCandles."""
    if (
        source_timeframe is not None
        and TIMEFRAME_SECONDS[source_timeframe] >= TIMEFRAME_SECONDS[timeframe]
    ):
        raise InvalidRequest("source_timeframe must be finer than timeframe")
    start, end = candles.as_utc(start), candles.as_utc(end)
    latest = start is None
    if after is not None:  # the next page: the key's side of its last bar
        latest = after[0] == "backward"
        if latest:
            end = after[1] if end is None else min(end, after[1])
        else:
            first = after[1] + timedelta(microseconds=1)
            start = first if start is None else max(start, first)
    series = await candles.read_candles(
        conn,
        symbol,
        timeframe,
        source_timeframe=source_timeframe,
        start=start,
        end=end,
        limit=limit,
        latest=latest,
    )
    items = [
        CandleOut.model_validate(
            c.model_dump()
            | ({"complete": c.complete} if isinstance(c, candles.AggregatedCandle) else {})
        )
        for c in series.bars
    ]
    next_key: tuple[Direction, datetime] | None = None
    if len(items) == limit:
        next_key = ("backward", items[0].open_time) if latest else ("forward", items[-1].open_time)
    return CandleWindow(items=items, source_timeframe=series.source, next_key=next_key)


async def feed_status(conn: Conn) -> FeedStatus | None:
    """The market feed's status with ``lag_seconds``; None before any feed ran."""
    row = await fetch_one(conn, Q["feed_status"])
    return FeedStatus.model_validate(row) if row else None


def usd_rate(prices: list[Price], currency: str) -> Decimal:
    """Units of ``currency`` per USD, from the cached quotes' two prices (the median of
    their ratios, so one odd quote does not move it); 1 for USD or with no quotes."""
    if currency != "AUD":
        return Decimal(1)
    ratios = sorted(p.price_aud / p.price_usd for p in prices if p.price_usd > 0)
    if not ratios:
        return Decimal(1)
    return ratios[len(ratios) // 2].quantize(Decimal("0.000001"))
