"""Analytics jobs (cron times are UTC), idempotent per day: a rerun rewrites the same rows.

- ``analytics.daily``, daily at 00:05: for the UTC day that just ended, every account's
  ``account_analytics`` row, then every portfolio's ``portfolio_snapshots`` and
  ``portfolio_analytics`` rows (a portfolio's day needs its members' day, so one job writes
  both, in one transaction). A missed day is caught up by the next run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import procrastinate

from cryptotrader.analytics import service as analytics
from cryptotrader.jobs.runtime import TRANSIENT_RETRY, service_unit

blueprint = procrastinate.Blueprint()


@blueprint.periodic(cron="5 0 * * *", periodic_id="daily")
@blueprint.task(
    name="analytics.daily",
    retry=TRANSIENT_RETRY,
    lock="analytics.daily",
    queueing_lock="analytics.daily",
)
async def daily(timestamp: int) -> int:
    """The rows of the day before the run's scheduled time; returns how many accounts."""
    day = analytics.previous_utc_day(datetime.fromtimestamp(timestamp, UTC))
    async with service_unit() as conn:
        return await analytics.run_day(conn, day)
