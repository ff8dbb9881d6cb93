"""The market feed: simulated prices, cache refresh, tick processing, NOTIFY, leadership."""

from __future__ import annotations

import asyncio
import json
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

from cryptotrader.config import Settings
from cryptotrader.db.session import as_service
from cryptotrader.market.feed import FEED_LOCK_KEY, MarketFeed
from cryptotrader.market.providers import simulated_from_cache
from cryptotrader.market.schemas import ProviderError, Quote, TrackedCoin
from cryptotrader.market.simulated import SimulatedFeed, per_second_sigma
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


def coins(*symbols: str) -> list[TrackedCoin]:
    return [TrackedCoin(symbol=s, coingecko_id=s.lower(), name=s) for s in symbols]


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


class FailingProvider:
    name = "failing"

    async def fetch_quotes(self, coins: list[TrackedCoin]) -> list[Quote]:
        raise ProviderError("GET /simple/price: HTTP 500")


@pytest.mark.anyio
async def test_refresh_updates_cache_fills_crossing_orders_and_notifies(
    db: TestDatabase, pool
) -> None:  # type: ignore[no-untyped-def]
    with db.owner() as owner:
        owner.execute("UPDATE market_data_cache SET last_updated = now()")
        user = create_user(owner)
        acct = default_account(owner, user)
        owner.execute(
            "UPDATE paper_trading_accounts SET max_position_size = 1e9 WHERE id = %s", [acct]
        )
    # a resting buy far above any plausible next price fills at the first tick? no: just
    # under the current price, so a down move fills it; we force the move with a scripted feed
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

    class Scripted:
        name = "scripted"

        async def fetch_quotes(self, wanted: list[TrackedCoin]) -> list[Quote]:
            return [quote("BTC", "79000"), quote("ETH", "3001")]

    feed = MarketFeed(conninfo=db.app_conninfo, provider=Scripted())
    async with await psycopg.AsyncConnection.connect(
        db.app_conninfo, autocommit=True, row_factory=dict_row
    ) as conn:
        await conn.execute(
            "SELECT set_config('role','service_role',false),"
            " set_config('request.jwt.claims','{\"role\":\"service_role\"}',false)"
        )
        await conn.execute(
            "INSERT INTO market_feed_status (leader, provider) VALUES (%s, 'scripted')",
            [feed.identity],
        )
        with psycopg.connect(db.owner_conninfo, autocommit=True) as listener:
            listener.execute("LISTEN ct_prices")
            result = await feed.refresh(conn)
            notes = list(listener.notifies(timeout=2, stop_after=1))
    assert result.error is None and result.symbols_updated == 2 and result.orders_processed == 1
    payload = json.loads(notes[0].payload)
    assert payload["type"] == "prices" and payload["prices"]["BTC"][0] == "79000"
    with db.owner() as owner:
        filled = owner.execute(
            "SELECT status, execution_price FROM paper_trades WHERE id = %s", [order["id"]]
        ).fetchone()
        cached = owner.execute(
            "SELECT price_usd, exchange FROM market_data_cache WHERE symbol = 'BTC'"
        ).fetchone()
        status = owner.execute("SELECT * FROM market_feed_status").fetchone()
    assert filled == {"status": "completed", "execution_price": Decimal("80000")}
    assert cached == {"price_usd": Decimal("79000"), "exchange": "test"}
    assert status is not None and status["refresh_count"] == 1 and status["orders_processed"] == 1


@pytest.mark.anyio
async def test_provider_failure_keeps_last_good_prices_and_shows_them_stale(
    db: TestDatabase, pool
) -> None:  # type: ignore[no-untyped-def]
    from cryptotrader.market import cache

    with db.owner() as owner:
        owner.execute("UPDATE market_data_cache SET last_updated = now() - interval '10 minutes'")
        before = owner.execute(
            "SELECT symbol, price_usd FROM market_data_cache ORDER BY 1"
        ).fetchall()
    feed = MarketFeed(conninfo=db.app_conninfo, provider=FailingProvider())
    async with await psycopg.AsyncConnection.connect(
        db.app_conninfo, autocommit=True, row_factory=dict_row
    ) as conn:
        await conn.execute(
            "SELECT set_config('role','service_role',false),"
            " set_config('request.jwt.claims','{\"role\":\"service_role\"}',false)"
        )
        result = await feed.refresh(conn)
    assert result.error is not None and "HTTP 500" in result.error
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
            killed_at = time.monotonic()
            other = _wait_for_leader(owner, procs, leader)
            took = time.monotonic() - killed_at
            assert other != leader
            before = _status(owner)
            assert before is not None
            _wait(
                lambda: (_status(owner) or {}).get("refresh_count", 0) > before["refresh_count"], 5
            )
            assert time.monotonic() - killed_at < 10, f"took over after {took:.1f} s"
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
    """Index of the process whose feed holds the lock (never two at once while we watch)."""
    deadline = time.monotonic() + 15
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
    raise AssertionError(f"no leader within 15 s; {errors}")


@pytest.mark.anyio
async def test_the_feed_waits_for_the_database_instead_of_failing(db: TestDatabase) -> None:
    from psycopg import sql

    from cryptotrader.workers import start_market_feed
    from tests.support_targets import target_for

    settings = Settings(pool_min_size=1, pool_max_size=1)
    with psycopg.connect(db.server.admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(db.name))
        )
    try:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(2.5, stop.set)
        assert await start_market_feed(settings, target_for(db), stop) is None  # gave up cleanly
    finally:
        with psycopg.connect(db.server.admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(db.name))
            )
    feed = await start_market_feed(settings, target_for(db), asyncio.Event())
    assert feed is not None and feed.provider.name == "simulated"
