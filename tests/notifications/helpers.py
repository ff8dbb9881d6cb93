"""Notification rows written as the owner, as the engine and the copy worker do."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import Row


def notify(
    conn: psycopg.Connection[Row],
    account_id: UUID,
    user_id: UUID,
    *,
    notification_type: str = "test.event",
    expired: bool = False,
    ago: str = "0 seconds",
) -> UUID:
    row: Any = conn.execute(
        "INSERT INTO account_notifications"
        " (account_id, user_id, notification_type, title, message, expires_at, created_at)"
        " VALUES (%s, %s, %s, 'Hello', 'A test notification',"
        " CASE WHEN %s THEN now() - interval '1 minute' END, now() - %s::interval)"
        " RETURNING id",
        [account_id, user_id, notification_type, expired, ago],
    ).fetchone()
    return UUID(str(row["id"]))
