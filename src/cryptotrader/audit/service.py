"""Writing the audit trail. Every action that changes data records one ``audit_logs`` row,
in the action's own transaction (a rollback drops it), whoever performs it: the API, the
CLI or a worker."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from cryptotrader.audit.schemas import Actor
from cryptotrader.db.calls import execute
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn

Q = load_queries("cryptotrader.audit")


def _plain(value: Any) -> Any:
    """Details as JSON the API can return unchanged: decimals as strings, like everywhere."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _row(
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: object,
    details: dict[str, Any] | None,
    user_id: UUID | None,
) -> dict[str, Any]:
    return {
        "action": action,
        "resource_type": resource_type,
        "resource_id": None if resource_id is None else str(resource_id),
        "details": Jsonb(_plain(details or {})),
        "ip": actor.ip,
        "user_agent": actor.user_agent,
        "user_id": user_id or actor.user_id,
    }


async def record(
    conn: Conn,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: object = None,
    details: dict[str, Any] | None = None,
    *,
    user_id: UUID | None = None,
) -> None:
    """Record ``action`` on a resource in ``conn``'s transaction. The row belongs to
    ``user_id`` when given (an action on a user's behalf, e.g. sign-up), else to the
    actor's user (none for the system)."""
    row = _row(actor, action, resource_type, resource_id, details, user_id)
    await execute(conn, Q["record"], row)


def record_sync(
    conn: psycopg.Connection[Any],
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: object = None,
    details: dict[str, Any] | None = None,
) -> None:
    """:func:`record` on a synchronous connection (the CSV candle import's)."""
    conn.execute(Q["record"], _row(actor, action, resource_type, resource_id, details, None))
