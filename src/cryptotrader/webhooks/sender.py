"""One attempt of one delivery, as the ``webhooks.deliver`` job makes it.

The attempt is read in one transaction, sent with none open (a receiver may take 15 s),
and recorded in another, which also defers the next attempt's job (or fails the delivery
after :data:`~cryptotrader.webhooks.delivery.MAX_ATTEMPTS`, or disables the endpoint on
410 Gone). A job whose attempt was already made (a redelivery's twin, a rerun) sends
nothing: the record's check on the attempt number makes each attempt happen once.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx2
from psycopg_pool import AsyncConnectionPool

from cryptotrader.config import Settings
from cryptotrader.db.calls import fetch_one
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn, as_service
from cryptotrader.webhooks.delivery import (
    MAX_ATTEMPTS,
    TIMEOUT,
    Attempt,
    GuardSettings,
    deliver,
    next_delay,
)

Q = load_queries("cryptotrader.webhooks")
_rng = random.SystemRandom()


def guard_of(settings: Settings) -> GuardSettings:
    """The SSRF guard's openings the operator configured (none by default)."""
    return GuardSettings(
        allow_private=settings.webhook_allow_private,
        allow_loopback=settings.webhook_allow_loopback,
    )


@asynccontextmanager
async def _client(client: httpx2.AsyncClient | None) -> AsyncIterator[httpx2.AsyncClient]:
    if client is not None:
        yield client
        return
    # no proxies from the environment: the guard checks the host we connect to
    async with httpx2.AsyncClient(trust_env=False) as own:
        yield own


def _occurred_at(payload: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(str(payload["timestamp"])).timestamp())


async def _attempt(
    row: dict[str, Any],
    guard: GuardSettings,
    client: httpx2.AsyncClient,
    timeout: float,  # noqa: ASYNC109 - the request's own timeout
) -> Attempt | None:
    """The attempt's result; None when the endpoint is disabled (nothing is sent)."""
    if not row["enabled"] or row["secret"] is None:
        return None
    secrets = [row["secret"]] + ([row["previous_secret"]] if row["previous_secret"] else [])
    payload = row["payload"]
    return await deliver(
        client,
        row["url"],
        secrets,
        row["msg_id"],
        row["event_type"],
        payload["data"],
        guard=guard,
        timeout=timeout,
        occurred_at=_occurred_at(payload),
    )


async def send(
    pool: AsyncConnectionPool[Conn],
    delivery_id: UUID,
    attempt: int,
    *,
    guard: GuardSettings,
    client: httpx2.AsyncClient | None = None,
    rng: random.Random = _rng,
    timeout: float = TIMEOUT,  # noqa: ASYNC109 - the request's own timeout
) -> str | None:
    """Make attempt ``attempt`` of a delivery and record it. Returns the delivery's status
    after it, or None when this attempt was not due (made already, or the delivery is gone
    or finished)."""
    async with as_service(pool) as conn:
        row = await fetch_one(conn, Q["delivery_to_send"], {"id": delivery_id})
    if row is None or row["status"] != "pending" or row["attempts"] != attempt - 1:
        return None
    async with _client(client) as http:
        result = await _attempt(row, guard, http, timeout)
    params: dict[str, Any] = {
        "id": delivery_id,
        "attempt": attempt,
        "max_attempts": MAX_ATTEMPTS,
        "delay": 0.0,
    }
    if result is None:
        params |= {"outcome": "skipped", "url": row["url"], "status_code": None}
        params |= {"latency_ms": 0, "error": "the endpoint is disabled"}
    else:
        params |= {
            "outcome": result.outcome,
            "url": result.url,
            "status_code": result.status_code,
            "latency_ms": round(result.latency_ms),
            "error": result.error,
        }
        if result.outcome == "retry":
            params["delay"] = next_delay(attempt - row["round_start"], result.retry_after, rng)
    async with as_service(pool) as conn:
        recorded = await fetch_one(conn, Q["record_attempt"], params)
    return None if recorded is None else recorded["status"]


async def sweep(conn: Conn, grace_seconds: float) -> int:
    """Give a job again to each pending delivery overdue by ``grace_seconds`` that has none
    waiting or running; returns how many."""
    row = await fetch_one(conn, Q["sweep"], {"grace": grace_seconds})
    return int(row["deferred"]) if row else 0
