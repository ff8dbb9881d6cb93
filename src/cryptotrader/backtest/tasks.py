"""The backtest worker: claims pending sessions and runs them, one at a time per worker.

Any number of workers (processes, hosts) may poll: a session is claimed with ``FOR UPDATE
SKIP LOCKED``, so each runs once. In the claiming transaction the worker also takes the
session's **lease**: a session-level advisory lock of its connection, held for the whole
run. A worker that dies loses its connection and with it the lease; an idle worker runs
:func:`fail_orphans` every ``orphan_interval`` seconds, which fails running sessions whose
lease nobody holds (with an error saying so), so no session stays ``running`` for ever.
A worker shut down cleanly stops its run at the next progress update and puts the
session back to ``pending`` for another worker.

While a session runs, its progress (0..1) is written at most every
``progress_interval`` seconds in a transaction of its own, so other connections see it;
the same update reads the status, and a session found ``cancelled`` (or deleted) stops
there. The CPU work runs in a thread (a sweep: in processes), so the event loop stays
free. Its results are written only if the session is still ``running`` then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from pydantic import ValidationError

from cryptotrader.audit.schemas import Actor
from cryptotrader.backtest.schemas import SessionRequest
from cryptotrader.backtest.service import (
    Outcome,
    Plan,
    Q,
    create_backtest,
    describe_error,
    execute_plan,
    load_bars,
    plan_session,
    store_outcome,
)
from cryptotrader.db.calls import execute, fetch_all, fetch_one
from cryptotrader.db.session import Conn, service_connection
from cryptotrader.errors import DomainError
from cryptotrader.strategies.base import Bars

log = logging.getLogger(__name__)

LEASE_KEY = 0x43544254  # "CTBT": the first key of every session's lease (an int4 pair)
# "CTWORK": held shared by each worker's connection for its whole life, so /health counts
# the workers present (a bigint key: never one of the int4-pair leases)
WORKER_LOCK_KEY = 0x43_54_57_4F_52_4B
ORPHAN_ERROR = "the worker running this session stopped before it finished; run it again"


# ------------------------------------------------------------------ claims and leases


async def claim_next(conn: Conn) -> dict[str, Any] | None:
    """The oldest pending session, now ``running`` and leased to ``conn``'s database
    session (as the service role, in a transaction of its own). ``conn`` must stay open
    until :func:`release_lease`."""
    return _leased(await fetch_one(conn, Q["claim_next"], {"lease": LEASE_KEY}))


async def claim_session(conn: Conn, session_id: UUID) -> dict[str, Any] | None:
    """As :func:`claim_next` for one given session; None if it is not pending."""
    return _leased(
        await fetch_one(conn, Q["claim_session"], {"id": session_id, "lease": LEASE_KEY})
    )


def _leased(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is not None and not row.pop("leased"):
        # another session's lease has the same hash and is held: leave this one for later
        raise LeaseTaken(f"lease of session {row['id']} is taken")
    return row


class LeaseTaken(Exception):
    """Raised to roll a claim back (practically never: a 32-bit hash collision)."""


async def release_lease(conn: Conn, session_id: UUID) -> None:
    await fetch_one(conn, Q["release_lease"], {"id": session_id, "lease": LEASE_KEY})


async def fail_orphans(conn: Conn) -> list[UUID]:
    """Fail the running sessions whose runner died (nobody holds their lease). Call it on
    a connection that holds no lease itself (a lock is re-entrant within its session)."""
    rows = await fetch_all(conn, Q["fail_orphans"], {"lease": LEASE_KEY, "error": ORPHAN_ERROR})
    return [r["id"] for r in rows]


class SessionStopped(Exception):
    """Raised in the engine's thread to stop a run (cancelled, or the worker stops)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class RunReport:
    """How a run ended: ``completed``, ``failed`` (``error``), ``cancelled``, or ``pending``
    again (its worker stopped)."""

    session_id: UUID
    status: str
    error: str | None = None
    plan: Plan | None = None
    outcome: Outcome | None = None
    bars: int = 0


