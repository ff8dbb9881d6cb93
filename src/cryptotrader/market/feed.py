"""The market feed worker: refresh the price cache, then let the trading engine react.

Exactly one feed is active across any number of worker processes: the leader holds a
session-level advisory lock on its own connection, and does all its writes on that same
connection, so a leader that lost its connection (and with it the lock) cannot write.
Standbys poll for the lock every ``standby_poll`` seconds and take over within that time
after the leader dies.

Each refresh: fetch quotes from the provider (a failure keeps the last good prices,
which then show as stale, and backs off), upsert them, fold them into the live 1-minute
candles and NOTIFY ``ct_prices`` in one transaction, then run ``process_market_tick`` for
every symbol whose price changed, each in its own transaction (one symbol's failure does
not hold up the others).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from decimal import Decimal

import psycopg

from cryptotrader.db.calls import fetch_one
from cryptotrader.db.session import Conn, service_connection
from cryptotrader.errors import DomainError
from cryptotrader.market import cache
from cryptotrader.market.schemas import MarketClock, ProviderError, QuoteProvider, RateLimited
from cryptotrader.trading import service as trading

log = logging.getLogger(__name__)

FEED_LOCK_KEY = 0x43_54_46_45_45_44  # "CTFEED"


@dataclass
class RefreshResult:
    symbols_updated: int = 0
    orders_processed: int = 0
    error: str | None = None
    retry_after: float = 0.0
    seconds: float = 0.0


@dataclass
class MarketFeed:
    conninfo: str  # the app role's
    provider: QuoteProvider
    interval: float = 1.0
    standby_poll: float = 1.0
    max_backoff: float = 300.0
    live_bars: bool = True  # fold quotes into 1-minute candles (not for a replay)
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    is_leader: bool = field(default=False, init=False)
    last: RefreshResult | None = field(default=None, init=False)

    async def run(self, stop: asyncio.Event) -> None:
        """Lead when possible, stand by otherwise, until ``stop`` is set."""
        while not stop.is_set():
            try:
                async with service_connection(self.conninfo) as conn:
                    await self._lead_or_wait(conn, stop)
            except psycopg.OperationalError as exc:
                log.warning("market feed: database unavailable (%s); retrying", exc)
            self.is_leader = False
            await _sleep(stop, self.standby_poll)

    async def _lead_or_wait(self, conn: Conn, stop: asyncio.Event) -> None:
        while not stop.is_set():
            row = await fetch_one(conn, cache.Q["try_feed_lock"], {"key": FEED_LOCK_KEY})
            if row is not None and row["ok"]:
                break
            await _sleep(stop, self.standby_poll)
        else:
            return
        self.is_leader = True
        log.info("market feed: %s leads with provider %s", self.identity, self.provider.name)
        async with conn.transaction():
            await conn.execute(
                cache.Q["feed_status_claim"],
                {"leader": self.identity, "provider": self.provider.name},
            )
        delay = self.interval
        while not stop.is_set():
            result = await self.refresh(conn)
            delay = self._next_delay(result, delay)
            await _sleep(stop, delay)

    def _next_delay(self, result: RefreshResult, previous: float) -> float:
        if result.error is None:
            return self.interval
        return min(self.max_backoff, max(previous * 2, self.interval, result.retry_after))

    async def refresh(self, conn: Conn) -> RefreshResult:
        """One refresh on the leader's connection."""
        started = time.perf_counter()
        result = RefreshResult()
        clock = None
        try:
            async with conn.transaction():
                coins = await cache.tracked_coins(conn)
            quotes = await self.provider.fetch_quotes(coins)
            # the market's time of these quotes (a replay's or a simulation's own; else now):
            # the bot runner's clock
            if isinstance(self.provider, MarketClock):
                clock = self.provider.market_time()
            async with conn.transaction():
                changed = await cache.store_quotes(conn, quotes, live_bars=self.live_bars)
            result.symbols_updated = len(quotes)
            result.orders_processed = await self._process_ticks(conn, changed)
        except RateLimited as exc:
            result.error = f"rate limited: {exc}"
            result.retry_after = exc.retry_after
        except ProviderError as exc:
            result.error = str(exc)
        result.seconds = time.perf_counter() - started
        if result.error:
            log.warning("market feed: %s (keeping the last good prices)", result.error)
        async with conn.transaction():
            await conn.execute(
                cache.Q["feed_status_refresh"],
                {
                    "leader": self.identity,
                    "error": result.error,
                    "symbols": result.symbols_updated,
                    "orders": result.orders_processed,
                    "market_time": clock,
                },
            )
        self.last = result
        return result

    async def _process_ticks(self, conn: Conn, changed: dict[str, Decimal]) -> int:
        processed = 0
        for symbol, price in changed.items():
            try:
                async with conn.transaction():
                    processed += await trading.process_tick(conn, symbol, price)
            except psycopg.OperationalError:
                raise  # the connection (and with it the lead) is gone
            except (psycopg.Error, DomainError) as exc:
                log.error("market feed: tick processing for %s failed: %s", symbol, exc)
        return processed


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, waking early when ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
