"""The live stream: ``GET /api/v1/stream``, a websocket of prices, the caller's own orders
and notifications.

One listener per process: a dedicated connection LISTENs on ``ct_prices`` (market/cache.py)
and, every ``poll_interval``, reads the order and notification events that migration 0012's
triggers append to the outbox private.stream_events (committed ones only), and fans each
event out to the subscribed websockets.
Each client has a bounded queue filled with ``put_nowait``: the listener never waits for a
client, and a client that does not read fast enough is dropped (close code 1013) without
slowing anyone else down. The listener reconnects with backoff; after a reconnect every
client gets ``{"type": "resync"}``, since events in between were missed.

Protocol (JSON text frames):

- authenticate with ``?token=<access token>``, an ``Authorization: Bearer`` header, or a
  first message ``{"type": "auth", "token": ...}`` (the query string may end up in access
  logs; the first message does not). A missing, invalid or expired token closes with
  4401; so does the token's expiry, unless a fresh ``auth`` message for the same user
  arrives first. The server answers ``{"type": "ready", ...}``.
- ``{"type": "subscribe", "channels": ["prices", "orders", "notifications"],
  "symbols": ["BTC"]}``: adds channels; with ``prices`` among them, ``symbols`` replaces
  the price filter (absent or empty: every symbol). Answer: ``{"type": "subscribed", ...}``
  with the current channels and symbols.
- ``{"type": "unsubscribe", "channels": [...], "symbols": [...]}``: removes channels, and
  symbols from the price filter (removing its last symbol ends the prices subscription;
  an unfiltered one stays unfiltered).
  Answer: ``{"type": "unsubscribed", ...}`` with the current state.
- ``{"type": "ping"}`` → ``{"type": "pong", "at": ...}`` (an ``id`` is echoed).
- server events: ``prices`` (``{"type": "prices", "at", "prices": {SYMBOL: [usd, aud]}}``,
  filtered), ``order`` and ``notification`` (the caller's own only), ``heartbeat`` every
  ``heartbeat_interval`` seconds, ``resync``, and ``error`` for a message it cannot use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cryptotrader.auth.tokens import InvalidToken, decode_access_token
from cryptotrader.market.cache import PRICE_CHANNEL
from cryptotrader.numbers import PRICE_PLACES, QUANTITY_PLACES, as_fixed

log = logging.getLogger(__name__)

# The client's channel names: prices come by NOTIFY, orders and notifications from the
# outbox private.stream_events (migration 0012 says why).
CHANNELS = ("prices", "orders", "notifications")
_READ_EVENTS = (
    "SELECT id, channel, payload::text AS payload FROM private.stream_events"
    " WHERE id > %(last)s OR id = ANY(%(gaps)s) ORDER BY id LIMIT 5000"
)
_PRUNE_EVENTS = "DELETE FROM private.stream_events WHERE created_at < now() - interval '1 minute'"
GAP_PATIENCE = 10.0  # seconds an unseen id below the newest is waited for (a late commit)
MAX_GAPS = 100_000

CLOSE_GOING_AWAY = 1001
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TOO_SLOW = 1013  # "try again later"
CLOSE_UNAUTHORIZED = 4401

LISTENER_APPLICATION_NAME = "cryptotrader-stream"

router = APIRouter(tags=["stream"])


class StreamConfig(BaseSettings):
    """The stream's knobs (environment ``CRYPTOTRADER_STREAM_*``); the app reads
    ``app.state.stream_config`` when set before startup."""

    model_config = SettingsConfigDict(
        env_prefix="CRYPTOTRADER_STREAM_", env_file=".env", extra="ignore"
    )

    heartbeat_interval: float = Field(default=15.0, gt=0, description="Seconds between beats.")
    queue_size: int = Field(
        default=1000, ge=1, description="Messages a client may fall behind before it is dropped."
    )
    auth_timeout: float = Field(default=10.0, gt=0, description="Wait for an auth message.")
    close_timeout: float = Field(
        default=10.0, gt=0, description="How long a close frame may wait on a client."
    )
    max_symbols: int = Field(default=500, ge=1, description="Symbols one price filter may hold.")
    reconnect_initial: float = Field(default=0.5, gt=0, description="First reconnect delay.")
    reconnect_max: float = Field(default=30.0, gt=0, description="Longest reconnect delay.")
    idle_check: float = Field(
        default=30.0, gt=0, description="The listener checks its connection this often."
    )
    poll_interval: float = Field(
        default=0.05, gt=0, description="Seconds between reads of the order/notification outbox."
    )


def _iso(moment: datetime) -> str:
    """ISO-8601 UTC, as the REST API writes times (``2025-01-15T14:30:00.123456Z``)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _now() -> str:
    return _iso(datetime.now(UTC))


