"""The feed against a stub CoinGecko: failures keep the last good prices, visibly stale;
the feed recovers when the stub does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from cryptotrader.db.session import Conn, as_service
from cryptotrader.market import cache
from cryptotrader.market.coingecko import CoinGeckoProvider
from cryptotrader.market.feed import MarketFeed
from tests.market.test_coingecko import Reply, StubCoinGecko
from tests.support import TestDatabase

pytestmark = pytest.mark.anyio

FAILURES = {
    "429": Reply(status=429, body=b'{"status":{"error_code":429}}', headers={"Retry-After": "7"}),
    "500": Reply(status=500, body=b'{"error":"internal"}'),
    "html": Reply(
        status=200, body=b"<html><body>maintenance</body></html>", content_type="text/html"
    ),
    "truncated": Reply(status=200, body=b'{"bitcoin": {"usd": 8738'),
}


@pytest.fixture
async def leader(db: TestDatabase) -> AsyncIterator[Conn]:
    conn = await psycopg.AsyncConnection.connect(
        db.app_conninfo, autocommit=True, row_factory=dict_row
    )
    async with conn:
        await conn.execute(
            "SELECT set_config('role','service_role',false),"
            " set_config('request.jwt.claims','{\"role\":\"service_role\"}',false)"
        )
        yield conn


async def btc(pool: AsyncConnectionPool[Conn]) -> cache.Price:
    async with as_service(pool) as conn:
        (price,) = await cache.list_prices(conn, symbols=["BTC"], max_age_seconds=300)
    return price


async def test_failures_keep_last_good_prices_stale_and_the_feed_recovers(
    db: TestDatabase, pool: AsyncConnectionPool[Conn], leader: Conn, live_stub: StubCoinGecko
) -> None:
    provider = CoinGeckoProvider(base_url=live_stub.url, timeout=0.5)
    feed = MarketFeed(conninfo=db.app_conninfo, provider=provider)
    await leader.execute(
        "INSERT INTO market_feed_status (leader, provider) VALUES (%s, 'coingecko')",
        [feed.identity],
    )
    try:
        ok = await feed.refresh(leader)
        assert ok.error is None and ok.symbols_updated == 2
        good = await btc(pool)
        assert (
            good.price_usd == Decimal("87387") and good.exchange == "coingecko" and not good.stale
        )

        for kind, reply in FAILURES.items():
            with db.owner() as owner:  # the last good price ages past max_price_age
                owner.execute(
                    "UPDATE market_data_cache SET last_updated = now() - interval '10 minutes'"
                )
            live_stub.fail("/simple/price", reply)
            failed = await feed.refresh(leader)
            assert failed.error is not None, kind
            if kind == "429":
                assert failed.retry_after == 7
                assert feed._next_delay(failed, 1.0) >= 7
            kept = await btc(pool)
            assert kept.price_usd == good.price_usd, kind
            assert kept.stale, kind
            with db.owner() as owner:
                status = owner.execute(
                    "SELECT last_error, error_count FROM market_feed_status"
                ).fetchone()
            assert status is not None and status["last_error"], kind

            live_stub.heal()
            back = await feed.refresh(leader)
            assert back.error is None, kind
            assert not (await btc(pool)).stale, kind
        with db.owner() as owner:
            status = owner.execute(
                "SELECT last_error, error_count FROM market_feed_status"
            ).fetchone()
        assert status == {"last_error": None, "error_count": len(FAILURES)}
    finally:
        await provider.aclose()
