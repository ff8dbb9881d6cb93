"""The admin service on a real database: administrators (their own claims, RLS applies) and
the system (the service role) may use it; to anyone else it does not exist. Every change
leaves its admin.* audit row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError

from cryptotrader.accounts import service as accounts
from cryptotrader.accounts.errors import (
    AccountArchived,
    AccountNotFound,
    AccountSuspensionForbidden,
)
from cryptotrader.accounts.schemas import AccountFromTemplate
from cryptotrader.admin import service
from cryptotrader.admin.errors import (
    AccountAlreadySuspended,
    AccountNotSuspended,
    AdminOnly,
    CannotBanYourself,
    TemplateAlreadyRetired,
    TemplateNameTaken,
    UserNotBanned,
    UserNotFound,
)
from cryptotrader.admin.schemas import AdminTemplateCreate, BanRequest, TemplateUpdate
from cryptotrader.audit.schemas import SYSTEM, Actor
from cryptotrader.auth import service as auth
from cryptotrader.auth.errors import InvalidRefreshToken, UserBanned
from cryptotrader.db.session import Conn, as_service, as_user, user_claims
from cryptotrader.errors import AccountNotActive, InvalidRequest
from cryptotrader.templates.errors import TemplateNotFound
from cryptotrader.trading import service as trading
from cryptotrader.trading.schemas import OrderRequest
from tests.support import Row, TestDatabase, create_account, create_user, default_account

pytestmark = pytest.mark.anyio
Pool = AsyncConnectionPool[Conn]
PASSWORD = "s3cret-passw0rd"
TTL = timedelta(days=1)


def audit_rows(db: TestDatabase, action_prefix: str = "admin.") -> list[Row]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT user_id, action, resource_type, resource_id, details FROM audit_logs"
            " WHERE action LIKE %s ORDER BY timestamp, id",
            [action_prefix + "%"],
        ).fetchall()


def admin_of(db: TestDatabase) -> tuple[UUID, dict[str, Any], Actor]:
    """A user (with a profile, for their audit rows), their admin claims and them as the
    actor."""
    with db.owner() as conn:
        uid = create_user(conn, email=f"admin-{uuid4().hex[:6]}@example.test")
    claims = user_claims(uid, admin=True)
    return uid, claims, Actor(claims=claims)


async def test_to_a_non_admin_every_function_answers_not_found(
    db: TestDatabase, pool: Pool
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
        account = default_account(conn, alice)
    claims = user_claims(alice)
    actor = Actor(claims=claims)
    some = uuid4()
    calls: list[Callable[[Conn], Awaitable[object]]] = [
        lambda c: service.list_accounts(c, actor),
        lambda c: service.suspend_account(c, actor, account, "mine"),
        lambda c: service.unsuspend_account(c, actor, account),
        lambda c: service.list_templates(c, actor),
        lambda c: service.create_template(c, actor, AdminTemplateCreate(name="Mine")),
        lambda c: service.update_template(c, actor, some, TemplateUpdate(name="x")),
        lambda c: service.retire_template(c, actor, some),
        lambda c: service.platform_status(c, actor),
    ]
    for call in calls:
        async with as_user(pool, claims) as conn:
            with pytest.raises(AdminOnly) as raised:
                await call(conn)
        assert (raised.value.status, raised.value.code, raised.value.detail) == (
            404,
            "not_found",
            "Not Found",
        )
    service_calls: list[Callable[[Conn], Awaitable[object]]] = [
        lambda c: service.list_users(c, actor),
        lambda c: service.ban_user(c, actor, alice, BanRequest(reason="x")),
        lambda c: service.unban_user(c, actor, alice),
    ]
    for call in service_calls:  # even on a service-role connection: the actor decides
        async with as_service(pool) as conn:
            with pytest.raises(AdminOnly):
                await call(conn)
    assert audit_rows(db) == []
    assert not service.is_admin(Actor(claims={"sub": str(alice), "role": "authenticated"}))
    assert service.is_admin(SYSTEM) and service.is_admin(
        Actor(claims=user_claims(alice, admin=True))
    )


async def test_users_are_listed_searched_and_paged(db: TestDatabase, pool: Pool) -> None:
    _, _, actor = admin_of(db)
    with db.owner() as conn:
        alice = create_user(conn, email="alice@example.test", display_name="Alice Liddell")
        create_user(conn, email="bob@example.test", display_name="Bob")
        create_user(conn, email="c_100%@example.test", display_name="Carol")
        create_account(conn, alice, account_name="Second")
    async with as_service(pool) as conn:
        everyone = await service.list_users(conn, actor)
        by_name = await service.list_users(conn, actor, search="LIDDELL")
        by_email = await service.list_users(conn, actor, search="bob@")
        literal = await service.list_users(conn, actor, search="_100%")
        wildcard = await service.list_users(conn, actor, search="%")
        first = await service.list_users(conn, actor, limit=2)
        rest = await service.list_users(
            conn, actor, after=(first[-1].created_at, first[-1].id), limit=10
        )
    assert len(everyone) == 4 and [u.id for u in first + rest] == [u.id for u in everyone]
    [found] = by_name
    assert (found.id, found.email, found.account_count, found.is_banned) == (
        alice,
        "alice@example.test",
        2,
        False,
    )
    assert found.last_sign_in_at is None and found.banned_until is None
    assert [u.email for u in by_email] == ["bob@example.test"]
    assert [u.email for u in literal] == [u.email for u in wildcard] == ["c_100%@example.test"]
    assert service.like_pattern("  ") is None and service.like_pattern("a_b") == "%a\\_b%"


async def test_a_ban_refuses_sign_in_revokes_sessions_and_is_audited(
    db: TestDatabase, pool: Pool
) -> None:
    admin_id, _, actor = admin_of(db)
    async with as_service(pool) as conn:
        frank = await auth.create_user(conn, "frank@example.test", PASSWORD)
    session = await auth.login(
        pool, SYSTEM, "frank@example.test", PASSWORD, max_attempts=5, window=TTL, refresh_ttl=TTL
    )
    until = datetime.now(UTC) + timedelta(days=7)
    async with as_service(pool) as conn:
        banned = await service.ban_user(
            conn, actor, frank, BanRequest(reason=" spam ", until=until)
        )
        assert banned.is_banned and banned.banned_until == until
        assert [u.id for u in await service.list_users(conn, actor, banned=True)] == [frank]
        assert frank not in [u.id for u in await service.list_users(conn, actor, banned=False)]
    with pytest.raises(UserBanned):
        await auth.login(
            pool,
            SYSTEM,
            "frank@example.test",
            PASSWORD,
            max_attempts=5,
            window=TTL,
            refresh_ttl=TTL,
        )
    with pytest.raises(InvalidRefreshToken):  # the session was revoked with the ban
        await auth.refresh_session(pool, SYSTEM, session.refresh.token, refresh_ttl=TTL)

    async with as_service(pool) as conn:  # banned again: for good
        forever = await service.ban_user(conn, actor, frank, BanRequest(reason="again"))
        assert forever.is_banned and forever.banned_until is None
    async with as_service(pool) as conn:  # (a unit per change: the audit rows' order)
        assert not (await service.unban_user(conn, actor, frank)).is_banned
        with pytest.raises(UserNotBanned):
            await service.unban_user(conn, actor, frank)
        with pytest.raises(CannotBanYourself):
            await service.ban_user(conn, actor, admin_id, BanRequest(reason="oops"))
        with pytest.raises(UserNotFound):
            await service.ban_user(conn, actor, uuid4(), BanRequest(reason="nobody"))
    await auth.login(
        pool, SYSTEM, "frank@example.test", PASSWORD, max_attempts=5, window=TTL, refresh_ttl=TTL
    )
    rows = audit_rows(db)
    assert [(r["user_id"], r["action"], r["resource_id"]) for r in rows] == [
        (admin_id, "admin.user_banned", str(frank)),
        (admin_id, "admin.user_banned", str(frank)),
        (admin_id, "admin.user_unbanned", str(frank)),
    ]
    assert rows[0]["details"] == {
        "reason": "spam",
        "until": until.isoformat(),
        "sessions_revoked": 1,
    }
    assert rows[1]["details"] == {"reason": "again", "until": None, "sessions_revoked": 0}
    with pytest.raises(ValidationError, match="a ban ends in the future"):
        BanRequest(reason="late", until=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(ValidationError):
        BanRequest(reason="   ")


async def test_suspension_stops_orders_and_only_an_admin_lifts_it(
    db: TestDatabase, pool: Pool
) -> None:
    admin_id, admin, actor = admin_of(db)
    with db.owner() as conn:
        conn.execute("UPDATE market_data_cache SET last_updated = now()")
        alice = create_user(conn, email="alice@example.test")
        account = default_account(conn, alice)
        archived = create_account(conn, alice, account_name="Old")
        conn.execute(
            "UPDATE paper_trading_accounts SET status = 'archived' WHERE id = %s", [archived]
        )
        create_user(conn, email="bob@example.test")
    owner = Actor(claims=user_claims(alice))
    order = OrderRequest(account_id=account, symbol="BTC", side="buy", amount=Decimal("0.01"))

    async with as_user(pool, admin) as conn:  # the admin's own unit: RLS applies
        mine = await service.list_accounts(conn, actor, owner_email="ALICE@example.test")
        assert {a.id for a in mine} == {account, archived}
        assert {a.owner_email for a in mine} == {"alice@example.test"}
        suspended = await service.suspend_account(conn, actor, account, "wash trading")
        assert suspended.status == "suspended"
        listed = await service.list_accounts(conn, actor, status="suspended")
        assert [a.id for a in listed] == [account]
        with pytest.raises(AccountAlreadySuspended):
            await service.suspend_account(conn, actor, account, "twice")
    with pytest.raises(AccountNotActive):
        await trading.place_order(pool, owner, order)
    async with as_user(pool, user_claims(alice)) as conn:
        with pytest.raises(AccountSuspensionForbidden):
            await accounts.set_status(conn, owner, account, "active")
    async with as_user(pool, admin) as conn:
        assert (await service.unsuspend_account(conn, actor, account)).status == "active"
        with pytest.raises(AccountNotSuspended):
            await service.unsuspend_account(conn, actor, account)
        with pytest.raises(AccountArchived):
            await service.suspend_account(conn, actor, archived, "archived already")
        with pytest.raises(AccountNotFound):
            await service.suspend_account(conn, actor, uuid4(), "nobody's")
    async with as_service(pool) as conn:  # the service role may reopen an archived account: not so
        with pytest.raises(AccountArchived):
            await service.suspend_account(conn, SYSTEM, archived, "archived already")
    assert (await trading.place_order(pool, owner, order)).trade.status == "completed"

    rows = audit_rows(db)
    assert [(r["user_id"], r["action"], r["resource_id"]) for r in rows] == [
        (admin_id, "admin.account_suspended", str(account)),
        (admin_id, "admin.account_unsuspended", str(account)),
    ]
    assert rows[0]["details"] == {
        "reason": "wash trading",
        "previous_status": "active",
        "owner_id": str(alice),
    }
    assert rows[1]["details"] == {"owner_id": str(alice)}


async def test_platform_templates_are_created_edited_and_retired(
    db: TestDatabase, pool: Pool
) -> None:
    admin_id, admin, actor = admin_of(db)
    with db.owner() as conn:
        alice = create_user(conn)
        shared = conn.execute(
            "INSERT INTO account_templates (name, account_type, risk_level, is_public, created_by)"
            " VALUES ('Alice shares', 'balanced', 'medium', true, %s) RETURNING id",
            [alice],
        ).fetchone()
        private = conn.execute(
            "INSERT INTO account_templates (name, account_type, risk_level, is_public, created_by)"
            " VALUES ('Alice keeps', 'balanced', 'medium', false, %s) RETURNING id",
            [alice],
        ).fetchone()
    assert shared is not None and private is not None
    data = AdminTemplateCreate(name="Weekly DCA", account_type="conservative", tags=["dca"])
    async with as_user(pool, admin) as conn:
        made = await service.create_template(conn, actor, data)
        assert (made.is_builtin, made.is_public, made.tags) == (True, True, ["dca"])
    async with as_user(pool, admin) as conn:  # a built-in template's name (the unit fails)
        with pytest.raises(TemplateNameTaken):
            await service.create_template(conn, actor, AdminTemplateCreate(name="Balanced"))
    async with as_user(pool, admin) as conn:
        edited = await service.update_template(
            conn, actor, made.id, TemplateUpdate(name="Weekly BTC", max_daily_loss=Decimal("150"))
        )
        assert (edited.name, edited.max_daily_loss) == ("Weekly BTC", Decimal("150"))
        with pytest.raises(InvalidRequest):
            await service.update_template(conn, actor, made.id, TemplateUpdate())
        with pytest.raises(TemplateNotFound):  # a user's template is not the platform's to edit
            await service.update_template(conn, actor, shared["id"], TemplateUpdate(name="Mine"))
    for template in (made.id, shared["id"]):  # a unit per change: the audit rows' order
        async with as_user(pool, admin) as conn:
            assert not (await service.retire_template(conn, actor, template)).is_public
    async with as_user(pool, admin) as conn:
        with pytest.raises(TemplateAlreadyRetired):
            await service.retire_template(conn, actor, made.id)
        with pytest.raises(TemplateNotFound):  # private: not offered, not the admin's to retire
            await service.retire_template(conn, actor, private["id"])
        retired = await service.list_templates(conn, actor, retired=True)
        offered = await service.list_templates(conn, actor, retired=False)
    # a user's retired template is theirs alone again, like any private one
    assert [t.id for t in retired] == [made.id]
    assert shared["id"] not in {t.id for t in offered}
    assert made.id not in {t.id for t in offered} and len(offered) >= 5  # the built-in ones
    async with as_user(pool, user_claims(alice)) as conn:
        with pytest.raises(TemplateNotFound):  # no longer offered
            await accounts.create_from_template(
                conn,
                Actor(claims=user_claims(alice)),
                AccountFromTemplate(template_id=made.id, account_name="Too late"),
            )
    async with as_service(pool) as conn:  # offered again, by the system
        again = await service.update_template(conn, SYSTEM, made.id, TemplateUpdate(is_public=True))
        assert again.is_public

    rows = audit_rows(db)
    assert [(r["user_id"], r["action"], r["resource_id"]) for r in rows] == [
        (admin_id, "admin.template_created", str(made.id)),
        (admin_id, "admin.template_updated", str(made.id)),
        (admin_id, "admin.template_retired", str(made.id)),
        (admin_id, "admin.template_retired", str(shared["id"])),
        (None, "admin.template_updated", str(made.id)),
    ]
    assert rows[0]["details"] == {"name": "Weekly DCA", "is_public": True}
    assert rows[1]["details"] == {"name": "Weekly BTC", "max_daily_loss": "150"}
    assert rows[3]["details"] == {"name": "Alice shares", "is_builtin": False}


async def test_platform_status_reads_feed_queue_and_database(db: TestDatabase, pool: Pool) -> None:
    _, admin, actor = admin_of(db)
    with db.owner() as conn:
        alice = create_user(conn)
        for status in ("pending", "pending", "failed"):
            conn.execute(
                "INSERT INTO backtest_sessions (user_id, session_name, symbol, timeframe,"
                " start_date, end_date, backtest_config, status, created_at)"
                " VALUES (%s, 'q', 'BTC', '1h', '2021-01-01', '2021-02-01', %s, %s,"
                " now() - interval '1 minute')",
                [alice, Jsonb({}), status],
            )
    async with as_user(pool, admin) as conn:
        state = await service.platform_status(conn, actor)
    assert (state.backtests.pending, state.backtests.failed, state.backtests.running) == (2, 1, 0)
    assert state.backtests.backtest_workers == 0 and not state.feed.leading
    assert (state.backtests.oldest_pending_seconds or 0) >= 59
    assert state.database.version[:1].isdigit()
    assert state.database.size_bytes > 0 and state.database.connections >= 1
    assert state.database.max_connections >= state.database.connections
    async with as_service(pool) as conn:  # the CLI's view is the same
        assert (await service.platform_status(conn, SYSTEM)).backtests.pending == 2
    assert audit_rows(db) == []  # read-only
