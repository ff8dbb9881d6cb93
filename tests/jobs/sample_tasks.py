"""Tasks for the job machinery's tests (a task module as a domain's ``tasks.py`` is): each
leaves an audit row per run that does its work, so a test sees what ran, how often."""

from __future__ import annotations

import asyncio

import procrastinate
import psycopg

from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import SYSTEM
from cryptotrader.jobs.runtime import TRANSIENT_ERRORS, TRANSIENT_RETRY, service_unit

blueprint = procrastinate.Blueprint()
# the transient retry without its waits: three runs in all
QUICK_RETRY = procrastinate.RetryStrategy(max_attempts=2, retry_exceptions=TRANSIENT_ERRORS)


async def ran(action: str, **details: object) -> None:
    """Record one run (an audit row ``test.<action>``) in a task's unit of work."""
    async with service_unit() as conn:
        await audit.record(conn, SYSTEM, f"test.{action}", "job", None, details)


@blueprint.task(name="sample.ok")
async def ok(n: int = 0) -> None:
    await ran("ok", n=n)


@blueprint.task(name="sample.flaky", pass_context=True, retry=TRANSIENT_RETRY)
async def flaky(context: procrastinate.JobContext) -> None:
    """Loses its connection on the first attempt, works on the second."""
    if context.job.attempts == 0:
        raise psycopg.OperationalError("server closed the connection unexpectedly")
    await ran("flaky", attempt=context.job.attempts + 1)


@blueprint.task(name="sample.broken")
async def broken(reason: str = "boom") -> None:
    """A bug: not transient, so never retried."""
    raise ValueError(reason)


@blueprint.task(name="sample.unreachable", retry=QUICK_RETRY)
async def unreachable() -> None:
    """Transient every time: fails after its retries."""
    raise psycopg.OperationalError("connection refused")


@blueprint.task(name="sample.slow")
async def slow(seconds: float, tag: str = "") -> None:
    await asyncio.sleep(seconds)
    await ran("slow", tag=tag)
