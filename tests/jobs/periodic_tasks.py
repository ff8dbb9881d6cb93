"""A periodic task every two seconds, for the test of several workers deferring it."""

from __future__ import annotations

import procrastinate

from tests.jobs.sample_tasks import ran

blueprint = procrastinate.Blueprint()


@blueprint.periodic(cron="* * * * * */2", periodic_id="every_2s")
@blueprint.task(name="sample.tick")
async def tick(timestamp: int) -> None:
    await ran("tick", timestamp=timestamp)
