"""Units of work: one transaction, run as a user (RLS applies), as ``anon``, or as ``service_role``.

The pool's login role can do nothing by itself; each unit switches, for its own
transaction only, to one of the three API roles and sets ``request.jwt.claims``
exactly as Supabase's PostgREST does, so ``auth.uid()`` and every policy see the caller.
Services never commit: leaving the block commits, an exception rolls back.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

Conn = AsyncConnection[DictRow]
Claims = Mapping[str, Any]

_ENTER = "SELECT set_config('role', %s, true), set_config('request.jwt.claims', %s, true)"


def user_claims(
    user_id: UUID | str, *, email: str | None = None, admin: bool = False
) -> dict[str, Any]:
    """The JWT claims of a signed-in user, as the database's ``auth.*`` functions read them."""
    claims: dict[str, Any] = {"sub": str(user_id), "role": "authenticated"}
    if email is not None:
        claims["email"] = email
    if admin:
        claims["app_metadata"] = {"role": "admin"}
    return claims


def open_pool(conninfo: str, *, min_size: int = 2, max_size: int = 16) -> AsyncConnectionPool[Conn]:
    """An unopened pool of the app role's connections returning rows as dicts."""
    return AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        open=False,
        kwargs={"row_factory": dict_row, "autocommit": False, "options": "-c TimeZone=UTC"},
        connection_class=AsyncConnection[DictRow],
        name="cryptotrader",
    )


@asynccontextmanager
async def _unit(pool: AsyncConnectionPool[Conn], role: str, claims: Claims) -> AsyncIterator[Conn]:
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(_ENTER, [role, json.dumps(dict(claims))])
        yield conn


def as_user(pool: AsyncConnectionPool[Conn], claims: Claims) -> AbstractAsyncContextManager[Conn]:
    """One transaction as ``authenticated`` with these claims (``sub`` is the user id)."""
    return _unit(pool, "authenticated", claims)


def as_anon(pool: AsyncConnectionPool[Conn]) -> AbstractAsyncContextManager[Conn]:
    """One transaction as ``anon``: public data only."""
    return _unit(pool, "anon", {"role": "anon"})


def as_service(pool: AsyncConnectionPool[Conn]) -> AbstractAsyncContextManager[Conn]:
    """One transaction as ``service_role``, for workers and system jobs."""
    return _unit(pool, "service_role", {"role": "service_role"})


@asynccontextmanager
async def single_statement(pool: AsyncConnectionPool[Conn]) -> AsyncIterator[Conn]:
    """A connection in autocommit mode for one statement that is a whole unit by itself: a
    ``gateway`` function that switches its own transaction to the caller's role and claims
    (one round trip instead of BEGIN, role switch, call, COMMIT). The connection goes back to
    the pool in its usual transactional mode."""
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            with contextlib.suppress(psycopg.Error):  # a broken connection is discarded anyway
                await conn.set_autocommit(False)
