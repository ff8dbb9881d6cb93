"""The equity curve of an account (accounts.service.equity_curves): after each fill, cash
plus every position at its symbol's last fill price, checked against a replay of the
fills in Python; then the equity now; thinned; one epoch; another user's is not there."""

from __future__ import annotations

from decimal import Decimal

import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.accounts import service
from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.accounts.schemas import AccountUpdate
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.session import Conn, as_user, user_claims
from cryptotrader.trading import service as trading
from cryptotrader.trading.schemas import OrderFilter, OrderRequest, Trade
from tests.support import TestDatabase, create_user

pytestmark = pytest.mark.anyio
Pool = AsyncConnectionPool[Conn]
ORDERS = [
    ("BTC", "buy", "0.02", 50000),
    ("ETH", "buy", "0.5", 3000),
    ("BTC", "buy", "0.01", 52000),
    ("ETH", "sell", "0.2", 3300),
    ("BTC", "sell", "0.03", 49000),
    ("ETH", "buy", "0.1", 2900),
]


def replay(initial: Decimal, fills: list[Trade]) -> list[Decimal]:
    """Equity after each fill, the slow way: cash, and each holding at its last price."""
    cash = initial
    held: dict[str, Decimal] = {}
    last: dict[str, Decimal] = {}
    out = []
    for t in fills:
        assert t.execution_price is not None
        sign = 1 if t.side == "buy" else -1
        cash -= sign * t.total_value + t.fee
        held[t.symbol] = held.get(t.symbol, Decimal(0)) + sign * t.amount
        last[t.symbol] = t.execution_price
        out.append(cash + sum(q * last[s] for s, q in held.items()))
    return out


async def test_the_curve_is_the_fills_replayed(db: TestDatabase, pool: Pool) -> None:
    with db.owner() as conn:
        alice, bob = create_user(conn), create_user(conn)
    actor = Actor(claims=user_claims(alice))
    async with as_user(pool, user_claims(alice)) as conn:
        account = (await service.list_accounts(conn))[0]
        await service.update_account(
            conn,
            actor,
            account.id,
            AccountUpdate(fill_model="fixed", max_position_size=Decimal("50000")),
        )
    for symbol, side, amount, price in ORDERS:
        with db.owner() as conn:
            conn.execute(
                "UPDATE market_data_cache SET price_usd = %s, last_updated = now()"
                " WHERE symbol = %s",
                [price, symbol],
            )
        order = OrderRequest(
            account_id=account.id, symbol=symbol, side=side, amount=Decimal(amount)
        )
        await trading.place_order(pool, actor, order)
    async with as_user(pool, user_claims(alice)) as conn:
        fills = await trading.list_orders(
            conn, OrderFilter(account_id=account.id, status="completed")
        )
        fills.reverse()
        now = await service.get_account(conn, account.id)
        curve = await service.equity_curve(conn, account.id, points=100)
        thin = await service.equity_curve(conn, account.id, points=2)
    expected = replay(now.initial_balance, fills)
    assert [p.equity for p in curve.points[:-1]] == [e.quantize(Decimal("1e-8")) for e in expected]
    assert [p.at for p in curve.points[:-1]] == [f.filled_at for f in fills]
    assert curve.points[-1].equity == now.equity  # now, at current prices
    peak = max(p.equity for p in curve.points)
    assert curve.max_drawdown == min(p.drawdown for p in curve.points) <= 0
    assert all(
        p.drawdown
        == (p.equity / max(q.equity for q in curve.points[: i + 1]) - 1).quantize(
            Decimal("0.000001")
        )
        for i, p in enumerate(curve.points)
    )
    assert peak >= now.equity or curve.points[-1].drawdown == 0
    assert (
        len(thin.points) <= 4 and thin.points[-2].equity == curve.points[-2].equity
    )  # the last fill kept

    async with as_user(pool, user_claims(alice)) as conn:
        await service.reset_account(conn, actor, account.id, "again")
        fresh = await service.equity_curve(conn, account.id)
    assert [p.equity for p in fresh.points] == [now.initial_balance, now.initial_balance]
    async with as_user(pool, user_claims(bob)) as conn:
        with pytest.raises(AccountNotFound):
            await service.equity_curve(conn, account.id)
