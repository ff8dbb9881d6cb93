"""The ASGI application: FastAPI, stateless; one pool per process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cryptotrader import __version__, web
from cryptotrader.api import docs, middleware, openapi, parameters, problems
from cryptotrader.api.health import Health, HealthUnavailable, assess
from cryptotrader.api.routers import v1_routers
from cryptotrader.config import Settings, get_settings
from cryptotrader.db.runtime import app_pool
from cryptotrader.db.target import DatabaseTarget, resolve_target
from cryptotrader.stream import hub as stream


async def _start_workers(
    settings: Settings, target: DatabaseTarget
) -> tuple[asyncio.Event, asyncio.Task[None]]:
    from cryptotrader.workers import run_workers

    stop = asyncio.Event()
    return stop, asyncio.create_task(run_workers(settings, target, stop), name="workers")


async def _stop_workers(running: tuple[asyncio.Event, asyncio.Task[None]]) -> None:
    stop, task = running
    stop.set()
    await task


# the documentation's order (routers are registered hottest first, see routers.py)
TAGS = (
    "auth",
    "accounts",
    "orders",
    "market",
    "stream",
    "profile",
    "account templates",
    "watchlists",
    "portfolios",
    "strategies",
    "backtests",
    "admin",
    "system",
)
DESCRIPTION = (
    "Self-hostable crypto paper trading on PostgreSQL. Every request runs as its"
    " caller under row level security; errors are RFC 9457 problem+json with a"
    " stable `code`; decimals are strings."
)


def _lifespan(
    settings: Settings, target: DatabaseTarget | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """What runs while the app serves: the pool, the stream hub and (when configured) the
    workers, closed in reverse order at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            resolved = (
                target if target is not None else await asyncio.to_thread(resolve_target, settings)
            )
            app.state.pool = await stack.enter_async_context(app_pool(resolved, settings))
            # the live stream: one LISTEN connection per process, fanned out to websockets
            await stack.enter_async_context(stream.listening(app, resolved.app, settings))
            if settings.run_workers:  # the market feed (one leader across all processes)
                stack.push_async_callback(_stop_workers, await _start_workers(settings, resolved))
            yield

    return lifespan


async def health(request: Request) -> JSONResponse:
    report = await assess(request.app.state.pool)
    status = 503 if isinstance(report, HealthUnavailable) else 200
    return JSONResponse(report.model_dump(mode="json"), status_code=status)


def create_app(settings: Settings | None = None, target: DatabaseTarget | None = None) -> FastAPI:
    """Build the app. The database is resolved (and the embedded server started) at startup."""
    settings = settings or get_settings()
    app = FastAPI(
        title="CryptoTrader Pro",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=[{"name": tag} for tag in TAGS],
        lifespan=_lifespan(settings, target),
        docs_url=None,  # /docs and /redoc from vendored files: api/docs.py
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.jwt_secret = settings.resolved_jwt_secret()
    problems.install(app)
    parameters.install(app)  # unknown query parameters are a 422
    openapi.install(app)  # examples in /openapi.json and /docs
    docs.install(app)  # /docs, /redoc and /static, without internet
    middleware.install(app, settings)
    for router in v1_routers():
        app.include_router(router, prefix="/api/v1")
    web.install(app)  # the dashboard's pages at /
    app.get(
        "/health",
        tags=["system"],
        summary="Whether the platform can trade: database, market feed, prices, workers",
        description="`ok`, or `degraded` (still 200) with the reasons: no process leads the"
        " market feed, a cached price is older than the strictest `max_price_age_seconds`"
        " of the accounts that can trade (orders on it are refused as `stale_price`), or no"
        " backtest worker runs. 503 when the database does not answer.",
        response_model=Health,
        responses={503: {"model": HealthUnavailable, "description": "The database is unreachable"}},
    )(health)
    return app


def app_from_env() -> FastAPI:
    """The app configured from the environment: uvicorn's factory for several workers."""
    return create_app(get_settings())
