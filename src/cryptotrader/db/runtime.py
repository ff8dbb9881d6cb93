"""Bringing the database up for a command: resolve, migrate, and open the app's pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from cryptotrader.config import Settings
from cryptotrader.db import migrate
from cryptotrader.db.errors import DatabaseUnavailable
from cryptotrader.db.session import Conn, open_pool
from cryptotrader.db.target import DatabaseTarget, describe_conninfo, one_line, resolve_target


def migrate_target(settings: Settings) -> tuple[DatabaseTarget, list[migrate.Migration]]:
    """Resolve the database, apply pending migrations, and (re)configure the app's login role."""
    target = resolve_target(settings)
    applied = migrate.migrate(target.owner)
    migrate.ensure_app_role(
        target.owner, target.app_role, settings.resolved_app_password(), target.dbname
    )
    return target, applied


@asynccontextmanager
async def app_pool(
    target: DatabaseTarget, settings: Settings
) -> AsyncIterator[AsyncConnectionPool[Conn]]:
    """An open pool of the app role's connections; a clear error when it cannot connect."""
    pool = open_pool(target.app, min_size=settings.pool_min_size, max_size=settings.pool_max_size)
    try:
        await pool.open(wait=True, timeout=10)
    except PoolTimeout as exc:
        try:
            with psycopg.connect(target.app, connect_timeout=5):
                pass
        except psycopg.OperationalError as cause:
            reason = one_line(cause)
            raise DatabaseUnavailable(
                f"cannot connect to {describe_conninfo(target.app)} as {target.app_role}: {reason}"
                " (has `cryptotrader db migrate` run?)"
            ) from exc
        raise
    try:
        yield pool
    finally:
        await pool.close()
