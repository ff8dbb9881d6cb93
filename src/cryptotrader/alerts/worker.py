"""The alert worker: evaluates each price refresh's ticks as they come, exactly once.

Any number of workers may run: the evaluator locks the oldest open tick, so two workers
never evaluate one tick together and ticks are evaluated in their order (a cross is
against the previous price, a cooldown against the last firing); each firing's unique key
makes a re-run after a crash fire nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import psycopg
from psycopg_pool import AsyncConnectionPool

from cryptotrader.alerts import service
from cryptotrader.db.session import Conn, as_service
from cryptotrader.errors import DomainError

log = logging.getLogger(__name__)


@dataclass
class AlertWorker:
    pool: AsyncConnectionPool[Conn]
    poll: float = 0.2
    stale_after: float = 120.0
    prune_every: float = 300.0

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        while not stop.is_set():
            busy = 0
            try:
                busy = await self.run_once()
                if loop.time() >= next_prune:
                    async with as_service(self.pool) as conn:
                        await service.prune(conn)
                    next_prune = loop.time() + self.prune_every
            except (psycopg.OperationalError, DomainError) as exc:
                log.warning("alerts: round failed (%s); retrying", exc)
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll)

    async def run_once(self) -> int:
        """One transaction of evaluation; returns how many ticks it took."""
        async with as_service(self.pool) as conn:
            done = await service.evaluate(conn, stale_after=self.stale_after)
        if done.fired:
            log.info("alerts: %d tick(s), %d alert(s) fired", done.ticks, done.fired)
        return done.ticks
