"""The live stream over real sockets: uvicorn in a thread on an ephemeral port, websocket
clients from the `websockets` library (and one raw socket that never reads).

Events come from committed SQL, as in production: execute_paper_trade as the user, rows
inserted by the owner, pg_notify on ct_prices as the feed does it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.sync.client import ClientConnection, connect
from websockets.uri import parse_uri

from cryptotrader.api.app import create_app
from cryptotrader.auth.tokens import issue_access_token
from cryptotrader.config import Settings
from cryptotrader.db.session import as_service, open_pool
from cryptotrader.market.cache import store_quotes
from cryptotrader.market.schemas import Quote
from cryptotrader.stream.hub import LISTENER_APPLICATION_NAME, StreamHub
from tests.support import TestDatabase, create_user, default_account
from tests.support_targets import target_for

SECRET = "stream-test-secret-" + "x" * 32
Message = dict[str, Any]


@dataclass
class Live:
    app: FastAPI
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/api/v1/stream"

    @property
    def hub(self) -> StreamHub:
        hub: StreamHub = self.app.state.stream_hub
        return hub


@contextmanager
def live_server(db: TestDatabase, *, sndbuf: int | None = None, **stream: Any) -> Iterator[Live]:
    """The app served by uvicorn in a thread, with ``stream`` among its settings (e.g.
    ``stream_heartbeat_interval=0.1``). ``sndbuf`` shrinks the kernel's send buffer of
    every accepted connection (they inherit it from the listening socket), so a client that
    does not read pushes back after kilobytes rather than megabytes."""
    settings = Settings(
        run_workers=False,
        pool_min_size=1,
        pool_max_size=2,
        jwt_secret=SecretStr(SECRET),
        **stream,
    )
    app = create_app(settings, target_for(db))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if sndbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        live = Live(app, "127.0.0.1", port)
        wait_for(lambda: server.started, "the server did not start")
        wait_for(lambda: live.hub.listening.is_set(), "the stream did not LISTEN")
        yield live
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


def wait_for(condition: Any, message: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.01)


def token_for(user_id: uuid.UUID, ttl: timedelta = timedelta(minutes=15)) -> str:
    token, _ = issue_access_token(SECRET, user_id, email=f"{user_id}@example.test", ttl=ttl)
    return token


def recv(ws: ClientConnection, timeout: float = 10.0) -> Message:
    message: Message = json.loads(ws.recv(timeout=timeout))
    return message


def next_of(ws: ClientConnection, kind: str, timeout: float = 10.0) -> Message:
    """The next message of this type, skipping heartbeats and the like."""
    deadline = time.monotonic() + timeout
    while True:
        message = recv(ws, max(deadline - time.monotonic(), 0.001))
        if message["type"] == kind:
            return message


def closed_code(ws: ClientConnection, timeout: float = 10.0) -> int | None:
    """Read until the server closes; the close code it sent."""
    deadline = time.monotonic() + timeout
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=max(deadline - time.monotonic(), 0.001))
    return closed.value.rcvd.code if closed.value.rcvd else None


@contextmanager
def stream_client(
    live: Live, user_id: uuid.UUID, **subscription: Any
) -> Iterator[ClientConnection]:
    """A signed-in client, subscribed when ``subscription`` names channels."""
    with connect(f"{live.url}?token={token_for(user_id)}", open_timeout=30, close_timeout=2) as ws:
        ready = recv(ws)
        assert ready["type"] == "ready" and ready["user_id"] == str(user_id)
        if subscription:
            ws.send(json.dumps({"type": "subscribe", **subscription}))
            assert next_of(ws, "subscribed")["channels"] == sorted(subscription["channels"])
        yield ws


def trader(db: TestDatabase) -> tuple[uuid.UUID, uuid.UUID]:
    with db.owner() as owner:
        user_id = create_user(owner)
        owner.execute("UPDATE market_data_cache SET last_updated = now()")
        return user_id, default_account(owner, user_id)


def buy(db: TestDatabase, user_id: uuid.UUID, account_id: uuid.UUID, *, commit: bool = True) -> str:
    """A market buy of 0.01 BTC as the user (committed unless told not to); its order id."""
    with db.as_user(user_id) as conn:
        row = conn.execute(
            "SELECT id FROM public.execute_paper_trade(%s, 'BTC', 'buy', 0.01)", [account_id]
        ).fetchone()
        assert row is not None
        if commit:
            conn.commit()
        return str(row["id"])


def notify_prices(db: TestDatabase, prices: dict[str, list[str]], **extra: Any) -> None:
    payload = json.dumps({"type": "prices", "at": time.time(), "prices": prices, **extra})
    with db.owner() as owner:
        owner.execute("SELECT pg_notify('ct_prices', %s)", [payload])


# ------------------------------------------------------------------ orders


def test_each_fill_reaches_its_owner_once_in_order_and_no_one_else(db: TestDatabase) -> None:
    """How fast is benchmarks/stream_latency.py's business; this is who gets what."""
    alice, alice_account = trader(db)
    bob, bob_account = trader(db)
    with (
        live_server(db) as live,
        stream_client(live, alice, channels=["orders"]) as alice_ws,
        stream_client(live, bob, channels=["orders"]) as bob_ws,
    ):
        # bob's fill reaches bob, and alice's stream only carries her own order after it:
        # NOTIFY delivers in commit order, so a leak would arrive first
        bob_order = buy(db, bob, bob_account)
        assert next_of(bob_ws, "order")["id"] == bob_order

        # a rolled back trade announces nothing
        buy(db, alice, alice_account, commit=False)

        placed = [buy(db, alice, alice_account) for _ in range(5)]
        events = [next_of(alice_ws, "order", timeout=10) for _ in placed]
        assert [e["id"] for e in events] == placed  # each once, in commit order
        event = events[-1]
        assert event["user_id"] == str(alice) and event["account_id"] == str(alice_account)
        assert event["status"] == "completed" and event["symbol"] == "BTC"
        assert event["side"] == "buy" and event["amount"] == "0.01000000"
        assert isinstance(event["execution_price"], str) and event["at"]
        # nothing more: no repeat, and the rolled back trade never comes; bob got his only
        with pytest.raises(TimeoutError):
            next_of(alice_ws, "order", timeout=0.3)
        with pytest.raises(TimeoutError):
            next_of(bob_ws, "order", timeout=0.3)


