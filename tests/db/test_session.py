"""The units of work the app runs: as a user, as anon, as the service."""

import psycopg
import pytest

from cryptotrader.db.session import as_anon, as_service, as_user, open_pool, user_claims
from tests.support import TestDatabase, create_user

pytestmark = pytest.mark.anyio


async def test_units_of_work_apply_rls_per_caller(db: TestDatabase) -> None:
    with db.owner() as conn:
        alice, bob = create_user(conn), create_user(conn)
    pool = open_pool(db.app_conninfo, min_size=1, max_size=2)
    await pool.open()
    try:
        async with as_user(pool, user_claims(alice)) as conn:
            cur = await conn.execute("SELECT auth.uid() AS uid, current_user AS who")
            assert await cur.fetchone() == {"uid": alice, "who": "authenticated"}
            cur = await conn.execute("SELECT DISTINCT user_id FROM paper_trading_accounts")
            assert [r["user_id"] for r in await cur.fetchall()] == [alice]
        async with as_user(pool, user_claims(bob)) as conn:  # and bob his, not alice's
            cur = await conn.execute("SELECT DISTINCT user_id FROM paper_trading_accounts")
            assert [r["user_id"] for r in await cur.fetchall()] == [bob]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            async with as_anon(pool) as conn:
                await conn.execute("SELECT count(*) AS n FROM paper_trading_accounts")
        async with as_anon(pool) as conn:
            cur = await conn.execute("SELECT count(*) AS n FROM market_data_cache")
            row = await cur.fetchone()
            assert row is not None and row["n"] >= 20
        async with as_service(pool) as conn:
            cur = await conn.execute(
                "SELECT count(DISTINCT user_id) AS n FROM paper_trading_accounts"
            )
            assert await cur.fetchone() == {"n": 2}
        # the role and claims end with the transaction: a new unit starts clean
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT current_user AS who, current_setting('request.jwt.claims', true) AS claims"
            )
            row = await cur.fetchone()
            assert row is not None and row["who"] == "cryptotrader_app" and not row["claims"]
    finally:
        await pool.close()


async def test_a_failed_unit_rolls_back(db: TestDatabase) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    pool = open_pool(db.app_conninfo, min_size=1, max_size=1)
    await pool.open()
    try:
        with pytest.raises(psycopg.errors.UniqueViolation):
            async with as_user(pool, user_claims(alice)) as conn:
                await conn.execute(
                    "INSERT INTO watchlists (user_id, name) VALUES (%s, 'x')", [alice]
                )
                await conn.execute(
                    "INSERT INTO watchlists (user_id, name) VALUES (%s, 'x')", [alice]
                )
        with db.owner() as owner:
            row = owner.execute("SELECT count(*) AS n FROM watchlists").fetchone()
        assert row == {"n": 0}
    finally:
        await pool.close()
