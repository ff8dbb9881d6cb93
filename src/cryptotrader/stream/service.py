"""One client's conversation with the stream (the protocol: protocol.py): authenticate,
then read the client's messages and write its queue until one side ends it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from cryptotrader.auth.tokens import InvalidToken, decode_access_token
from cryptotrader.config import Settings
from cryptotrader.db.calls import execute
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.stream.errors import BadMessage, Unauthorized
from cryptotrader.stream.hub import Client, StreamHub
from cryptotrader.stream.protocol import (
    CHANNELS,
    CLOSE_INTERNAL_ERROR,
    CLOSE_UNAUTHORIZED,
    Auth,
    Authenticated,
    Error,
    Heartbeat,
    Ping,
    Ready,
    Subscribe,
    Unsubscribe,
    epoch_iso,
    now,
    parse_client,
    pong,
)

log = logging.getLogger(__name__)
Q = load_queries("cryptotrader.stream")


async def receive_text(websocket: WebSocket) -> str:
    """The next message's text (binary frames decoded as UTF-8); raises
    WebSocketDisconnect when the client goes away."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    raw = message.get("text")
    if raw is None:
        raw = (message.get("bytes") or b"").decode("utf-8", errors="replace")
    return str(raw)


SESSION_COOKIE = "ct_access"  # the dashboard's access token (cryptotrader/web/session.py)


def _same_origin(websocket: WebSocket) -> bool:
    """Whether the upgrade comes from a page of this host (a browser always sends Origin
    on a websocket; another site's page must not ride the dashboard's cookie)."""
    origin = websocket.headers.get("origin", "")
    host = websocket.headers.get("host", "")
    return bool(host) and origin.split("://", 1)[-1] == host


def _bearer(websocket: WebSocket) -> str | None:
    """The access token: the URL's, the Authorization header's, or, for the dashboard's
    pages, the session cookie's."""
    token = websocket.query_params.get("token")
    if token:
        return token
    scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    cookie = websocket.cookies.get(SESSION_COOKIE)
    if cookie and _same_origin(websocket):
        return cookie
    return None


async def authenticate(websocket: WebSocket, secret: str, settings: Settings) -> dict[str, Any]:
    """The caller's claims, from the URL, the header or a first ``auth`` message;
    Unauthorized without a valid token."""
    token = _bearer(websocket)
    if token is None:
        try:
            async with asyncio.timeout(settings.stream_auth_timeout):
                first = parse_client(await receive_text(websocket), settings.stream_max_symbols)
        except (TimeoutError, BadMessage):
            first = None
        if isinstance(first, Auth):
            token = first.token
    if token:
        with contextlib.suppress(InvalidToken):
            return decode_access_token(secret, token)
    raise Unauthorized("invalid, expired or missing access token")


def ready(client: Client, settings: Settings) -> str:
    """The first message of a signed-in stream."""
    return Ready(
        user_id=client.user_id,
        channels=sorted(CHANNELS),
        heartbeat_interval=settings.stream_heartbeat_interval,
        expires_at=epoch_iso(client.expires_at),
    ).text()


def subscription(client: Client, message: Subscribe | Unsubscribe) -> str:
    """Apply a subscribe or unsubscribe message; the answer to send."""
    if isinstance(message, Subscribe):
        client.channels |= message.channels
        if "prices" in message.channels:
            client.symbols = message.symbols
    else:
        client.channels -= message.channels
        if message.symbols and client.symbols:
            client.symbols -= message.symbols
            if not client.symbols:
                client.channels.discard("prices")
        if "prices" not in client.channels:
            client.symbols = frozenset()
    return client.state(subscribed=isinstance(message, Subscribe))


def reauthenticate(client: Client, message: Auth, secret: str) -> str:
    """A fresh token for the same user extends the stream; the answer to send."""
    try:
        claims = decode_access_token(secret, message.token)
    except InvalidToken:
        raise Unauthorized("invalid or expired token") from None
    if str(claims["sub"]) != client.user_id:
        raise Unauthorized("the token is for another user")
    client.expires_at = float(claims["exp"])
    return Authenticated(expires_at=epoch_iso(client.expires_at)).text()


def answer(client: Client, text: str, secret: str, settings: Settings) -> str:
    """The answer to one client message (an ``error`` for one it cannot use)."""
    try:
        message = parse_client(text, settings.stream_max_symbols)
    except BadMessage as exc:
        return Error(error=str(exc)).text()
    if isinstance(message, Ping):
        return pong(message)
    if isinstance(message, Auth):
        return reauthenticate(client, message, secret)
    return subscription(client, message)


async def _read(websocket: WebSocket, client: Client, secret: str, settings: Settings) -> None:
    while True:
        text = await receive_text(websocket)
        try:
            client.offer(answer(client, text, secret, settings))
        except Unauthorized as exc:
            client.close(CLOSE_UNAUTHORIZED, str(exc))
            return


async def _write(websocket: WebSocket, client: Client, settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    interval = settings.stream_heartbeat_interval
    next_beat = loop.time() + interval
    while True:
        expires_in = client.expires_at - time.time()
        if expires_in <= 0:
            client.close(CLOSE_UNAUTHORIZED, "the access token expired")
            return
        moment = loop.time()
        if moment >= next_beat:  # on time even while events keep the queue busy
            await websocket.send_text(Heartbeat(at=now()).text())
            next_beat = moment + interval
            continue
        try:
            async with asyncio.timeout(min(next_beat - moment, expires_in)):
                text = await client.queue.get()
        except TimeoutError:
            continue
        await websocket.send_text(text)


async def converse(websocket: WebSocket, hub: StreamHub, client: Client, secret: str) -> None:
    """Run a signed-in client until it leaves, is dropped or its token expires; then
    close the socket with the client's close code, if it has one."""
    settings = hub.settings
    hub.add(client)
    tasks = [
        asyncio.create_task(_read(websocket, client, secret, settings)),
        asyncio.create_task(_write(websocket, client, settings)),
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
            async with asyncio.timeout(settings.stream_close_timeout):
                await websocket.close(client.close_code, client.close_reason)


def _failure(done: Iterable[asyncio.Task[Any]]) -> BaseException | None:
    for task in done:
        if task.cancelled():
            continue
        exc = task.exception()
        if exc is not None and not isinstance(exc, WebSocketDisconnect):
            return exc
    return None


async def prune_expired(conn: Conn) -> int:
    """Delete the outbox's events older than ten minutes (``conn`` as the service role);
    returns how many. Listeners read an event within a minute of it (each API process also
    forgets older ones), so none is waiting for these."""
    return await execute(conn, Q["prune_stale_events"])
