"""The job queue's administration: its state, retrying a failed job, queueing a task now;
and the maintenance the jobs themselves do on the queue and the partitions.

``conn`` is a unit of work as the service role (procrastinate's schema is granted to no
API role). Every function for people first checks that ``actor`` is an administrator or
the system (:func:`cryptotrader.admin.service.require_admin`: anyone else gets the 404 of
an unknown route); each change records its ``admin.*`` audit row in the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import procrastinate
from procrastinate import exceptions

from cryptotrader.admin.service import require_admin
from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.calls import execute, fetch_all, fetch_one, require
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.jobs.app import Periodic, periodic_tasks
from cryptotrader.jobs.errors import JobAlreadyQueued, JobNotFailed, JobNotFound, UnknownTask
from cryptotrader.jobs.runtime import STALLED_AFTER
from cryptotrader.jobs.schemas import (
    Job,
    JobFailure,
    JobsStatus,
    PeriodicSchedule,
    StalledJob,
    TaskCounts,
)

Q = load_queries("cryptotrader.jobs")
JOB = "job"  # the resource type of the jobs' audit rows
COUNTED = frozenset(TaskCounts.model_fields) - {"task"}


async def status(
    conn: Conn, actor: Actor, *, failures: int = 20, periodic: Sequence[Periodic] | None = None
) -> JobsStatus:
    """Jobs per task and status, the ``failures`` latest failed jobs with their last error,
    the stalled jobs, the periodic schedule (default: every task module's) and how many
    workers heartbeat. Reads only. Raises AdminOnly."""
    require_admin(actor)
    stalled = {"stalled_after": STALLED_AFTER}
    counts = await fetch_all(conn, Q["jobs_by_task"])
    failed = await fetch_all(conn, Q["recent_failures"], {"limit": failures})
    stuck = await fetch_all(conn, Q["stalled_jobs"], stalled)
    workers = await fetch_one(conn, Q["live_workers"], stalled)
    now = datetime.now(UTC)
    schedule = periodic_tasks() if periodic is None else periodic
    return JobsStatus(
        tasks=_counts(counts),
        failures=[JobFailure.model_validate(r | {"task": r["task_name"]}) for r in failed],
        stalled=[StalledJob.model_validate(r | {"task": r["task_name"]}) for r in stuck],
        periodic=_schedule(schedule, await fetch_all(conn, Q["last_periodic_defers"]), now),
        workers=workers["n"] if workers else 0,
        checked_at=now,
    )


def _counts(rows: list[dict[str, Any]]) -> list[TaskCounts]:
    by_task: dict[str, dict[str, int]] = {}
    for row in rows:
        if row["status"] in COUNTED:
            by_task.setdefault(row["task_name"], {})[row["status"]] = row["n"]
    return [TaskCounts(task=task, **counts) for task, counts in sorted(by_task.items())]


def _schedule(
    periodic: Sequence[Periodic], defers: list[dict[str, Any]], now: datetime
) -> list[PeriodicSchedule]:
    last = {(d["task_name"], d["periodic_id"]): d for d in defers}
    out = []
    for p in periodic:
        defer: Mapping[str, Any] = last.get((p.task, p.periodic_id), {})
        stamp = defer.get("defer_timestamp")
        out.append(
            PeriodicSchedule(
                task=p.task,
                cron=p.cron,
                periodic_id=p.periodic_id,
                next_run=p.next_run(now),
                last_deferred_for=None if stamp is None else datetime.fromtimestamp(stamp, UTC),
                last_job_id=defer.get("job_id"),
                last_status=defer.get("status"),
            )
        )
    return out


async def get_job(conn: Conn, job_id: int) -> Job:
    """One job. Raises JobNotFound."""
    row = await fetch_one(conn, Q["get_job"], {"id": job_id})
    row = require(row, JobNotFound(f"no job {job_id}"))
    return Job.model_validate(row | {"task": row["task_name"], "queue": row["queue_name"]})


async def retry(conn: Conn, actor: Actor, job_id: int) -> Job:
    """Queue a failed job again, to run now (procrastinate counts it as one more attempt).
    Raises AdminOnly, JobNotFound, JobNotFailed. Audited ``admin.job_retried``."""
    require_admin(actor)
    row = await fetch_one(conn, Q["lock_job"], {"id": job_id})
    row = require(row, JobNotFound(f"no job {job_id}"))
    if row["status"] != "failed":
        raise JobNotFailed(
            f"job {job_id} is {row['status']}, not failed: only a failed job is retried"
        )
    await execute(conn, Q["use_procrastinate_schema"])
    await execute(conn, Q["retry_job"], {"id": job_id})
    await audit.record(conn, actor, "admin.job_retried", JOB, job_id, {"task": row["task_name"]})
    return await get_job(conn, job_id)


async def defer(
    conn: Conn,
    actor: Actor,
    app: procrastinate.App,
    task_name: str,
    args: Mapping[str, Any] | None = None,
) -> Job:
    """Queue a job of one of ``app``'s tasks to run now, in ``conn``'s transaction (a
    rollback drops it); a periodic task gets the current time as its period's
    ``timestamp`` unless given one. Raises AdminOnly, UnknownTask, JobAlreadyQueued (the
    task takes one waiting job at most and one waits). Audited
    ``admin.job_deferred``."""
    require_admin(actor)
    known = sorted(name for name in app.tasks if not name.startswith("builtin:"))
    if task_name not in known:
        raise UnknownTask(f"no task {task_name} (known: {', '.join(known)})")
    kwargs = dict(args or {})
    if any(p.task.name == task_name for p in app.periodic_registry.periodic_tasks.values()):
        kwargs.setdefault("timestamp", int(time.time()))
    await execute(conn, Q["use_procrastinate_schema"])
    try:
        job_id = await app.configure_task(task_name, connection=conn).defer_async(**kwargs)
    except exceptions.AlreadyEnqueued as exc:  # its queueing lock: one waiting at most
        raise JobAlreadyQueued(f"a {task_name} job is already waiting to run") from exc
    await audit.record(
        conn, actor, "admin.job_deferred", JOB, job_id, {"task": task_name, "args": kwargs}
    )
    return await get_job(conn, job_id)


# ------------------------------------------------------------------ maintenance


async def create_partitions(conn: Conn, *, months_ahead: int = 3) -> int:
    """The partitions of the coming ``months_ahead`` months (idempotent: those that exist
    stay); returns how many were created."""
    row = await fetch_one(conn, Q["create_partitions_ahead"], {"months": months_ahead})
    return int(row["created"]) if row else 0


async def prune_expired(conn: Conn) -> int:
    """Delete finished jobs past their retention (succeeded, cancelled and aborted ones a
    week after their last event, failed ones a month), with their events and errors;
    returns how many jobs."""
    await execute(conn, Q["use_procrastinate_schema"])  # the delete trigger's unqualified names
    return await execute(conn, Q["prune_finished_jobs"])
