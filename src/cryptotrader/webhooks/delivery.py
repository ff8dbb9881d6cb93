"""One signed webhook delivery attempt, and the retry schedule around it.

The payload is thin (a dotted event type, a timestamp, ids and a few fields): receivers fetch
details through the API, so nothing sensitive travels in a body that may be logged anywhere.
Redirects are followed by hand, each target checked by the SSRF guard, because an open
redirect on a public host must not lead us into a private network.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urljoin

import httpx2

from cryptotrader.retry_after import retry_after
from cryptotrader.webhooks import signing
from cryptotrader.webhooks.errors import UnsafeWebhookUrl
from cryptotrader.webhooks.guard import check_url

MAX_ATTEMPTS = 8
TIMEOUT = 15.0  # seconds one attempt may take
BASE_DELAY = 5.0
MAX_DELAY = 3600.0
MAX_REDIRECTS = 3

Outcome = Literal["delivered", "gone", "retry", "refused"]

_EVENT_TYPE = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)+")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, kw_only=True)
class GuardSettings:
    """Which otherwise refused ranges the operator opens (loopback: tests only)."""

    allow_private: bool = False
    allow_loopback: bool = False


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """What one delivery attempt did, as the caller records and schedules it."""

    msg_id: str
    outcome: Outcome
    url: str
    status_code: int | None = None
    latency_ms: float = 0.0
    error: str | None = None
    retry_after: float | None = None


def payload(event_type: str, data: Mapping[str, Any], timestamp: int) -> bytes:
    """The body, serialised once (compact, sorted keys) so the signed bytes are the sent ones."""
    if not _EVENT_TYPE.fullmatch(event_type):
        raise ValueError(f"event type {event_type!r} is not dotted lowercase (order.filled)")
    when = datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
    doc = {"type": event_type, "timestamp": when, "data": dict(data)}
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After in seconds (delta-seconds or HTTP-date), clamped to [0, MAX_DELAY]."""
    at = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    seconds = retry_after(value, at)
    return None if seconds is None else min(seconds, MAX_DELAY)


def next_delay(attempt_number: int, retry_after: float | None, rng: random.Random) -> float:
    """Seconds before attempt ``attempt_number + 1``: full jitter over an exponential cap
    (5 s doubling, at most an hour) so failing receivers are not hit in lockstep, and never
    sooner than the receiver's Retry-After."""
    exponent = min(max(attempt_number, 1) - 1, 30)
    cap = min(MAX_DELAY, BASE_DELAY * 2.0**exponent)
    return max(rng.uniform(0.0, cap), retry_after or 0.0)


def _classify(response: httpx2.Response) -> tuple[Outcome, float | None]:
    """delivered on 2xx, gone on 410, else retry (with Retry-After where sent)."""
    if 200 <= response.status_code < 300:
        return "delivered", None
    if response.status_code == 410:
        return "gone", None
    return "retry", parse_retry_after(response.headers.get("retry-after"))


async def deliver(
    client: httpx2.AsyncClient,
    url: str,
    secrets: Sequence[str],
    msg_id: str,
    event_type: str,
    data: Mapping[str, Any],
    *,
    timestamp: int | None = None,
    guard: GuardSettings | None = None,
    timeout: float = TIMEOUT,  # noqa: ASYNC109 - httpx's per-request timeout, not a cancel scope
    occurred_at: int | None = None,
) -> Attempt:
    """Send one signed event to ``url``; every failure becomes an Attempt, never an exception.
    ``timestamp`` (default now) is the attempt's, signed in the headers; ``occurred_at``
    (default ``timestamp``) the event's, in the body, the same on every retry."""
    guard = guard or GuardSettings()
    ts = int(time.time()) if timestamp is None else timestamp
    body = payload(event_type, data, ts if occurred_at is None else occurred_at)
    hdrs = signing.headers(secrets, msg_id, ts, body)
    started = time.perf_counter()

    def attempt(outcome: Outcome, target: str, **kw: Any) -> Attempt:
        latency = (time.perf_counter() - started) * 1000.0
        return Attempt(msg_id=msg_id, outcome=outcome, url=target, latency_ms=latency, **kw)

    target = url
    for _hop in range(MAX_REDIRECTS + 1):
        try:
            await check_url(
                target, allow_private=guard.allow_private, allow_loopback=guard.allow_loopback
            )
        except UnsafeWebhookUrl as exc:
            return attempt("refused", target, error=exc.detail)
        try:
            response = await client.post(
                target, content=body, headers=hdrs, follow_redirects=False, timeout=timeout
            )
        except httpx2.TimeoutException as exc:
            return attempt("retry", target, error=f"timeout: {type(exc).__name__}")
        except (httpx2.HTTPError, OSError) as exc:
            return attempt("retry", target, error=f"connection error: {exc!r}")
        location = response.headers.get("location")
        if response.status_code in _REDIRECTS and location:
            target = urljoin(str(response.url), location)
            continue
        outcome, retry_after = _classify(response)
        error = None if outcome == "delivered" else f"HTTP {response.status_code}"
        return attempt(
            outcome,
            target,
            status_code=response.status_code,
            error=error,
            retry_after=retry_after,
        )
    return attempt("retry", target, error=f"more than {MAX_REDIRECTS} redirects")
