"""Cross-cutting HTTP concerns: Prometheus metrics, the request body size and depth limits,
CORS."""

from __future__ import annotations

import re
import time

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cryptotrader.api.health import Health, HealthUnavailable, assess, check_states
from cryptotrader.api.problems import problem
from cryptotrader.config import Settings

API_PREFIX = "/api/v1"
# No request of ours nests deeper than a few levels; past this a body is refused before any
# parser recurses into it (Python's json raises RecursionError, PostgreSQL's jsonb a stack
# depth error: both would be 500s).
MAX_JSON_DEPTH = 32


class Metrics:
    """This process's counters (each API process is scraped on its own)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cryptotrader_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cryptotrader_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.orders = Counter(
            "cryptotrader_orders",
            "Orders placed, by type and resulting status",
            ["order_type", "status"],
            registry=self.registry,
        )
        self.rejections = Counter(
            "cryptotrader_order_rejections",
            "Orders refused, by code",
            ["code"],
            registry=self.registry,
        )
        self.feed_lag = Gauge(
            "cryptotrader_feed_lag_seconds",
            "Seconds since the market feed's last good refresh",
            registry=self.registry,
        )
        self.feed_errors = Gauge(
            "cryptotrader_feed_errors",
            "Failed market feed refreshes so far",
            registry=self.registry,
        )
        self.health = Gauge(
            "cryptotrader_health_status",
            "1 when the /health check passes, 0 when it fails (all 0 when the database is down)",
            ["check"],
            registry=self.registry,
        )
        self.price_age = Gauge(
            "cryptotrader_price_age_seconds",
            "Age of the oldest cached price",
            registry=self.registry,
        )
        self.max_price_age = Gauge(
            "cryptotrader_max_price_age_seconds",
            "The strictest max_price_age_seconds of the accounts that can trade",
            registry=self.registry,
        )
        self.workers = Gauge(
            "cryptotrader_backtest_workers",
            "Backtest worker processes connected to the database",
            registry=self.registry,
        )

    def record(self, report: Health | HealthUnavailable) -> None:
        """The states of ``report`` (one assessment, the same /health gives)."""
        for check, passed in check_states(report).items():
            self.health.labels(check).set(1 if passed else 0)
        if isinstance(report, HealthUnavailable):
            return
        feed, prices = report.checks.feed_leader, report.checks.prices
        if feed.lag_seconds is not None:
            self.feed_lag.set(feed.lag_seconds)
        self.feed_errors.set(feed.error_count)
        if prices.oldest_age_seconds is not None:
            self.price_age.set(prices.oldest_age_seconds)
        self.max_price_age.set(prices.max_price_age_seconds)
        self.workers.set(report.checks.workers.backtest_workers)


def install(app: FastAPI, settings: Settings) -> None:
    metrics = Metrics()
    app.state.metrics = metrics
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["Retry-After", "Idempotent-Replayed"],
        )
    app.add_middleware(BodyLimits, max_bytes=settings.max_body_bytes, max_depth=MAX_JSON_DEPTH)

    app.add_middleware(Measure, metrics=metrics)

    @app.get(
        "/metrics",
        tags=["system"],
        summary="Prometheus metrics of this process",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def metrics_endpoint(request: Request) -> Response:
        metrics.record(await assess(request.app.state.pool))
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


class Measure:
    """Counts and times every HTTP request by route template (a pure ASGI middleware:
    Starlette's @app.middleware("http") costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._cache: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            template = _route_template(scope)
            counter, timer = self._children(scope["method"], template, status)
            counter.inc()
            timer.observe(time.perf_counter() - started)

    def _children(self, method: str, template: str, status: int) -> tuple[Counter, Histogram]:
        """The labelled metrics of a (method, route, status): looked up once, then kept
        (prometheus_client's ``labels()`` takes a lock and builds a key every call). Routes
        are templates, so the combinations are few."""
        key = (method, template, status)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = (
                self.metrics.requests.labels(method, template, str(status)),
                self.metrics.latency.labels(method, template),
            )
        return found


def _route_template(scope: Scope) -> str:
    """The matched route's path template (bounded label values, unlike raw URLs). Routes of
    included routers carry their path without the include prefix, so it is put back."""
    found = getattr(scope.get("route"), "path", None)
    if found is None:
        return "unmatched"
    path = str(found)
    if str(scope.get("path", "")).startswith(API_PREFIX) and not path.startswith(API_PREFIX):
        return API_PREFIX + path
    return path


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(body: bytes) -> int:
    """How deeply ``body`` nests arrays and objects (brackets inside strings do not count)."""
    depth = deepest = 0
    for char in _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKET):
        depth += 1 if char in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


class BodyLimits:
    """Refuse request bodies over ``max_bytes`` with 413 problem+json (announced by
    Content-Length or streamed in chunks), and JSON nested deeper than ``max_depth`` with
    400. The body is read whole before the app (which reads it whole anyway), then given
    to it unchanged. A body with fewer brackets than the depth limit cannot exceed it, so
    the common request is only counted (at C speed), never scanned."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, 413)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: let the app see it
                await self.app(scope, _replay(message, receive), send)
                return
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.max_bytes:
                await self._refuse(scope, receive, send, 413)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        brackets = body.count(b"[") + body.count(b"{")
        if brackets > self.max_depth and json_depth(body) > self.max_depth:
            await self._refuse(scope, receive, send, 400)
            return
        await self.app(scope, _replay({"type": "http.request", "body": body}, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int) -> None:
        if status == 413:
            code, title = "payload_too_large", "Payload too large"
            detail = f"request bodies are limited to {self.max_bytes} bytes"
        else:
            code, title = "bad_request", "Bad request"
            detail = f"JSON may nest at most {self.max_depth} levels deep"
        response = problem(status, code, title, detail, instance=scope.get("path"))
        await response(scope, receive, send)


def _replay(first: Message, receive: Receive) -> Receive:
    """A receive that gives ``first`` once, then defers to ``receive``."""
    pending = [first]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
