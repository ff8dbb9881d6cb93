"""Worker processes (``cryptotrader worker --only jobs``) against one database: a job whose
worker is killed in the middle runs again on another and completes; several workers defer
each period of a periodic task once and run it once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.audit.schemas import SYSTEM
from cryptotrader.db.session import Conn, as_service
from cryptotrader.jobs import service
from cryptotrader.jobs.app import build_app
from tests.jobs.conftest import SAMPLE, audited, defer, events, job
from tests.support import TestDatabase, run_cli

ROOT = Path(__file__).resolve().parents[2]
MAINTENANCE = "cryptotrader.jobs.tasks"
pytestmark = pytest.mark.slow


@contextmanager
def workers(
    env: dict[str, str], tmp_path: Path, modules: list[str], count: int = 1
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` processes of ``cryptotrader worker --only jobs`` running ``modules``' tasks
    (each logging to tmp_path/worker-N.log); any still running at the end are killed."""
    env = {**env, "PYTHONPATH": str(ROOT), "CRYPTOTRADER_LOG_LEVEL": "INFO"}
    command = [sys.executable, "-m", "tests.jobs.worker_main", ",".join(modules), "worker"]
    procs = []
    for n in range(count):
        with (tmp_path / f"worker-{n}.log").open("ab") as log:
            procs.append(
                subprocess.Popen(
                    [*command, "--only", "jobs"], env=env, cwd=tmp_path, stdout=log, stderr=log
                )
            )
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def logs(tmp_path: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(tmp_path.glob("worker-*.log")))


def wait_for(check: Callable[[], bool], tmp_path: Path, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out; the workers said:\n{logs(tmp_path)}"
        time.sleep(0.1)


def live_workers(db: TestDatabase) -> set[int]:
    with db.owner() as conn:
        rows = conn.execute(
            "SELECT id FROM procrastinate.procrastinate_workers"
            " WHERE last_heartbeat > now() - interval '30 seconds'"
        ).fetchall()
    return {r["id"] for r in rows}


def stop(procs: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    """SIGTERM, as a supervisor stops them: each ends cleanly."""
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        assert proc.wait(timeout=60) == 0, logs(tmp_path)
    assert "Traceback" not in logs(tmp_path)


@pytest.mark.anyio
async def test_a_killed_workers_job_runs_again_on_another_worker(
    db: TestDatabase,
    cli_env: dict[str, str],
    tmp_path: Path,
    pool: AsyncConnectionPool[Conn],
) -> None:
    app = build_app(db.app_conninfo, [SAMPLE])
    async with app.open_async():
        job_id = await defer(app, "sample.slow", seconds=3, tag="once")
    with workers(cli_env, tmp_path, [SAMPLE, MAINTENANCE]) as [first]:
        wait_for(lambda: job(db, job_id)["status"] == "doing", tmp_path)
        first.send_signal(signal.SIGKILL)  # mid-job: no goodbye, no heartbeat any more
        first.wait()
    dead = job(db, job_id)["worker_id"]
    assert job(db, job_id)["status"] == "doing" and dead is not None
    with db.owner() as conn:  # its heartbeat as it is once the stalled timeout has passed
        conn.execute(
            "UPDATE procrastinate.procrastinate_workers"
            " SET last_heartbeat = now() - interval '1 minute' WHERE id = %s",
            [dead],
        )
    # (the worker's own every-minute job may have been running too when it was killed)
    assert job_id in await stalled(pool)

    with workers(cli_env, tmp_path, [SAMPLE, MAINTENANCE]) as second:
        wait_for(lambda: bool(live_workers(db)), tmp_path)
        # the every-minute recovery, now rather than at the next minute
        queued = run_cli(["jobs", "run", "maintenance.retry_stalled"], cli_env, tmp_path)
        assert queued.returncode == 0, queued.stderr
        wait_for(lambda: job(db, job_id)["status"] == "succeeded", tmp_path)
        done, [other] = job(db, job_id), live_workers(db)
        stop(second, tmp_path)  # (a worker that stops is forgotten: its jobs' worker_id NULL)
    assert (done["worker_id"], done["attempts"]) == (other, 2) and other != dead
    assert events(db, job_id) == [
        "deferred", "started", "deferred_for_retry", "started", "succeeded",
    ]  # fmt: skip
    assert [r["details"] for r in audited(db, "test.slow")] == [{"tag": "once"}]  # once
    with db.owner() as conn:
        [lost] = conn.execute(
            "SELECT attempt, error FROM private.job_errors WHERE job_id = %s", [job_id]
        ).fetchall()
    assert lost == {
        "attempt": 1,
        # the second worker pruned the dead one when it started: the job lost its worker_id
        "error": "WorkerLost: its worker stopped heartbeating while running it",
    }


async def stalled(pool: AsyncConnectionPool[Conn]) -> list[int]:
    async with as_service(pool) as conn:
        return [j.id for j in (await service.status(conn, SYSTEM, periodic=[])).stalled]


def test_three_workers_defer_and_run_each_period_once(
    db: TestDatabase, cli_env: dict[str, str], tmp_path: Path
) -> None:
    with workers(cli_env, tmp_path, ["tests.jobs.periodic_tasks"], count=3) as procs:
        wait_for(lambda: len(live_workers(db)) == 3, tmp_path)
        time.sleep(8)  # four periods or so with all three running
        stop(procs, tmp_path)
    with db.owner() as conn:
        jobs = conn.execute(
            "SELECT (j.args->>'timestamp')::bigint AS period, j.status::text AS status,"
            " (SELECT count(*) FROM procrastinate.procrastinate_events e"
            "   WHERE e.job_id = j.id AND e.type = 'started') AS runs"
            " FROM procrastinate.procrastinate_jobs j WHERE j.task_name = 'sample.tick'"
            " ORDER BY 1"
        ).fetchall()
    periods = [j["period"] for j in jobs]
    assert len(periods) >= 4, logs(tmp_path)
    assert len(set(periods)) == len(periods), "a period deferred twice"
    assert periods == list(range(periods[0], periods[-1] + 1, 2)), "a period skipped"
    ran = [j for j in jobs if j["status"] != "todo"]  # the last may be waiting at the stop
    assert {(j["status"], j["runs"]) for j in ran} == {("succeeded", 1)}
    assert len(ran) >= len(jobs) - 1
    ticks = sorted(r["details"]["timestamp"] for r in audited(db, "test.tick"))
    assert ticks == [j["period"] for j in ran]
