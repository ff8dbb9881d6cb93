"""Account states that mean what they say (issue 10): archiving is final and hands the
default on; an order without its price says the price is required. Through the accounts
and profiles services as a user drives them, on a real database through RLS."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.accounts import service
from cryptotrader.accounts.errors import AccountArchived
from cryptotrader.accounts.schemas import Account, AccountCreate
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.session import Conn, as_user, user_claims
from cryptotrader.errors import DomainError, InvalidPrice, from_db_error
from cryptotrader.profiles import service as profiles
from tests.support import TestDatabase, create_user

pytestmark = pytest.mark.anyio
Pool = AsyncConnectionPool[Conn]


def as_(claims: dict[str, Any]) -> Actor:
    return Actor(claims=claims)


def defaults(db: TestDatabase, user: UUID) -> tuple[list[UUID], Any]:
    """The user's accounts marked default, and their default_account_id setting."""
    with db.owner() as conn:
        marked = conn.execute(
            "SELECT id FROM paper_trading_accounts WHERE user_id = %s AND is_default", [user]
        ).fetchall()
        setting = conn.execute(
            "SELECT setting_value FROM user_settings"
            " WHERE user_id = %s AND setting_name = 'default_account_id'",
            [user],
        ).fetchone()
    return [r["id"] for r in marked], setting and setting["setting_value"]


async def opened(pool: Pool, user: UUID, name: str) -> Account:
    async with as_user(pool, user_claims(user)) as conn:
        return await service.create_account(
            conn, as_(user_claims(user)), AccountCreate(account_name=name)
        )


