"""Trader profiles and follows on a real database: opt-in listing, the published columns
only, follows of listed traders only, pause and unfollow, and RLS tested in SQL as the
`authenticated` role with another user's claims."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.audit.schemas import Actor
from cryptotrader.db.session import Conn, as_user, user_claims
from cryptotrader.social import service
from cryptotrader.social.errors import (
    AlreadyFollowing,
    FollowNotFound,
    NoTraderProfile,
    SelfFollow,
    TraderNotFound,
)
from cryptotrader.social.schemas import TraderProfileUpdate
from tests.support import TestDatabase, create_user

pytestmark = pytest.mark.anyio
Pool = AsyncConnectionPool[Conn]


async def call(pool: Pool, user: UUID, fn: Any, *args: Any, **kw: Any) -> Any:
    async with as_user(pool, user_claims(user)) as conn:
        return await fn(conn, Actor(claims=user_claims(user)), *args, **kw)


async def read(pool: Pool, user: UUID, fn: Any, *args: Any) -> Any:
    async with as_user(pool, user_claims(user)) as conn:
        return await fn(conn, *args)


def listed(name: str, **changes: object) -> TraderProfileUpdate:
    return TraderProfileUpdate.model_validate(
        {"is_listed": True, "display_name": name, "category": "Swing"} | changes
    )


async def test_a_profile_is_private_until_listed(db: TestDatabase, pool: Pool) -> None:
    with db.owner() as conn:
        alice, bob = create_user(conn), create_user(conn)
    with pytest.raises(NoTraderProfile):
        await read(pool, alice, service.get_own_profile)
    private = await call(pool, alice, service.put_own_profile, listed("Alice", is_listed=False))
    assert private.is_listed is False and private.listed_at is None
    with pytest.raises(TraderNotFound):
        await read(pool, bob, service.get_trader, alice)
    assert await read(pool, bob, service.list_traders) == []
    shown = await call(pool, alice, service.put_own_profile, listed("Alice", bio="BTC swings"))
    assert shown.listed_at is not None
    trader = await read(pool, bob, service.get_trader, alice)
    assert (trader.display_name, trader.category, trader.followers) == ("Alice", "Swing", 0)
    assert [t.id for t in await read(pool, bob, service.list_traders)] == [alice]
    again = await call(pool, alice, service.put_own_profile, listed("Alice B"))
    assert again.listed_at == shown.listed_at  # listed since
    with db.owner() as conn:
        audit = conn.execute(
            "SELECT count(*) AS n FROM audit_logs WHERE action = 'trader_profile.update'"
        ).fetchone()
    assert audit == {"n": 3}


async def test_follows_of_listed_traders_only(db: TestDatabase, pool: Pool) -> None:
    with db.owner() as conn:
        alice, bob, carol = create_user(conn), create_user(conn), create_user(conn)
    await call(pool, alice, service.put_own_profile, listed("Alice"))
    await call(pool, carol, service.put_own_profile, listed("Carol", is_listed=False))
    made = await call(pool, bob, service.follow, alice)
    assert (made.trader_id, made.trader_name, made.trader_category) == (alice, "Alice", "Swing")
    assert made.is_active
    with pytest.raises(AlreadyFollowing):
        await call(pool, bob, service.follow, alice)
    with pytest.raises(TraderNotFound):  # not listed: exactly like a missing one
        await call(pool, bob, service.follow, carol)
    with pytest.raises(TraderNotFound):
        await call(pool, bob, service.follow, UUID(int=7))
    with pytest.raises(SelfFollow):
        await call(pool, alice, service.follow, alice)
    assert (await read(pool, carol, service.get_trader, alice)).followers == 1
    paused = await call(pool, bob, service.set_active, made.id, active=False)
    assert paused.is_active is False
    assert (await read(pool, carol, service.get_trader, alice)).followers == 0
    await call(pool, bob, service.set_active, made.id, active=True)
    with pytest.raises(FollowNotFound):  # another user's follow
        await call(pool, alice, service.unfollow, made.id)
    await call(pool, bob, service.unfollow, made.id)
    assert await read(pool, bob, service.list_follows) == []


def test_rls_in_sql_only_the_published_columns_of_a_listed_trader(db: TestDatabase) -> None:
    with db.owner() as conn:
        leader, follower = create_user(conn), create_user(conn)
        conn.execute(
            "INSERT INTO trader_profiles (user_id, display_name, is_listed)"
            " VALUES (%s, 'L', false)",
            [leader],
        )
    with db.as_user(follower) as conn:
        # not listed: nothing of the leader, and no follow can name them
        assert conn.execute("SELECT * FROM trader_profiles").fetchall() == []
        with pytest.raises(psycopg.Error, match="no listed trader"):
            conn.execute(
                "INSERT INTO trader_follows (user_id, follower_id, followed_id, trader_name)"
                " VALUES (%s, %s, %s, 'x')",
                [follower, follower, leader],
            )
    with db.owner() as conn:
        conn.execute("UPDATE trader_profiles SET is_listed = true WHERE user_id = %s", [leader])
    with db.as_user(follower) as conn:
        (row,) = conn.execute("SELECT * FROM trader_profiles").fetchall()
        assert row["display_name"] == "L"
        # the leader's accounts, balances, positions and trades stay theirs
        for table in ("paper_trading_accounts", "account_positions", "paper_trades", "profiles"):
            rows = conn.execute(
                f"SELECT count(*) AS n FROM {table} WHERE user_id = %s"  # type: ignore[arg-type]
                if table != "profiles"
                else "SELECT count(*) AS n FROM profiles WHERE id = %s",
                [leader],
            ).fetchone()
            assert rows == {"n": 0}, table
        # a follow names the leader with the name the leader publishes, whatever is sent
        conn.execute(
            "INSERT INTO trader_follows (user_id, follower_id, followed_id, trader_name,"
            " trader_category) VALUES (%s, %s, %s, 'made up', 'made up')",
            [follower, follower, leader],
        )
        (follow,) = conn.execute(
            "SELECT trader_name, trader_category FROM trader_follows"
        ).fetchall()
        assert follow == {"trader_name": "L", "trader_category": "Other"}
        # nobody but the owner changes a profile
        gone = conn.execute(
            "UPDATE trader_profiles SET display_name = 'mine' WHERE user_id = %s", [leader]
        )
        assert gone.rowcount == 0
    with db.as_role("anon", {"role": "anon"}) as conn:
        assert len(conn.execute("SELECT * FROM trader_profiles").fetchall()) == 1
