"""Market data as providers return it and the cache stores it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from cryptotrader.numbers import Price, Quantity

Timeframe = Literal["1m", "5m", "15m", "30m", "1h", "4h", "1d"]
TIMEFRAME_SECONDS: dict[str, int] = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "4h": 14400,
    "1d": 86400,
}


class TrackedCoin(BaseModel):
    """A row of tracked_coins: our ticker and the provider's id."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    coingecko_id: str
    name: str


class Quote(BaseModel):
    """One symbol's current market figures, in the shape of market_data_cache."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    name: str | None = None
    price_usd: Decimal
    price_aud: Decimal
    volume_24h_usd: Decimal | None = None
    volume_24h_aud: Decimal | None = None
    change_24h: Decimal | None = None
    change_percentage_24h: Decimal | None = None
    market_cap_usd: Decimal | None = None
    market_cap_aud: Decimal | None = None
    high_24h: Decimal | None = None
    low_24h: Decimal | None = None
    exchange: str
    last_updated: datetime
    # base units traded since the provider's previous quote, when it knows (the simulated
    # feed does); added to the live 1-minute bar's volume, not stored in the cache
    volume: Decimal | None = None


class Candle(BaseModel):
    """One OHLCV bar; ``open_time`` is the bar's start (UTC)."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    timeframe: Timeframe
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class QuoteProvider(Protocol):
    """Current quotes for many symbols at once."""

    name: str

    async def fetch_quotes(self, coins: list[TrackedCoin]) -> list[Quote]: ...


@runtime_checkable
class MarketClock(Protocol):
    """A provider with a clock of its own (a replay): the market's time now."""

    def market_time(self) -> datetime: ...


class CandleProvider(Protocol):
    """Historical candles of one symbol, oldest first, ``since`` inclusive."""

    name: str

    async def fetch_candles(
        self, symbol: str, timeframe: Timeframe, since: datetime, until: datetime | None = None
    ) -> list[Candle]: ...


class ProviderError(Exception):
    """A provider failed in a way the feed should survive: it keeps the last good prices."""


class RateLimited(ProviderError):
    """The provider said 429; ``retry_after`` seconds until it may be asked again."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# The feed's status row (its last leader, refreshes, errors) and the lag of its last good
# refresh. (No docstring: it would become the schema's description.)
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


class CandleOut(BaseModel):  # one bar as the API answers it
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


Direction = Literal["forward", "backward"]


class CandleWindow(BaseModel):
    """One page of bars, the stored timeframe they come from, and where the next page
    starts: (direction, the open time of the bar it goes on from), None after the last."""

    items: list[CandleOut]
    source_timeframe: Timeframe
    next_key: tuple[Direction, datetime] | None
