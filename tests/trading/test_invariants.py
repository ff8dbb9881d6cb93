"""Property test of the trading engine's accounting, and reset_paper_account.

A hypothesis state machine drives one account per example through random market, limit
and stop orders (some with stop-loss / take-profit), cancels, settings changes, pauses
and price moves followed by process_market_tick on three symbols. Rejections are allowed
outcomes but must write nothing. After every step the invariants of
``helpers.check_invariants`` must hold exactly (Decimal equality), among them

    initial_balance = balance + reserved_balance + Σ cost_basis + fees_paid - Σ realized_pnl
    Σ paper_account_audit.amount_changed = balance

The whole run shares one database (the ``db`` fixture is per test): each example opens a
new account, and its teardown resets it, which cancels what it left pending.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any, ClassVar

import psycopg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.support import TestDatabase, create_account, create_user
from tests.trading.helpers import (
    Conn,
    Row,
    account,
    cancel,
    check_invariants,
    fresh_prices,
    order,
    place,
    rejection_of,
    reset,
    service_session,
    set_price,
    snapshot,
    tick,
    user_session,
)

START_PRICES = {"BTC": Decimal("50000"), "ETH": Decimal("3000"), "SOL": Decimal("100")}
INITIAL_BALANCE = Decimal("12000")
MAX_POSITION = Decimal("9000")
ENDED_BY_TICK = ("completed", "rejected", "expired")

symbols = st.sampled_from(sorted(START_PRICES))
notionals = st.decimals(min_value=Decimal("5"), max_value=Decimal("7000"), places=2)
amount_places = st.sampled_from([4, 8, 8, 12])
near = st.integers(8500, 11500).map(lambda b: Decimal(b) / 10000)  # around the price
below = st.integers(8000, 10050).map(lambda b: Decimal(b) / 10000)  # stop-loss (sometimes bad)
above = st.integers(9950, 12000).map(lambda b: Decimal(b) / 10000)  # take-profit (sometimes bad)
exits = st.sampled_from(["none", "none", "stop_loss", "take_profit", "both"])
sell_sizes = st.sampled_from(["all", "0.5", "0.3333", "too_much"])


@dataclass
class World:
    """What all examples share: the database, one user and its sessions, statistics."""

    owner: Conn
    user: Conn
    service: Conn
    user_id: uuid.UUID
    outcomes: Counter[str] = field(default_factory=Counter)


def exit_prices(kind: str, entry: Decimal, sl: Decimal, tp: Decimal) -> dict[str, Any]:
    """stop_loss / take_profit arguments at sl / tp times the entry price."""
    out: dict[str, Any] = {}
    if kind in ("stop_loss", "both"):
        out["stop_loss"] = (entry * sl).quantize(Decimal("0.000001"))
    if kind in ("take_profit", "both"):
        out["take_profit"] = (entry * tp).quantize(Decimal("0.000001"))
    return out


def crosses(o: Row, price: Decimal) -> bool:
    if o["order_type"] in ("limit", "take_profit"):
        return bool(price <= o["price"] if o["side"] == "buy" else price >= o["price"])
    return bool(price >= o["stop_price"] if o["side"] == "buy" else price <= o["stop_price"])


class EngineMachine(RuleBasedStateMachine):
    world: ClassVar[World]

    def __init__(self) -> None:
        super().__init__()
        self.account_id: uuid.UUID | None = None
        self.prices = dict(START_PRICES)
        self.pending: list[Row] = []  # refreshed after every step by the invariant
        self.free: dict[str, Decimal] = {}

    # -------------------------------------------------------------- plumbing

    @property
    def owner(self) -> Conn:
        return self.world.owner

    @property
    def acct(self) -> uuid.UUID:
        assert self.account_id is not None
        return self.account_id

    def attempt(self, what: str, call: Any) -> Row | None:
        """Runs an engine call; a rejection must be an engine one and must write nothing."""
        before = snapshot(self.owner, self.acct)
        try:
            result: Row = call()
        except psycopg.Error as error:
            got = rejection_of(error)
            self.world.outcomes[f"{what}:{got.code}"] += 1
            assert snapshot(self.owner, self.acct) == before, got
            return None
        self.world.outcomes[f"{what}:ok"] += 1
        return result

    def amount(self, symbol: str, notional: Decimal, places: int) -> Decimal:
        return (notional / self.prices[symbol]).quantize(Decimal(1).scaleb(-places), ROUND_DOWN)

    def sell_amount(self, symbol: str, size: str) -> Decimal:
        free = self.free.get(symbol, Decimal(0))
        if size == "all":
            return free
        if size == "too_much":
            return free + Decimal("1e-8")
        return (free * Decimal(size)).quantize(Decimal("1e-8"), ROUND_DOWN) or free

    def resting(self, order_type: str, price: Decimal, level: Decimal) -> dict[str, Any]:
        key = "limit_price" if order_type == "limit" else "stop_price"
        return {"order_type": order_type, key: (price * level).quantize(Decimal("0.000001"))}

    # -------------------------------------------------------------- setup

    @initialize(
        fill_model=st.sampled_from(["ideal", "fixed", "volume"]),
        slippage_bps=st.sampled_from([Decimal(0), Decimal(5), Decimal("12.5")]),
        max_daily_loss=st.sampled_from([Decimal(150), Decimal(600), Decimal(10**9)]),
    )
    def open_account(self, fill_model: str, slippage_bps: Decimal, max_daily_loss: Decimal) -> None:
        for symbol, price in START_PRICES.items():
            set_price(self.owner, symbol, price)
        self.account_id = create_account(
            self.owner,
            self.world.user_id,
            balance=INITIAL_BALANCE,
            initial_balance=INITIAL_BALANCE,
            max_position_size=MAX_POSITION,
            max_daily_loss=max_daily_loss,
            fill_model=fill_model,
            slippage_bps=slippage_bps,
        )

    def teardown(self) -> None:
        if self.account_id is None:
            return
        before = account(self.owner, self.acct)
        after = reset(self.world.user, self.acct, "end of example")
        assert after["balance"] == after["initial_balance"] == INITIAL_BALANCE
        assert after["reserved_balance"] == after["fees_paid"] == 0
        assert after["epoch"] == before["epoch"] + 1
        left = self.owner.execute(
            "SELECT (SELECT count(*) FROM paper_trades WHERE account_id = %(a)s"
            "         AND status = 'pending') AS pending,"
            "       (SELECT count(*) FROM account_positions WHERE account_id = %(a)s) AS positions",
            {"a": self.acct},
        ).fetchone()
        assert left == {"pending": 0, "positions": 0}
        check_invariants(self.owner, self.acct)

    # -------------------------------------------------------------- orders

    def after_buy(self, trade: Row, kwargs: dict[str, Any]) -> None:
        if trade["status"] == "completed":
            assert trade["fee_rate"] == account(self.owner, self.acct)["taker_fee_rate"]
            if "limit_price" in kwargs:
                assert trade["execution_price"] <= kwargs["limit_price"]
            legs = self.owner.execute(
                "SELECT order_type, status FROM paper_trades WHERE parent_trade_id = %s",
                [trade["id"]],
            ).fetchall()
            assert {leg["order_type"] for leg in legs} == {
                k for k in ("stop_loss", "take_profit") if k in kwargs
            }
            assert all(leg["status"] == "pending" for leg in legs)
        elif trade["status"] == "expired":
            assert kwargs.get("time_in_force") in ("ioc", "fok")
        else:
            assert trade["status"] == "pending", trade

    @rule(
        symbol=symbols,
        notional=notionals,
        places=amount_places,
        exit_kind=exits,
        sl=below,
        tp=above,
    )
    def buy_market(
        self, symbol: str, notional: Decimal, places: int, exit_kind: str, sl: Decimal, tp: Decimal
    ) -> None:
        kwargs = exit_prices(exit_kind, self.prices[symbol], sl, tp)
        amount = self.amount(symbol, notional, places)
        trade = self.attempt(
            "buy-market", lambda: place(self.world.user, self.acct, symbol, "buy", amount, **kwargs)
        )
        if trade is not None:
            self.after_buy(trade, kwargs)

    @rule(
        symbol=symbols,
        order_type=st.sampled_from(["limit", "limit", "stop"]),
        notional=notionals,
        places=amount_places,
        level=near,
        tif=st.sampled_from(["gtc", "gtc", "gtc", "ioc", "fok"]),
        expiring=st.booleans(),
        exit_kind=exits,
        sl=below,
        tp=above,
    )
    def buy_resting(
        self,
        symbol: str,
        order_type: str,
        notional: Decimal,
        places: int,
        level: Decimal,
        tif: str,
        expiring: bool,
        exit_kind: str,
        sl: Decimal,
        tp: Decimal,
    ) -> None:
        kwargs = self.resting(order_type, self.prices[symbol], level)
        entry = kwargs.get("limit_price", kwargs.get("stop_price"))
        kwargs.update(exit_prices(exit_kind, entry, sl, tp))
        if order_type == "limit":
            kwargs["time_in_force"] = tif
        if expiring:
            kwargs["expires_at"] = datetime.now(UTC) + timedelta(hours=1)
        amount = self.amount(symbol, notional, places)
        trade = self.attempt(
            f"buy-{order_type}",
            lambda: place(self.world.user, self.acct, symbol, "buy", amount, **kwargs),
        )
        if trade is not None:
            self.after_buy(trade, kwargs)

    def held(self, pick: int) -> str:
        symbols_held = sorted(s for s, free in self.free.items() if free > 0)
        return symbols_held[pick % len(symbols_held)]

    @precondition(lambda self: any(free > 0 for free in self.free.values()))
    @rule(pick=st.integers(0, 100), size=sell_sizes)
    def sell_market(self, pick: int, size: str) -> None:
        symbol = self.held(pick)
        amount = self.sell_amount(symbol, size)
        self.attempt(
            "sell-market", lambda: place(self.world.user, self.acct, symbol, "sell", amount)
        )

    @precondition(lambda self: any(free > 0 for free in self.free.values()))
    @rule(
        pick=st.integers(0, 100),
        order_type=st.sampled_from(["limit", "limit", "stop"]),
        size=sell_sizes,
        level=near,
        tif=st.sampled_from(["gtc", "gtc", "gtc", "ioc"]),
        expiring=st.booleans(),
    )
    def sell_resting(
        self, pick: int, order_type: str, size: str, level: Decimal, tif: str, expiring: bool
    ) -> None:
        symbol = self.held(pick)
        amount = self.sell_amount(symbol, size)
        kwargs = self.resting(order_type, self.prices[symbol], level)
        if order_type == "limit":
            kwargs["time_in_force"] = tif
        if expiring:
            kwargs["expires_at"] = datetime.now(UTC) + timedelta(hours=1)
        trade = self.attempt(
            f"sell-{order_type}",
            lambda: place(self.world.user, self.acct, symbol, "sell", amount, **kwargs),
        )
        if trade is not None and trade["status"] == "completed" and order_type == "limit":
            assert trade["execution_price"] >= kwargs["limit_price"]

    @precondition(lambda self: bool(self.pending))
    @rule(pick=st.integers(0, 1000), ended=st.sampled_from([False, False, False, True]))
    def cancel(self, pick: int, ended: bool) -> None:
        if ended:  # an order that is no longer pending (or none at all) cannot be cancelled
            done = self.owner.execute(
                "SELECT id FROM paper_trades WHERE account_id = %s AND status <> 'pending'"
                " ORDER BY created_at, order_type, side, symbol, amount, id",
                [self.acct],
            ).fetchall()
            target = done[pick % len(done)]["id"] if done else uuid.uuid4()
            assert self.attempt("cancel", lambda: cancel(self.world.user, target)) is None
            return
        chosen = self.pending[pick % len(self.pending)]
        result = self.attempt("cancel", lambda: cancel(self.world.user, chosen["id"]))
        assert result is not None and result["status"] == "cancelled"
        if chosen["oco_group_id"] is not None:
            left = self.owner.execute(
                "SELECT count(*) AS n FROM paper_trades"
                " WHERE oco_group_id = %s AND status = 'pending'",
                [chosen["oco_group_id"]],
            ).fetchone()
            assert left == {"n": 0}

    # -------------------------------------------------------------- market and account

    def tick_at(self, symbol: str, price: Decimal, at: datetime) -> None:
        """Moves the cached price, runs a tick as the service, checks what ended."""
        self.prices[symbol] = price
        set_price(self.owner, symbol, price)
        status = account(self.owner, self.acct)["status"]
        before = [o for o in self.pending if o["symbol"] == symbol]
        ended = tick(self.world.service, symbol, price, at)
        after = {o["id"]: order(self.owner, o["id"]) for o in before}
        filled_groups = {
            o["oco_group_id"]
            for o in after.values()
            if o["status"] == "completed" and o["oco_group_id"] is not None
        }
        acct = account(self.owner, self.acct)
        for o in before:
            now = after[o["id"]]
            if o["expires_at"] is not None and o["expires_at"] <= at:
                assert now["status"] == "expired", now
            elif status == "active" and crosses(o, price):
                assert now["status"] in ("completed", "rejected"), now
            elif now["status"] != "pending":
                # only the one-cancels-other sibling of a fill ends without being crossed
                assert now["status"] == "cancelled" and now["oco_group_id"] in filled_groups, now
            else:
                assert now["reserved_amount"] == o["reserved_amount"], now
            if now["status"] != "pending":
                self.world.outcomes[f"tick-{now['status']}:{o['order_type']}"] += 1
            if now["status"] == "completed":
                if o["order_type"] in ("limit", "take_profit"):
                    assert now["execution_price"] == o["price"], now
                    assert now["fee_rate"] == acct["maker_fee_rate"], now
                else:
                    assert now["fee_rate"] == acct["taker_fee_rate"], now
        assert ended == sum(1 for o in after.values() if o["status"] in ENDED_BY_TICK)

    @rule(symbol=symbols, move=st.integers(8000, 12500), later=st.sampled_from([0, 0, 0, 2]))
    def move_price_and_tick(self, symbol: str, move: int, later: int) -> None:
        price = (self.prices[symbol] * move / 10000).quantize(Decimal("0.000001"))
        self.tick_at(symbol, price, datetime.now(UTC) + timedelta(hours=later))

    @precondition(lambda self: bool(self.pending))
    @rule(pick=st.integers(0, 1000), beyond=st.sampled_from([0, 0, 1, 25, 400]))
    def tick_to_an_order(self, pick: int, beyond: int) -> None:
        """A tick exactly at a pending order's trigger price, or beyond it by some bps."""
        target = self.pending[pick % len(self.pending)]
        level = target["stop_price"] if target["stop_price"] is not None else target["price"]
        buy_like = (target["side"] == "buy") == (target["order_type"] in ("limit", "take_profit"))
        bps = Decimal(-beyond if buy_like else beyond) / 10000
        price = (level * (1 + bps)).quantize(Decimal("0.000001"))
        self.tick_at(target["symbol"], price, datetime.now(UTC))

    @rule(
        fill_model=st.sampled_from(["ideal", "fixed", "volume"]),
        slippage_bps=st.sampled_from(["0", "5", "7.25", "40"]),
        taker=st.sampled_from(["0", "0.001", "0.0025"]),
        maker=st.sampled_from(["0", "0.0005", "0.0008", "0.002"]),
    )
    def change_settings(self, fill_model: str, slippage_bps: str, taker: str, maker: str) -> None:
        updated = self.world.user.execute(
            "UPDATE paper_trading_accounts SET fill_model = %s, slippage_bps = %s::numeric,"
            " taker_fee_rate = %s::numeric, maker_fee_rate = %s::numeric WHERE id = %s",
            [fill_model, slippage_bps, taker, maker, self.acct],
        )
        assert updated.rowcount == 1

    @rule(status=st.sampled_from(["active", "active", "paused"]))
    def set_status(self, status: str) -> None:
        updated = self.world.user.execute(
            "UPDATE paper_trading_accounts SET status = %s WHERE id = %s", [status, self.acct]
        )
        assert updated.rowcount == 1

    # -------------------------------------------------------------- invariants

    @invariant()
    def accounting_holds(self) -> None:
        if self.account_id is None:
            return
        check_invariants(self.owner, self.account_id)
        self.pending = self.owner.execute(
            "SELECT * FROM paper_trades WHERE account_id = %s AND status = 'pending'"
            " ORDER BY created_at, order_type, side, symbol, amount, id",
            [self.account_id],
        ).fetchall()
        self.free = {
            p["symbol"]: p["quantity"] - p["reserved_quantity"]
            for p in self.owner.execute(
                "SELECT * FROM account_positions WHERE account_id = %s", [self.account_id]
            ).fetchall()
        }


