"""The ASGI application: FastAPI, stateless; one pool per process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Literal

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import BaseModel, ConfigDict, Field

from cryptotrader import __version__
from cryptotrader.api import middleware, openapi, problems, stream
from cryptotrader.api.routers import v1_routers
from cryptotrader.config import Settings, get_settings
from cryptotrader.db.runtime import app_pool
from cryptotrader.db.session import Conn
from cryptotrader.db.target import DatabaseTarget, resolve_target

HEALTH_TIMEOUT_S = 2.0


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok", "database": "ok"}]})

    status: Literal["ok"]
    database: Literal["ok"]


class HealthUnavailable(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "unavailable",
                    "database": "unavailable",
                    "reason": "couldn't get a connection after 2.00 sec",
                }
            ]
        }
    )

    status: Literal["unavailable"]
    database: Literal["unavailable"]
    reason: str = Field(description="The first line of the error that made the check fail.")


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


def create_app(settings: Settings | None = None, target: DatabaseTarget | None = None) -> FastAPI:
    """Build the app. The database is resolved (and the embedded server started) at startup."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            resolved = (
                target if target is not None else await asyncio.to_thread(resolve_target, settings)
            )
            app.state.pool = await stack.enter_async_context(app_pool(resolved, settings))
            # the live stream: one LISTEN connection per process, fanned out to websockets
            await stack.enter_async_context(stream.listening(app, resolved.app))
            if settings.run_workers:  # the market feed (one leader across all processes)
                stack.push_async_callback(_stop_workers, await _start_workers(settings, resolved))
            yield

    app = FastAPI(
        title="CryptoTrader Pro",
        version=__version__,
        description=(
            "Self-hostable crypto paper trading on PostgreSQL. Every request runs as its"
            " caller under row level security; errors are RFC 9457 problem+json with a"
            " stable `code`; decimals are strings."
        ),
        # the documentation's order (routers are registered hottest first, see routers.py)
        openapi_tags=[
            {"name": tag}
            for tag in (
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
                "system",
            )
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.jwt_secret = settings.resolved_jwt_secret()
    problems.install(app)
    openapi.install(app)  # examples in /openapi.json and /docs
    middleware.install(app, settings)
    for router in v1_routers():
        app.include_router(router, prefix="/api/v1")

    @app.get(
        "/health",
        tags=["system"],
        summary="Liveness and database check",
        response_model=Health,
        responses={503: {"model": HealthUnavailable, "description": "The database is unreachable"}},
    )
    async def health(request: Request) -> JSONResponse:
        pool: AsyncConnectionPool[Conn] = request.app.state.pool
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S):
                async with pool.connection(timeout=HEALTH_TIMEOUT_S) as conn:
                    await conn.execute("SELECT 1")
        except (TimeoutError, PoolTimeout, psycopg.Error) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return JSONResponse(
                {"status": "unavailable", "database": "unavailable", "reason": reason},
                status_code=503,
            )
        return JSONResponse({"status": "ok", "database": "ok"})

    return app


def app_from_env() -> FastAPI:
    """The app configured from the environment: uvicorn's factory for several workers."""
    return create_app(get_settings())