class _Watch:
    """Shared between the event loop and the engine's thread: the latest fraction done,
    and the reason to stop, raised in the thread at its next progress report."""

    def __init__(self) -> None:
        self.fraction = 0.0
        self._stop: str | None = None
        self._lock = threading.Lock()

    def report(self, fraction: float) -> None:
        self.fraction = min(max(fraction, self.fraction), 1.0)
        with self._lock:
            if self._stop is not None:
                raise SessionStopped(self._stop)

    def stop(self, reason: str) -> None:
        with self._lock:
            self._stop = self._stop or reason


async def _run_watched(
    conn: Conn,
    session_id: UUID,
    bars: Bars,
    plan: Plan,
    *,
    stop: asyncio.Event | None,
    on_progress: Callable[[float], None] | None,
    interval: float,
) -> Outcome:
    """``execute_plan`` in a thread, writing its progress every ``interval`` seconds (each
    in its own transaction) and stopping it when the session is no longer running."""
    watch = _Watch()
    work = asyncio.ensure_future(asyncio.to_thread(execute_plan, bars, plan, watch.report))
    try:
        while not work.done():
            await asyncio.wait({work}, timeout=interval)
            async with conn.transaction():
                row = await fetch_one(
                    conn,
                    Q["set_progress"],
                    {"id": session_id, "progress": Decimal(f"{watch.fraction:.4f}")},
                )
            if row is None or row["status"] != "running":
                watch.stop("cancelled")
            elif stop is not None and stop.is_set():
                watch.stop("worker stopping")
            if on_progress is not None:
                on_progress(watch.fraction)
        return work.result()
    except BaseException:
        watch.stop("interrupted")
        raise


async def _run_claimed(
    conn: Conn,
    session: dict[str, Any],
    report: RunReport,
    *,
    bars: Bars | None,
    stop: asyncio.Event | None,
    on_progress: Callable[[float], None] | None,
    processes: int | None,
    progress_interval: float,
) -> None:
    """Plan, read the bars, run under watch and store: :func:`run_session`'s work, whose
    failures it turns into the session's status."""
    async with conn.transaction():
        report.plan = plan = await plan_session(
            conn, session, processes=processes, csv=bars is not None
        )
        if bars is None:
            bars = await load_bars(
                conn,
                session["symbol"],
                session["timeframe"],
                session["start_date"],
                session["end_date"],
            )
    report.bars = len(bars)
    report.outcome = outcome = await _run_watched(
        conn,
        report.session_id,
        bars,
        plan,
        stop=stop,
        on_progress=on_progress,
        interval=progress_interval,
    )
    async with conn.transaction():
        stored = await store_outcome(conn, session, plan, outcome)
    report.status = "completed" if stored else "cancelled"


async def run_session(
    conn: Conn,
    session: dict[str, Any],
    *,
    bars: Bars | None = None,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[float], None] | None = None,
    processes: int | None = None,
    progress_interval: float = 0.5,
) -> RunReport:
    """Run a session claimed on ``conn`` (an autocommit connection as the service role
    that holds its lease) and release the lease. ``bars`` are the session's bars when the
    caller has them (a CSV file); otherwise they are read from ``market_candles``.

    Never raises for a failure of the run itself: the session is ``failed`` with the
    error. When ``stop`` is set the run stops at its next progress update and the session
    goes back to ``pending``. Only a lost connection propagates (the session's lease goes
    with it, and :func:`fail_orphans` fails it later)."""
    sid: UUID = session["id"]
    report = RunReport(sid, "running")
    try:
        await _run_claimed(
            conn,
            session,
            report,
            bars=bars,
            stop=stop,
            on_progress=on_progress,
            processes=processes,
            progress_interval=progress_interval,
        )
    except SessionStopped as exc:
        report.status = "cancelled"
        if exc.reason == "worker stopping":
            async with conn.transaction():
                await execute(conn, Q["requeue_session"], {"id": sid})
            report.status = "pending"
    except (Exception, asyncio.CancelledError) as exc:
        report.status, report.error = "failed", describe_error(exc)
        if isinstance(exc, asyncio.CancelledError):
            report.error = "interrupted"
        elif not isinstance(exc, DomainError | ValidationError):
            log.exception("backtest session %s failed", sid)
        async with conn.transaction():
            await execute(conn, Q["fail_session"], {"id": sid, "error": report.error})
        if isinstance(exc, asyncio.CancelledError):
            raise
    finally:
        await release_lease(conn, sid)
    return report


