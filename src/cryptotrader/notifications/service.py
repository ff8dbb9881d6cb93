"""The caller's in-app notifications (rows of account_notifications).

Expired notifications (expires_at <= now()) are never listed, counted or changed. Another
user's notification is not visible (RLS): NotificationNotFound, exactly like a missing one.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.calls import execute, fetch_all, fetch_one, require
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.notifications.errors import NotificationNotFound
from cryptotrader.notifications.schemas import Notification

Q = load_queries("cryptotrader.notifications")


async def list_notifications(
    conn: Conn,
    *,
    unread: bool = False,
    account_id: UUID | None = None,
    notification_type: str | None = None,
    after: tuple[datetime, UUID] | None = None,
    limit: int | None = None,
) -> list[Notification]:
    """The caller's unexpired notifications, newest first. ``after`` is the (created_at, id)
    of the previous page's last one; ``limit`` None: all."""
    at, row_id = after if after is not None else (None, None)
    params = {
        "unread": unread,
        "account_id": account_id,
        "type": notification_type,
        "after_at": at,
        "after_id": row_id,
        "limit": limit,
    }
    rows = await fetch_all(conn, Q["list_notifications"], params)
    return [Notification.model_validate(r) for r in rows]


async def unread_count(conn: Conn) -> int:
    row = await fetch_one(conn, Q["unread_count"], {})
    return int(row["unread"]) if row else 0


async def set_read(conn: Conn, actor: Actor, notification_id: UUID, is_read: bool) -> Notification:
    """Mark it read (or unread). Raises NotificationNotFound. Audited ``notification.read``
    or ``notification.unread``."""
    row = await fetch_one(conn, Q["set_read"], {"id": notification_id, "is_read": is_read})
    notification = Notification.model_validate(require(row, NotificationNotFound()))
    action = "notification.read" if is_read else "notification.unread"
    await audit.record(conn, actor, action, "notification", notification_id)
    return notification


async def read_all(conn: Conn, actor: Actor, account_id: UUID | None = None) -> int:
    """Mark every unread notification read (of one account if given); how many changed.
    Audited ``notification.read_all``."""
    changed = await execute(conn, Q["read_all"], {"account_id": account_id})
    details = {"account_id": str(account_id) if account_id else None, "changed": changed}
    await audit.record(conn, actor, "notification.read_all", "notification", None, details)
    return changed


async def delete_notification(conn: Conn, actor: Actor, notification_id: UUID) -> None:
    """Raises NotificationNotFound. Audited ``notification.delete``."""
    row = await fetch_one(conn, Q["delete_notification"], {"id": notification_id})
    require(row, NotificationNotFound())
    await audit.record(conn, actor, "notification.delete", "notification", notification_id)