def test_order_status_changes_and_notifications_reach_only_their_owner(db: TestDatabase) -> None:
    alice, alice_account = trader(db)
    bob, bob_account = trader(db)
    with (
        live_server(db) as live,
        stream_client(live, alice, channels=["orders", "notifications"]) as alice_ws,
        stream_client(live, bob, channels=["notifications"]) as bob_ws,
    ):
        with db.as_user(alice) as conn:
            row = conn.execute(
                "SELECT id, status FROM public.execute_paper_trade(%s, 'BTC', 'buy', 0.01,"
                " p_order_type => 'limit', p_limit_price => 1)",
                [alice_account],
            ).fetchone()
            assert row is not None and row["status"] == "pending"
            conn.commit()
        assert next_of(alice_ws, "order")["status"] == "pending"
        with db.as_user(alice) as conn:
            conn.execute("SELECT public.cancel_order(%s)", [row["id"]])
            conn.commit()
        cancelled = next_of(alice_ws, "order")
        assert (cancelled["id"], cancelled["status"]) == (str(row["id"]), "cancelled")

        with db.owner() as owner:
            for user_id, account_id in ((bob, bob_account), (alice, alice_account)):
                owner.execute(
                    "INSERT INTO account_notifications (account_id, user_id, notification_type,"
                    " title, message, severity) VALUES (%s, %s, 'risk.daily_loss', 'Careful', 'x',"
                    " 'warning')",
                    [account_id, user_id],
                )
        note = next_of(alice_ws, "notification")
        assert note["user_id"] == str(alice) and note["account_id"] == str(alice_account)
        assert (note["notification_type"], note["title"], note["severity"]) == (
            "risk.daily_loss",
            "Careful",
            "warning",
        )
        assert next_of(bob_ws, "notification")["user_id"] == str(bob)
        with pytest.raises(TimeoutError):
            next_of(bob_ws, "notification", timeout=0.3)


# ------------------------------------------------------------------ prices


def test_prices_are_filtered_by_symbol(db: TestDatabase) -> None:
    user, _ = trader(db)
    with (
        live_server(db) as live,
        stream_client(live, user, channels=["prices"], symbols=["btc"]) as btc_only,
        stream_client(live, user, channels=["prices"]) as everything,
        stream_client(live, user, channels=["orders"]) as no_prices,
    ):
        notify_prices(db, {"BTC": ["50000", "74675"], "ETH": ["3000", "4480.5"]}, seq=1)
        notify_prices(db, {"ETH": ["3001", "4482"]}, seq=2)
        notify_prices(db, {"BTC": ["50001", "74676.5"]}, seq=3)

        assert [(m["seq"], m["prices"]) for m in (next_of(btc_only, "prices") for _ in "ab")] == [
            (1, {"BTC": ["50000.0000000000", "74675.0000000000"]}),
            (3, {"BTC": ["50001.0000000000", "74676.5000000000"]}),
        ]
        assert [next_of(everything, "prices")["prices"] for _ in "abc"] == [
            {
                "BTC": ["50000.0000000000", "74675.0000000000"],
                "ETH": ["3000.0000000000", "4480.5000000000"],
            },
            {"ETH": ["3001.0000000000", "4482.0000000000"]},
            {"BTC": ["50001.0000000000", "74676.5000000000"]},
        ]
        with pytest.raises(TimeoutError):
            next_of(no_prices, "prices", timeout=0.3)

        # unsubscribing the last symbol ends the subscription; subscribing again widens it
        btc_only.send(json.dumps({"type": "unsubscribe", "symbols": ["BTC"]}))
        assert next_of(btc_only, "unsubscribed") == {
            "type": "unsubscribed",
            "channels": [],
            "symbols": [],
        }
        btc_only.send(json.dumps({"type": "subscribe", "channels": ["prices"]}))
        assert next_of(btc_only, "subscribed")["channels"] == ["prices"]
        notify_prices(db, {"ETH": ["3002", "4483"]}, seq=4)
        assert next_of(btc_only, "prices")["seq"] == 4


