"""The jobs tests' helpers: an app on the test database with the sample tasks, a worker
running in the test's own event loop, and reading the queue as the owner; and the API
fixtures of tests/api (an in-process client on a test database)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import procrastinate
import pytest

from cryptotrader.jobs.app import build_app
from cryptotrader.jobs.runtime import task_pool, work
from tests.api.conftest import api, app
from tests.support import Row, TestDatabase

__all__ = ["api", "app"]
SAMPLE = "tests.jobs.sample_tasks"


@pytest.fixture
async def jobs_app(db: TestDatabase) -> AsyncIterator[procrastinate.App]:
    """An open app on the test database with the sample tasks, and the tasks' pool."""
    app = build_app(db.app_conninfo, [SAMPLE])
    async with app.open_async(), task_pool(db.app_conninfo):
        yield app


@asynccontextmanager
async def running_worker(app: procrastinate.App) -> AsyncIterator[None]:
    """The app's worker in this event loop for the block (looking for due jobs every
    0.2 s), stopped gracefully at its end."""
    stop = asyncio.Event()
    task = asyncio.create_task(work(app, stop, poll_interval=0.2))
    try:
        yield
    finally:
        stop.set()
        await task


async def defer(app: procrastinate.App, task: str, **kwargs: Any) -> int:
    return await app.configure_task(task, allow_unknown=False).defer_async(**kwargs)


def job(db: TestDatabase, job_id: int) -> Row:
    with db.owner() as conn:
        row = conn.execute(
            "SELECT id, task_name, status::text AS status, attempts, worker_id, scheduled_at"
            " FROM procrastinate.procrastinate_jobs WHERE id = %s",
            [job_id],
        ).fetchone()
    assert row is not None
    return row


def events(db: TestDatabase, job_id: int) -> list[str]:
    with db.owner() as conn:
        rows = conn.execute(
            "SELECT type::text AS type FROM procrastinate.procrastinate_events"
            " WHERE job_id = %s AND type <> 'scheduled' ORDER BY id",
            [job_id],
        ).fetchall()
    return [r["type"] for r in rows]


def audited(db: TestDatabase, action: str) -> list[Row]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT details FROM audit_logs WHERE action = %s ORDER BY timestamp, id", [action]
        ).fetchall()


async def until(check: Callable[[], bool], within: float = 20.0) -> None:
    """Wait (in the event loop, so a worker in it runs) until ``check()`` holds."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


def run_to_the_end(db: TestDatabase, *calls: tuple[str, dict[str, Any]]) -> list[int]:
    """Defer these jobs and run a worker until none is left to run; their ids."""

    async def main() -> list[int]:
        app = build_app(db.app_conninfo, [SAMPLE])
        async with app.open_async(), task_pool(db.app_conninfo):
            ids = [await defer(app, name, **kwargs) for name, kwargs in calls]
            async with running_worker(app):
                await until(
                    lambda: all(job(db, i)["status"] in ("succeeded", "failed") for i in ids)
                )
        return ids

    return asyncio.run(main())
