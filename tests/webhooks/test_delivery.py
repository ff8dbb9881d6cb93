"""Deliveries to a real receiver on 127.0.0.1, verified by the Standard Webhooks library."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cryptotrader.webhooks import signing
from cryptotrader.webhooks.delivery import (
    MAX_DELAY,
    Attempt,
    GuardSettings,
    deliver,
    next_delay,
    parse_retry_after,
)

LOOPBACK = GuardSettings(allow_loopback=True)
SECRET = signing.generate_secret()


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Receiver:
    """Answers each POST with the next scripted reply (the last one repeats); records the
    requests, and the events it accepted (verified, deduplicated by webhook-id)."""

    url: str
    replies: list[Reply] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    accepted: dict[str, bytes] = field(default_factory=dict)

    def next_reply(self, path: str, hdrs: dict[str, str], body: bytes) -> Reply:
        self.requests.append((path, hdrs, body))
        reply = self.replies[min(len(self.requests) - 1, len(self.replies) - 1)]
        if 200 <= reply.status < 300:
            try:
                Webhook(SECRET).verify(body, hdrs)
            except WebhookVerificationError:
                return Reply(status=400)
            self.accepted.setdefault(hdrs["webhook-id"], body)
        return reply


def _handler(receiver: Callable[[], Receiver]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            hdrs = {k.lower(): v for k, v in self.headers.items()}
            reply = receiver().next_reply(self.path, hdrs, body)
            time.sleep(reply.delay)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(lambda: holder[0]))
    server.daemon_threads = True
    holder.append(Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()


@pytest.fixture
async def client() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient() as c:
        yield c


async def _send(client: httpx2.AsyncClient, receiver: Receiver, msg_id: str = "msg_1") -> Attempt:
    return await deliver(
        client,
        receiver.url,
        [SECRET],
        msg_id,
        "order.filled",
        {"order_id": 42, "symbol": "BTC"},
        guard=LOOPBACK,
    )


@pytest.mark.anyio
async def test_delivered_and_verified(client: httpx2.AsyncClient, receiver: Receiver) -> None:
    receiver.replies = [Reply(status=204)]
    other = signing.generate_secret()
    attempt = await deliver(
        client,
        receiver.url,
        [other, SECRET],
        "msg_a",
        "order.filled",
        {"order_id": 1},
        guard=LOOPBACK,
    )
    assert attempt.outcome == "delivered" and attempt.status_code == 204
    assert attempt.error is None and attempt.latency_ms > 0
    _, hdrs, body = receiver.requests[0]
    assert hdrs["content-type"] == "application/json" and hdrs["webhook-id"] == "msg_a"
    for secret in (other, SECRET):
        event = Webhook(secret).verify(body, hdrs)
        assert event["type"] == "order.filled" and event["data"] == {"order_id": 1}
        assert event["timestamp"].endswith("Z")


@pytest.mark.anyio
async def test_retries_keep_the_id_and_deliver_once(
    client: httpx2.AsyncClient, receiver: Receiver
) -> None:
    receiver.replies = [Reply(status=500), Reply(status=500), Reply(status=200)]
    outcomes = []
    for _ in range(3):
        attempt = await _send(client, receiver, msg_id="msg_retry")
        outcomes.append(attempt.outcome)
    assert outcomes == ["retry", "retry", "delivered"]
    assert [h["webhook-id"] for _, h, _ in receiver.requests] == ["msg_retry"] * 3
    assert list(receiver.accepted) == ["msg_retry"]


@pytest.mark.anyio
async def test_gone_and_too_many_requests(client: httpx2.AsyncClient, receiver: Receiver) -> None:
    receiver.replies = [Reply(status=410)]
    gone = await deliver(client, receiver.url, [SECRET], "m", "a.b", {}, guard=LOOPBACK)
    assert gone.outcome == "gone" and gone.status_code == 410
    receiver.replies = [Reply(status=429, headers={"Retry-After": "7"})]
    receiver.requests.clear()
    limited = await deliver(client, receiver.url, [SECRET], "m", "a.b", {}, guard=LOOPBACK)
    assert limited.outcome == "retry" and limited.retry_after == 7
    assert next_delay(1, limited.retry_after, random.Random(1)) >= 7


@pytest.mark.anyio
async def test_other_client_errors_retry(client: httpx2.AsyncClient, receiver: Receiver) -> None:
    receiver.replies = [Reply(status=404)]
    attempt = await deliver(client, receiver.url, [SECRET], "m", "a.b", {}, guard=LOOPBACK)
    assert attempt.outcome == "retry" and attempt.error == "HTTP 404"


@pytest.mark.anyio
async def test_slow_receiver_times_out(client: httpx2.AsyncClient, receiver: Receiver) -> None:
    receiver.replies = [Reply(delay=1.0)]
    attempt = await deliver(
        client, receiver.url, [SECRET], "m", "a.b", {}, guard=LOOPBACK, timeout=0.2
    )
    assert attempt.outcome == "retry" and attempt.error is not None
    assert attempt.error.startswith("timeout") and attempt.status_code is None


@pytest.mark.anyio
async def test_refused_without_loopback(client: httpx2.AsyncClient, receiver: Receiver) -> None:
    receiver.replies = [Reply()]
    attempt = await deliver(client, receiver.url, [SECRET], "m", "a.b", {})
    assert attempt.outcome == "refused" and receiver.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize("target", ["http://10.0.0.1/", "http://169.254.169.254/latest/"])
async def test_redirect_to_private_is_refused(
    client: httpx2.AsyncClient, receiver: Receiver, target: str
) -> None:
    receiver.replies = [Reply(status=302, headers={"Location": target})]
    attempt = await deliver(client, receiver.url, [SECRET], "m", "a.b", {}, guard=LOOPBACK)
    assert attempt.outcome == "refused" and attempt.url == target
    assert len(receiver.requests) == 1


@pytest.mark.anyio
async def test_redirects_followed_at_most_three_times(
    client: httpx2.AsyncClient, receiver: Receiver
) -> None:
    receiver.replies = [Reply(status=307, headers={"Location": "/next"})] * 2 + [Reply()]
    attempt = await deliver(client, receiver.url, [SECRET], "m", "a.b", {}, guard=LOOPBACK)
    assert attempt.outcome == "delivered" and attempt.url.endswith("/next")
    receiver.requests.clear()
    receiver.replies = [Reply(status=302, headers={"Location": "/loop"})]
    looping = await deliver(client, receiver.url, [SECRET], "m", "a.b", {}, guard=LOOPBACK)
    assert looping.outcome == "retry" and len(receiver.requests) == 4


@pytest.mark.parametrize("n", [1, 2, 5, 8, 12, 100])
def test_next_delay_bounds(n: int) -> None:
    rng = random.Random(n)
    cap = min(MAX_DELAY, 5.0 * 2 ** (n - 1))
    for retry_after in (None, 0.0, 3.0, 30.0):
        for _ in range(200):
            delay = next_delay(n, retry_after, rng)
            assert (retry_after or 0.0) <= delay <= max(cap, retry_after or 0.0)
            assert delay <= MAX_DELAY


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0
    assert parse_retry_after("99999999") == MAX_DELAY
