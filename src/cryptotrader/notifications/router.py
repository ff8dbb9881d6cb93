"""/notifications: thin HTTP over the notifications service."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, status

from cryptotrader.api.deps import SignedIn
from cryptotrader.api.pagination import Cursor, InvalidCursor, Limit, Page, decode_cursor, page_of
from cryptotrader.api.problems import responses
from cryptotrader.errors import InvalidRequest, NotAuthenticated
from cryptotrader.notifications import service
from cryptotrader.notifications.errors import NotificationNotFound
from cryptotrader.notifications.schemas import (
    EXAMPLE_ACCOUNT_ID,
    EXAMPLE_NOTIFICATION_ID,
    Notification,
    ReadAllResult,
    UnreadCount,
)

router = APIRouter(prefix="/notifications", tags=["notifications"])
ONE = responses(NotAuthenticated, NotificationNotFound)
NotificationId = Annotated[UUID, Path(examples=[EXAMPLE_NOTIFICATION_ID])]
Unread = Annotated[bool, Query(description="Only the unread ones.")]
AccountFilter = Annotated[UUID | None, Query(examples=[EXAMPLE_ACCOUNT_ID])]
TypeFilter = Annotated[
    str | None, Query(alias="type", min_length=1, max_length=50, examples=["risk.daily_loss"])
]


@router.get(
    "",
    responses=responses(NotAuthenticated, InvalidCursor, InvalidRequest),
    summary="Your notifications, newest first (expired ones never)",
)
async def list_notifications(
    caller: SignedIn,
    unread: Unread = False,
    account_id: AccountFilter = None,
    notification_type: TypeFilter = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[Notification]:
    async with caller.unit() as conn:
        items = await service.list_notifications(
            conn,
            unread=unread,
            account_id=account_id,
            notification_type=notification_type,
            after=decode_cursor(cursor),
            limit=limit,
        )
    return page_of(items, limit)


@router.get(
    "/unread-count",
    responses=responses(NotAuthenticated),
    summary="How many unread, unexpired notifications you have",
)
async def unread_count(caller: SignedIn) -> UnreadCount:
    async with caller.unit() as conn:
        return UnreadCount(unread=await service.unread_count(conn))


@router.post(
    "/read-all",
    responses=responses(NotAuthenticated, InvalidRequest),
    summary="Mark all your notifications read (optionally of one account)",
)
async def read_all(caller: SignedIn, account_id: AccountFilter = None) -> ReadAllResult:
    async with caller.unit() as conn:
        return ReadAllResult(changed=await service.read_all(conn, caller.actor, account_id))


@router.post("/{notification_id}/read", responses=ONE, summary="Mark a notification read")
async def mark_read(caller: SignedIn, notification_id: NotificationId) -> Notification:
    async with caller.unit() as conn:
        return await service.set_read(conn, caller.actor, notification_id, True)


@router.post("/{notification_id}/unread", responses=ONE, summary="Mark a notification unread")
async def mark_unread(caller: SignedIn, notification_id: NotificationId) -> Notification:
    async with caller.unit() as conn:
        return await service.set_read(conn, caller.actor, notification_id, False)


@router.delete(
    "/{notification_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ONE,
    summary="Delete a notification",
)
async def delete_notification(caller: SignedIn, notification_id: NotificationId) -> None:
    async with caller.unit() as conn:
        await service.delete_notification(conn, caller.actor, notification_id)
