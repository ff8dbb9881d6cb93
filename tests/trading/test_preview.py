"""The order preview (migration 0026, trading.service.preview_order, POST /orders/preview):
for every fill model and side the preview equals the fill the engine then makes, to the last
decimal; a resting order's reserve and estimated fill equal what placing it and the tick
that crosses it do; a refusal is reported with the engine's own code and message; nothing
is ever written; another user's account is not found, over SQL, the service and HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import AsyncConnectionPool

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.api.app import create_app
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.session import Conn, as_service, as_user, user_claims
from cryptotrader.errors import DomainError
from cryptotrader.trading import service
from cryptotrader.trading.router import router as orders_router
from cryptotrader.trading.schemas import OrderPreview, OrderRequest, Trade
from tests.api.conftest import api_settings, headers_for
from tests.support import Row, TestDatabase, create_user, default_account
from tests.support_targets import target_for
from tests.trading.helpers import (
    Snapshot,
    account,
    fresh_prices,
    position,
    rejection_of,
    session,
    set_price,
    snapshot,
    update_account,
    user_session,
)
from tests.trading.helpers import order as order_row

Pool = AsyncConnectionPool[Conn]
BTC = Decimal("87387.12")
ODD_AMOUNT = Decimal("0.12345678")  # rounds in every figure of the fill
PREVIEW_SQL = "SELECT * FROM preview_paper_trade(%s, 'BTC', 'buy', 0.01)"
TRADE_SQL = "SELECT * FROM execute_paper_trade(%s, 'BTC', 'buy', 0.01)"


@dataclass
class Desk:
    """A user with an account whose fill model and fees are not the defaults, the owner's
    connection for setup and checks, and the app's pool for the service calls."""

    db: TestDatabase
    pool: Pool
    owner: psycopg.Connection[Row]
    user_id: uuid.UUID
    account_id: uuid.UUID

    def order(self, side: str, amount: Decimal = ODD_AMOUNT, **fields: Any) -> OrderRequest:
        return OrderRequest.model_validate(
            {"account_id": self.account_id, "symbol": "BTC", "side": side, "amount": amount}
            | fields
        )

    async def preview(self, order: OrderRequest) -> OrderPreview:
        async with as_user(self.pool, user_claims(self.user_id)) as conn:
            return await service.preview_order(conn, order)

    async def place(self, order: OrderRequest) -> Trade:
        placed = await service.place_order(
            self.pool, Actor(claims=user_claims(self.user_id)), order
        )
        return placed.trade

    async def tick(self, price: Decimal) -> None:
        async with as_service(self.pool) as conn:
            await service.process_tick(conn, "BTC", price)

    def written(self) -> tuple[Snapshot, int]:
        """What the engine writes, and the audit log (a preview is not audited)."""
        audit = self.owner.execute("SELECT count(*) AS n FROM audit_logs").fetchone()
        assert audit is not None
        return snapshot(self.owner, self.account_id), int(audit["n"])

    def cash(self) -> Decimal:
        return Decimal(account(self.owner, self.account_id)["balance"])

    def holding(self) -> Decimal:
        pos = position(self.owner, self.account_id, "BTC")
        return Decimal(0) if pos is None else Decimal(pos["quantity"])


@pytest.fixture
def desk(db: TestDatabase, pool: Pool) -> Iterator[Desk]:
    with db.owner() as owner:
        fresh_prices(owner)
        # a volume and a 24h range that make the volume model's slippage more than its base
        set_price(
            owner,
            "BTC",
            BTC,
            volume_24h_usd=Decimal(40_000_000),
            high_24h=Decimal(89000),
            low_24h=Decimal(85500),
        )
        user_id = create_user(owner)
        account_id = default_account(owner, user_id)
        update_account(
            owner,
            account_id,
            max_position_size=Decimal(10**9),
            slippage_bps=Decimal("7.5"),
            taker_fee_rate=Decimal("0.00125"),
            maker_fee_rate=Decimal("0.00065"),
        )
        yield Desk(db, pool, owner, user_id, account_id)


def same(got: object, want: object) -> None:
    """Equal to the last decimal: the same value written the same way."""
    assert (got, str(got)) == (want, str(want))


