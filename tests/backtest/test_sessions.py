"""Backtest sessions on a real database: lifecycle, results, failures, claims, leases,
progress, cancellation and row level security."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from cryptotrader.audit.schemas import Actor
from cryptotrader.backtest import service, tasks
from cryptotrader.backtest.data import load_csv
from cryptotrader.backtest.engine import run_backtest
from cryptotrader.backtest.errors import SessionNotFound
from cryptotrader.backtest.schemas import SessionRequest
from cryptotrader.backtest.types import BacktestConfig, BacktestResult
from cryptotrader.db.session import Conn, as_user, service_connection, user_claims
from cryptotrader.market.candle_import import import_candles_csv
from cryptotrader.strategies import registry
from cryptotrader.strategies.base import Bars
from cryptotrader.strategies.errors import InvalidStrategyParameters, UnknownStrategy
from tests.support import TestDatabase, create_user

pytestmark = pytest.mark.anyio
Pool = AsyncConnectionPool[Conn]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "ohlcv"
START = datetime(2021, 1, 1, tzinfo=UTC)
END = datetime(2021, 6, 30, tzinfo=UTC)


@pytest.fixture
def candles(db: TestDatabase) -> None:
    """The real BTC 1h bars (2020-12-01 to 2021-07-17) in market_candles."""
    import_candles_csv(db.app_conninfo, FIXTURES / "BTC-USDT_1h.csv.gz", "BTC", "1h")


def request(**changes: Any) -> SessionRequest:
    fields: dict[str, Any] = {
        "symbol": "BTC",
        "timeframe": "1h",
        "start": START,
        "end": END,
        "strategy": "sma_crossover",
        "parameters": {"fast": 10, "slow": 30},
    }
    return SessionRequest.model_validate(fields | changes)


async def create(pool: Pool, user: UUID, req: SessionRequest) -> dict[str, Any]:
    async with as_user(pool, user_claims(user)) as conn:
        return await service.create_backtest(conn, Actor(claims=user_claims(user)), user, req)


async def run_next(db: TestDatabase, **options: Any) -> tasks.RunReport | None:
    async with service_connection(db.app_conninfo) as conn:
        return await tasks.BacktestWorker(db.app_conninfo, **options).run_next(conn)


def session_row(db: TestDatabase, session_id: UUID) -> dict[str, Any]:
    with db.owner() as conn:
        row = conn.execute("SELECT * FROM backtest_sessions WHERE id = %s", [session_id]).fetchone()
    assert row is not None
    return row


def result_rows(db: TestDatabase, session_id: UUID) -> list[dict[str, Any]]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT * FROM backtest_results WHERE session_id = %s ORDER BY rank", [session_id]
        ).fetchall()


# ------------------------------------------------------------------ lifecycle


async def test_a_session_runs_from_pending_to_completed(
    db: TestDatabase, pool: Pool, candles: None
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    made = await create(pool, alice, request(session_name="first"))
    assert made["status"] == "pending" and made["session_name"] == "first"
    assert made["backtest_config"]["strategy"] == "sma_crossover"
    assert made["backtest_config"]["source"] == {"kind": "database", "path": None}

    report = await run_next(db)
    assert report is not None and report.status == "completed", report
    row = session_row(db, made["id"])
    assert row["status"] == "completed" and row["error"] is None
    assert row["progress"] == 1 and row["started_at"] <= row["completed_at"]

    # the same bars through the engine directly: [start, end) of the stored series
    bars = service.bars_between(load_csv_fixture(), START, END)
    expected = run_backtest(
        bars, registry.build_strategy("sma_crossover", {"fast": 10, "slow": 30}), BacktestConfig()
    )
    assert row["final_capital"] == expected.final_capital
    stats = expected.stats
    assert row["total_trades"] == stats["total_trades"] > 0
    assert row["winning_trades"] == stats["winning_trades"]
    assert row["sharpe_ratio"] == Decimal(repr(stats["sharpe_ratio"]))
    assert row["max_drawdown"] == Decimal(repr(stats["max_drawdown"]))
    data = row["results_data"]
    assert data["bars"] == len(bars) and data["stats"]["total_trades"] == stats["total_trades"]
    assert data["parameters"] == {"fast": 10, "slow": 30}
    assert data["first_bar"] == "2021-01-01T00:00:00Z" and data["last_bar"] < "2021-06-30"

    curve = row["equity_curve"]
    assert len(bars) > service.MAX_EQUITY_POINTS >= len(curve) > 1000  # downsampled
    assert curve[0] == ["2021-01-01T00:00:00Z", 10000.0]
    assert curve[-1] == [data["last_bar"], round(float(expected.equity[-1]), 2)]
    assert min(v for _, v in curve) == round(float(expected.equity.min()), 2)
    trades = row["trade_history"]
    assert len(trades) == len(expected.trades)
    first = expected.trades[0]
    assert trades[0]["entry_price"] == str(first.entry_price)
    assert trades[0]["pnl"] == str(first.pnl) and trades[0]["exit_reason"] == first.exit_reason
    assert set(trades[0]) >= {"entry_time", "exit_time", "quantity", "entry_fee", "exit_fee"}

    results = result_rows(db, made["id"])
    assert len(results) == 1 and results[0]["rank"] == 1
    assert results[0]["final_capital"] == expected.final_capital
    assert results[0]["parameters"] == {"fast": 10, "slow": 30}
    # nothing else is pending
    assert await run_next(db) is None


def load_csv_fixture() -> Bars:
    """The fixture's bars read straight from the file (gunzipped once per test run)."""
    import gzip
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "BTC-USDT_1h.csv"
        plain.write_bytes(gzip.decompress((FIXTURES / "BTC-USDT_1h.csv.gz").read_bytes()))
        return load_csv(plain)


