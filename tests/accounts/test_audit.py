"""The accounts service records its own audit rows, so the API and the CLI audit alike: the
action, resource and details the service is called with, the actor's address, in the
action's transaction (a refused change records nothing)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.accounts import service
from cryptotrader.accounts.errors import AccountSuspensionForbidden
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.session import Conn, as_user, user_claims
from tests.support import TestDatabase, create_user

pytestmark = pytest.mark.anyio
Pool = AsyncConnectionPool[Conn]


def audit_rows(db: TestDatabase, user: UUID) -> list[dict[str, Any]]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT action, resource_type, resource_id, details, host(ip_address) AS ip,"
            " user_agent FROM audit_logs WHERE user_id = %s ORDER BY timestamp, id",
            [user],
        ).fetchall()


async def test_reset_and_status_changes_record_their_audit_rows(
    db: TestDatabase, pool: Pool
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    actor = Actor(claims=user_claims(alice), ip="192.0.2.7", user_agent="cryptotrader-cli")
    async with as_user(pool, user_claims(alice)) as conn:
        main = (await service.list_accounts(conn))[0]
        reset = await service.reset_account(conn, actor, main.id, "fresh start")
    async with as_user(pool, user_claims(alice)) as conn:  # a row per transaction: ordered
        await service.set_status(conn, actor, main.id, "paused")
    async with as_user(pool, user_claims(alice)) as conn:
        with pytest.raises(AccountSuspensionForbidden):
            await service.set_status(conn, actor, main.id, "suspended")
    where = {"resource_type": "account", "resource_id": str(main.id)}
    by = {"ip": "192.0.2.7", "user_agent": "cryptotrader-cli"}
    assert audit_rows(db, alice) == [
        {"action": "account.reset", **where, "details": {"epoch": reset.epoch}, **by},
        {"action": "account.paused", **where, "details": {}, **by},
    ]
