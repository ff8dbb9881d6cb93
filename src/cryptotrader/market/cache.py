"""The price cache (market_data_cache): what the feed writes and everyone reads."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from cryptotrader.alerts import service as alerts
from cryptotrader.db.calls import execute, fetch_all
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.market.schemas import Quote, TrackedCoin
from cryptotrader.numbers import Money, Percent
from cryptotrader.numbers import Price as UnitPrice

Q = load_queries("cryptotrader.market", "cache.sql")
PRICE_CHANNEL = "ct_prices"
_NOTIFY_CHUNK = 40  # symbols per NOTIFY payload (PostgreSQL caps a payload at 8000 bytes)


class Price(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "symbol": "BTC",
                    "name": "Bitcoin",
                    "price_usd": "97250.0000000000",
                    "price_aud": "145242.8750000000",
                    "volume_24h_usd": "38215400000.00000000",
                    "change_percentage_24h": "1.840000",
                    "market_cap_usd": "1926500000000.00000000",
                    "high_24h": "97980.0000000000",
                    "low_24h": "95310.0000000000",
                    "exchange": "coingecko",
                    "last_updated": "2025-01-15T14:31:00Z",
                    "age_seconds": 12.4,
                    "stale": False,
                }
            ]
        }
    )

    symbol: str
    name: str | None
    price_usd: UnitPrice
    price_aud: UnitPrice = Field(description="A price per unit in AUD.")
    volume_24h_usd: Money | None
    change_percentage_24h: Percent | None
    market_cap_usd: Money | None
    high_24h: UnitPrice | None
    low_24h: UnitPrice | None
    exchange: str
    last_updated: datetime
    age_seconds: float = Field(description="Seconds since the price was last updated.")
    stale: bool = Field(description="Older than the request's `max_age_seconds`.")


async def tracked_coins(conn: Conn) -> list[TrackedCoin]:
    return [TrackedCoin.model_validate(r) for r in await fetch_all(conn, Q["tracked_coins"])]


def price_key(price: Price) -> tuple[Decimal, str]:
    """The sort key of the price list: market cap (-1 without one), then symbol."""
    cap = price.market_cap_usd
    return (Decimal(-1) if cap is None else cap, price.symbol)


async def list_prices(
    conn: Conn,
    *,
    symbols: list[str] | None = None,
    max_age_seconds: int = 300,
    after: tuple[Decimal, str] | None = None,
    limit: int | None = None,
) -> list[Price]:
    """Cached prices with their age; ``stale`` when older than ``max_age_seconds``. The
    largest market cap first; ``after`` is the :func:`price_key` of the previous page's
    last price, ``limit`` None: all."""
    cap, symbol = after if after is not None else (None, None)
    rows = await fetch_all(
        conn,
        Q["list_prices"],
        {
            "symbols": [s.upper() for s in symbols] if symbols else None,
            "max_age_seconds": max_age_seconds,
            "after_cap": cap,
            "after_symbol": symbol,
            "limit": limit,
        },
    )
    return [Price.model_validate(r) for r in rows]


async def store_quotes(
    conn: Conn, quotes: list[Quote], *, live_bars: bool = True
) -> dict[str, Decimal]:
    """Upsert the quotes, fold them into the live 1-minute bars (unless ``live_bars`` is
    off: a replay plays bars that are stored already) and announce them on NOTIFY
    ``ct_prices``; returns the symbols whose USD price changed, with the new price (what
    tick processing needs)."""
    if not quotes:
        return {}
    old = {
        r["symbol"]: r["price_usd"]
        for r in await fetch_all(conn, Q["current_prices"], {"symbols": [q.symbol for q in quotes]})
    }
    columns = {c: [getattr(q, c) for q in quotes] for c in Quote.model_fields}
    await execute(conn, Q["upsert_quotes"], columns)
    if live_bars:
        await execute(conn, Q["upsert_live_bars"], columns)
    for start in range(0, len(quotes), _NOTIFY_CHUNK):
        chunk = quotes[start : start + _NOTIFY_CHUNK]
        payload = {q.symbol: [str(q.price_usd), str(q.price_aud)] for q in chunk}
        notice = {"channel": PRICE_CHANNEL, "prices": _json(payload)}
        await execute(conn, Q["notify_prices"], notice)
    changed = {q.symbol: q for q in quotes if old.get(q.symbol) != q.price_usd}
    await alerts.record_tick(
        conn, {s: (old.get(s), q.price_usd, q.last_updated) for s, q in changed.items()}
    )
    return {s: q.price_usd for s, q in changed.items()}


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
