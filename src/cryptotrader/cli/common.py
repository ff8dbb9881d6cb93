"""What every command group shares: turning expected failures into one line and an exit
code, running services in a unit of work, and parsing times and choices."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

import typer
from psycopg_pool import AsyncConnectionPool
from rich.markup import escape

from cryptotrader.audit.schemas import Actor
from cryptotrader.auth import service as users_service
from cryptotrader.auth.errors import AuthError
from cryptotrader.cli.render import error
from cryptotrader.config import Settings, get_settings
from cryptotrader.db.errors import DatabaseError
from cryptotrader.db.runtime import app_pool, migrate_target
from cryptotrader.db.session import Conn, as_service, as_user, user_claims
from cryptotrader.db.target import resolve_target
from cryptotrader.errors import DomainError, NotFound

P = ParamSpec("P")
T = TypeVar("T")


def friendly_errors(fn: Callable[P, T]) -> Callable[P, T]:
    """Expected failures print one line and exit non-zero; no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except DatabaseError as exc:
            error(str(exc))
            raise typer.Exit(2) from None
        except AuthError as exc:
            error(str(exc))
            raise typer.Exit(1) from None

    return wrapper


def bad_input_exits_2(fn: Callable[P, T]) -> Callable[P, T]:
    """A refused request (unknown strategy, bad parameter, no candles, bad file, an account
    or session not found) is one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        from pydantic import ValidationError

        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            message = exc.detail
        except ValidationError as exc:
            from cryptotrader.backtest.service import describe_error

            message = describe_error(exc)
        except OSError as exc:
            message = f"{exc.filename or 'file'}: {exc.strerror or exc}"
        error(escape(message))
        raise typer.Exit(2)

    return wrapper


def with_pool(settings: Settings, work: Callable[[AsyncConnectionPool[Conn]], Awaitable[T]]) -> T:
    """``work`` with the app's pool on the configured database."""
    target = resolve_target(settings)

    async def run() -> T:
        async with app_pool(target, settings) as pool:
            return await work(pool)

    return asyncio.run(run())


def run_service(work: Callable[[Conn], Coroutine[Any, Any, T]], *, migrate: bool = True) -> T:
    """``work`` in one unit of work as the service role (migrating first unless told not
    to): the CLI acts as the system on behalf of its operator. Leaving it commits."""
    settings = get_settings()
    if migrate:
        migrate_target(settings)

    async def in_service(pool: AsyncConnectionPool[Conn]) -> T:
        async with as_service(pool) as conn:
            return await work(conn)

    return with_pool(settings, in_service)


async def user_id_of(conn: Conn, email: str) -> UUID:
    """The id of the user with this email. Raises NotFound."""
    user_id = await users_service.find_user_id(conn, email)
    if user_id is None:
        raise NotFound(f"no user with email {email}")
    return user_id


def utc(value: str | None, option: str) -> datetime | None:
    """An ISO-8601 instant from the command line; without an offset it is UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO-8601 time: {value!r}", param_hint=option) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def range_end(value: str | None) -> datetime | None:
    """``--to``: a date alone includes that whole day; a time is exclusive."""
    end = utc(value, "--to")
    if end is not None and value is not None and len(value.strip()) == 10:
        end += timedelta(days=1)
    return end


class TimeframeOption(StrEnum):
    """The bar lengths we store (TIMEFRAME_SECONDS), as a choice on the command line."""

    m1 = "1m"
    m5 = "5m"
    m15 = "15m"
    m30 = "30m"
    h1 = "1h"
    h4 = "4h"
    d1 = "1d"


def as_owner(email: str, work: Callable[[Conn, Actor], Coroutine[Any, Any, T]]) -> T:
    """``work`` in one unit of work as the user with this email (row level security
    applies: another user's bot is not found), with the Actor of their claims, so the
    audit rows it writes are theirs. Migrates first, as every command does."""

    async def in_unit(pool: AsyncConnectionPool[Conn], actor: Actor) -> T:
        async with as_user(pool, actor.claims) as conn:
            return await work(conn, actor)

    return with_owner(email, in_unit)


def with_owner(
    email: str, work: Callable[[AsyncConnectionPool[Conn], Actor], Coroutine[Any, Any, T]]
) -> T:
    """``work`` with the app's pool and the Actor of the user with this email (for a
    service that opens its own units of work). Migrates first."""
    settings = get_settings()
    migrate_target(settings)

    async def run(pool: AsyncConnectionPool[Conn]) -> T:
        async with as_service(pool) as conn:
            user_id = await user_id_of(conn, email)
        return await work(pool, Actor(claims=user_claims(user_id, email=email)))

    return with_pool(settings, run)


def print_json(doc: object) -> None:
    """One JSON document on stdout, nothing else (models as the API returns them)."""
    from pydantic_core import to_jsonable_python

    print(json.dumps(to_jsonable_python(doc)))