def assert_fill_is_the_preview(desk: Desk, preview: OrderPreview, fill: Trade | Row) -> None:
    trade = fill if isinstance(fill, Trade) else Trade.model_validate(fill)
    assert trade.status == "completed" and preview.refusal_code is None
    same(preview.execution_price, trade.execution_price)
    same(preview.quantity, trade.amount)
    same(preview.gross_value, trade.total_value)
    same(preview.fee, trade.fee)
    same(preview.fee_rate, trade.fee_rate)
    same(preview.slippage_bps, trade.slippage_bps)
    assert preview.fill_model == trade.fill_model
    same(preview.resulting_cash_balance, desk.cash())
    same(preview.resulting_position_quantity, desk.holding())


# ------------------------------------------------------------------ market orders


@pytest.mark.anyio
@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("model", ["ideal", "fixed", "volume"])
async def test_the_preview_of_a_market_order_is_its_fill(desk: Desk, model: str, side: str) -> None:
    update_account(desk.owner, desk.account_id, fill_model=model)
    if side == "sell":
        await desk.place(desk.order("buy", Decimal("0.5")))
    order = desk.order(side)
    before = desk.written()
    preview = await desk.preview(order)
    assert desk.written() == before, "a preview writes nothing"
    assert preview.status == "completed" and preview.reserved_amount == 0
    same(preview.cash_balance, desk.cash())
    same(preview.position_quantity, desk.holding())
    same(preview.market_price, BTC)
    base = {"ideal": Decimal(0), "fixed": Decimal("7.5")}
    if model in base:
        assert preview.slippage_bps == base[model]
    else:
        assert preview.slippage_bps is not None and preview.slippage_bps > Decimal("7.5")
    assert_fill_is_the_preview(desk, preview, await desk.place(order))


# ------------------------------------------------------------------ resting orders


RESTING = {
    # name: (fill model, side, order fields, the tick that fills it)
    "limit buy": ("fixed", "buy", {"order_type": "limit", "limit_price": "86000.5"}, "85990"),
    "limit sell": ("ideal", "sell", {"order_type": "limit", "limit_price": "88000"}, "88100"),
    "stop buy": ("volume", "buy", {"order_type": "stop", "stop_price": "88500.25"}, "88500.25"),
    "stop sell": ("volume", "sell", {"order_type": "stop", "stop_price": "86000"}, "86000"),
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(RESTING))
async def test_a_resting_order_shows_its_reserve_and_the_fill_it_gets(
    desk: Desk, name: str
) -> None:
    model, side, fields, crossing = RESTING[name]
    update_account(desk.owner, desk.account_id, fill_model=model)
    if side == "sell":
        await desk.place(desk.order("buy", Decimal("0.5")))
    order = desk.order(side, **fields)
    before = desk.written()
    preview = await desk.preview(order)
    assert desk.written() == before
    assert preview.status == "pending" and preview.refusal_code is None
    cash = desk.cash()
    placed = await desk.place(order)
    assert placed.status == "pending"
    same(preview.reserved_amount, placed.reserved_amount)
    same(desk.cash(), cash - (preview.reserved_amount if side == "buy" else 0))
    if fields["order_type"] == "stop":
        same(preview.trigger_price, Decimal(fields["stop_price"]))
    await desk.tick(Decimal(crossing))
    assert_fill_is_the_preview(desk, preview, order_of(desk, placed.id))


def order_of(desk: Desk, order_id: uuid.UUID) -> Row:
    return order_row(desk.owner, order_id)


@pytest.mark.anyio
async def test_a_limit_order_that_crosses_the_market_fills_at_once_as_previewed(
    desk: Desk,
) -> None:
    order = desk.order("buy", order_type="limit", limit_price="87400")  # under price + slippage
    preview = await desk.preview(order)
    assert preview.status == "completed" and preview.execution_price == Decimal("87400")
    assert_fill_is_the_preview(desk, preview, await desk.place(order))


