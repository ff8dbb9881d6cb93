"""The backtest worker: several of them share the queue, each session runs once; the
`worker --only backtests` command runs them and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from psycopg.types.json import Jsonb

from cryptotrader.backtest.tasks import BacktestWorker
from cryptotrader.config import Settings
from cryptotrader.market.candle_import import import_candles_csv
from cryptotrader.workers import WORKERS, run_workers
from tests.support import APP_PASSWORD, TestDatabase, create_user
from tests.support_targets import target_for

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ohlcv"
CONFIG = {"strategy": "sma_crossover", "parameters": {"fast": 10, "slow": 30}}


def add_sessions(db: TestDatabase, user: UUID, count: int, **config: Any) -> list[UUID]:
    with db.as_user(user) as conn:
        ids = [
            conn.execute(
                "INSERT INTO backtest_sessions (user_id, session_name, symbol, timeframe,"
                " start_date, end_date, backtest_config)"
                " VALUES (%s, %s, 'BTC', '1h', %s, %s, %s) RETURNING id",
                [
                    user,
                    f"session {i}",
                    datetime(2021, 1, 1, tzinfo=UTC),
                    datetime(2021, 4, 1, tzinfo=UTC),
                    Jsonb(CONFIG | config),
                ],
            ).fetchone()["id"]  # type: ignore[index]
            for i in range(count)
        ]
        conn.commit()
    return ids


def statuses(db: TestDatabase) -> dict[UUID, str]:
    with db.owner() as conn:
        rows = conn.execute("SELECT id, status FROM backtest_sessions").fetchall()
    return {r["id"]: r["status"] for r in rows}


def record_transitions(db: TestDatabase) -> None:
    """Log every status change of a session (this test database only)."""
    with db.owner() as conn:
        conn.execute(
            """
            CREATE TABLE test_transitions (session_id uuid, status text, pid int);
            CREATE FUNCTION test_log_transition() RETURNS trigger LANGUAGE plpgsql
              SECURITY DEFINER SET search_path = public AS $$
            BEGIN
              INSERT INTO test_transitions VALUES (NEW.id, NEW.status, pg_backend_pid());
              RETURN NEW;
            END $$;
            CREATE TRIGGER test_log_transition AFTER UPDATE OF status ON backtest_sessions
              FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
              EXECUTE FUNCTION test_log_transition();
            """
        )


async def wait_until(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.anyio
async def test_several_workers_run_each_session_once(db: TestDatabase) -> None:
    import_candles_csv(db.app_conninfo, FIXTURES / "BTC-USDT_1h.csv.gz", "BTC", "1h")
    record_transitions(db)
    with db.owner() as conn:
        alice = create_user(conn)
    ids = add_sessions(db, alice, 10)
    workers = [BacktestWorker(db.app_conninfo, poll_interval=0.05) for _ in range(3)]
    stop = asyncio.Event()
    running = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        await wait_until(lambda: set(statuses(db).values()) == {"completed"}, 60)
    finally:
        stop.set()
        await asyncio.gather(*running)
    assert sum(w.finished for w in workers) == 10
    with db.owner() as conn:
        runs = conn.execute(
            "SELECT session_id, count(*) AS n, count(DISTINCT pid) AS runners"
            " FROM test_transitions WHERE status = 'running' GROUP BY session_id"
        ).fetchall()
        results = conn.execute(
            "SELECT count(*) AS n, count(DISTINCT session_id) AS sessions FROM backtest_results"
        ).fetchone()
    assert sorted(r["session_id"] for r in runs) == sorted(ids)
    assert {(r["n"], r["runners"]) for r in runs} == {(1, 1)}
    assert results == {"n": 10, "sessions": 10}


@pytest.mark.anyio
async def test_serve_runs_the_backtest_worker_too(db: TestDatabase) -> None:
    assert "backtests" in WORKERS
    import_candles_csv(db.app_conninfo, FIXTURES / "BTC-USDT_1h.csv.gz", "BTC", "1h")
    with db.owner() as conn:
        alice = create_user(conn)
    [sid] = add_sessions(db, alice, 1)
    stop = asyncio.Event()
    # run_workers with no choice runs them all (what `serve` does); the feed needs nothing
    settings = Settings(market_interval=0.5)
    task = asyncio.create_task(run_workers(settings, target_for(db), stop, None))
    try:
        await wait_until(lambda: statuses(db)[sid] == "completed", 30)
    finally:
        stop.set()
        await task


def test_the_worker_command_runs_queued_sessions_and_stops_cleanly(
    db: TestDatabase, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    import_candles_csv(db.app_conninfo, FIXTURES / "BTC-USDT_1h.csv.gz", "BTC", "1h")
    with db.owner() as conn:
        alice = create_user(conn, email="alice@example.test")
    queued = subprocess.run(
        [
            sys.executable, "-m", "cryptotrader", "backtest", "--symbol", "BTC",
            "--from", "2021-01-01", "--to", "2021-03-31", "--param", "fast=10",
            "--user", "alice@example.test", "--queue",
        ],
        env=cli_env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    assert "queued for the workers" in queued.stdout
    [(sid, status)] = statuses(db).items()
    assert status == "pending"
    env = {**cli_env, "CRYPTOTRADER_LOG_LEVEL": "WARNING"}
    assert env["CRYPTOTRADER_APP_PASSWORD"] == APP_PASSWORD
    with subprocess.Popen(
        [sys.executable, "-m", "cryptotrader", "worker", "--only", "backtests"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            deadline = time.monotonic() + 60
            while statuses(db)[sid] != "completed":
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "the worker did not run the session"
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=15)
            assert proc.returncode == 0, stderr
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
    with db.owner() as conn:
        row = conn.execute(
            "SELECT s.user_id, s.results_data -> 'parameters' AS params, count(r.*) AS results"
            " FROM backtest_sessions s JOIN backtest_results r ON r.session_id = s.id"
            " GROUP BY s.id"
        ).fetchone()
    assert row == {"user_id": alice, "params": {"fast": 10, "slow": 30}, "results": 1}
