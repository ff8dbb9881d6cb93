"""/admin/jobs: thin HTTP over the jobs service. To a caller who is not an administrator
every route answers the 404 of an unknown route (the service decides, ``AdminOnly``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from cryptotrader.admin.errors import AdminOnly
from cryptotrader.api.deps import SignedIn
from cryptotrader.api.problems import responses
from cryptotrader.db.session import as_service
from cryptotrader.errors import NotAuthenticated
from cryptotrader.jobs import service
from cryptotrader.jobs.errors import JobNotFailed, JobNotFound
from cryptotrader.jobs.schemas import EXAMPLE_JOB_ID, Job, JobsStatus

router = APIRouter(prefix="/admin/jobs", tags=["admin"])
JobId = Annotated[int, Path(ge=1, le=2**63 - 1, examples=[EXAMPLE_JOB_ID])]
ADMIN = responses(NotAuthenticated, AdminOnly)
_ADMINS_ONLY = " Administrators only: anyone else gets the `not_found` of an unknown route."


@router.get(
    "",
    responses=ADMIN,
    summary="The background jobs: per task and status, failures, stalled jobs, schedule",
    description="Jobs of each task by status (`todo` queued, `doing` running, `succeeded`,"
    " `failed` after their retries, `cancelled`, `aborted`), the latest failures with their"
    " error, jobs whose worker stopped heartbeating, each periodic task's next run and the"
    " workers alive. Read-only." + _ADMINS_ONLY,
)
async def jobs_status(caller: SignedIn) -> JobsStatus:
    async with as_service(caller.pool) as conn:  # the job queue is the service's
        return await service.status(conn, caller.actor)


@router.post(
    "/{job_id}/retry",
    responses=responses(ADMIN, JobNotFound, JobNotFailed),
    summary="Queue a failed job again, to run now",
    description="Only a job that failed (after its retries) can be; the run counts as one"
    " more attempt. Audited `admin.job_retried`." + _ADMINS_ONLY,
)
async def retry_job(caller: SignedIn, job_id: JobId) -> Job:
    async with as_service(caller.pool) as conn:
        return await service.retry(conn, caller.actor, job_id)