@pytest.mark.anyio
async def test_an_ioc_order_that_cannot_fill_now_expires_with_nothing_reserved(
    desk: Desk,
) -> None:
    order = desk.order("buy", order_type="limit", limit_price="80000", time_in_force="ioc")
    preview = await desk.preview(order)
    assert (preview.status, preview.reserved_amount) == ("expired", 0)
    same(preview.resulting_cash_balance, desk.cash())
    assert (await desk.place(order)).status == "expired"


# ------------------------------------------------------------------ refusals


def _paused(desk: Desk) -> None:
    update_account(desk.owner, desk.account_id, status="paused")


def _stale(desk: Desk) -> None:
    set_price(desk.owner, "BTC", BTC, last_updated=datetime.now(UTC) - timedelta(hours=1))


def _small_limit(desk: Desk) -> None:
    update_account(desk.owner, desk.account_id, max_position_size=Decimal(5000))


def _lost_today(desk: Desk) -> None:
    update_account(
        desk.owner,
        desk.account_id,
        day_realized_pnl=Decimal(-1500),
        day_realized_date=datetime.now(UTC).date(),
    )


def _nothing(desk: Desk) -> None:
    pass


REFUSALS: dict[str, tuple[Callable[[Desk], None], str, dict[str, Any]]] = {
    "insufficient_funds": (_nothing, "buy", {"amount": "2"}),
    "insufficient_funds to reserve": (
        _nothing,
        "buy",
        {"amount": "2", "order_type": "limit", "limit_price": "80000"},
    ),
    "insufficient_position": (_nothing, "sell", {}),
    "insufficient_position to reserve": (
        _nothing,
        "sell",
        {"order_type": "stop", "stop_price": "80000"},
    ),
    "account_not_active": (_paused, "buy", {}),
    "stale_price": (_stale, "buy", {}),
    "max_position_size": (_small_limit, "buy", {}),
    "max_daily_loss": (_lost_today, "buy", {}),
    "order_would_trigger": (_nothing, "buy", {"order_type": "stop", "stop_price": "80000"}),
    "invalid_price": (_nothing, "buy", {"order_type": "limit"}),
    "invalid_order": (_nothing, "sell", {"stop_loss": "80000"}),
    "unknown_symbol": (_nothing, "buy", {"symbol": "NOPE"}),
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(REFUSALS))
async def test_a_refusal_is_the_engines_own_and_nothing_is_written(desk: Desk, case: str) -> None:
    setup, side, fields = REFUSALS[case]
    setup(desk)
    order = desk.order(side, **fields)
    before = desk.written()
    preview = await desk.preview(order)
    assert desk.written() == before
    with pytest.raises(DomainError) as refused:
        await desk.place(order)
    assert desk.written() == before
    assert preview.status == "rejected"
    assert (preview.refusal_code, preview.refusal_message) == (
        refused.value.code,
        refused.value.detail,
    )
    assert preview.refusal_code == case.split()[0]
    assert preview.resulting_cash_balance is None and preview.resulting_position_quantity is None


# ------------------------------------------------------------------ another user


@pytest.mark.anyio
@pytest.mark.parametrize("admin", [False, True])
async def test_another_users_account_is_not_found(desk: Desk, admin: bool) -> None:
    other = create_user(desk.owner)
    order = desk.order("buy")
    before = desk.written()
    async with as_user(desk.pool, user_claims(other, admin=admin)) as conn:
        with pytest.raises(AccountNotFound):
            await service.preview_order(conn, order)
    with pytest.raises(AccountNotFound):  # as placing it is
        await service.place_order(desk.pool, Actor(claims=user_claims(other, admin=admin)), order)
    assert desk.written() == before


@pytest.mark.parametrize("admin", [False, True])
def test_rls_another_users_account_in_sql_is_refused_like_the_engine(
    db: TestDatabase, admin: bool
) -> None:
    with db.owner() as owner:
        fresh_prices(owner)
        alice = create_user(owner)
        bob = create_user(owner)
        acct = default_account(owner, alice)
        before = snapshot(owner, acct)
        with session(db, "authenticated", user_claims(bob, admin=admin)) as conn:
            with pytest.raises(psycopg.Error) as previewed:
                conn.execute(PREVIEW_SQL, [acct])
            with pytest.raises(psycopg.Error) as traded:
                conn.execute(TRADE_SQL, [acct])
        assert rejection_of(previewed.value) == rejection_of(traded.value)
        assert rejection_of(previewed.value).code == "account_not_found"
        assert snapshot(owner, acct) == before
        with user_session(db, alice) as conn:  # the owner, through the same RLS
            row = conn.execute(PREVIEW_SQL, [acct]).fetchone()
        assert row is not None and row["status"] == "completed"
        assert snapshot(owner, acct) == before


