"""Calling our SQL with rejections turned into typed domain errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, LiteralString

import psycopg
from psycopg import sql

from cryptotrader.db.session import Conn
from cryptotrader.errors import DomainError, from_db_error

# What our helpers accept: a literal query or one composed with psycopg.sql, never a
# string built from values.
Query = LiteralString | sql.SQL | sql.Composed


@asynccontextmanager
async def domain_errors() -> AsyncIterator[None]:
    """Re-raise our SQL functions' rejections (SQLSTATE CTnnn) as DomainError subclasses."""
    try:
        yield
    except psycopg.Error as exc:
        mapped = from_db_error(exc)
        if mapped is None:
            raise
        raise mapped from exc


async def fetch_one(conn: Conn, query: Query, params: Any = None) -> dict[str, Any] | None:
    async with domain_errors():
        cur = await conn.execute(query, params)
        return await cur.fetchone()


async def fetch_all(conn: Conn, query: Query, params: Any = None) -> list[dict[str, Any]]:
    async with domain_errors():
        cur = await conn.execute(query, params)
        return await cur.fetchall()


async def execute(conn: Conn, query: Query, params: Any = None) -> int:
    """Run a statement; return the number of rows it touched."""
    async with domain_errors():
        cur = await conn.execute(query, params)
        return cur.rowcount


def require(row: dict[str, Any] | None, error: DomainError) -> dict[str, Any]:
    if row is None:
        raise error
    return row
