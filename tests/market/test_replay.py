"""The replay feed plays stored bars back at a chosen speed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cryptotrader.market.replay import ReplayFeed, load_replay
from cryptotrader.market.schemas import Candle, TrackedCoin
from tests.support import TestDatabase

START = datetime(2021, 5, 1, tzinfo=UTC)


def bars(n: int) -> list[Candle]:
    return [
        Candle(
            symbol="BTC",
            timeframe="1m",
            open_time=START + timedelta(minutes=i),
            open=Decimal(100 + i),
            high=Decimal(101 + i),
            low=Decimal(99 + i),
            close=Decimal(100 + i) + Decimal("0.5"),
            volume=Decimal(2),
        )
        for i in range(n)
    ]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_market_time_advances_at_the_chosen_speed_and_prices_are_the_bar_in_progress() -> None:
    clock = Clock()
    feed = ReplayFeed(candles={"BTC": bars(10)}, timeframe="1m", speed=60, clock=clock)
    first = feed.quote("BTC", feed.market_time())
    assert first is not None and first.price_usd == Decimal(101)  # bar 0 closed: bar 1's open
    clock.now += 3  # 3 s of wall time at 60x = 3 bars
    later = feed.quote("BTC", feed.market_time())
    assert later is not None and later.price_usd == Decimal(104)
    assert later.high_24h == Decimal(104) and later.low_24h == Decimal(99)
    assert later.volume_24h_usd == sum(
        Decimal(2) * (Decimal(100 + i) + Decimal("0.5")) for i in range(4)
    )
    clock.now += 3600  # past the data: holds the last close
    assert feed.quote("BTC", feed.market_time()).price_usd == Decimal("109.5")  # type: ignore[union-attr]


def test_loop_starts_over() -> None:
    clock = Clock()
    feed = ReplayFeed(candles={"BTC": bars(10)}, timeframe="1m", speed=60, loop=True, clock=clock)
    clock.now += 10  # 10 bars: one full pass
    assert feed.quote("BTC", feed.market_time()).price_usd == Decimal(101)  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_replay_loads_stored_candles(db: TestDatabase, pool) -> None:  # type: ignore[no-untyped-def]
    from cryptotrader.db.session import as_service

    with db.owner() as conn:
        for c in bars(5):
            conn.execute(
                "INSERT INTO market_candles"
                " (symbol, timeframe, open_time, open, high, low, close, volume)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [c.symbol, c.timeframe, c.open_time, c.open, c.high, c.low, c.close, c.volume],
            )
    async with as_service(pool) as conn:
        feed = await load_replay(conn, ["BTC", "ETH"], "1m", START, START + timedelta(hours=1))
    quotes = await feed.fetch_quotes(
        [TrackedCoin(symbol="BTC", coingecko_id="bitcoin", name="Bitcoin")]
    )
    assert [q.symbol for q in quotes] == ["BTC"] and quotes[0].exchange == "replay"
    with pytest.raises(ValueError, match="no candles"):
        ReplayFeed(candles={}, timeframe="1m")
