"""``cryptotrader jobs``: the background jobs' state, retrying a failed job, running a task
now. The commands act as the system (the service role) through the same jobs service the
admin API calls; each change records its ``admin.*`` audit row."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from cryptotrader.audit.schemas import SYSTEM
from cryptotrader.cli.common import bad_input_exits_2, friendly_errors, run_service
from cryptotrader.cli.render import console
from cryptotrader.config import get_settings
from cryptotrader.db.runtime import migrate_target
from cryptotrader.db.session import Conn

if TYPE_CHECKING:
    from cryptotrader.jobs.schemas import (
        Job,
        JobFailure,
        JobsStatus,
        PeriodicSchedule,
        StalledJob,
        TaskCounts,
    )

app = typer.Typer(
    help="Background jobs: their state, retrying a failed one, running a task now.",
    no_args_is_help=True,
)
T = TypeVar("T")


def _when(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")


def _table(title: str, found: Sequence[T], row: Callable[[T], dict[str, str]]) -> None:
    """A table of ``found`` (one ``row``, its cells by column, each), or a line saying
    there is none."""
    if not found:
        console.print(f"{title}: none")
        return
    rows = [row(item) for item in found]
    table = Table(*rows[0], title=title)
    for cells in rows:
        table.add_row(*cells.values())
    console.print(table)


def _counts_row(t: TaskCounts) -> dict[str, str]:
    return {
        "task": escape(t.task),
        "queued": str(t.todo),
        "running": str(t.doing),
        "succeeded": str(t.succeeded),
        "failed": str(t.failed),
        "cancelled": str(t.cancelled + t.aborted),
    }


def _failure_row(f: JobFailure) -> dict[str, str]:
    return {
        "id": str(f.id),
        "task": escape(f.task),
        "args": escape(json.dumps(f.args)),
        "attempts": str(f.attempts),
        "failed at": _when(f.failed_at),
        "error": escape(f.error or ""),
    }


def _stalled_row(s: StalledJob) -> dict[str, str]:
    return {
        "id": str(s.id),
        "task": escape(s.task),
        "worker": "" if s.worker_id is None else str(s.worker_id),
        "last heartbeat": _when(s.last_heartbeat),
        "started": _when(s.started_at),
    }


def _periodic_row(p: PeriodicSchedule) -> dict[str, str]:
    return {
        "task": escape(p.task),
        "cron (UTC)": p.cron,
        "next run": _when(p.next_run),
        "last period": _when(p.last_deferred_for),
        "its job": "" if p.last_job_id is None else f"{p.last_job_id} ({p.last_status})",
    }


@app.command("status")
@friendly_errors
@bad_input_exits_2
def jobs_status(
    failures: Annotated[
        int, typer.Option(min=1, max=500, help="How many failed jobs to show, latest first.")
    ] = 20,
) -> None:
    """Jobs per task (queued, running, failed, ...), the latest failures, stalled jobs,
    the periodic schedule and the workers alive."""
    from cryptotrader.jobs import service

    found: JobsStatus = run_service(lambda conn: service.status(conn, SYSTEM, failures=failures))
    _table("Jobs per task", found.tasks, _counts_row)
    _table("Recent failures", found.failures, _failure_row)
    _table("Stalled jobs (their worker stopped)", found.stalled, _stalled_row)
    _table("Periodic schedule", found.periodic, _periodic_row)
    console.print(f"workers alive: {found.workers}")


@app.command("retry")
@friendly_errors
@bad_input_exits_2
def jobs_retry(job_id: Annotated[int, typer.Argument(min=1, help="The failed job's id.")]) -> None:
    """Queue a failed job again, to run now. Audited as admin.job_retried."""
    from cryptotrader.jobs import service

    job = run_service(lambda conn: service.retry(conn, SYSTEM, job_id))
    console.print(f"job {job.id} ({job.task}) is queued again", markup=False)


def _kwargs(pairs: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as task arguments (a VALUE that is JSON is decoded)."""
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"not KEY=VALUE: {pair!r}", param_hint="--arg")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


@app.command("run")
@friendly_errors
@bad_input_exits_2
def jobs_run(
    task: Annotated[str, typer.Argument(help="The task's name, e.g. maintenance.prune.")],
    arg: Annotated[
        list[str] | None, typer.Option("--arg", help="A task argument KEY=VALUE; repeatable.")
    ] = None,
) -> None:
    """Queue a job of TASK for the workers, to run now (a periodic task for the current
    time). Audited as admin.job_deferred."""
    from cryptotrader.jobs import service
    from cryptotrader.jobs.app import build_app

    kwargs = _kwargs(arg)
    target, _ = migrate_target(get_settings())
    jobs = build_app(target.app)  # its tasks only: the job is written in the command's unit

    async def work(conn: Conn) -> Job:
        return await service.defer(conn, SYSTEM, jobs, task, kwargs)

    job = run_service(work, migrate=False)
    console.print(f"job {job.id} ({job.task}) is queued", markup=False)
