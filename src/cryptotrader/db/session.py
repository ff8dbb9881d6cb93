"""Units of work: one transaction, run as a user (RLS applies), as ``anon``, or as ``service_role``.

The pool's login role can do nothing by itself; each unit switches, for its own
transaction only, to one of the three API roles and sets ``request.jwt.claims``
exactly as Supabase's PostgREST does, so ``auth.uid()`` and every policy see the caller.
Services never commit: leaving the block commits, an exception rolls back.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row, tuple_row
from psycopg_pool import AsyncConnectionPool

Conn = AsyncConnection[DictRow]
Claims = Mapping[str, Any]

_ENTER = "SELECT set_config('role', %s, true), set_config('request.jwt.claims', %s, true)"
# the same switch for a whole session (a dedicated connection of a worker, the feed, the stream)
_ENTER_SESSION = "SELECT set_config('role', %s, false), set_config('request.jwt.claims', %s, false)"
_CURRENT_ROLE = "SELECT current_setting('role')"
_SERVICE_CLAIMS = json.dumps({"role": "service_role"})


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
async def service_connection(conninfo: str, **kwargs: Any) -> AsyncIterator[Conn]:
    """A dedicated autocommit connection of the app role that is ``service_role`` for its
    whole life: the feed leader's, the stream listener's, a worker's (each unit of work on
    it in ``conn.transaction()``). ``kwargs`` go to ``connect`` (e.g. ``connect_timeout``)."""
    async with await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, row_factory=dict_row, options="-c TimeZone=UTC", **kwargs
    ) as conn:
        await conn.execute(_ENTER_SESSION, ["service_role", _SERVICE_CLAIMS])
        yield conn


@contextlib.contextmanager
def service_role_within(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Inside the caller's open transaction of a synchronous connection: act as
    ``service_role`` until the block ends, then as the role in force before (the CSV candle
    import, run from the CLI on a connection that may belong to any role)."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(_CURRENT_ROLE).fetchone()
    previous = str(row[0]) if row else "none"
    cur.execute(_ENTER, ["service_role", _SERVICE_CLAIMS])
    try:
        yield
    finally:
        if not conn.broken and conn.info.transaction_status != TransactionStatus.INERROR:
            cur.execute("SELECT set_config('role', %s, true)", [previous])


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