def _epoch_iso(seconds: float) -> str:
    """A token's ``exp`` (epoch seconds) as ISO-8601 UTC."""
    return _iso(datetime.fromtimestamp(seconds, UTC))


# Decimals of the events, written like the REST API's (cryptotrader.numbers): an order's
# amount and fill price (SQL's numeric text in the outbox), a price feed's [usd, aud].
_ORDER_DECIMALS = {"amount": QUANTITY_PLACES, "execution_price": PRICE_PLACES}


def _fixed_prices(prices: dict[str, Any]) -> dict[str, Any]:
    return {
        symbol: [as_fixed(p, PRICE_PLACES) for p in pair] if isinstance(pair, list) else pair
        for symbol, pair in prices.items()
    }


def _dump(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


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

    def state(self, kind: str) -> str:
        return _dump(
            {"type": kind, "channels": sorted(self.channels), "symbols": sorted(self.symbols)}
        )


class StreamHub:
    """The process's LISTEN connection and its clients."""

    def __init__(self, conninfo: str, config: StreamConfig) -> None:
        self.conninfo = make_conninfo(conninfo, application_name=LISTENER_APPLICATION_NAME)
        self.config = config
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
        """Fan one notification out to the clients that want it; never waits."""
        try:
            event = json.loads(payload)
        except ValueError:
            log.warning("stream: ignoring a %s notification that is not JSON", channel)
            return
        if not isinstance(event, dict):
            return
        if channel in (PRICE_CHANNEL, "prices"):
            if isinstance(event.get("prices"), dict):
                event["prices"] = _fixed_prices(event["prices"])
                payload = _dump(event)
            self._fan_prices(payload, event)
        elif channel in ("orders", "notifications"):
            if channel == "orders":
                event |= {
                    k: as_fixed(event[k], p) for k, p in _ORDER_DECIMALS.items() if k in event
                }
                if event.get("status") != "completed" and "execution_price" in event:
                    event["execution_price"] = None  # the column's default 0 is no price
                payload = _dump(event)
            self._fan_own(channel, payload, event)

    def _fan_own(self, name: str, payload: str, event: dict[str, Any]) -> None:
        for client in list(self._by_user.get(str(event.get("user_id")), ())):
            if name in client.channels:
                client.offer(payload)

    def _fan_prices(self, payload: str, event: dict[str, Any]) -> None:
        prices = event.get("prices")
        if not isinstance(prices, dict):
            return
        filtered: dict[frozenset[str], str | None] = {}  # one message per distinct filter
        for client in list(self.clients):
            if "prices" not in client.channels:
                continue
            if not client.symbols:
                client.offer(payload)
                continue
            if client.symbols not in filtered:
                subset = {s: p for s, p in prices.items() if s in client.symbols}
                filtered[client.symbols] = _dump({**event, "prices": subset}) if subset else None
            text = filtered[client.symbols]
            if text is not None:
                client.offer(text)

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
        delay = self.config.reconnect_initial
        connected_before = False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, connect_timeout=10, row_factory=dict_row
                ) as conn:
                    await conn.execute(
                        "SELECT set_config('role', 'service_role', false),"
                        " set_config('request.jwt.claims', '{\"role\": \"service_role\"}', false)"
                    )
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(PRICE_CHANNEL)))
                    cur = await conn.execute(
                        "SELECT coalesce(max(id), 0) AS last FROM private.stream_events"
                    )
                    row = await cur.fetchone()
                    self._last = int(row["last"]) if row else 0
                    self._gaps = {}
                    self.listening.set()
                    delay = self.config.reconnect_initial
                    if connected_before:
                        self.reconnects += 1
                        log.info("stream: listener reconnected")
                    if connected_before or self.clients:  # they may have missed events
                        self.broadcast(
                            _dump(
                                {
                                    "type": "resync",
                                    "at": _now(),
                                    "reason": "the stream reconnected; events may have been missed",
                                }
                            )
                        )
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
            delay = min(delay * 2, self.config.reconnect_max)

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        pruned = time.monotonic()
        while True:
            async for notify in conn.notifies(timeout=self.config.poll_interval):
                try:
                    self.dispatch(notify.channel, notify.payload)
                except Exception:
                    log.exception("stream: cannot dispatch a %s notification", notify.channel)
                await asyncio.sleep(0)  # let the clients' writers run between events
            # the outbox; a dead connection fails here rather than leaving us waiting
            async with asyncio.timeout(10):
                await self._read_outbox(conn)
                if time.monotonic() - pruned > 10:
                    await conn.execute(_PRUNE_EVENTS)
                    pruned = time.monotonic()

    async def _read_outbox(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Deliver new events once each. Ids are taken before commit, so one below the
        newest seen may still appear (its transaction commits late): such gaps are asked
        for again until GAP_PATIENCE passes (a rolled-back transaction never fills one)."""
        now = time.monotonic()
        cur = await conn.execute(_READ_EVENTS, {"last": self._last, "gaps": list(self._gaps)})
        for row in await cur.fetchall():
            event_id = int(row["id"])
            if event_id in self._gaps:
                del self._gaps[event_id]
            elif event_id > self._last:
                if event_id - self._last <= MAX_GAPS:
                    self._gaps.update(dict.fromkeys(range(self._last + 1, event_id), now))
                self._last = event_id
            else:
                continue
            try:
                self.dispatch(row["channel"], row["payload"])
            except Exception:
                log.exception("stream: cannot dispatch a %s event", row["channel"])
        for gap, since in list(self._gaps.items()):
            if now - since > GAP_PATIENCE:
                del self._gaps[gap]


@asynccontextmanager
async def listening(app: FastAPI, conninfo: str) -> AsyncIterator[StreamHub]:
    """Run the process's stream hub for the app's lifetime (``app.state.stream_hub``)."""
    config = getattr(app.state, "stream_config", None) or StreamConfig()
    hub = StreamHub(conninfo, config)
    hub.start()
    app.state.stream_hub = hub
    try:
        yield hub
    finally:
        await hub.stop()
        del app.state.stream_hub


# -------------------------------------------------------------------- the endpoint


async def _receive(websocket: WebSocket) -> dict[str, Any] | None:
    """The next message as a JSON object (None when it is not one); raises
    WebSocketDisconnect when the client goes away."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    raw = message.get("text")
    if raw is None:
        raw = (message.get("bytes") or b"").decode("utf-8", errors="replace")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's stack
        return None
    return value if isinstance(value, dict) else None


def _bearer(websocket: WebSocket) -> str | None:
    token = websocket.query_params.get("token")
    if token:
        return token
    scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _names(value: object, what: str, limit: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    if len(value) > limit:
        raise ValueError(f"at most {limit} {what}")
    return value


def _apply(client: Client, message: dict[str, Any], config: StreamConfig) -> str:
    """Apply a subscribe or unsubscribe message; the answer to send."""
    kind = message["type"]
    channels = set(_names(message.get("channels"), "channels", len(CHANNELS)))
    unknown = channels - set(CHANNELS)
    if unknown:
        raise ValueError(f"unknown channels {sorted(unknown)}; known: {sorted(CHANNELS)}")
    symbols = {
        s.strip().upper() for s in _names(message.get("symbols"), "symbols", config.max_symbols)
    } - {""}
    if kind == "subscribe":
        client.channels |= channels
        if "prices" in channels:
            client.symbols = frozenset(symbols)
    else:
        client.channels -= channels
        if symbols and client.symbols:
            client.symbols -= symbols
            if not client.symbols:
                client.channels.discard("prices")
        if "prices" not in client.channels:
            client.symbols = frozenset()
    return client.state(f"{kind}d")


def _error(message: str) -> str:
    return _dump({"type": "error", "error": message})


async def _read(websocket: WebSocket, client: Client, config: StreamConfig, secret: str) -> None:
    while True:
        message = await _receive(websocket)
        kind = message.get("type") if message is not None else None
        if message is None:
            client.offer(_error("messages must be JSON objects"))
        elif kind == "ping":
            pong: dict[str, Any] = {"type": "pong", "at": _now()}
            if "id" in message:
                pong["id"] = message["id"]
            client.offer(_dump(pong))
        elif kind in ("subscribe", "unsubscribe"):
            try:
                client.offer(_apply(client, message, config))
            except ValueError as exc:
                client.offer(_error(str(exc)))
        elif kind == "auth":
            try:
                claims = decode_access_token(secret, str(message.get("token") or ""))
            except InvalidToken:
                client.close(CLOSE_UNAUTHORIZED, "invalid or expired token")
                return
            if str(claims["sub"]) != client.user_id:
                client.close(CLOSE_UNAUTHORIZED, "the token is for another user")
                return
            client.expires_at = float(claims["exp"])
            client.offer(
                _dump({"type": "authenticated", "expires_at": _epoch_iso(float(claims["exp"]))})
            )
        else:
            client.offer(_error(f"unknown message type {kind!r}"))


async def _write(websocket: WebSocket, client: Client, config: StreamConfig) -> None:
    loop = asyncio.get_running_loop()
    next_beat = loop.time() + config.heartbeat_interval
    while True:
        expires_in = client.expires_at - time.time()
        if expires_in <= 0:
            client.close(CLOSE_UNAUTHORIZED, "the access token expired")
            return
        now = loop.time()
        if now >= next_beat:  # on time even while events keep the queue busy
            await websocket.send_text(_dump({"type": "heartbeat", "at": _now()}))
            next_beat = now + config.heartbeat_interval
            continue
        try:
            async with asyncio.timeout(min(next_beat - now, expires_in)):
                text = await client.queue.get()
        except TimeoutError:
            continue
        await websocket.send_text(text)


async def _authenticate(
    websocket: WebSocket, secret: str, config: StreamConfig
) -> dict[str, Any] | None:
    token = _bearer(websocket)
    if token is None:
        try:
            async with asyncio.timeout(config.auth_timeout):
                first = await _receive(websocket)
        except TimeoutError:
            first = None
        if first is not None and first.get("type") == "auth":
            token = str(first.get("token") or "")
    if token:
        with contextlib.suppress(InvalidToken):
            return decode_access_token(secret, token)
    return None


@router.websocket("/stream", name="stream")
async def stream(websocket: WebSocket) -> None:
    """The live stream (see the module's docstring for the protocol)."""
    await websocket.accept()
    hub: StreamHub | None = getattr(websocket.app.state, "stream_hub", None)
    if hub is None:
        await websocket.close(CLOSE_INTERNAL_ERROR, "the stream is not running")
        return
    config = hub.config
    secret: str = websocket.app.state.jwt_secret
    try:
        claims = await _authenticate(websocket, secret, config)
    except WebSocketDisconnect:
        return
    if claims is None:
        await websocket.close(CLOSE_UNAUTHORIZED, "invalid, expired or missing access token")
        return

    client = Client(str(claims["sub"]), float(claims["exp"]), config.queue_size)
    try:
        await websocket.send_text(
            _dump(
                {
                    "type": "ready",
                    "user_id": client.user_id,
                    "channels": sorted(CHANNELS),
                    "heartbeat_interval": config.heartbeat_interval,
                    "expires_at": _epoch_iso(client.expires_at),
                }
            )
        )
    except WebSocketDisconnect:
        return
    hub.add(client)
    tasks = [
        asyncio.create_task(_read(websocket, client, config, secret)),
        asyncio.create_task(_write(websocket, client, config)),
        asyncio.create_task(client.closed.wait()),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.remove(client)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    failure = _failure(done)
    if failure is not None:
        log.error("stream: client task failed", exc_info=failure)
        client.close(CLOSE_INTERNAL_ERROR, "internal error")
    if client.close_code is not None:
        # the client may not be reading (that may be why it is dropped): bounded wait
        with contextlib.suppress(TimeoutError, WebSocketDisconnect, RuntimeError, OSError):
            async with asyncio.timeout(config.close_timeout):
                await websocket.close(client.close_code, client.close_reason)


def _failure(done: Iterable[asyncio.Task[Any]]) -> BaseException | None:
    for task in done:
        if task.cancelled():
            continue
        exc = task.exception()
        if exc is not None and not isinstance(exc, WebSocketDisconnect):
            return exc
    return None