async def run_now(
    conninfo: str,
    actor: Actor,
    user_id: UUID,
    request: SessionRequest,
    *,
    bars: Bars | None = None,
    on_progress: Callable[[float], None] | None = None,
    processes: int | None = None,
) -> tuple[dict[str, Any], RunReport]:
    """Create a session for ``user_id`` on ``actor``'s behalf (audited as the API's) and
    run it here at once (the CLI's ``--user``): created and claimed in one transaction, so
    no worker can take it. Raises the request's errors before anything is written."""
    async with service_connection(conninfo) as conn:
        async with conn.transaction():
            created = await create_backtest(conn, actor, user_id, request)
            session = await claim_session(conn, created["id"])
        if session is None:  # pragma: no cover - created pending just now, in this transaction
            raise RuntimeError(f"backtest session {created['id']} vanished")
        report = await run_session(
            conn, session, bars=bars, on_progress=on_progress, processes=processes
        )
    return session, report


# ------------------------------------------------------------------ the worker


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


@dataclass
class BacktestWorker:
    """Polls for pending sessions every ``poll_interval`` seconds (at once again after
    finishing one) and runs them one at a time."""

    conninfo: str  # the app role's
    poll_interval: float = 1.0
    progress_interval: float = 0.5
    orphan_interval: float = 10.0
    processes: int | None = None
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    finished: int = field(default=0, init=False)

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set; reconnects when the database goes away. Its connection
        holds :data:`WORKER_LOCK_KEY` shared meanwhile: the sign that a worker is there."""
        while not stop.is_set():
            try:
                async with service_connection(self.conninfo) as conn:
                    await execute(conn, Q["hold_worker_lock"], {"key": WORKER_LOCK_KEY})
                    await self._serve(conn, stop)
            except psycopg.OperationalError as exc:
                log.warning("backtest worker: database unavailable (%s); retrying", exc)
            await _sleep(stop, self.poll_interval)

    async def _serve(self, conn: Conn, stop: asyncio.Event) -> None:
        next_orphan_check = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_orphan_check:
                async with conn.transaction():
                    for sid in await fail_orphans(conn):
                        log.warning("backtest session %s: its worker died; failed", sid)
                next_orphan_check = time.monotonic() + self.orphan_interval
            if await self.run_next(conn, stop) is None:
                await _sleep(stop, self.poll_interval)

    async def run_next(self, conn: Conn, stop: asyncio.Event | None = None) -> RunReport | None:
        """Claim and run the oldest pending session on ``conn`` (see
        :func:`service_connection`); None when there is none."""
        try:
            async with conn.transaction():
                session = await claim_next(conn)
        except LeaseTaken:
            return None
        if session is None:
            return None
        log.info("backtest session %s: running on %s", session["id"], self.identity)
        started = time.perf_counter()
        report = await run_session(
            conn,
            session,
            stop=stop,
            processes=self.processes,
            progress_interval=self.progress_interval,
        )
        self.finished += 1
        log.info(
            "backtest session %s: %s in %.1f s%s",
            session["id"],
            report.status,
            time.perf_counter() - started,
            f" ({report.error})" if report.error else "",
        )
        return report
