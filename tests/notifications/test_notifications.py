"""The notifications service and its SQL under row level security: a user sees, counts
and changes only their own unexpired notifications; another user's is not found; users may
change only is_read."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.audit.schemas import Actor
from cryptotrader.db.session import Conn, as_user, user_claims
from cryptotrader.notifications import service
from cryptotrader.notifications.errors import NotificationNotFound
from cryptotrader.notifications.service import Q
from tests.notifications.helpers import notify
from tests.support import TestDatabase, create_user, default_account

pytestmark = pytest.mark.anyio
Pool = AsyncConnectionPool[Conn]


async def call(pool: Pool, user: UUID, fn: Any, *args: Any) -> Any:
    async with as_user(pool, user_claims(user)) as conn:
        return await fn(conn, Actor(claims=user_claims(user)), *args)


async def read(pool: Pool, user: UUID, fn: Any, *args: Any, **kw: Any) -> Any:
    async with as_user(pool, user_claims(user)) as conn:
        return await fn(conn, *args, **kw)


def two_users(db: TestDatabase) -> tuple[UUID, UUID, UUID, list[UUID]]:
    with db.owner() as conn:
        ann, bob = create_user(conn), create_user(conn)
        account = default_account(conn, ann)
        ids = [notify(conn, account, ann, ago="2 minutes"), notify(conn, account, ann)]
        notify(conn, account, ann, expired=True)
    return ann, bob, account, ids


async def test_own_unexpired_notifications_only(db: TestDatabase, pool: Pool) -> None:
    ann, bob, account, ids = two_users(db)
    found = await read(pool, ann, service.list_notifications)
    assert [n.id for n in found] == [ids[1], ids[0]]
    assert await read(pool, ann, service.unread_count) == 2
    assert await read(pool, bob, service.list_notifications) == []
    assert await read(pool, bob, service.unread_count) == 0
    for fn, args in ((service.set_read, (ids[0], True)), (service.delete_notification, (ids[0],))):
        with pytest.raises(NotificationNotFound):
            await call(pool, bob, fn, *args)
    assert await call(pool, bob, service.read_all, None) == 0
    assert (await call(pool, ann, service.set_read, ids[0], True)).is_read is True
    assert await call(pool, ann, service.read_all, account) == 1
    await call(pool, ann, service.delete_notification, ids[0])
    assert [n.id for n in await read(pool, ann, service.list_notifications)] == [ids[1]]


def test_sql_as_another_user_sees_and_changes_nothing(db: TestDatabase) -> None:
    ann, bob, _, ids = two_users(db)
    with db.as_user(bob) as conn:
        assert conn.execute(Q["set_read"], {"id": ids[0], "is_read": True}).fetchall() == []
        assert conn.execute(Q["delete_notification"], {"id": ids[0]}).fetchall() == []
        assert conn.execute(Q["read_all"], {"account_id": None}).rowcount == 0
    with db.as_user(ann) as conn:
        row: Any = conn.execute(Q["unread_count"], {}).fetchone()
        assert row["unread"] == 2
    with db.as_user(ann) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE account_notifications SET title = 'x' WHERE id = %s", [ids[0]])
