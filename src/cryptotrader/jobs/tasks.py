"""The platform's own maintenance, as periodic jobs (cron times are UTC).

Each is idempotent: running it twice for one period (or at any other time) leaves the
database as one run does. Procrastinate defers each period once however many workers
run; a queueing lock keeps at most one of each waiting, a lock at most one running.

- ``maintenance.create_partitions``, monthly: the next three months' partitions (rows of
  a month without one land in the default partition until it is made, so a missed run
  breaks nothing).
- ``maintenance.prune``, daily: expired Idempotency-Keys, refresh tokens a week past their
  expiry, stale stream events, finished jobs past their retention.
- ``maintenance.retry_stalled``, every minute: the jobs a dead worker left running.
"""

from __future__ import annotations

import procrastinate

from cryptotrader.auth import service as auth
from cryptotrader.jobs import service as jobs
from cryptotrader.jobs.runtime import TRANSIENT_RETRY, retry_stalled_jobs, service_unit
from cryptotrader.stream import service as stream
from cryptotrader.trading import service as trading

blueprint = procrastinate.Blueprint()
PARTITIONS_AHEAD = 3  # months


@blueprint.periodic(cron="0 3 1 * *", periodic_id="monthly")
@blueprint.task(
    name="maintenance.create_partitions",
    retry=TRANSIENT_RETRY,
    lock="maintenance.create_partitions",
    queueing_lock="maintenance.create_partitions",
)
async def create_partitions(timestamp: int) -> int:
    """Create the coming months' partitions; returns how many were missing."""
    async with service_unit() as conn:
        return await jobs.create_partitions(conn, months_ahead=PARTITIONS_AHEAD)


@blueprint.periodic(cron="30 3 * * *", periodic_id="daily")
@blueprint.task(
    name="maintenance.prune",
    retry=TRANSIENT_RETRY,
    lock="maintenance.prune",
    queueing_lock="maintenance.prune",
)
async def prune(timestamp: int) -> dict[str, int]:
    """Delete what has expired, in one transaction; returns how many rows of each kind."""
    async with service_unit() as conn:
        return {
            "idempotency_keys": await trading.prune_expired(conn),
            "refresh_tokens": await auth.prune_expired(conn),
            "stream_events": await stream.prune_expired(conn),
            "jobs": await jobs.prune_expired(conn),
        }


# No lock (a stalled one would hold it, and nothing would free it) and no retry (the next
# minute's run is the retry).
@blueprint.periodic(cron="* * * * *", periodic_id="every_minute")
@blueprint.task(
    name="maintenance.retry_stalled",
    pass_context=True,
    queueing_lock="maintenance.retry_stalled",
)
async def retry_stalled(context: procrastinate.JobContext, timestamp: int) -> list[int]:
    """Queue again the jobs of workers that stopped heartbeating; returns their ids."""
    return await retry_stalled_jobs(context.app.job_manager)
