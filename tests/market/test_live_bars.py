"""Live bars (issue 14, item 1): the feed folds its quotes into 1-minute candles in
``market_candles``, in the transaction that stores them, so a live reader sees the bars a
backtest of the same window reads, and the timeframes above come from them on read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.db.session import Conn, as_service, service_connection
from cryptotrader.market import cache
from cryptotrader.market import service as market
from cryptotrader.market.feed import MarketFeed
from cryptotrader.market.schemas import Quote
from cryptotrader.market.simulated import SimulatedFeed
from tests.support import TestDatabase

pytestmark = pytest.mark.anyio
MINUTE = datetime(2031, 5, 6, 7, 8, tzinfo=UTC)  # after any stored bar


def tick(symbol: str, price: str, second: float, volume: str | None = "0.5") -> Quote:
    return Quote(
        symbol=symbol,
        price_usd=Decimal(price),
        price_aud=Decimal(price) * 2,
        exchange="test",
        last_updated=MINUTE + timedelta(seconds=second),
        volume=None if volume is None else Decimal(volume),
    )


def bars(db: TestDatabase, symbol: str) -> list[dict[str, object]]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT open_time, open, high, low, close, volume, source FROM market_candles"
            " WHERE symbol = %s AND timeframe = '1m' AND open_time >= %s ORDER BY open_time",
            [symbol, MINUTE],
        ).fetchall()


async def store(pool: AsyncConnectionPool[Conn], quotes: list[Quote], live: bool = True) -> None:
    async with as_service(pool) as conn:
        await cache.store_quotes(conn, quotes, live_bars=live)


async def test_quotes_fold_into_one_minute_bars(
    db: TestDatabase, pool: AsyncConnectionPool[Conn]
) -> None:
    ticks = [
        ("100", 1, "0.5"),
        ("104", 15, "1.25"),
        ("97.5", 30, None),  # a provider that does not know the volume adds none
        ("101", 59.9, "0.25"),
        ("102", 60, "2"),  # the next minute opens a bar of its own
        ("99", 75, "1"),
    ]
    for price, second, volume in ticks:
        await store(pool, [tick("BTC", price, second, volume)])
    assert bars(db, "BTC") == [
        {
            "open_time": MINUTE,
            "open": Decimal("100"),
            "high": Decimal("104"),
            "low": Decimal("97.5"),
            "close": Decimal("101"),
            "volume": Decimal("2.00"),
            "source": "feed",
        },
        {
            "open_time": MINUTE + timedelta(minutes=1),
            "open": Decimal("102"),
            "high": Decimal("102"),
            "low": Decimal("99"),
            "close": Decimal("99"),
            "volume": Decimal("3"),
            "source": "feed",
        },
    ]
    # what a chart or a backtest reads: the 1m bars, and a 5m bar built from them
    async with as_service(pool) as conn:
        one = await market.list_candles(conn, "BTC", "1m", start=MINUTE)
        five = await market.list_candles(conn, "BTC", "5m", start=MINUTE.replace(minute=5))
    assert [(b.open_time, b.close) for b in one.items] == [
        (MINUTE, Decimal("101")),
        (MINUTE + timedelta(minutes=1), Decimal("99")),
    ]
    [bar] = five.items
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        Decimal("100"),
        Decimal("104"),
        Decimal("97.5"),
        Decimal("99"),
        Decimal("5.00"),
    )


async def test_a_stored_bar_from_elsewhere_is_never_touched(
    db: TestDatabase, pool: AsyncConnectionPool[Conn]
) -> None:
    with db.owner() as conn:
        conn.execute(
            "INSERT INTO market_candles (symbol, timeframe, open_time, open, high, low, close,"
            " volume, source) VALUES ('ETH', '1m', %s, 3000, 3010, 2990, 3005, 12, 'import')",
            [MINUTE],
        )
    await store(pool, [tick("ETH", "3100", 5), tick("BTC", "100", 5)])
    [eth] = bars(db, "ETH")
    assert (eth["high"], eth["close"], eth["volume"], eth["source"]) == (
        Decimal("3010"),
        Decimal("3005"),
        Decimal("12"),
        "import",
    )
    assert len(bars(db, "BTC")) == 1  # the other symbol's bar is written all the same


async def test_a_replay_writes_no_bars(db: TestDatabase, pool: AsyncConnectionPool[Conn]) -> None:
    await store(pool, [tick("SOL", "150", 3)], live=False)
    assert bars(db, "SOL") == []
    with db.owner() as conn:
        cached = conn.execute(
            "SELECT price_usd FROM market_data_cache WHERE symbol = 'SOL'"
        ).fetchone()
    assert cached == {"price_usd": Decimal("150")}  # the price itself is stored


def test_the_simulated_feed_trades_a_plausible_volume() -> None:
    start = Quote(
        symbol="BTC",
        price_usd=Decimal("50000"),
        price_aud=Decimal("75000"),
        volume_24h_usd=Decimal("43200000000"),  # 864,000 BTC a day: 10 a second
        exchange="test",
        last_updated=MINUTE,
    )
    feed = SimulatedFeed(start={"BTC": start}, seed=3, step_seconds=1.0)
    volumes = [feed.step()[0].volume for _ in range(3600)]
    assert all(v is not None and v > 0 for v in volumes)
    mean = sum(v for v in volumes if v is not None) / len(volumes)
    assert Decimal(9) < mean < Decimal(11)  # the day's share of a second, on average
    assert len(set(volumes)) > 3000  # scattered, not a constant
    again = SimulatedFeed(start={"BTC": start}, seed=3, step_seconds=1.0)
    assert [again.step()[0].volume for _ in range(3600)] == volumes  # seeded


async def test_the_feed_writes_its_live_bars(db: TestDatabase) -> None:
    """The simulated feed's refreshes, as the leader runs them: each one's quotes are in the
    minute's bar, with the volume it traded."""
    start = {
        "BTC": Quote(
            symbol="BTC",
            price_usd=Decimal("50000"),
            price_aud=Decimal("75000"),
            volume_24h_usd=Decimal("4320000000"),
            exchange="test",
            last_updated=MINUTE,
        )
    }
    provider = SimulatedFeed(start=start, seed=5)
    feed = MarketFeed(conninfo=db.app_conninfo, provider=provider)
    async with service_connection(db.app_conninfo) as conn:
        results = [await feed.refresh(conn) for _ in range(5)]
    assert all(r.error is None for r in results)
    with db.owner() as conn:
        row = conn.execute(
            "SELECT count(*) AS n, sum(volume) AS volume, min(low) AS low, max(high) AS high"
            " FROM market_candles WHERE symbol = 'BTC' AND timeframe = '1m' AND source = 'feed'"
        ).fetchone()
        prices = conn.execute(
            "SELECT price_usd FROM market_data_cache WHERE symbol = 'BTC'"
        ).fetchone()
    assert row is not None and prices is not None
    assert 1 <= row["n"] <= 2 and row["volume"] > 0  # five seconds: one minute, or two
    assert row["low"] <= prices["price_usd"] <= row["high"]
