"""Analytics jobs (cron times are UTC), idempotent per day: a rerun rewrites the same rows.

- ``analytics.daily_accounts``, daily at 00:05: every account's ``account_analytics`` row
  for the UTC day that just ended.
"""

from __future__ import annotations

from datetime import UTC, datetime

import procrastinate

from cryptotrader.analytics import service as analytics
from cryptotrader.jobs.runtime import TRANSIENT_RETRY, service_unit

blueprint = procrastinate.Blueprint()


@blueprint.periodic(cron="5 0 * * *", periodic_id="daily")
@blueprint.task(
    name="analytics.daily_accounts",
    retry=TRANSIENT_RETRY,
    lock="analytics.daily_accounts",
    queueing_lock="analytics.daily_accounts",
)
async def daily_accounts(timestamp: int) -> int:
    """The rows of the day before the run's scheduled time; returns how many accounts."""
    day = analytics.previous_utc_day(datetime.fromtimestamp(timestamp, UTC))
    async with service_unit() as conn:
        return await analytics.run_daily_accounts(conn, day)
