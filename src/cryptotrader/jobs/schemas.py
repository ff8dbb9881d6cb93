"""The job queue's state as the admin routes and the CLI show it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

JobStatus = Literal["todo", "doing", "succeeded", "failed", "cancelled", "aborting", "aborted"]
EXAMPLE_JOB_ID = 4217
_FAILURE: JsonDict = {
    "id": EXAMPLE_JOB_ID,
    "task": "maintenance.prune",
    "args": {"timestamp": 1736911800},
    "attempts": 5,
    "error": "OperationalError: connection failed: server closed the connection unexpectedly",
    "failed_at": "2025-01-15T03:30:41Z",
}
_JOB: JsonDict = {
    "id": EXAMPLE_JOB_ID,
    "task": "maintenance.prune",
    "queue": "default",
    "status": "todo",
    "args": {"timestamp": 1736911800},
    "attempts": 6,
    "scheduled_at": "2025-01-15T09:12:03Z",
}


class TaskCounts(BaseModel):
    """How many jobs of one task are in each status."""

    task: str
    todo: int = Field(default=0, description="Queued (or waiting for a retry).")
    doing: int = Field(default=0, description="Being run by a worker.")
    succeeded: int = 0
    failed: int = Field(default=0, description="Failed for good, after their retries.")
    cancelled: int = 0
    aborted: int = 0


class JobFailure(BaseModel):
    """A failed job and its last recorded error."""

    model_config = ConfigDict(json_schema_extra={"examples": [_FAILURE]})

    id: int
    task: str
    args: dict[str, Any]
    attempts: int = Field(description="Runs so far.")
    error: str | None = Field(description="What its last attempt raised (None: not recorded).")
    failed_at: datetime | None


class StalledJob(BaseModel):
    """A job left ``doing`` by a worker that stopped heartbeating; the
    ``maintenance.retry_stalled`` task queues it again within a minute."""

    id: int
    task: str
    args: dict[str, Any]
    attempts: int
    worker_id: int | None = Field(description="None: the worker was pruned already.")
    last_heartbeat: datetime | None
    started_at: datetime | None


class PeriodicSchedule(BaseModel):
    """A periodic task: deferred once per period of its cron (UTC), whatever the number
    of workers."""

    task: str
    cron: str = Field(examples=["30 3 * * *"])
    periodic_id: str
    next_run: datetime
    last_deferred_for: datetime | None = Field(description="The latest period deferred.")
    last_job_id: int | None
    last_status: JobStatus | None


class JobsStatus(BaseModel):
    """The job queue: jobs per task and status, recent failures, stalled jobs, the periodic
    schedule and the workers heartbeating."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tasks": [
                        {
                            "task": "maintenance.prune",
                            "todo": 0,
                            "doing": 0,
                            "succeeded": 41,
                            "failed": 1,
                            "cancelled": 0,
                            "aborted": 0,
                        }
                    ],
                    "failures": [_FAILURE],
                    "stalled": [],
                    "periodic": [
                        {
                            "task": "maintenance.prune",
                            "cron": "30 3 * * *",
                            "periodic_id": "daily",
                            "next_run": "2025-01-16T03:30:00Z",
                            "last_deferred_for": "2025-01-15T03:30:00Z",
                            "last_job_id": EXAMPLE_JOB_ID,
                            "last_status": "failed",
                        }
                    ],
                    "workers": 2,
                    "checked_at": "2025-01-15T09:12:03Z",
                }
            ]
        }
    )

    tasks: list[TaskCounts]
    failures: list[JobFailure] = Field(description="The latest failures first.")
    stalled: list[StalledJob]
    periodic: list[PeriodicSchedule]
    workers: int = Field(description="Workers whose heartbeat is recent.")
    checked_at: datetime


class Job(BaseModel):
    """One job of the queue."""

    model_config = ConfigDict(json_schema_extra={"examples": [_JOB]})

    id: int
    task: str
    queue: str
    status: JobStatus
    args: dict[str, Any]
    attempts: int
    scheduled_at: datetime | None = Field(description="Not run before this time (a retry's).")
