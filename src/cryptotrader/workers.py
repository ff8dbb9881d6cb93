"""Background workers, runnable in the API process (`serve`) or on their own (`worker`).
They coordinate only through PostgreSQL, so any number of processes may run them:
``market`` (the price feed, one leader), ``backtests`` (pending backtest sessions,
each run once by whichever worker claims it), ``bots`` (the bot runner: each active bot
decides once per closed bar, whichever worker claims it), ``copies`` (copy trading: each
trader's fills fanned out to their copiers, in order, once), ``alerts`` (each price
refresh's alerts evaluated once, in order) and ``jobs`` (procrastinate's
worker: the domains' tasks and periodic jobs, each job run once, each period deferred
once)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import psycopg
from psycopg_pool import AsyncConnectionPool

from cryptotrader.config import Settings
from cryptotrader.db.errors import DatabaseError
from cryptotrader.db.runtime import app_pool
from cryptotrader.db.session import Conn, as_service
from cryptotrader.db.target import DatabaseTarget
from cryptotrader.market.feed import MarketFeed
from cryptotrader.market.providers import build_provider, refresh_interval

log = logging.getLogger(__name__)
WORKERS = ("market", "backtests", "bots", "copies", "alerts", "jobs")


async def build_market_feed(settings: Settings, target: DatabaseTarget) -> MarketFeed:
    async with app_pool(target, settings) as pool, as_service(pool) as conn:
        provider = await build_provider(settings, conn)
    return MarketFeed(
        conninfo=target.app,
        provider=provider,
        interval=refresh_interval(settings),
        live_bars=settings.market_provider != "replay",  # it plays bars that are stored
    )


async def start_market_feed(
    settings: Settings, target: DatabaseTarget, stop: asyncio.Event
) -> MarketFeed | None:
    """The feed, once the database answers (retrying with backoff until ``stop``)."""
    delay = 1.0
    while not stop.is_set():
        try:
            return await build_market_feed(settings, target)
        except (psycopg.OperationalError, DatabaseError) as exc:
            log.warning("market feed: cannot start yet (%s); retrying in %.0f s", exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 30.0)
    return None


async def on_own_pool(
    name: str,
    settings: Settings,
    target: DatabaseTarget,
    stop: asyncio.Event,
    work: Callable[[AsyncConnectionPool[Conn]], Awaitable[None]],
) -> None:
    """``work`` on a pool of its own until ``stop``, waiting (with backoff) for the database
    to answer first."""
    delay = 1.0
    while not stop.is_set():
        try:
            async with app_pool(target, settings) as pool:
                await work(pool)
            return
        except (psycopg.OperationalError, DatabaseError) as exc:
            log.warning("%s: cannot start yet (%s); retrying in %.0f s", name, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 30.0)


async def run_bots(settings: Settings, target: DatabaseTarget, stop: asyncio.Event) -> None:
    """The bot runner (with its LLM client), until ``stop``."""
    from cryptotrader.bots.llm import from_settings
    from cryptotrader.bots.runner import BotRunner

    async def work(pool: AsyncConnectionPool[Conn]) -> None:
        llm = from_settings(settings)
        runner = BotRunner(
            pool=pool,
            llm=llm,
            lease=max(180.0, 3 * settings.llm_timeout),
            lateness=settings.bot_lateness,
            poll=settings.bot_poll,
        )
        try:
            await runner.run(stop)
        finally:
            await llm.aclose()

    await on_own_pool("bots", settings, target, stop, work)


async def run_copies(settings: Settings, target: DatabaseTarget, stop: asyncio.Event) -> None:
    """The copy worker, until ``stop``."""
    from cryptotrader.social.copying import CopyWorker

    async def work(pool: AsyncConnectionPool[Conn]) -> None:
        worker = CopyWorker(
            pool,
            poll=settings.copy_poll,
            lease=settings.copy_lease,
            concurrency=settings.copy_concurrency,
        )
        await worker.run(stop)

    await on_own_pool("copies", settings, target, stop, work)


async def run_alerts(settings: Settings, target: DatabaseTarget, stop: asyncio.Event) -> None:
    """The alert evaluator, until ``stop``."""
    from cryptotrader.alerts.worker import AlertWorker

    async def work(pool: AsyncConnectionPool[Conn]) -> None:
        await AlertWorker(pool, poll=settings.alert_poll, stale_after=settings.alert_stale).run(
            stop
        )

    await on_own_pool("alerts", settings, target, stop, work)


async def run_workers(
    settings: Settings, target: DatabaseTarget, stop: asyncio.Event, only: set[str] | None = None
) -> None:
    """Run the chosen workers until ``stop`` is set."""
    chosen = only if only else set(WORKERS)
    unknown = chosen - set(WORKERS)
    if unknown:
        raise ValueError(
            f"unknown worker(s): {', '.join(sorted(unknown))}; known: {', '.join(WORKERS)}"
        )
    tasks = []
    if "backtests" in chosen:
        from cryptotrader.backtest.tasks import BacktestWorker

        backtests = BacktestWorker(conninfo=target.app)
        tasks.append(asyncio.create_task(backtests.run(stop), name="backtests"))
    if "jobs" in chosen:
        from cryptotrader.jobs.runtime import run_jobs

        tasks.append(asyncio.create_task(run_jobs(target.app, stop), name="jobs"))
    if "bots" in chosen:
        tasks.append(asyncio.create_task(run_bots(settings, target, stop), name="bots"))
    if "copies" in chosen:
        tasks.append(asyncio.create_task(run_copies(settings, target, stop), name="copies"))
    if "alerts" in chosen:
        tasks.append(asyncio.create_task(run_alerts(settings, target, stop), name="alerts"))
    if "market" in chosen:
        feed = await start_market_feed(settings, target, stop)
        if feed is not None:
            tasks.append(asyncio.create_task(feed.run(stop), name="market-feed"))
    await asyncio.gather(*tasks)
