"""Errors of the job queue's administration."""

from __future__ import annotations

from cryptotrader.errors import Conflict, InvalidRequest, NotFound


class JobNotFound(NotFound):
    code = "job_not_found"
    title = "Job not found"
    example_detail = "no job 4217"


class JobNotFailed(Conflict):
    code = "job_not_failed"
    title = "Job has not failed"
    example_detail = "job 4217 is succeeded, not failed: only a failed job is retried"


class UnknownTask(InvalidRequest):
    code = "unknown_task"
    title = "Unknown task"
    example_detail = "no task maintenance.prun (known: maintenance.create_partitions, ...)"


class JobAlreadyQueued(Conflict):
    code = "job_already_queued"
    title = "A job of this task is already queued"
    example_detail = "a maintenance.prune job is already waiting to run"
