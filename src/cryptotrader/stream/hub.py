"""The stream's hub: one listener per process, fanned out to the websockets.

A dedicated connection (``service_role``) LISTENs on ``ct_prices`` (market/cache.py) and,
every ``stream_poll_interval``, reads the order and notification events that migration
0012's triggers append to the outbox private.stream_events (committed ones only), and
fans each event out to the subscribed clients.
Each client has a bounded queue filled with ``put_nowait``: the listener never waits for a
client, and a client that does not read fast enough is dropped (close code 1013) without
slowing anyone else down. The listener reconnects with backoff; after a reconnect every
client gets a ``resync``, since events in between were missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI
from psycopg import sql
from psycopg.conninfo import make_conninfo
from pydantic import ValidationError

from cryptotrader.config import Settings
from cryptotrader.db.calls import execute, fetch_all, fetch_one
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn, service_connection
from cryptotrader.market.cache import PRICE_CHANNEL
from cryptotrader.stream.protocol import (
    CLOSE_GOING_AWAY,
    CLOSE_TOO_SLOW,
    Resync,
    Subscribed,
    Unsubscribed,
    now,
)
from cryptotrader.stream.schemas import Event, NotificationEvent, OrderEvent, PricesEvent

log = logging.getLogger(__name__)
Q = load_queries("cryptotrader.stream")

LISTENER_APPLICATION_NAME = "cryptotrader-stream"
GAP_PATIENCE = 10.0  # seconds an unseen id below the newest is waited for (a late commit)
MAX_GAPS = 100_000
PRUNE_EVERY = 10.0  # seconds between deletions of the outbox's old events
OUTBOX_TIMEOUT = 10.0  # a dead connection fails a read of the outbox rather than hanging

# The event each source sends: NOTIFY ``ct_prices``, the outbox's channels.
_EVENTS: dict[str, type[Event]] = {
    PRICE_CHANNEL: PricesEvent,
    "prices": PricesEvent,
    "orders": OrderEvent,
    "notifications": NotificationEvent,
}


class Client:
    """One websocket's subscriptions and outgoing queue (ready-to-send JSON text)."""

    def __init__(self, user_id: str, expires_at: float, queue_size: int) -> None:
        self.user_id = user_id
        self.expires_at = expires_at  # epoch seconds: the access token's exp
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self.channels: set[str] = set()
        self.symbols: frozenset[str] = frozenset()  # the price filter; empty: every symbol
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = asyncio.Event()

    def offer(self, text: str) -> bool:
        """Queue a message without waiting; a full queue drops the client."""
        if self.close_code is not None:
            return False
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.close(CLOSE_TOO_SLOW, "too slow: the message queue is full")
            return False
        return True

    def close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self.closed.set()

    def state(self, subscribed: bool) -> str:
        """The ``subscribed`` (or ``unsubscribed``) answer: the current subscriptions."""
        kind = Subscribed if subscribed else Unsubscribed
        return kind(channels=sorted(self.channels), symbols=sorted(self.symbols)).text()


