"""Webhook delivery as procrastinate jobs.

- ``webhooks.deliver``: one attempt of one delivery (deferred in SQL, in the transaction
  of the event, by private.enqueue_webhook_event; each retry deferred by the attempt
  before it, at its backoff). Its lock keeps two attempts of one delivery apart.
- ``webhooks.sweep``, every five minutes: a job again for a pending delivery left
  without one, so no event is lost.
"""

from __future__ import annotations

from uuid import UUID

import procrastinate

from cryptotrader.config import get_settings
from cryptotrader.jobs.runtime import TRANSIENT_RETRY, current_pool, service_unit
from cryptotrader.webhooks import sender

blueprint = procrastinate.Blueprint()
SWEEP_GRACE = 600.0  # seconds a due delivery may wait for its job before the sweep steps in


@blueprint.task(name="webhooks.deliver", retry=TRANSIENT_RETRY)
async def deliver(delivery_id: str, attempt: int) -> str | None:
    """Attempt ``attempt`` of the delivery; its status after it (None: not this job's)."""
    guard = sender.guard_of(get_settings())
    return await sender.send(current_pool(), UUID(delivery_id), attempt, guard=guard)


@blueprint.periodic(cron="*/5 * * * *", periodic_id="every_5_minutes")
@blueprint.task(
    name="webhooks.sweep",
    retry=TRANSIENT_RETRY,
    lock="webhooks.sweep",
    queueing_lock="webhooks.sweep",
)
async def sweep(timestamp: int) -> int:
    """Jobs again for the deliveries that lost theirs; returns how many."""
    async with service_unit() as conn:
        return await sender.sweep(conn, SWEEP_GRACE)