def test_the_preview_runs_as_its_caller_writes_nothing_and_is_not_for_anon(
    db: TestDatabase,
) -> None:
    with db.owner() as owner:
        row = owner.execute(
            "SELECT p.prosecdef, p.provolatile FROM pg_proc p"
            " WHERE p.oid = 'public.preview_paper_trade'::regproc"
        ).fetchone()
        acct = default_account(owner, create_user(owner))
    assert row == {"prosecdef": False, "provolatile": "s"}
    with (
        session(db, "anon", {"role": "anon"}) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(PREVIEW_SQL, [acct])


# ------------------------------------------------------------------ HTTP


@pytest.fixture
def client(db: TestDatabase) -> Iterator[TestClient]:
    with db.owner() as owner:
        fresh_prices(owner)
    with TestClient(create_app(api_settings(), target_for(db))) as c:
        yield c


def _user(db: TestDatabase) -> tuple[str, dict[str, str]]:
    with db.owner() as owner:
        uid = create_user(owner)
        acct = default_account(owner, uid)
    return str(acct), headers_for(uid)


def test_the_route_previews_then_the_order_fills_alike(
    db: TestDatabase, client: TestClient
) -> None:
    acct, h = _user(db)
    body = {"account_id": acct, "symbol": "btc", "side": "buy", "amount": "0.01"}
    r = client.post("/api/v1/orders/preview", headers=h, json=body)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview.keys() == OrderPreview.model_json_schema()["examples"][0].keys()
    assert (preview["status"], preview["symbol"], preview["account_id"]) == (
        "completed",
        "BTC",
        acct,
    )
    assert preview["fee"].count(".") == 1 and len(preview["execution_price"].split(".")[1]) == 10
    with db.owner() as owner:
        assert owner.execute("SELECT count(*) AS n FROM audit_logs").fetchone() == {"n": 0}
    trade = client.post("/api/v1/orders", headers=h, json=body).json()
    assert {k: preview[k] for k in ("execution_price", "fee", "fee_rate", "slippage_bps")} == {
        k: trade[k] for k in ("execution_price", "fee", "fee_rate", "slippage_bps")
    }
    assert preview["gross_value"] == trade["total_value"]
    got = client.get(f"/api/v1/accounts/{acct}", headers=h).json()
    assert Decimal(got["balance"]) == Decimal(preview["resulting_cash_balance"])


def test_the_route_reports_a_refusal_and_answers_errors_as_post_orders(
    db: TestDatabase, client: TestClient
) -> None:
    acct, h = _user(db)
    sell = {"account_id": acct, "symbol": "BTC", "side": "sell", "amount": "1"}
    r = client.post("/api/v1/orders/preview", headers=h, json=sell)
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["refusal_code"]) == ("rejected", "insufficient_position")

    bad = client.post("/api/v1/orders/preview", headers=h, json=sell | {"side": "hold"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["code"] == "validation_error"

    _, stranger = _user(db)
    buy = sell | {"side": "buy", "amount": "0.01"}
    previewed = client.post("/api/v1/orders/preview", headers=stranger, json=buy)
    placed = client.post("/api/v1/orders", headers=stranger, json=buy)
    assert previewed.status_code == placed.status_code == 404
    assert previewed.headers["content-type"] == "application/problem+json"
    assert previewed.json()["code"] == placed.json()["code"] == "account_not_found"
    assert client.post("/api/v1/orders/preview", json=buy).status_code == 401


def test_the_route_is_declared_before_the_order_id_routes() -> None:
    paths = [getattr(r, "path", "") for r in orders_router.routes]
    preview = paths.index("/orders/preview")
    assert all(preview < i for i, p in enumerate(paths) if p.startswith("/orders/{"))
