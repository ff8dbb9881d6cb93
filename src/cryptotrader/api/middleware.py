"""Cross-cutting HTTP concerns: Prometheus metrics, the request body size limit, CORS."""

from __future__ import annotations

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

from cryptotrader.api.problems import problem
from cryptotrader.config import Settings
from cryptotrader.db.calls import fetch_one
from cryptotrader.db.session import as_service

API_PREFIX = "/api/v1"


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
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    app.add_middleware(Measure, metrics=metrics)

    @app.get(
        "/metrics",
        tags=["system"],
        summary="Prometheus metrics of this process",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def metrics_endpoint(request: Request) -> Response:
        async with as_service(request.app.state.pool) as conn:
            row = await fetch_one(
                conn,
                "SELECT extract(epoch FROM now() - last_success_at)::float8 AS lag, error_count"
                " FROM market_feed_status WHERE feed = 'market'",
            )
        if row is not None and row["lag"] is not None:
            metrics.feed_lag.set(row["lag"])
            metrics.feed_errors.set(row["error_count"])
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


class Measure:
    """Counts and times every HTTP request by route template (a pure ASGI middleware:
    Starlette's @app.middleware("http") costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

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
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(scope["method"], template).observe(
                time.perf_counter() - started
            )


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


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413 problem+json, whether announced by
    Content-Length or streamed in chunks."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413,
            "payload_too_large",
            "Payload too large",
            f"request bodies are limited to {self.max_bytes} bytes",
            instance=scope.get("path"),
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