def test_engine_invariants_hold_under_random_operations(db: TestDatabase) -> None:
    with (
        db.owner() as owner,
        service_session(db) as service,
    ):
        fresh_prices(owner)
        user_id = create_user(owner)
        with user_session(db, user_id) as user:
            world = World(owner=owner, user=user, service=service, user_id=user_id)
            machine = type("Machine", (EngineMachine,), {"world": world})
            run_state_machine_as_test(
                machine,
                settings=settings(
                    max_examples=40,
                    stateful_step_count=20,
                    deadline=None,
                    database=None,
                    suppress_health_check=[
                        HealthCheck.function_scoped_fixture,
                        HealthCheck.too_slow,
                        HealthCheck.filter_too_much,
                    ],
                ),
            )
    # not vacuous: orders filled at once, rested, filled on ticks, and were refused
    outcomes = world.outcomes
    assert outcomes["buy-market:ok"] > 0 and outcomes["buy-limit:ok"] > 0, outcomes
    assert sum(n for k, n in outcomes.items() if k.startswith("tick-completed:")) > 0, outcomes
    assert sum(n for k, n in outcomes.items() if not k.endswith(":ok")) > 0, outcomes


# ------------------------------------------------------------------ reset


def test_reset_cancels_orders_clears_positions_and_keeps_history(db: TestDatabase) -> None:
    with db.owner() as owner:
        fresh_prices(owner)
        set_price(owner, "BTC", 50000)
        set_price(owner, "ETH", 3000)
        user_id = create_user(owner)
        acct = create_account(
            owner,
            user_id,
            balance=Decimal(20000),
            initial_balance=Decimal(20000),
            max_position_size=Decimal(10000),
        )
        with user_session(db, user_id) as user:
            place(user, acct, "BTC", "buy", Decimal("0.04"))
            place(
                user,
                acct,
                "BTC",
                "buy",
                Decimal("0.02"),
                stop_loss=Decimal(45000),
                take_profit=Decimal(56000),
            )
            resting_buy = place(
                user, acct, "ETH", "buy", Decimal(1), order_type="limit", limit_price=2800
            )
            resting_sell = place(
                user, acct, "BTC", "sell", Decimal("0.01"), order_type="limit", limit_price=60000
            )
            assert resting_buy["status"] == resting_sell["status"] == "pending"
            before = account(owner, acct)
            assert before["reserved_balance"] > 0 and before["fees_paid"] > 0
            assert before["balance"] < before["initial_balance"]
            check_invariants(owner, acct)
            trades_before = owner.execute(
                "SELECT id, status FROM paper_trades WHERE account_id = %s", [acct]
            ).fetchall()
            pending_ids = {t["id"] for t in trades_before if t["status"] == "pending"}
            assert len(pending_ids) == 4  # limit buy, limit sell, the stop-loss/take-profit pair

            after = reset(user, acct, "fresh start")

        assert after["balance"] == after["initial_balance"] == Decimal(20000)
        assert after["reserved_balance"] == after["fees_paid"] == after["total_pnl"] == 0
        assert after["epoch"] == before["epoch"] + 1
        assert after["day_realized_pnl"] == 0 and after["day_realized_date"] is None
        trades_after = owner.execute(
            "SELECT id, status, status_reason, reserved_amount, account_epoch FROM paper_trades"
            " WHERE account_id = %s",
            [acct],
        ).fetchall()
        assert {t["id"] for t in trades_after} == {t["id"] for t in trades_before}
        for t in trades_after:
            assert t["account_epoch"] == before["epoch"]
            assert t["reserved_amount"] == 0
            if t["id"] in pending_ids:
                assert (t["status"], t["status_reason"]) == ("cancelled", "account reset")
            else:
                assert t["status"] == "completed"
        positions = owner.execute(
            "SELECT count(*) AS n FROM account_positions WHERE account_id = %s", [acct]
        ).fetchone()
        assert positions is not None and positions["n"] == 0
        audit = owner.execute(
            "SELECT action, old_balance, new_balance, amount_changed, reason, metadata"
            " FROM paper_account_audit WHERE account_id = %s AND action = 'account_reset'",
            [acct],
        ).fetchall()
        assert audit == [
            {
                "action": "account_reset",
                "old_balance": before["balance"],
                "new_balance": Decimal(20000),
                "amount_changed": Decimal(20000) - before["balance"],
                "reason": "fresh start",
                "metadata": {"orders_cancelled": 4, "positions_cleared": 1, "epoch": 1},
            }
        ]
        check_invariants(owner, acct)

        # trading resumes in the new epoch
        with user_session(db, user_id) as user:
            fresh = place(user, acct, "ETH", "buy", Decimal("0.5"))
        assert fresh["account_epoch"] == after["epoch"] == 1
        check_invariants(owner, acct)
