"""The accounts service as a user drives it, on a real database through RLS."""

from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.accounts import service
from cryptotrader.accounts.errors import AccountNotFound, AccountSuspensionForbidden
from cryptotrader.accounts.schemas import AccountCreate, AccountFromTemplate, AccountUpdate
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.session import Conn, as_user, user_claims
from cryptotrader.errors import AccountNotActive, InvalidRequest
from cryptotrader.templates.errors import TemplateNotFound
from cryptotrader.trading import service as trading
from cryptotrader.trading.schemas import OrderFilter, OrderRequest
from tests.support import TestDatabase, create_user

pytestmark = pytest.mark.anyio
Pool = AsyncConnectionPool[Conn]


def fresh_prices(db: TestDatabase) -> None:
    with db.owner() as conn:
        conn.execute("UPDATE market_data_cache SET last_updated = now()")


async def test_create_list_update_and_default(db: TestDatabase, pool: Pool) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    async with as_user(pool, user_claims(alice)) as conn:
        made = await service.create_account(
            conn,
            Actor(claims=user_claims(alice)),
            AccountCreate(account_name="  Swing  ", initial_balance=Decimal("2500.50")),
        )
        assert made.account_name == "Swing"
        assert made.balance == made.initial_balance == made.equity == Decimal("2500.50")
        assert made.total_pnl == 0 and not made.is_default
        changed = await service.update_account(
            conn,
            Actor(claims=user_claims(alice)),
            made.id,
            AccountUpdate(color_theme="#ff0000", tags=["swing"], fill_model="ideal"),
        )
        assert (changed.color_theme, changed.tags, changed.fill_model) == (
            "#ff0000",
            ["swing"],
            "ideal",
        )
        assert changed.access_count >= 2
        await service.set_default(conn, Actor(claims=user_claims(alice)), made.id)
        accounts = await service.list_accounts(conn)
    assert [a.account_name for a in accounts] == ["Swing", "Main Account"]
    assert [a.is_default for a in accounts] == [True, False]
    with db.owner() as conn:
        audit = conn.execute(
            "SELECT action, amount_changed FROM paper_account_audit WHERE account_id = %s",
            [made.id],
        ).fetchall()
    assert audit == [{"action": "account_created", "amount_changed": Decimal("2500.50")}]


async def test_template_accounts_and_their_errors(db: TestDatabase, pool: Pool) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
        template = conn.execute(
            "SELECT id, usage_count FROM account_templates WHERE account_type = 'day_trading'"
        ).fetchone()
    assert template is not None
    async with as_user(pool, user_claims(alice)) as conn:
        acct = await service.create_from_template(
            conn,
            Actor(claims=user_claims(alice)),
            AccountFromTemplate(template_id=template["id"], account_name="Scalps"),
        )
        assert acct.account_type == "day_trading" and acct.template_id == template["id"]
    async with as_user(pool, user_claims(alice)) as conn:
        with pytest.raises(TemplateNotFound):
            await service.create_from_template(
                conn,
                Actor(claims=user_claims(alice)),
                AccountFromTemplate(template_id=uuid4(), account_name="x"),
            )
    with db.owner() as conn:
        after = conn.execute(
            "SELECT usage_count FROM account_templates WHERE id = %s", [template["id"]]
        ).fetchone()
    assert after == {"usage_count": template["usage_count"] + 1}


async def test_status_changes_and_the_suspension_rule(db: TestDatabase, pool: Pool) -> None:
    fresh_prices(db)
    with db.owner() as conn:
        alice = create_user(conn)
        admin = user_claims(create_user(conn), admin=True)  # the audit row needs a profile
    async with as_user(pool, user_claims(alice)) as conn:
        main = (await service.list_accounts(conn))[0]
        paused = await service.set_status(conn, Actor(claims=user_claims(alice)), main.id, "paused")
        assert paused.status == "paused"
    with pytest.raises(AccountNotActive):
        await trading.place_order(
            pool,
            Actor(claims=user_claims(alice)),
            OrderRequest(account_id=main.id, symbol="BTC", side="buy", amount=Decimal("0.01")),
        )
    async with as_user(pool, user_claims(alice)) as conn:
        with pytest.raises(AccountSuspensionForbidden):
            await service.set_status(conn, Actor(claims=user_claims(alice)), main.id, "suspended")
    async with as_user(pool, admin) as conn:
        assert (
            await service.set_status(conn, Actor(claims=admin), main.id, "suspended")
        ).status == "suspended"
    async with as_user(pool, user_claims(alice)) as conn:
        assert (await service.list_accounts(conn, include_archived=True))[0].status == "suspended"
        with pytest.raises(AccountSuspensionForbidden):
            await service.set_status(conn, Actor(claims=user_claims(alice)), main.id, "active")