class StreamHub:
    """The process's LISTEN connection and its clients."""

    def __init__(self, conninfo: str, settings: Settings) -> None:
        self.conninfo = make_conninfo(conninfo, application_name=LISTENER_APPLICATION_NAME)
        self.settings = settings
        self.clients: set[Client] = set()
        self._by_user: dict[str, set[Client]] = {}
        self.listening = asyncio.Event()
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None
        self._last = 0  # the newest outbox event id delivered
        self._gaps: dict[int, float] = {}  # unseen ids below _last -> when first missed

    # ---------------------------------------------------------------- clients

    def add(self, client: Client) -> None:
        self.clients.add(client)
        self._by_user.setdefault(client.user_id, set()).add(client)

    def remove(self, client: Client) -> None:
        self.clients.discard(client)
        mine = self._by_user.get(client.user_id)
        if mine is not None:
            mine.discard(client)
            if not mine:
                del self._by_user[client.user_id]

    # ---------------------------------------------------------------- fan-out

    def dispatch(self, channel: str, payload: str) -> None:
        """Fan one event (the JSON text of a notification or an outbox row) out to the
        clients that want it; never waits."""
        model = _EVENTS.get(channel)
        if model is None or not self.clients:
            return
        try:
            data = json.loads(payload)
            listeners = None if model is PricesEvent else self._by_user.get(str(data["user_id"]))
            if model is not PricesEvent and not listeners:
                return  # nobody of this user listens here: not worth a model
            event = model.model_validate(data)
        except (ValueError, RecursionError, ValidationError, TypeError, KeyError):
            log.warning("stream: ignoring a %s event that is not one", channel)
            return
        if isinstance(event, PricesEvent):
            self._fan_prices(event)
            return
        name = "orders" if isinstance(event, OrderEvent) else "notifications"
        text = event.text()
        for client in list(listeners or ()):
            if name in client.channels:
                client.offer(text)

    def _fan_prices(self, event: PricesEvent) -> None:
        text = event.text()
        filtered: dict[frozenset[str], str | None] = {}  # one message per distinct filter
        for client in list(self.clients):
            if "prices" not in client.channels:
                continue
            if not client.symbols:
                client.offer(text)
                continue
            if client.symbols not in filtered:
                subset = event.only(client.symbols)
                filtered[client.symbols] = subset.text() if subset is not None else None
            mine = filtered[client.symbols]
            if mine is not None:
                client.offer(mine)

    def broadcast(self, text: str) -> None:
        for client in list(self.clients):
            client.offer(text)

    # ---------------------------------------------------------------- the listener

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stream-listener")

    async def stop(self) -> None:
        for client in list(self.clients):
            client.close(CLOSE_GOING_AWAY, "server shutting down")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = self.settings.stream_reconnect_initial
        connected_before = False
        while True:
            try:
                async with service_connection(self.conninfo, connect_timeout=10) as conn:
                    await self._subscribe(conn)
                    delay = self.settings.stream_reconnect_initial
                    if connected_before:
                        self.reconnects += 1
                        log.info("stream: listener reconnected")
                    if connected_before or self.clients:  # they may have missed events
                        reason = "the stream reconnected; events may have been missed"
                        self.broadcast(Resync(at=now(), reason=reason).text())
                    connected_before = True
                    await self._listen(conn)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                log.warning("stream: listener connection lost (%s); retrying", reason)
            except Exception:
                log.exception("stream: listener failed; retrying")
            finally:
                self.listening.clear()
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 (jitter)
            delay = min(delay * 2, self.settings.stream_reconnect_max)

    async def _subscribe(self, conn: Conn) -> None:
        """LISTEN, and deliver the outbox's events from now on."""
        await execute(conn, sql.SQL(Q["listen"]).format(sql.Identifier(PRICE_CHANNEL)))
        row = await fetch_one(conn, Q["last_event_id"])
        self._last = int(row["last"]) if row else 0
        self._gaps = {}
        self.listening.set()

    async def _listen(self, conn: Conn) -> None:
        pruned = time.monotonic()
        while True:
            async for notify in conn.notifies(timeout=self.settings.stream_poll_interval):
                try:
                    self.dispatch(notify.channel, notify.payload)
                except Exception:
                    log.exception("stream: cannot dispatch a %s notification", notify.channel)
                await asyncio.sleep(0)  # let the clients' writers run between events
            # the outbox; a dead connection fails here rather than leaving us waiting
            async with asyncio.timeout(OUTBOX_TIMEOUT):
                await self._read_outbox(conn)
                if time.monotonic() - pruned > PRUNE_EVERY:
                    await execute(conn, Q["prune_events"])
                    pruned = time.monotonic()

    async def _read_outbox(self, conn: Conn) -> None:
        """Deliver new events once each. Ids are taken before commit, so one below the
        newest seen may still appear (its transaction commits late): such gaps are asked
        for again until GAP_PATIENCE passes (a rolled-back transaction never fills one)."""
        if not self.clients:  # nobody to deliver to: only keep up with the outbox's end
            row = await fetch_one(conn, Q["last_event_id"])
            self._last, self._gaps = max(self._last, int(row["last"]) if row else 0), {}
            return
        moment = time.monotonic()
        rows = await fetch_all(
            conn, Q["read_events"], {"last": self._last, "gaps": list(self._gaps)}
        )
        for row in rows:
            event_id = int(row["id"])
            if event_id in self._gaps:
                del self._gaps[event_id]
            elif event_id > self._last:
                if event_id - self._last <= MAX_GAPS:
                    self._gaps.update(dict.fromkeys(range(self._last + 1, event_id), moment))
                self._last = event_id
            else:
                continue
            try:
                self.dispatch(row["channel"], row["payload"])
            except Exception:
                log.exception("stream: cannot dispatch a %s event", row["channel"])
        for gap, since in list(self._gaps.items()):
            if moment - since > GAP_PATIENCE:
                del self._gaps[gap]


@asynccontextmanager
async def listening(app: FastAPI, conninfo: str, settings: Settings) -> AsyncIterator[StreamHub]:
    """Run the process's stream hub for the app's lifetime (``app.state.stream_hub``)."""
    hub = StreamHub(conninfo, settings)
    hub.start()
    app.state.stream_hub = hub
    try:
        yield hub
    finally:
        await hub.stop()
        del app.state.stream_hub
