"""What a job runs with: its unit of work, its retry policy, the record of its failures,
and the worker that runs it until told to stop.

A task gets its database through :func:`service_unit`: one transaction as ``service_role``
on a pool the worker opens when it starts (:func:`task_pool`) and closes when it stops;
tests open the same pool to run a task themselves. Failures are grouped by what to do
next: a transient error (the database went away, a serialization failure, a deadlock) is
retried with exponential backoff (:data:`TRANSIENT_RETRY`); anything else fails the job
at once. Either way each failed attempt is logged with its task, job id, attempt and
error, and recorded in ``private.job_errors`` for the admin's job status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import procrastinate
import psycopg
from procrastinate import exceptions, job_context, worker
from procrastinate.jobs import Job, Status
from procrastinate.manager import JobManager
from psycopg_pool import AsyncConnectionPool

from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn, as_service, open_pool

log = logging.getLogger(__name__)
Q = load_queries("cryptotrader.jobs")

# Errors worth another attempt: the database or the network, not the job's own logic.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,  # connection lost or refused, the pool's timeout, ...
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    ConnectionError,
    TimeoutError,
)
MAX_ATTEMPTS = 5  # runs of one job in all: the first and four retries
# waits 2, 4, 8, 16 s between them (procrastinate waits exponential_wait ** (attempts + 1))
TRANSIENT_RETRY = procrastinate.RetryStrategy(
    max_attempts=MAX_ATTEMPTS - 1, exponential_wait=2, retry_exceptions=TRANSIENT_ERRORS
)
CONCURRENCY = 4  # jobs one worker runs at a time (they wait on the database, not the CPU)
HEARTBEAT_INTERVAL = 10.0  # seconds between a worker's heartbeats
STALLED_AFTER = 30.0  # seconds without one after which a worker is dead and its jobs stalled
SHUTDOWN_GRACE = 30.0  # seconds a stopping worker lets its running jobs finish
POLL_INTERVAL = 5.0  # seconds between looks for due jobs (a new job is announced at once)
ERROR_CHARS = 2000  # of an error's text kept in private.job_errors

_pool: ContextVar[AsyncConnectionPool[Conn] | None] = ContextVar("jobs_pool", default=None)


@asynccontextmanager
async def task_pool(conninfo: str, *, max_size: int = CONCURRENCY) -> AsyncIterator[None]:
    """Open the pool :func:`service_unit` draws from, for the tasks run inside this block
    (a worker's, or a test's own call of a task), and close it at the end."""
    pool = open_pool(conninfo, min_size=1, max_size=max_size)
    await pool.open(wait=True, timeout=30)
    token = _pool.set(pool)
    try:
        yield
    finally:
        _pool.reset(token)
        await pool.close()


def current_pool() -> AsyncConnectionPool[Conn]:
    """The pool of the tasks run inside :func:`task_pool`, for a task whose work is several
    units of work at once. Raises RuntimeError outside it."""
    pool = _pool.get()
    if pool is None:
        raise RuntimeError("a task's unit of work needs jobs.runtime.task_pool() around it")
    return pool


@asynccontextmanager
async def service_unit() -> AsyncIterator[Conn]:
    """One transaction as ``service_role`` for a task: committed when the block ends, rolled
    back on an error. Raises RuntimeError outside :func:`task_pool`."""
    async with as_service(current_pool()) as conn:
        yield conn


# ------------------------------------------------------------------ failures


async def record_failures(
    call_next: Callable[[], Awaitable[Any]], context: job_context.JobContext, _: worker.Worker
) -> Any:
    """Worker middleware: a failed attempt is logged (WARNING when it will be retried,
    ERROR when the job fails for good) and recorded, then re-raised for procrastinate to
    retry or fail the job. A job stopped by a shutdown or an abort is not a failure."""
    try:
        return await call_next()
    except exceptions.JobAborted:
        raise
    except Exception as exc:
        await _record(context, exc)
        raise


async def _record(context: job_context.JobContext, exc: Exception) -> None:
    job = context.job
    task = context.app.tasks.get(job.task_name)
    decision = task.get_retry_exception(exception=exc, job=job) if task else None
    retry_at = decision.retry_decision.retry_at if decision else None
    error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
    attempt = job.attempts + 1
    if retry_at is not None:
        log.warning(
            "job %s %s attempt %d failed, retried at %s: %s",
            job.task_name,
            job.id,
            attempt,
            retry_at.isoformat(timespec="seconds"),
            error,
        )
    else:
        log.error("job %s %s failed after %d attempt(s): %s", job.task_name, job.id, attempt, error)
    params = {"job_id": job.id, "task_name": job.task_name, "attempt": attempt, "error": error}
    try:
        await context.app.connector.execute_query_async(
            Q["record_error"], **params, retry_at=retry_at
        )
    except exceptions.ConnectorException as cause:  # the job's own failure matters more
        log.warning("job %s %s: its error could not be recorded: %s", job.task_name, job.id, cause)


# ------------------------------------------------------------------ stalled jobs


async def retry_stalled_jobs(manager: JobManager) -> list[int]:
    """The jobs of workers that stopped heartbeating (killed, or cut off for longer than
    :data:`STALLED_AFTER`) back to ``todo`` to run again; ``failed`` instead when they have
    had :data:`MAX_ATTEMPTS` runs, or when a newer job of their queueing lock is waiting
    (it does the same work). Each is recorded as a failed attempt. Returns the ids put
    back. Each task is idempotent, so a job whose worker was only slow may run twice but
    does the same."""
    retried = []
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER):
        assert job.id is not None  # jobs read from the table have one
        who = "its worker" if job.worker_id is None else f"worker {job.worker_id}"  # None: pruned
        error = f"WorkerLost: {who} stopped heartbeating while running it"
        try:
            retry_at: datetime | None = datetime.now(UTC)
            if await _put_back(manager, job):
                log.warning("job %s %s stalled: queued again", job.task_name, job.id)
                retried.append(job.id)
            else:
                retry_at = None
                await manager.finish_job(job, status=Status.FAILED, delete_job=False)
                log.error("job %s %s stalled and failed: %s", job.task_name, job.id, error)
            params = {"job_id": job.id, "task_name": job.task_name, "error": error}
            await manager.connector.execute_query_async(
                Q["record_error"], **params, attempt=job.attempts + 1, retry_at=retry_at
            )
        except exceptions.ConnectorException as exc:  # it moved on meanwhile
            log.warning("stalled job %s %s left as it is: %s", job.task_name, job.id, exc)
    return retried


async def _put_back(manager: JobManager, job: Job) -> bool:
    """Queue ``job`` again, unless it had its last attempt or a newer job of its queueing
    lock waits (False)."""
    if job.attempts + 1 >= MAX_ATTEMPTS:
        return False
    try:
        await manager.retry_job(job)
    except exceptions.UniqueViolation:
        return False
    return True


# ------------------------------------------------------------------ the worker


async def work(
    app: procrastinate.App,
    stop: asyncio.Event,
    *,
    concurrency: int = CONCURRENCY,
    poll_interval: float = POLL_INTERVAL,
) -> None:
    """Run ``app``'s worker (with its periodic deferrer) until ``stop`` is set, then stop it
    gracefully: running jobs get :data:`SHUTDOWN_GRACE` seconds to finish. ``app`` must be
    open and :func:`task_pool` entered. Returns early when the worker stops by itself (it
    does when its heartbeat or listener loses the database)."""
    running = asyncio.create_task(
        app.run_worker_async(
            name=f"jobs-{os.getpid()}",
            concurrency=concurrency,
            fetch_job_polling_interval=poll_interval,  # retries are due, not announced
            install_signal_handlers=False,  # the command's own handlers set ``stop``
            shutdown_graceful_timeout=SHUTDOWN_GRACE,
            update_heartbeat_interval=HEARTBEAT_INTERVAL,
            stalled_worker_timeout=STALLED_AFTER,
        ),
        name="procrastinate-worker",
    )
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not running.done():
        running.cancel()  # procrastinate's worker takes a cancel as a graceful stop
    with contextlib.suppress(asyncio.CancelledError):
        await running


async def run_jobs(
    conninfo: str, stop: asyncio.Event, *, task_modules: Sequence[str] | None = None
) -> None:
    """The ``jobs`` worker: build the app (:func:`cryptotrader.jobs.app.build_app`), open it
    and the tasks' pool, and :func:`work` until ``stop``; when the database goes away, start
    again with backoff (1 s doubling to 30 s)."""
    from cryptotrader.jobs.app import build_app

    delay = 1.0
    while not stop.is_set():
        try:
            app = build_app(conninfo, task_modules)
            async with app.open_async(), task_pool(conninfo):
                delay = 1.0
                await work(app, stop)
        except (psycopg.OperationalError, exceptions.ConnectorException) as exc:
            log.warning("jobs worker: database unavailable (%s); again in %.0f s", exc, delay)
        if not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 30.0)