def test_prices_from_the_cache_reach_clients(db: TestDatabase) -> None:
    """store_quotes's own NOTIFY, as the feed sends it."""

    async def store() -> None:
        pool = open_pool(db.app_conninfo, min_size=1, max_size=1)
        await pool.open()
        try:
            async with as_service(pool) as conn:
                quote = Quote(
                    symbol="ETH",
                    price_usd=Decimal("3100.5"),
                    price_aud=Decimal("4630.6"),
                    exchange="test",
                    last_updated=datetime.now(UTC),
                )
                await store_quotes(conn, [quote])
        finally:
            await pool.close()

    user, _ = trader(db)
    with (
        live_server(db) as live,
        stream_client(live, user, channels=["prices"], symbols=["ETH"]) as ws,
    ):
        asyncio.run(store())
        assert next_of(ws, "prices")["prices"] == {"ETH": ["3100.5000000000", "4630.6000000000"]}


# ------------------------------------------------------------------ auth


def test_a_bad_missing_or_expired_token_closes_with_4401(db: TestDatabase) -> None:
    user, _ = trader(db)
    with live_server(db, stream_auth_timeout=0.5) as live:
        with connect(f"{live.url}?token=not-a-token", open_timeout=30) as ws:
            assert closed_code(ws) == 4401
        forged, _ = issue_access_token("another-secret-" + "y" * 32, user, email="x@example.test")
        with connect(f"{live.url}?token={forged}", open_timeout=30) as ws:
            assert closed_code(ws) == 4401
        with connect(live.url, open_timeout=30) as ws:  # no token, no auth message
            assert closed_code(ws) == 4401
        with connect(live.url, open_timeout=30) as ws:
            ws.send(json.dumps({"type": "auth", "token": "nope"}))
            assert closed_code(ws) == 4401

        # the first message may carry the token instead of the URL
        with connect(live.url, open_timeout=30) as ws:
            ws.send(json.dumps({"type": "auth", "token": token_for(user)}))
            assert recv(ws)["type"] == "ready"

        # the token's expiry ends the stream, unless a fresh token for the same user came
        # (tokens of 5 s: time enough to be ready on a loaded machine, which 2 s was not)
        with connect(f"{live.url}?token={token_for(user, timedelta(seconds=5))}") as ws:
            assert recv(ws)["type"] == "ready"
            ws.send(json.dumps({"type": "ping"}))
            assert next_of(ws, "pong")
            assert closed_code(ws, timeout=10) == 4401
        short, expires = issue_access_token(
            SECRET, user, email=f"{user}@example.test", ttl=timedelta(seconds=5)
        )
        with connect(f"{live.url}?token={short}") as ws:
            assert recv(ws)["type"] == "ready"
            ws.send(json.dumps({"type": "auth", "token": token_for(user)}))
            assert next_of(ws, "authenticated")
            # past the first token's expiry (whole seconds in the token), when it would close
            lapsed = int(expires.timestamp()) + 0.3
            wait_for(lambda: time.time() > lapsed, "the first token did not expire", 10)
            ws.send(json.dumps({"type": "ping"}))
            assert next_of(ws, "pong")
            other, _ = trader(db)
            ws.send(json.dumps({"type": "auth", "token": token_for(other)}))
            assert closed_code(ws) == 4401
        wait_for(lambda: not live.hub.clients, "clients were not removed")


# ------------------------------------------------------------------ the protocol


