"""The daily analytics job on worker processes: three workers' periodic deferrers for two
simulated days defer each day once and it is run once, each account getting one row per
day; a worker killed in the middle of the job loses nothing (its transaction is gone, the
job runs again on another worker, and the rows are complete)."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import procrastinate
import psycopg
import pytest
from procrastinate.periodic import PeriodicDeferrer

from cryptotrader.analytics.service import previous_utc_day
from cryptotrader.jobs.app import build_app
from tests.jobs.test_workers import live_workers, stop, wait_for, workers
from tests.support import Row, TestDatabase, create_user, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.anyio]
MODULES = ["cryptotrader.analytics.tasks", "cryptotrader.jobs.tasks"]
TODAY = datetime.now(UTC).date()
DAY1, DAY2 = TODAY - timedelta(days=2), TODAY - timedelta(days=1)


def _scheduled(day: object) -> int:
    """The periodic timestamp of the run that covers ``day`` (00:05 the day after)."""
    assert hasattr(day, "year")
    at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, minutes=5)  # type: ignore[attr-defined]
    assert previous_utc_day(at) == day
    return int(at.timestamp())


async def _three_deferrers(db: TestDatabase, timestamp: int) -> None:
    """What each worker's periodic deferrer does when the day's time comes, all three at once."""

    async def one() -> None:
        app = build_app(db.app_conninfo, MODULES[:1])
        async with app.open_async():
            [task] = [
                p
                for p in app.periodic_registry.periodic_tasks.values()
                if p.task.name == "analytics.daily"
            ]
            await PeriodicDeferrer(registry=app.periodic_registry).defer_jobs([(task, timestamp)])

    await asyncio.gather(one(), one(), one())


def _daily_jobs(db: TestDatabase) -> list[Row]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT id, (args->>'timestamp')::bigint AS ts, status::text AS status, attempts"
            " FROM procrastinate.procrastinate_jobs WHERE task_name = 'analytics.daily' ORDER BY id"
        ).fetchall()


def _rows(db: TestDatabase) -> list[Row]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT account_id, analytics_date, daily_return, custom_metrics->'equity' AS equity,"
            " total_trades FROM account_analytics ORDER BY 1, 2"
        ).fetchall()


async def test_three_workers_two_days_each_row_once_and_a_killed_worker_loses_nothing(
    db: TestDatabase, cli_env: dict[str, str], tmp_path: Path
) -> None:
    with db.owner() as conn:
        users = [create_user(conn) for _ in range(6)]
        conn.execute(
            "UPDATE paper_trading_accounts SET created_at = %s WHERE user_id = ANY(%s)",
            [datetime(DAY1.year, DAY1.month, DAY1.day, 1, tzinfo=UTC), users],
        )
        conn.execute(  # a buy on each day for each account, at the cached price
            """INSERT INTO paper_trades (user_id, account_id, symbol, side, amount, price,
                 execution_price, total_value, fee, status, filled_at, created_at)
               SELECT a.user_id, a.id, 'BTC', 'buy', 0.01, m.price_usd, m.price_usd,
                      0.01 * m.price_usd, 0.01 * m.price_usd * 0.001, 'completed', d.at, d.at
                 FROM paper_trading_accounts a, market_data_cache m,
                      (VALUES (%s::timestamptz), (%s::timestamptz)) d(at)
                WHERE a.user_id = ANY(%s) AND m.symbol = 'BTC'""",
            [
                datetime(DAY1.year, DAY1.month, DAY1.day, 12, tzinfo=UTC),
                datetime(DAY2.year, DAY2.month, DAY2.day, 12, tzinfo=UTC),
                users,
            ],
        )
        accounts = {
            r["id"]
            for r in conn.execute(
                "SELECT id FROM paper_trading_accounts WHERE created_at < %s", [datetime.now(UTC)]
            ).fetchall()
        }

    # day one: one worker takes the job and is killed while it is writing
    blocker = psycopg.connect(db.owner_conninfo)
    blocker.execute("LOCK TABLE private.analytics_state IN EXCLUSIVE MODE")  # the job waits here
    with workers(cli_env, tmp_path, MODULES) as [first]:
        await _three_deferrers(db, _scheduled(DAY1))
        wait_for(lambda: [j["status"] for j in _daily_jobs(db)] == ["doing"], tmp_path)
        first.send_signal(signal.SIGKILL)
        first.wait()
    blocker.rollback()
    blocker.close()
    assert _rows(db) == []  # the killed job's transaction left nothing behind
    [killed] = _daily_jobs(db)
    with db.owner() as conn:  # its heartbeat as it is once the stalled timeout has passed
        conn.execute(
            "UPDATE procrastinate.procrastinate_workers"
            " SET last_heartbeat = now() - interval '1 minute'"
        )

    with workers(cli_env, tmp_path, MODULES, count=3) as procs:
        wait_for(lambda: len(live_workers(db)) == 3, tmp_path)
        queued = run_cli(["jobs", "run", "maintenance.retry_stalled"], cli_env, tmp_path)
        # the workers' own every-minute deferral may have queued it a moment before: the
        # job is waiting to run either way
        assert queued.returncode == 0 or "already waiting to run" in queued.stderr, queued.stderr
        wait_for(lambda: _daily_jobs(db)[0]["status"] == "succeeded", tmp_path)
        # day two, from all three deferrers at once
        await _three_deferrers(db, _scheduled(DAY2))
        wait_for(lambda: [j["status"] for j in _daily_jobs(db)] == ["succeeded"] * 2, tmp_path)
        stop(procs, tmp_path)

    jobs = _daily_jobs(db)
    assert [j["ts"] for j in jobs] == [_scheduled(DAY1), _scheduled(DAY2)]  # each day once
    assert jobs[0]["id"] == killed["id"] and jobs[0]["attempts"] == 2  # retried, not redone
    assert jobs[1]["attempts"] == 1
    rows = _rows(db)
    assert {(r["account_id"], r["analytics_date"]) for r in rows} == {
        (a, d) for a in accounts for d in (DAY1, DAY2)
    }  # complete, and one row per account per day (the table's key forbids a second)
    assert len(rows) == 2 * len(accounts)
    traded = [r for r in rows if r["analytics_date"] == DAY2 and r["total_trades"] == 0]
    assert traded  # (a buy is not a closed round trip)
    with db.owner() as conn:  # and they are the rows a run of the day gives
        conn.execute("SELECT private.analytics_run(%s)", [DAY2])
    assert _rows(db) == rows


def test_the_daily_task_is_periodic_at_five_past_midnight() -> None:
    app = build_app("postgresql://unused", MODULES[:1])
    tasks = {(p.task.name, p.cron) for p in app.periodic_registry.periodic_tasks.values()}
    assert tasks == {("analytics.daily", "5 0 * * *")}
    assert isinstance(app, procrastinate.App)