async def test_trade_values_positions_and_reset(db: TestDatabase, pool: Pool) -> None:
    fresh_prices(db)
    with db.owner() as conn:
        alice = create_user(conn)
        conn.execute("UPDATE market_data_cache SET price_usd = 50000 WHERE symbol = 'BTC'")
    async with as_user(pool, user_claims(alice)) as conn:
        acct = (await service.list_accounts(conn))[0]
        await service.update_account(
            conn, Actor(claims=user_claims(alice)), acct.id, AccountUpdate(fill_model="ideal")
        )
    order = OrderRequest(account_id=acct.id, symbol="btc", side="buy", amount=Decimal("0.05"))
    trade = (await trading.place_order(pool, Actor(claims=user_claims(alice)), order)).trade
    async with as_user(pool, user_claims(alice)) as conn:
        assert trade.execution_price == Decimal("50000") and trade.fee == Decimal("2.5")
        positions = await service.list_positions(conn, acct.id)
        assert [(p.symbol, p.quantity, p.market_value) for p in positions] == [
            ("BTC", Decimal("0.05"), Decimal("2500.00"))
        ]
        valued = await service.get_account(conn, acct.id)
        assert valued.equity == Decimal("100000") - Decimal("2.5")
        assert valued.total_pnl == Decimal("-2.5")
        reset = await service.reset_account(
            conn, Actor(claims=user_claims(alice)), acct.id, "fresh start"
        )
        assert reset.balance == reset.initial_balance and reset.epoch == 1
        assert await service.list_positions(conn, acct.id) == []
        audit = await service.list_audit(conn, acct.id)
        assert [a.action for a in audit][:2] == ["account_reset", "trade_buy"]
        orders = await trading.list_orders(conn, OrderFilter(account_id=acct.id))
        assert [o.id for o in orders] == [trade.id]  # history kept


async def test_another_users_account_is_simply_not_there(db: TestDatabase, pool: Pool) -> None:
    with db.owner() as conn:
        alice, bob = create_user(conn), create_user(conn)
        alices = conn.execute(
            "SELECT id FROM paper_trading_accounts WHERE user_id = %s", [alice]
        ).fetchone()
    assert alices is not None
    target: UUID = alices["id"]
    as_bob = Actor(claims=user_claims(bob))
    calls = [
        lambda c: service.get_account(c, target),
        lambda c: service.update_account(c, as_bob, target, AccountUpdate(account_name="mine")),
        lambda c: service.set_status(c, as_bob, target, "archived"),
        lambda c: service.set_default(c, as_bob, target),
        lambda c: service.reset_account(c, as_bob, target),
        lambda c: service.list_positions(c, target),
        lambda c: service.list_audit(c, target),
    ]
    for call in calls:
        async with as_user(pool, user_claims(bob)) as conn:
            with pytest.raises(AccountNotFound):
                await call(conn)
    async with as_user(pool, user_claims(bob)) as conn:
        with pytest.raises(InvalidRequest):
            await service.update_account(conn, as_bob, target, AccountUpdate())


async def test_set_default_updates_the_default_account_setting(
    db: TestDatabase, pool: Pool
) -> None:
    with db.owner() as conn:
        alice = create_user(conn)
    async with as_user(pool, user_claims(alice)) as conn:
        side = await service.create_account(
            conn, Actor(claims=user_claims(alice)), AccountCreate(account_name="Side")
        )
        await service.set_default(conn, Actor(claims=user_claims(alice)), side.id)
    with db.owner() as conn:
        setting = conn.execute(
            "SELECT setting_value FROM user_settings"
            " WHERE user_id = %s AND setting_name = 'default_account_id'",
            [alice],
        ).fetchone()
    assert setting == {"setting_value": str(side.id)}