def test_ping_pong_heartbeats_and_bad_messages(db: TestDatabase) -> None:
    user, _ = trader(db)
    with (
        live_server(db, stream_heartbeat_interval=0.1) as live,
        stream_client(live, user) as ws,
    ):
        ws.send(json.dumps({"type": "ping", "id": 7}))
        pong = next_of(ws, "pong")
        assert pong["id"] == 7 and pong["at"]

        beats = [next_of(ws, "heartbeat", timeout=10) for _ in range(5)]
        stamps = [datetime.fromisoformat(b["at"]) for b in beats]
        # one beat per interval at most (the server's clock: the network cannot bunch them)
        assert all(b - a >= timedelta(seconds=0.08) for a, b in itertools.pairwise(stamps))

        ws.send("not json")
        assert "JSON" in next_of(ws, "error")["error"]
        ws.send(json.dumps({"type": "subscribe", "channels": ["gossip"]}))
        assert "unknown channels" in next_of(ws, "error")["error"]
        ws.send(json.dumps({"type": "dance"}))
        assert "unknown message type" in next_of(ws, "error")["error"]
        ws.send(json.dumps({"type": "ping"}))
        assert next_of(ws, "pong")  # still connected


# ------------------------------------------------------------------ slow clients


class RawClient:
    """A websocket client on a bare socket with a tiny receive buffer, which reads only when
    told to: the client that stops reading."""

    def __init__(self, live: Live, token: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(5)
        self.sock.connect((live.host, live.port))
        self.proto = ClientProtocol(parse_uri(f"{live.url}?token={token}"))
        self.proto.send_request(self.proto.connect())
        self.flush()

    def flush(self) -> None:
        for data in self.proto.data_to_send():
            if data:
                self.sock.sendall(data)

    def send(self, message: Message) -> None:
        self.proto.send_text(json.dumps(message).encode())
        self.flush()

    def read_until(self, kind: str) -> list[Message]:
        """Read and return messages until one of this type (or the close) arrives."""
        out: list[Message] = []
        while True:
            data = self.sock.recv(65536)
            self.proto.receive_data(data)
            for event in self.proto.events_received():
                if isinstance(event, Frame) and event.opcode == Opcode.TEXT:
                    out.append(json.loads(bytes(event.data)))
                    if out[-1]["type"] == kind:
                        return out
            if self.proto.close_rcvd is not None or not data:
                return out

    def close(self) -> None:
        self.sock.close()


def test_a_client_that_does_not_read_is_dropped_and_others_keep_receiving(
    db: TestDatabase,
) -> None:
    user, _ = trader(db)
    big = {f"C{i:03d}": ["12345.678901", "18437.2"] for i in range(200)}  # ~6 kB a message
    with (
        live_server(db, sndbuf=4096, stream_queue_size=16) as live,
        stream_client(live, user, channels=["prices"]) as reader,
    ):
        slow = RawClient(live, token_for(user))
        try:
            assert slow.read_until("ready")[-1]["type"] == "ready"
            slow.send({"type": "subscribe", "channels": ["prices"]})
            assert slow.read_until("subscribed")[-1]["type"] == "subscribed"
            wait_for(lambda: len(live.hub.clients) == 2, "both clients subscribed")

            sent = 0
            while len(live.hub.clients) == 2:  # the slow client never reads now
                assert sent < 400, "the client that does not read was never dropped"
                sent += 1
                notify_prices(db, big, seq=sent)
                assert next_of(reader, "prices")["seq"] == sent  # no waiting on the slow one
            for _ in range(20):  # and the others go on after the drop
                sent += 1
                notify_prices(db, big, seq=sent)
                assert next_of(reader, "prices")["seq"] == sent
            print(f"dropped after {sent - 20} messages of {len(json.dumps(big)) // 1000} kB")

            # once it reads again it finds what was buffered, then the close frame: 1013
            received = slow.read_until("never")
            assert slow.proto.close_rcvd is not None and slow.proto.close_rcvd.code == 1013
            seqs = [m["seq"] for m in received if m["type"] == "prices"]
            assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) < sent
        finally:
            slow.close()


# ------------------------------------------------------------------ the listener


def test_the_listener_reconnects_and_tells_clients_to_resync(db: TestDatabase) -> None:
    user, account = trader(db)
    with (
        live_server(db, stream_reconnect_initial=0.05) as live,
        stream_client(live, user, channels=["orders", "prices"]) as ws,
    ):
        with psycopg.connect(db.server.admin, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = %s AND datname = %s",
                [LISTENER_APPLICATION_NAME, db.name],
            ).fetchone()
        assert killed == (1,)
        resync = next_of(ws, "resync", timeout=5)
        assert resync["reason"]
        assert live.hub.reconnects == 1 and live.hub.listening.is_set()
        order_id = buy(db, user, account)
        assert next_of(ws, "order")["id"] == order_id
        notify_prices(db, {"BTC": ["1", "1.5"]})
        assert next_of(ws, "prices")["prices"] == {"BTC": ["1.0000000000", "1.5000000000"]}