async def test_archiving_the_default_hands_it_to_the_oldest_active_account(
    db: TestDatabase, pool: Pool
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    async with as_user(pool, user_claims(alice)) as conn:
        main = (await service.list_accounts(conn))[0]
        paused = await service.create_account(
            conn, as_(user_claims(alice)), AccountCreate(account_name="Paused")
        )
        await service.set_status(conn, as_(user_claims(alice)), paused.id, "paused")
    # one transaction each: created_at is the transaction's time
    side, later = [await opened(pool, alice, name) for name in ("Side", "Later")]
    async with as_user(pool, user_claims(alice)) as conn:
        assert main.is_default
        archived = await service.set_status(conn, as_(user_claims(alice)), main.id, "archived")
    assert (archived.status, archived.is_default) == ("archived", False)
    # the paused account is older, but only an active one takes over
    assert defaults(db, alice) == ([side.id], str(side.id))
    async with as_user(pool, user_claims(alice)) as conn:
        setting = await profiles.get_setting(conn, "default_account_id")
        listed = await service.list_accounts(conn)
    assert setting.value == str(side.id)
    assert [(a.id, a.is_default) for a in listed] == [
        (side.id, True),
        (paused.id, False),
        (later.id, False),
    ]


async def test_archiving_the_last_active_default_clears_the_setting(
    db: TestDatabase, pool: Pool
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    async with as_user(pool, user_claims(alice)) as conn:
        main = (await service.list_accounts(conn))[0]
        paused = await service.create_account(
            conn, as_(user_claims(alice)), AccountCreate(account_name="Paused")
        )
        await service.set_status(conn, as_(user_claims(alice)), paused.id, "paused")
        await service.set_status(conn, as_(user_claims(alice)), main.id, "archived")
    assert defaults(db, alice) == ([], None)
    async with as_user(pool, user_claims(alice)) as conn:
        setting = await profiles.get_setting(conn, "default_account_id")
    assert (setting.value, setting.is_default) == (None, True)


async def test_archiving_another_account_leaves_the_default(db: TestDatabase, pool: Pool) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    async with as_user(pool, user_claims(alice)) as conn:
        main = (await service.list_accounts(conn))[0]
        side = await service.create_account(
            conn, as_(user_claims(alice)), AccountCreate(account_name="Side")
        )
        await service.set_status(conn, as_(user_claims(alice)), side.id, "archived")
    assert defaults(db, alice) == ([main.id], str(main.id))


async def test_an_archived_account_is_never_reopened(db: TestDatabase, pool: Pool) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    async with as_user(pool, user_claims(alice)) as conn:
        side = await service.create_account(
            conn, as_(user_claims(alice)), AccountCreate(account_name="Side")
        )
        await service.set_status(conn, as_(user_claims(alice)), side.id, "archived")
    with db.owner() as conn:
        admin = user_claims(create_user(conn), admin=True)  # the audit row needs a profile
    for claims, status in [
        (user_claims(alice), "active"),
        (user_claims(alice), "paused"),
        (admin, "active"),
        (admin, "suspended"),
    ]:
        async with as_user(pool, claims) as conn:
            with pytest.raises(AccountArchived, match="archiving is final"):
                await service.set_status(conn, as_(claims), side.id, status)  # type: ignore[arg-type]
    async with as_user(pool, user_claims(alice)) as conn:
        again = await service.set_status(
            conn, as_(user_claims(alice)), side.id, "archived"
        )  # archiving again: a no-op
        assert again.status == "archived"
    with db.owner() as conn:
        row = conn.execute(
            "SELECT status FROM paper_trading_accounts WHERE id = %s", [side.id]
        ).fetchone()
    assert row == {"status": "archived"}


async def test_pause_is_the_reversible_one(db: TestDatabase, pool: Pool) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    async with as_user(pool, user_claims(alice)) as conn:
        main = (await service.list_accounts(conn))[0]
        assert (
            await service.set_status(conn, as_(user_claims(alice)), main.id, "paused")
        ).status == "paused"
        resumed = await service.set_status(conn, as_(user_claims(alice)), main.id, "active")
    assert (resumed.status, resumed.is_default) == ("active", True)  # pausing keeps the default


async def test_an_archived_account_cannot_become_the_default(db: TestDatabase, pool: Pool) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    async with as_user(pool, user_claims(alice)) as conn:
        main = (await service.list_accounts(conn))[0]
        side = await service.create_account(
            conn, as_(user_claims(alice)), AccountCreate(account_name="Side")
        )
        await service.set_status(conn, as_(user_claims(alice)), side.id, "archived")
    async with as_user(pool, user_claims(alice)) as conn:
        with pytest.raises(AccountArchived, match="cannot be the default"):
            await service.set_default(conn, as_(user_claims(alice)), side.id)
    async with as_user(pool, user_claims(alice)) as conn:
        with pytest.raises(AccountArchived, match="cannot be the default"):
            await profiles.put_setting(
                conn, as_(user_claims(alice)), "default_account_id", str(side.id)
            )
    assert defaults(db, alice) == ([main.id], str(main.id))


def refusal(db: TestDatabase, user: UUID, account: UUID, **order: object) -> DomainError:
    """The typed error execute_paper_trade() raises for this order, as the user."""
    args = ", ".join(f"p_{name} => %({name})s" for name in order)
    with db.owner() as conn:
        conn.execute("UPDATE market_data_cache SET last_updated = now()")
    with db.as_user(user) as conn, pytest.raises(psycopg.Error) as raised:
        conn.execute(
            "SELECT * FROM execute_paper_trade(p_account_id => %(account)s, p_symbol => 'BTC',"
            f" p_side => 'buy', p_amount => 0.01, {args})",
            {"account": account, **order},
        )
    error = from_db_error(raised.value)
    assert error is not None, raised.value
    return error


@pytest.mark.parametrize(
    ("order_type", "message"),
    [
        ("limit", "limit_price is required for limit orders"),
        ("stop", "stop_price is required for stop orders"),
    ],
)
async def test_an_order_without_its_price_says_the_price_is_required(
    db: TestDatabase, order_type: str, message: str
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
        account = conn.execute(
            "SELECT id FROM paper_trading_accounts WHERE user_id = %s", [alice]
        ).fetchone()
    assert account is not None
    error = refusal(db, alice, account["id"], order_type=order_type)
    assert isinstance(error, InvalidPrice)
    assert error.detail == message
    # a price that is there but wrong still says what a price must be
    price = "limit_price" if order_type == "limit" else "stop_price"
    wrong = refusal(db, alice, account["id"], order_type=order_type, **{price: -1})
    assert isinstance(wrong, InvalidPrice)
    assert wrong.detail.endswith("must be a positive number below 1e15 with at most 18 decimals")
