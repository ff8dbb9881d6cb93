"""A loopback receiver that verifies Standard Webhooks signatures with the reference
library, and the rows of webhooks as the owner sees them."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cryptotrader.webhooks import signing
from cryptotrader.webhooks.delivery import GuardSettings
from tests.support import Row, TestDatabase

LOOPBACK = GuardSettings(allow_loopback=True)


@dataclass
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.body)
        return doc


@dataclass
class Receiver:
    """Answers each POST with the next scripted reply (the last one repeats). A 2xx reply
    is only sent for a request every one of ``secrets`` verifies (else 400); accepted
    events are kept once per webhook-id, as a receiver that deduplicates does."""

    url: str
    secrets: list[str] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=lambda: [Reply()])
    requests: list[Request] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Request) -> Reply:
        with self.lock:
            self.requests.append(request)
            reply = self.replies[min(len(self.requests) - 1, len(self.replies) - 1)]
        if 200 <= reply.status < 300:
            try:
                for secret in self.secrets:
                    Webhook(secret).verify(request.body, request.headers)
            except WebhookVerificationError:
                return Reply(status=400)
            self.accepted.setdefault(request.headers["webhook-id"], request.event)
        return reply


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            hdrs = {k.lower(): v for k, v in self.headers.items()}
            reply = receiver.answer(Request(self.path, hdrs, body))
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 for the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook")
    server.RequestHandlerClass = _handler(receiver)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def endpoint(
    db: TestDatabase,
    user: uuid.UUID,
    url: str,
    *,
    events: list[str] | None = None,
    enabled: bool = True,
) -> tuple[uuid.UUID, str]:
    """An endpoint of ``user`` made as they would (RLS applies), and its secret."""
    secret = signing.generate_secret()
    with db.as_user(user) as conn:
        row = conn.execute(
            "INSERT INTO webhook_endpoints (user_id, url, event_types, enabled)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            [user, url, events or [], enabled],
        ).fetchone()
        assert row is not None
        conn.execute("SELECT public.set_webhook_secret(%s, %s, 0)", [row["id"], secret])
        conn.commit()
    return uuid.UUID(str(row["id"])), secret


def rotate(db: TestDatabase, user: uuid.UUID, endpoint_id: uuid.UUID) -> str:
    secret = signing.generate_secret()
    with db.as_user(user) as conn:
        conn.execute("SELECT public.set_webhook_secret(%s, %s, 3600)", [endpoint_id, secret])
        conn.commit()
    return secret


def enqueue(db: TestDatabase, user: uuid.UUID, event_type: str, data: dict[str, Any]) -> int:
    """private.enqueue_webhook_event as the service role, committed."""
    with db.as_service() as conn:
        row = conn.execute(
            "SELECT private.enqueue_webhook_event(%s, %s, %s::jsonb) AS n",
            [user, event_type, json.dumps(data)],
        ).fetchone()
        conn.commit()
    assert row is not None
    return int(row["n"])


def deliveries(db: TestDatabase, endpoint_id: uuid.UUID) -> list[Row]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT * FROM webhook_deliveries WHERE endpoint_id = %s ORDER BY created_at, id",
            [endpoint_id],
        ).fetchall()


def attempts(db: TestDatabase, delivery_id: Any) -> list[Row]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT * FROM webhook_attempts WHERE delivery_id = %s ORDER BY attempt",
            [delivery_id],
        ).fetchall()


def waiting_jobs(db: TestDatabase, delivery_id: Any) -> list[Row]:
    """The webhooks.deliver jobs of a delivery still to run, oldest first."""
    with db.owner() as conn:
        return conn.execute(
            "SELECT id, args, scheduled_at, lock FROM procrastinate.procrastinate_jobs"
            " WHERE task_name = 'webhooks.deliver' AND status = 'todo'"
            "   AND args->>'delivery_id' = %s ORDER BY id",
            [str(delivery_id)],
        ).fetchall()


def wait_until(check: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def owned_webhook(db: TestDatabase, user: uuid.UUID) -> tuple[str, str]:
    """An enabled endpoint of ``user`` with one pending delivery: (endpoint, delivery) ids."""
    hook, _ = endpoint(db, user, "https://hooks.example.test/walk")
    enqueue(db, user, "webhook.walk", {})
    return str(hook), str(deliveries(db, hook)[0]["id"])
