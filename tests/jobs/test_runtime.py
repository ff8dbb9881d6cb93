"""Jobs run by a worker: a transient error is retried with backoff, any other error fails
the job at once, a job that keeps failing ends ``failed`` (logged, its error recorded,
shown by the status) and never holds up the jobs queued behind it."""

from __future__ import annotations

import logging
from datetime import timedelta

import procrastinate
import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.audit.schemas import SYSTEM
from cryptotrader.db.session import Conn, as_service
from cryptotrader.jobs import service
from cryptotrader.jobs.app import build_app
from cryptotrader.jobs.runtime import service_unit, task_pool
from tests.jobs.conftest import SAMPLE, audited, defer, events, job, running_worker, until
from tests.support import TestDatabase

pytestmark = pytest.mark.anyio


def errors(db: TestDatabase, job_id: int) -> list[dict[str, object]]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT attempt, error, retry_at, at FROM private.job_errors WHERE job_id = %s"
            " ORDER BY id",
            [job_id],
        ).fetchall()


async def test_a_transient_error_is_retried_with_backoff_then_succeeds(
    db: TestDatabase, jobs_app: procrastinate.App, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cryptotrader.jobs")
    job_id = await defer(jobs_app, "sample.flaky")
    async with running_worker(jobs_app):
        await until(lambda: job(db, job_id)["status"] == "succeeded")
    done = job(db, job_id)
    assert done["attempts"] == 2
    assert events(db, job_id) == [
        "deferred", "started", "deferred_for_retry", "started", "succeeded",
    ]  # fmt: skip
    [error] = errors(db, job_id)
    assert error["attempt"] == 1 and "OperationalError" in str(error["error"])
    # the first wait of the backoff: 2 s after the failure
    wait = error["retry_at"] - error["at"]  # type: ignore[operator]
    assert timedelta(seconds=1.5) < wait < timedelta(seconds=3)
    # what the worker scheduled (its own reckoning of the same wait)
    assert abs(done["scheduled_at"] - error["retry_at"]) < timedelta(seconds=0.5)
    assert [r["details"] for r in audited(db, "test.flaky")] == [{"attempt": 2}]
    [warning] = [r for r in caplog.records if r.name == "cryptotrader.jobs.runtime"]
    assert warning.levelno == logging.WARNING
    message = warning.getMessage()
    assert (
        f"sample.flaky {job_id} attempt 1 failed" in message and "closed the connection" in message
    )


async def test_a_failing_job_ends_failed_is_reported_and_holds_up_nothing(
    db: TestDatabase,
    jobs_app: procrastinate.App,
    pool: AsyncConnectionPool[Conn],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cryptotrader.jobs")
    broken = await defer(jobs_app, "sample.broken", reason="a bug")
    unreachable = await defer(jobs_app, "sample.unreachable")
    behind = [await defer(jobs_app, "sample.ok", n=n) for n in range(3)]
    async with running_worker(jobs_app):
        await until(lambda: all(job(db, j)["status"] != "todo" for j in [unreachable, *behind]))
        await until(lambda: job(db, unreachable)["status"] == "failed")
    assert [job(db, j)["status"] for j in behind] == ["succeeded"] * 3
    assert sorted(r["details"]["n"] for r in audited(db, "test.ok")) == [0, 1, 2]
    assert (job(db, broken)["status"], job(db, broken)["attempts"]) == ("failed", 1)
    assert (job(db, unreachable)["status"], job(db, unreachable)["attempts"]) == ("failed", 3)
    assert [e["retry_at"] is None for e in errors(db, unreachable)] == [False, False, True]

    finals = [r for r in caplog.records if r.levelno == logging.ERROR and "cryptotrader" in r.name]
    assert {r.getMessage() for r in finals} == {
        f"job sample.broken {broken} failed after 1 attempt(s): ValueError: a bug",
        f"job sample.unreachable {unreachable} failed after 3 attempt(s):"
        " OperationalError: connection refused",
    }

    async with as_service(pool) as conn:
        state = await service.status(conn, SYSTEM, periodic=[])
    counts = {t.task: t for t in state.tasks}
    assert (counts["sample.ok"].succeeded, counts["sample.ok"].failed) == (3, 0)
    assert counts["sample.broken"].failed == counts["sample.unreachable"].failed == 1
    assert [(f.id, f.task, f.attempts) for f in state.failures] == [
        (unreachable, "sample.unreachable", 3),
        (broken, "sample.broken", 1),
    ]
    assert state.failures[1].args == {"reason": "a bug"}
    assert state.failures[1].error == "ValueError: a bug"
    assert state.failures[0].failed_at is not None and not state.stalled


async def test_a_task_runs_in_a_service_unit_of_the_workers_pool(db: TestDatabase) -> None:
    with pytest.raises(RuntimeError, match="task_pool"):
        async with service_unit():
            pass
    async with task_pool(db.app_conninfo), service_unit() as conn:
        row = await (await conn.execute("SELECT current_user AS role")).fetchone()
    assert row == {"role": "service_role"}


async def test_apps_built_in_one_process_share_no_task(db: TestDatabase) -> None:
    first = build_app(db.app_conninfo, [SAMPLE])
    second = build_app(db.app_conninfo, [SAMPLE])
    assert first.tasks["sample.ok"] is not second.tasks["sample.ok"]
    assert first.tasks["sample.ok"].blueprint is first
    assert second.tasks["sample.ok"].blueprint is second
    assert "sample.ok" in build_app(db.app_conninfo, [SAMPLE]).tasks  # names stay as declared


async def test_the_apps_connections_are_the_service_role_on_procrastinates_schema(
    jobs_app: procrastinate.App,
) -> None:
    row = await jobs_app.connector.execute_query_one_async(
        "SELECT current_user AS role, current_setting('search_path') AS path"
    )
    assert row == {"role": "service_role", "path": "procrastinate,public"}
