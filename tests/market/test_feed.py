"""The market feed: simulated prices, cache refresh, tick processing, NOTIFY, leadership.

The feed's provider is a real one: the simulated walk, or CoinGeckoProvider against the
loopback stub server of tests/market/test_coingecko.py speaking CoinGecko's wire format."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from cryptotrader.config import Settings
from cryptotrader.db.session import Conn, as_service
from cryptotrader.market.coingecko import CoinGeckoProvider
from cryptotrader.market.feed import FEED_LOCK_KEY, MarketFeed
from cryptotrader.market.providers import simulated_from_cache
from cryptotrader.market.schemas import Quote
from cryptotrader.market.simulated import SimulatedFeed, per_second_sigma
from tests.market.test_coingecko import Reply, StubCoinGecko
from tests.support import APP_PASSWORD, TestDatabase, create_user, default_account

START = datetime(2026, 1, 1, tzinfo=UTC)


def quote(symbol: str, price: str) -> Quote:
    return Quote(
        symbol=symbol,
        price_usd=Decimal(price),
        price_aud=Decimal(price) * Decimal("1.5"),
        exchange="test",
        last_updated=START,
    )


# ------------------------------------------------------------------ the simulated walk


def test_simulated_prices_are_deterministic_per_seed() -> None:
    start = {"BTC": quote("BTC", "50000"), "ETH": quote("ETH", "3000")}
    a, b, c = (SimulatedFeed(start=start, seed=s) for s in (7, 7, 8))
    run_a = [[q.price_usd for q in a.step()] for _ in range(50)]
    run_b = [[q.price_usd for q in b.step()] for _ in range(50)]
    run_c = [[q.price_usd for q in c.step()] for _ in range(50)]
    assert run_a == run_b
    assert run_a != run_c
    assert len({p[0] for p in run_a}) > 1  # it moves


def test_aud_follows_usd_at_the_configured_rate() -> None:
    feed = SimulatedFeed(start={"BTC": quote("BTC", "50000")}, usd_aud=Decimal("2"))
    q = feed.step()[0]
    assert abs(q.price_aud / q.price_usd - 2) < Decimal("1e-8")
    assert q.low_24h is not None and q.high_24h is not None
    assert q.low_24h <= q.price_usd <= q.high_24h


def test_volatility_is_estimated_from_closes() -> None:
    closes = [Decimal(100 * (1.01 if i % 2 else 0.99) ** 1) for i in range(100)]
    sigma = per_second_sigma(closes, 60)
    assert sigma is not None and 0 < sigma < 0.01
    assert per_second_sigma(closes[:5], 60) is None
    # a larger per-second sigma makes larger moves on average
    calm = SimulatedFeed(start={"BTC": quote("BTC", "100")}, sigmas={"BTC": 1e-5}, seed=1)
    wild = SimulatedFeed(start={"BTC": quote("BTC", "100")}, sigmas={"BTC": 1e-2}, seed=1)
    calm_last = [calm.step()[0].price_usd for _ in range(200)][-1]
    wild_last = [wild.step()[0].price_usd for _ in range(200)][-1]
    assert abs(calm_last - 100) < abs(wild_last - 100)


# ------------------------------------------------------------------ refresh against the database


async def service_conn(db: TestDatabase) -> psycopg.AsyncConnection[dict[str, object]]:
    """An autocommit connection of the app role as the service (the feed leader's)."""
    conn = await psycopg.AsyncConnection.connect(
        db.app_conninfo, autocommit=True, row_factory=dict_row
    )
    await conn.execute(
        "SELECT set_config('role','service_role',false),"
        " set_config('request.jwt.claims','{\"role\":\"service_role\"}',false)"
    )
    return conn


@pytest.mark.anyio
async def test_refresh_updates_cache_fills_crossing_orders_and_notifies(
    db: TestDatabase, live_stub: StubCoinGecko
) -> None:
    with db.owner() as owner:
        owner.execute("UPDATE market_data_cache SET last_updated = now()")
        user = create_user(owner)
        acct = default_account(owner, user)
        owner.execute(
            "UPDATE paper_trading_accounts SET max_position_size = 1e9 WHERE id = %s", [acct]
        )
    # a resting buy at 80,000; CoinGecko's next BTC price is below it, so the tick fills it
    with psycopg.connect(db.app_conninfo, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(
            "SELECT set_config('role','authenticated',false),"
            " set_config('request.jwt.claims', %s, false)",
            [json.dumps({"sub": str(user), "role": "authenticated"})],
        )
        order = conn.execute(
            "SELECT id FROM execute_paper_trade(%s, 'BTC', 'buy', 0.01, 'limit', 80000)", [acct]
        ).fetchone()
    assert order is not None
    live_stub._simple["bitcoin"]["usd"] = Decimal("79000")
    live_stub._simple["ethereum"]["usd"] = Decimal("3001")

    provider = CoinGeckoProvider(base_url=live_stub.url, timeout=5)
    feed = MarketFeed(conninfo=db.app_conninfo, provider=provider)
    try:
        async with await service_conn(db) as conn:
            await conn.execute(
                "INSERT INTO market_feed_status (leader, provider) VALUES (%s, 'coingecko')",
                [feed.identity],
            )
            with psycopg.connect(db.owner_conninfo, autocommit=True) as listener:
                listener.execute("LISTEN ct_prices")
                result = await feed.refresh(conn)
                notes = list(listener.notifies(timeout=10, stop_after=1))
    finally:
        await provider.aclose()
    assert result.error is None and result.symbols_updated == 2 and result.orders_processed == 1
    payload = json.loads(notes[0].payload)
    assert payload["type"] == "prices" and payload["prices"]["BTC"][0] == "79000"
    with db.owner() as owner:
        filled = owner.execute(
            "SELECT status, execution_price FROM paper_trades WHERE id = %s", [order["id"]]
        ).fetchone()
        cached = owner.execute(
            "SELECT symbol, price_usd, exchange FROM market_data_cache"
            " WHERE symbol IN ('BTC', 'ETH') ORDER BY symbol"
        ).fetchall()
        status = owner.execute("SELECT * FROM market_feed_status").fetchone()
    assert filled == {"status": "completed", "execution_price": Decimal("80000")}
    assert cached == [
        {"symbol": "BTC", "price_usd": Decimal("79000"), "exchange": "coingecko"},
        {"symbol": "ETH", "price_usd": Decimal("3001"), "exchange": "coingecko"},
    ]
    assert status is not None and status["refresh_count"] == 1 and status["orders_processed"] == 1
    assert [r.path for r in live_stub.requests].count("/simple/price") == 1


@pytest.mark.anyio
async def test_provider_failure_keeps_last_good_prices_and_shows_them_stale(
    db: TestDatabase, pool: AsyncConnectionPool[Conn], live_stub: StubCoinGecko
) -> None:
    from cryptotrader.market import cache

    with db.owner() as owner:
        owner.execute("UPDATE market_data_cache SET last_updated = now() - interval '10 minutes'")
        before = owner.execute(
            "SELECT symbol, price_usd FROM market_data_cache ORDER BY 1"
        ).fetchall()
    live_stub.fail("/simple/price", Reply(status=500, body=b'{"error":"internal"}'))
    provider = CoinGeckoProvider(base_url=live_stub.url, timeout=5)
    feed = MarketFeed(conninfo=db.app_conninfo, provider=provider)
    try:
        async with await service_conn(db) as conn:
            result = await feed.refresh(conn)
    finally:
        await provider.aclose()
    assert result.error is not None and "/simple/price" in result.error
    assert "HTTP 500" in result.error
    with db.owner() as owner:
        after = owner.execute(
            "SELECT symbol, price_usd FROM market_data_cache ORDER BY 1"
        ).fetchall()
    assert after == before
    async with as_service(pool) as conn:
        prices = await cache.list_prices(conn, max_age_seconds=300)
    assert prices and all(p.stale for p in prices)
    assert feed._next_delay(result, 1.0) == 2.0  # backs off


@pytest.mark.anyio
async def test_simulated_feed_starts_from_cached_prices(db: TestDatabase, pool) -> None:  # type: ignore[no-untyped-def]
    async with as_service(pool) as conn:
        feed = await simulated_from_cache(Settings(market_seed=3), conn)
    first = {q.symbol: q for q in feed.step()}
    with db.owner() as owner:
        btc = owner.execute(
            "SELECT price_usd FROM market_data_cache WHERE symbol = 'BTC'"
        ).fetchone()
    assert btc is not None
    assert abs(first["BTC"].price_usd / btc["price_usd"] - 1) < Decimal("0.01")
    assert len(first) >= 20


# ------------------------------------------------------------------ leadership across processes


def _lock_holders(owner: psycopg.Connection[dict[str, object]]) -> list[int]:
    rows = owner.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND classid = %s AND objid = %s AND objsubid = 1",
        [FEED_LOCK_KEY >> 32, FEED_LOCK_KEY & 0xFFFFFFFF],
    ).fetchall()
    return [int(r["pid"]) for r in rows]  # type: ignore[call-overload]


def _status(owner: psycopg.Connection[dict[str, object]]) -> dict[str, object] | None:
    return owner.execute(
        "SELECT leader, last_refresh_at, refresh_count FROM market_feed_status"
    ).fetchone()


@pytest.mark.slow
def test_failover_between_two_worker_processes(db: TestDatabase, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOTRADER_")}
    env.update(
        DATABASE_URL=db.owner_conninfo,
        CRYPTOTRADER_DATA_DIR=str(tmp_path / "data"),
        CRYPTOTRADER_APP_PASSWORD=APP_PASSWORD,
        CRYPTOTRADER_MARKET_INTERVAL="0.2",
        CRYPTOTRADER_LOG_LEVEL="WARNING",
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "cryptotrader", "worker", "--only", "market"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        with db.owner() as owner:
            leader = _wait_for_leader(owner, procs, None)
            first = _status(owner)
            assert first is not None
            _wait(
                lambda: (_status(owner) or {}).get("refresh_count", 0) > first["refresh_count"], 5
            )
            assert len(_lock_holders(owner)) == 1

            procs[leader].send_signal(signal.SIGKILL)
            procs[leader].wait(timeout=5)
            other = _wait_for_leader(owner, procs, leader)  # within its 15 s: a hang else
            assert other != leader
            before = _status(owner)
            assert before is not None
            _wait(
                lambda: (_status(owner) or {}).get("refresh_count", 0) > before["refresh_count"], 5
            )
            assert len(_lock_holders(owner)) == 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stderr:
                p.stderr.close()


def _wait(condition: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _wait_for_leader(
    owner: psycopg.Connection[dict[str, object]],
    procs: list[subprocess.Popen[bytes]],
    not_: int | None,
) -> int:
    """Index of the process whose feed holds the lock (never two at once while we watch).
    The first leader may take a while on a loaded machine (the processes are starting:
    imports, pool); a takeover must come within the lease's 15 s."""
    wait = 45 if not_ is None else 15
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        holders = _lock_holders(owner)
        assert len(holders) <= 1, f"two leaders: {holders}"
        status = _status(owner)
        if holders and status:
            leader_pid = int(str(status["leader"]).rsplit(":", 1)[1])
            for i, p in enumerate(procs):
                if p.pid == leader_pid and i != not_ and p.poll() is None:
                    return i
        time.sleep(0.1)
    errors = [p.stderr.read().decode() if p.stderr and p.poll() is not None else "" for p in procs]
    raise AssertionError(f"no leader within {wait} s; {errors}")


@pytest.mark.anyio
async def test_the_feed_waits_for_the_database_instead_of_failing(
    db: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    """Two feeds start while the database refuses connections: both fail, log and wait.
    Then one is stopped (it gives up cleanly) and the database comes back (the other
    retries and starts)."""
    from psycopg import sql

    from cryptotrader.workers import start_market_feed
    from tests.support_targets import target_for

    caplog.set_level(logging.WARNING, logger="cryptotrader.workers")
    settings = Settings(pool_min_size=1, pool_max_size=1)
    allow = sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}")
    with psycopg.connect(db.server.admin, autocommit=True) as conn:
        conn.execute(allow.format(sql.Identifier(db.name), sql.SQL("false")))
    stopped, waiting = asyncio.Event(), asyncio.Event()
    try:
        gives_up = asyncio.create_task(start_market_feed(settings, target_for(db), stopped))
        retries = asyncio.create_task(start_market_feed(settings, target_for(db), waiting))
        deadline = time.monotonic() + 60  # only catches a hang
        while sum("cannot start yet" in r.getMessage() for r in caplog.records) < 2:
            assert time.monotonic() < deadline, "the feeds did not try the database"
            assert not gives_up.done() and not retries.done()
            await asyncio.sleep(0.05)
        stopped.set()
    finally:
        with psycopg.connect(db.server.admin, autocommit=True) as conn:
            conn.execute(allow.format(sql.Identifier(db.name), sql.SQL("true")))
    assert await asyncio.wait_for(gives_up, timeout=60) is None
    feed = await asyncio.wait_for(retries, timeout=60)
    assert feed is not None and feed.provider.name == "simulated"
