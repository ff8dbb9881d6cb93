"""Analytics jobs (cron times are UTC), idempotent per day: a rerun rewrites the same rows.

- ``analytics.daily``, daily at 00:05: for the UTC day that just ended, every account's
  ``account_analytics`` row, then every portfolio's ``portfolio_snapshots`` and
  ``portfolio_analytics`` rows (a portfolio's day needs its members' day, so one job writes
  both), in ``CRYPTOTRADER_ANALYTICS_SHARDS`` parts by user at once, each a transaction of
  its own. A missed day is caught up by the next run; a failed part is written again by the
  retry (the day is idempotent).
"""

from __future__ import annotations

from datetime import UTC, datetime

import procrastinate

from cryptotrader.analytics import service as analytics
from cryptotrader.config import get_settings
from cryptotrader.jobs.runtime import TRANSIENT_RETRY, current_pool

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
    return await analytics.run_day(current_pool(), day, shards=get_settings().analytics_shards)