async def test_undefined_statistics_are_null(db: TestDatabase, pool: Pool, candles: None) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    made = await create(pool, alice, request(strategy="buy_and_hold", parameters={}))
    report = await run_next(db)
    assert report is not None and report.status == "completed", report
    row = session_row(db, made["id"])
    # one position held to the end: one trade, open, valued at the last close; it won, so
    # no trade lost and the profit factor is undefined
    assert (row["total_trades"], row["winning_trades"], row["losing_trades"]) == (1, 1, 0)
    assert row["win_rate"] == 1 and row["profit_factor"] is None
    assert row["sharpe_ratio"] is not None
    [trade] = row["trade_history"]
    assert (trade["exit_reason"], trade["is_open"], trade["closed"]) == ("end", True, False)


async def test_a_timeframe_not_stored_is_built_from_finer_bars(
    db: TestDatabase, pool: Pool, candles: None
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    made = await create(pool, alice, request(timeframe="4h", parameters={"fast": 5, "slow": 20}))
    report = await run_next(db)
    assert report is not None and report.status == "completed", report
    assert (
        session_row(db, made["id"])["results_data"]["bars"] == 180 * 6
    )  # Jan 1 to Jun 30 (exclusive): 180 days


# ------------------------------------------------------------------ failures


async def test_no_candles_in_range_fails_with_a_clear_error(
    db: TestDatabase, pool: Pool, candles: None
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    made = await create(
        pool,
        alice,
        request(start=datetime(2023, 1, 1, tzinfo=UTC), end=datetime(2023, 2, 1, tzinfo=UTC)),
    )
    report = await run_next(db)
    assert report is not None and report.status == "failed"
    row = session_row(db, made["id"])
    assert row["status"] == "failed" and row["completed_at"] is not None
    assert row["error"].startswith("no BTC 1h candles from 2023-01-01 00:00 to 2023-02-01 00:00")
    assert "stored BTC 1h bars run from 2020-12-01 00:00 to 2021-07-17 20:00" in row["error"]
    assert result_rows(db, made["id"]) == []


async def test_bad_requests_are_refused_before_anything_is_stored(
    db: TestDatabase, pool: Pool
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    with pytest.raises(InvalidStrategyParameters, match="fast"):
        await create(pool, alice, request(parameters={"fast": 50, "slow": 10}))
    with pytest.raises(UnknownStrategy, match="'no_such_thing'"):
        await create(pool, alice, request(strategy="no_such_thing"))
    with pytest.raises(ValueError, match="either a strategy name or a strategy_id"):
        request(strategy=None)
    with pytest.raises(ValueError, match="stop is below start"):
        request(sweep={"fast": "50:5:5"})
    with db.owner() as conn:
        assert conn.execute("SELECT count(*) AS n FROM backtest_sessions").fetchone() == {"n": 0}


CONFIG = {"strategy": "sma_crossover"}


def insert_raw_session(db: TestDatabase, user: UUID, config: dict[str, Any]) -> UUID:
    """A session row as a client may insert it directly (RLS lets users insert theirs);
    a ``timeframe`` key in ``config`` goes to the column."""
    config = dict(config)
    timeframe = config.pop("timeframe", "1h")
    with db.as_user(user) as conn:
        row = conn.execute(
            "INSERT INTO backtest_sessions (user_id, session_name, symbol, timeframe,"
            " start_date, end_date, backtest_config)"
            " VALUES (%s, 'raw', 'BTC', %s, %s, %s, %s) RETURNING id",
            [user, timeframe, START, END, Jsonb(config)],
        ).fetchone()
        conn.commit()
    assert row is not None
    return UUID(str(row["id"]))


@pytest.mark.parametrize(
    ("config", "error"),
    [
        (
            {"strategy": "sma_crossover", "parameters": {"fast": 30, "slow": 10}},
            "sma_crossover: parameters: fast (30) must be below slow (10)",
        ),
        ({"strategy": "martingale"}, "Unknown strategy 'martingale'"),
        ({"strategy": "sma_crossover", "oops": 1}, "backtest_config: oops: Extra inputs"),
        ({}, "the session names no strategy"),
        ({**CONFIG, "timeframe": "2h"}, "unknown timeframe '2h'"),
        (
            {"strategy": "sma_crossover", "source": {"kind": "csv", "path": "/etc/passwd"}},
            "this session's bars came from a CSV file",
        ),
    ],
)
async def test_a_bad_stored_session_fails_with_its_error(
    db: TestDatabase, candles: None, config: dict[str, Any], error: str
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    sid = insert_raw_session(db, alice, config)
    report = await run_next(db)
    assert report is not None and report.status == "failed"
    row = session_row(db, sid)
    assert row["status"] == "failed"
    assert row["error"].startswith(error), row["error"]


# ------------------------------------------------------------------ strategies by id


async def test_a_strategy_row_names_the_builtin_and_its_parameters(
    db: TestDatabase, pool: Pool, candles: None
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
        rows = [
            conn.execute(
                "INSERT INTO ai_strategies (user_id, name, prompt, parameters)"
                " VALUES (%s, %s, 'rules', %s) RETURNING id",
                [alice, name, Jsonb(params)],
            ).fetchone()
            for name, params in [
                ("My trend", {"strategy": "sma_crossover", "fast": 12, "slow": 40}),
                ("ema_crossover", {"fast": 8}),
                ("Mystery", {"fast": 8}),
            ]
        ]
    ids = [UUID(str(r["id"])) for r in rows if r is not None]
    mine = await create(pool, alice, request(strategy=None, parameters={}, strategy_id=ids[0]))
    override = await create(
        pool, alice, request(strategy=None, parameters={"slow": 50}, strategy_id=ids[0])
    )
    by_name = await create(pool, alice, request(strategy=None, parameters={}, strategy_id=ids[1]))
    with pytest.raises(service.InvalidRequest, match="names no built-in strategy"):
        await create(pool, alice, request(strategy=None, parameters={}, strategy_id=ids[2]))
    for _ in range(3):
        report = await run_next(db)
        assert report is not None and report.status == "completed", report
    assert session_row(db, mine["id"])["results_data"]["parameters"] == {"fast": 12, "slow": 40}
    assert session_row(db, override["id"])["results_data"]["parameters"] == {
        "fast": 12,
        "slow": 50,
    }
    data = session_row(db, by_name["id"])["results_data"]
    assert data["strategy"] == "ema_crossover" and data["parameters"]["fast"] == 8


# ------------------------------------------------------------------ claims and leases


async def test_two_claimers_never_get_the_same_session(
    db: TestDatabase, pool: Pool, candles: None
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    made = {(await create(pool, alice, request()))["id"] for _ in range(8)}

    async def claimer() -> list[UUID]:
        got = []
        async with service_connection(db.app_conninfo) as conn:
            while True:
                async with conn.transaction():
                    row = await tasks.claim_next(conn)
                    await asyncio.sleep(0.01)  # hold the row lock a little
                if row is None:
                    return got
                got.append(row["id"])

    a, b = await asyncio.gather(claimer(), claimer())
    assert not set(a) & set(b)
    assert set(a) | set(b) == made and len(a) + len(b) == 8
    assert a and b  # both took part


async def test_a_claim_in_progress_is_skipped_not_waited_for(
    db: TestDatabase, pool: Pool, candles: None
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    first = await create(pool, alice, request())
    second = await create(pool, alice, request())
    async with (
        service_connection(db.app_conninfo) as one,
        service_connection(db.app_conninfo) as two,
    ):
        async with one.transaction():
            got_one = await tasks.claim_next(one)
            async with two.transaction():  # while one's claim is not committed
                got_two = await asyncio.wait_for(tasks.claim_next(two), timeout=5)
                assert got_two is not None
                async with two.transaction():
                    assert await tasks.claim_next(two) is None
        assert got_one is not None
        assert {got_one["id"], got_two["id"]} == {first["id"], second["id"]}
        await tasks.release_lease(one, got_one["id"])
        await tasks.release_lease(two, got_two["id"])


async def test_a_session_whose_runner_died_is_failed_not_left_running(
    db: TestDatabase, pool: Pool, candles: None
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    dead = await create(pool, alice, request())
    alive = await create(pool, alice, request())
    async with service_connection(db.app_conninfo) as runner, runner.transaction():
        assert (await tasks.claim_next(runner) or {}).get("id") == dead["id"]
    # runner's connection is gone, and with it the lease
    async with service_connection(db.app_conninfo) as holder:
        async with holder.transaction():
            assert (await tasks.claim_next(holder) or {}).get("id") == alive["id"]
        async with service_connection(db.app_conninfo) as reaper, reaper.transaction():
            assert await tasks.fail_orphans(reaper) == [dead["id"]]
        await tasks.release_lease(holder, alive["id"])
    row = session_row(db, dead["id"])
    assert row["status"] == "failed" and row["error"] == tasks.ORPHAN_ERROR
    assert session_row(db, alive["id"])["status"] == "running"  # its runner held the lease


# ------------------------------------------------------------------ progress and cancel


def slow_request() -> SessionRequest:
    """A run that takes a while, from a built-in: a sweep of 80 grids over January's 720
    hourly bars (the grid decides bar by bar), run in the worker's process (far below
    PARALLEL_MIN_WORK) with a progress report after each combination. About 2 s on the
    reference machine, so a cancel or a stop lands in the middle of it."""
    return request(
        strategy="grid",
        parameters={"spacing": 0.01},
        sweep={"levels": list(range(1, 81))},
        start=START,
        end=datetime(2021, 1, 31, tzinfo=UTC),
    )


async def wait_for_progress(
    db: TestDatabase, session_id: UUID, above: Decimal = Decimal(0)
) -> Decimal:
    """The session's progress once it is running and past ``above`` (but not done)."""
    deadline = time.monotonic() + 60  # only catches a hang
    while time.monotonic() < deadline:
        row = session_row(db, session_id)
        if row["status"] == "running" and above < row["progress"] < 1:
            return Decimal(row["progress"])
        assert row["status"] in ("pending", "running"), row
        await asyncio.sleep(0.01)
    raise AssertionError(f"no progress seen: {session_row(db, session_id)}")


async def test_progress_is_visible_while_running(
    db: TestDatabase, pool: Pool, candles: None
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    made = await create(pool, alice, slow_request())
    run = asyncio.create_task(run_next(db, progress_interval=0.05))
    first = await wait_for_progress(db, made["id"])
    later = await wait_for_progress(db, made["id"], above=first)  # it keeps moving
    report = await asyncio.wait_for(run, timeout=120)
    assert report is not None and report.status == "completed", report
    assert 0 < first < later < 1
    row = session_row(db, made["id"])
    assert row["status"] == "completed" and row["progress"] == 1
    assert len(result_rows(db, made["id"])) == 80


async def test_a_cancelled_session_stops_at_its_next_update(
    db: TestDatabase, pool: Pool, candles: None
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    made = await create(pool, alice, slow_request())
    run = asyncio.create_task(run_next(db, progress_interval=0.05))
    await wait_for_progress(db, made["id"])
    async with as_user(pool, user_claims(alice)) as conn:
        assert await service.cancel_session(conn, made["id"])
    report = await asyncio.wait_for(run, timeout=120)
    assert report is not None and report.status == "cancelled", report
    assert report.outcome is None  # the sweep was stopped, not run to its end
    row = session_row(db, made["id"])
    assert row["status"] == "cancelled" and row["progress"] < 1
    assert row["results_data"] == {} and row["trade_history"] == []
    assert result_rows(db, made["id"]) == []
    async with as_user(pool, user_claims(alice)) as conn:
        assert not await service.cancel_session(conn, made["id"])  # already finished


async def test_a_stopping_worker_puts_its_session_back(
    db: TestDatabase, pool: Pool, candles: None
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    made = await create(pool, alice, slow_request())
    stop = asyncio.Event()

    async def run() -> tasks.RunReport | None:
        async with service_connection(db.app_conninfo) as conn:
            worker = tasks.BacktestWorker(db.app_conninfo, progress_interval=0.05)
            return await worker.run_next(conn, stop)

    running = asyncio.create_task(run())
    await wait_for_progress(db, made["id"])
    stop.set()
    report = await asyncio.wait_for(running, timeout=120)
    assert report is not None and report.status == "pending", report
    assert report.outcome is None  # stopped in the middle
    row = session_row(db, made["id"])
    assert row["status"] == "pending" and row["started_at"] is None and row["progress"] == 0
    assert (await run_next(db)) is not None  # another worker takes it up again


# ------------------------------------------------------------------ RLS


async def test_users_see_only_their_own_sessions_and_results(
    db: TestDatabase, pool: Pool, candles: None
) -> None:
    with db.owner() as conn:
        alice, bob = create_user(conn), create_user(conn)
    made = await create(pool, alice, request())
    assert (await run_next(db) or tasks.RunReport(made["id"], "?")).status == "completed"
    async with as_user(pool, user_claims(alice)) as conn:
        assert (await service.get_session(conn, made["id"]))["status"] == "completed"
        assert len(await service.list_results(conn, made["id"])) == 1
        assert [s["id"] for s in await service.list_sessions(conn)] == [made["id"]]
    async with as_user(pool, user_claims(bob)) as conn:
        with pytest.raises(SessionNotFound):
            await service.get_session(conn, made["id"])
        assert await service.list_results(conn, made["id"]) == []
        assert await service.list_sessions(conn) == []
        with pytest.raises(SessionNotFound):
            await service.cancel_session(conn, made["id"])
    # the owner may not write results themselves
    with db.as_user(alice) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE backtest_sessions SET final_capital = 1e9 WHERE id = %s", [made["id"]])


# ------------------------------------------------------------------ the equity curve


def test_the_equity_curve_keeps_ends_and_drawdown_within_2000_points() -> None:
    n = 100_000
    rng = np.random.default_rng(3)
    equity = 10_000 * np.cumprod(1 + rng.normal(0, 0.002, n))
    peak_to = int(np.argmin(equity / np.maximum.accumulate(equity)))
    peak = int(np.argmax(equity[: peak_to + 1]))
    result = BacktestResult(
        strategy="x",
        parameters={},
        config=BacktestConfig(),
        time=np.arange(n, dtype=np.int64) * 60_000,
        equity=equity,
        initial_capital=Decimal(10000),
        final_capital=Decimal(10000),
        stats={"max_drawdown_start": peak, "max_drawdown_end": peak_to},
    )
    points = service.equity_points(result)
    assert len(points) <= 2000
    times = [p[0] for p in points]
    assert times == sorted(times) and len(set(times)) == len(times)
    kept = {service.iso_ms(i * 60_000) for i in (0, n - 1, peak, peak_to)}
    assert kept <= set(times)
    values = [p[1] for p in points]
    assert max(values) == pytest.approx(equity.max(), abs=0.01)
    assert min(values) == pytest.approx(equity.min(), abs=0.01)
