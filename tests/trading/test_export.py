"""The trade CSV export streams from the service through a server-side cursor: every fill of
the caller's, newest first, in several chunks, and nobody else's."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.db.session import Conn, as_user, user_claims
from cryptotrader.trading import service
from cryptotrader.trading.schemas import TradeFilter
from tests.support import TestDatabase, create_trade, create_user, default_account

pytestmark = pytest.mark.anyio
MANY = 2_500  # more than the cursor's batch (1,000) and than one 64 kB chunk


async def test_export_streams_every_fill_of_the_caller_only(
    db: TestDatabase, pool: AsyncConnectionPool[Conn]
) -> None:
    with db.owner() as conn:
        alice, bob = create_user(conn), create_user(conn)
        alices, bobs = default_account(conn, alice), default_account(conn, bob)
        for n in range(3):
            create_trade(conn, bob, bobs, notes=f"bob {n}")
        first = create_trade(conn, alice, alices, symbol="ETH", amount=Decimal("0.5"))
        conn.execute(
            "INSERT INTO paper_trades (user_id, account_id, symbol, side, amount, price,"
            " execution_price, total_value, created_at)"
            " SELECT user_id, account_id, symbol, side, amount, price, execution_price,"
            "        total_value, created_at - make_interval(secs => n)"
            "   FROM paper_trades, generate_series(1, %s) AS n WHERE id = %s",
            [MANY, first],
        )
        conn.execute("UPDATE paper_trades SET status = 'pending' WHERE notes = 'bob 0'")
    async with as_user(pool, user_claims(alice)) as conn:
        chunks = [c async for c in service.export_trades_csv(conn, TradeFilter(symbol="eth"))]
    assert len(chunks) > 1
    rows = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert len(rows) == MANY + 1 and rows[0]["id"] == str(first)
    assert {r["account_id"] for r in rows} == {str(alices)}
    assert [r["created_at"] for r in rows] == sorted((r["created_at"] for r in rows), reverse=True)
    assert Decimal(rows[0]["amount"]) == Decimal("0.5")
    async with as_user(pool, user_claims(bob)) as conn:
        bobs_rows = "".join([c async for c in service.export_trades_csv(conn)])
    assert len(list(csv.DictReader(io.StringIO(bobs_rows)))) == 2  # completed fills only
