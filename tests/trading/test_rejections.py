"""Every rejection code of the trading engine, each proven to write nothing; the fill
models and fees; IOC/FOK, expiry and paused accounts.

A rejection raises SQLSTATE CTxxx with the stable code in HINT. ``expect_rejection``
snapshots the row counts of paper_trades, account_positions, paper_account_audit,
risk_alerts and account_notifications (whole database), the account row, its positions
and its orders before and after the call, and requires them equal.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from tests.support import TestDatabase, create_account, create_user, default_account
from tests.trading.helpers import (
    Conn,
    account,
    cancel,
    check_invariants,
    expect_rejection,
    fresh_prices,
    order,
    place,
    position,
    rejected,
    reset,
    service_session,
    set_price,
    snapshot,
    tick,
    update_account,
    user_session,
)

BTC = Decimal(50000)
ETH = Decimal(3000)


@dataclass
class Trader:
    """A signed-in user with one account, an autocommit session as that user, the owner's
    connection for setup and checks, and the service's for ticks."""

    db: TestDatabase
    owner: Conn
    user: Conn
    service: Conn
    user_id: uuid.UUID
    account_id: uuid.UUID

    def buy(self, amount: Any, symbol: str = "BTC", **kwargs: Any) -> dict[str, Any]:
        return place(self.user, self.account_id, symbol, "buy", amount, **kwargs)

    def sell(self, amount: Any, symbol: str = "BTC", **kwargs: Any) -> dict[str, Any]:
        return place(self.user, self.account_id, symbol, "sell", amount, **kwargs)

    def refused(self, code: str, call: Any, sqlstate: str | None = None) -> None:
        expect_rejection(self.owner, self.account_id, code, call, sqlstate=sqlstate)

    def account(self) -> dict[str, Any]:
        return account(self.owner, self.account_id)

    def reserved_quantity(self, symbol: str) -> Decimal:
        pos = position(self.owner, self.account_id, symbol)
        assert pos is not None
        return Decimal(pos["reserved_quantity"])


@pytest.fixture
def trader(db: TestDatabase) -> Iterator[Trader]:
    with db.owner() as owner, service_session(db) as service:
        fresh_prices(owner)
        set_price(owner, "BTC", BTC)
        set_price(owner, "ETH", ETH)
        user_id = create_user(owner)
        account_id = default_account(owner, user_id)
        update_account(owner, account_id, fill_model="ideal", max_position_size=Decimal(20000))
        with user_session(db, user_id) as user:
            yield Trader(db, owner, user, service, user_id, account_id)
        check_invariants(owner, account_id)


def money(value: Decimal, places: int = 8) -> Decimal:
    """PostgreSQL's round(value, places) for positive values (half away from zero)."""
    return value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)


# ------------------------------------------------------------------ account and market


def test_account_not_active(trader: Trader) -> None:
    trader.buy("0.02")
    for status in ("paused", "archived", "suspended"):
        update_account(trader.owner, trader.account_id, status=status)
        assert_inactive_refuses(trader)


def assert_inactive_refuses(trader: Trader) -> None:
    trader.refused("account_not_active", lambda: trader.buy("0.01"), "CT409")
    trader.refused("account_not_active", lambda: trader.sell("0.01"), "CT409")
    trader.refused(
        "account_not_active",
        lambda: trader.buy("0.01", order_type="limit", limit_price=45000),
        "CT409",
    )
    trader.refused(
        "account_not_active",
        lambda: trader.sell("0.01", order_type="stop", stop_price=45000),
        "CT409",
    )


def test_unknown_symbol(trader: Trader) -> None:
    for symbol in ("NOPE", "", "BTC-USD"):
        trader.refused("unknown_symbol", lambda s=symbol: trader.buy("1", s), "CT422")
        trader.refused("unknown_symbol", lambda s=symbol: trader.sell("1", s), "CT422")


def test_stale_price(trader: Trader) -> None:
    set_price(trader.owner, "BTC", BTC, last_updated=datetime.now(UTC) - timedelta(seconds=301))
    trader.refused("stale_price", lambda: trader.buy("0.01"), "CT409")
    trader.refused(
        "stale_price", lambda: trader.buy("0.01", order_type="limit", limit_price=1), "CT409"
    )
    # the account's own limit decides what is stale
    update_account(trader.owner, trader.account_id, max_price_age_seconds=600)
    assert trader.buy("0.01")["status"] == "completed"
    set_price(trader.owner, "BTC", BTC, last_updated=datetime.now(UTC) - timedelta(seconds=90))
    update_account(trader.owner, trader.account_id, max_price_age_seconds=60)
    trader.refused("stale_price", lambda: trader.sell("0.01"), "CT409")
    set_price(trader.owner, "BTC", BTC, last_updated=None)
    trader.refused("stale_price", lambda: trader.sell("0.01"), "CT409")


BAD_AMOUNTS = [
    *("0", "-1", "-0.00000001", "NaN", "Infinity", "-Infinity", "1e15", "1000000000000001"),
    *("0.0000000000000000001", "1.1234567890123456789", None),  # 19 decimals, NULL
]


def test_invalid_amount(trader: Trader) -> None:
    trader.buy("0.01")
    for amount in BAD_AMOUNTS:
        trader.refused("invalid_amount", lambda a=amount: trader.buy(a), "CT422")
        trader.refused("invalid_amount", lambda a=amount: trader.sell(a), "CT422")
        trader.refused(
            "invalid_amount",
            lambda a=amount: trader.buy(a, order_type="limit", limit_price=40000),
            "CT422",
        )


def test_amount_with_18_decimals_is_accepted(trader: Trader) -> None:
    trade = trader.buy("0.123456789012345678")
    assert trade["status"] == "completed" and trade["amount"] == Decimal("0.123456789012345678")


# ------------------------------------------------------------------ money and holdings


def test_insufficient_funds(trader: Trader) -> None:
    update_account(trader.owner, trader.account_id, max_position_size=Decimal(10**9))
    trader.refused("insufficient_funds", lambda: trader.buy("2.5"), "CT409")  # 125,125 > 100,000
    trader.refused(
        "insufficient_funds",
        lambda: trader.buy("2.5", order_type="limit", limit_price=45000),  # reserve 112,590
        "CT409",
    )
    trader.refused(
        "insufficient_funds",
        lambda: trader.buy("2", order_type="stop", stop_price=51000),  # reserve 102,153
        "CT409",
    )


def test_insufficient_funds_at_the_exact_boundary(db: TestDatabase) -> None:
    with db.owner() as owner:
        fresh_prices(owner)
        set_price(owner, "ETH", 100)
        user_id = create_user(owner)
        acct = create_account(
            owner,
            user_id,
            balance=Decimal("100.1"),
            initial_balance=Decimal("100.1"),
            fill_model="ideal",
        )
        with user_session(db, user_id) as user:
            refused = expect_rejection(
                owner,
                acct,
                "insufficient_funds",
                lambda: place(user, acct, "ETH", "buy", "1.00000001"),
            )
            assert refused.sqlstate == "CT409"
            trade = place(user, acct, "ETH", "buy", "1")  # 100 + 0.1 fee: all of it
            assert (trade["total_value"], trade["fee"]) == (100, Decimal("0.1"))
            assert account(owner, acct)["balance"] == 0
            expect_rejection(
                owner,
                acct,
                "insufficient_funds",
                lambda: place(user, acct, "ETH", "buy", "0.0001"),
            )
        check_invariants(owner, acct)


def test_insufficient_position(trader: Trader) -> None:
    trader.refused("insufficient_position", lambda: trader.sell("0.01"), "CT409")  # none held
    trader.refused(
        "insufficient_position",
        lambda: trader.sell("0.01", order_type="limit", limit_price=60000),
        "CT409",
    )
    trader.buy("0.01")
    trader.refused("insufficient_position", lambda: trader.sell("0.01000001"), "CT409")
    trader.refused("insufficient_position", lambda: trader.sell("0.01", "ETH"), "CT409")
    trader.refused(
        "insufficient_position",
        lambda: trader.sell("0.02", order_type="stop", stop_price=40000),
        "CT409",
    )
    # reserved quantity is not available to other sells
    resting = trader.sell("0.006", order_type="limit", limit_price=60000)
    assert resting["status"] == "pending"
    trader.refused("insufficient_position", lambda: trader.sell("0.005"), "CT409")
    assert trader.sell("0.004")["status"] == "completed"


def test_max_position_size(trader: Trader) -> None:
    update_account(trader.owner, trader.account_id, max_position_size=Decimal(5000))
    trader.refused("max_position_size", lambda: trader.buy("0.11"), "CT409")  # 5,500
    trader.buy("0.09")  # 4,500
    trader.refused("max_position_size", lambda: trader.buy("0.02"), "CT409")  # 5,500 in all
    trader.refused(
        "max_position_size",
        lambda: trader.buy("0.02", order_type="limit", limit_price=49000),  # 5,390
        "CT409",
    )
    assert trader.buy("0.02", order_type="limit", limit_price=20000)["status"] == "pending"
    assert trader.buy("0.1", "ETH")["status"] == "completed"  # per symbol


def test_max_daily_loss(db: TestDatabase) -> None:
    with db.owner() as owner:
        fresh_prices(owner)
        set_price(owner, "BTC", BTC)
        user_id = create_user(owner)
        acct = create_account(
            owner,
            user_id,
            balance=Decimal(10000),
            initial_balance=Decimal(10000),
            max_daily_loss=Decimal(10),
            max_position_size=Decimal(10**6),
            fill_model="ideal",
        )

        def day_loss() -> Decimal:
            return Decimal(-account(owner, acct)["day_realized_pnl"])

        def alerts() -> tuple[int, int]:
            row = owner.execute(
                "SELECT (SELECT count(*) FROM risk_alerts WHERE account_id = %(a)s) AS alerts,"
                " (SELECT count(*) FROM account_notifications WHERE account_id = %(a)s"
                " AND notification_type = 'risk.daily_loss') AS notes",
                {"a": acct},
            ).fetchone()
            assert row is not None
            return row["alerts"], row["notes"]

        with user_session(db, user_id) as user:
            place(user, acct, "BTC", "buy", "0.02")  # 1,000 + 1 fee
            assert day_loss() == 1  # fees count as realized loss
            set_price(owner, "BTC", 49500)
            place(user, acct, "BTC", "sell", "0.004")  # -2 realized, 0.198 fee
            assert day_loss() == Decimal("3.198") and alerts() == (0, 0)

            set_price(owner, "BTC", 48000)
            reaching = place(user, acct, "BTC", "sell", "0.005")  # -10 realized, 0.24 fee
            assert reaching["realized_pnl"] == -10
            assert day_loss() == Decimal("13.438") >= 10
            assert alerts() == (1, 1)
            alert = owner.execute(
                "SELECT alert_type, trigger_value, current_value, status FROM risk_alerts"
                " WHERE account_id = %s",
                [acct],
            ).fetchone()
            assert alert == {
                "alert_type": "max_daily_loss",
                "trigger_value": 10,
                "current_value": Decimal("13.438"),
                "status": "triggered",
            }
            note = owner.execute(
                "SELECT notification_type, severity FROM account_notifications"
                " WHERE account_id = %s AND notification_type LIKE 'risk.%%'",
                [acct],
            ).fetchone()
            assert note == {"notification_type": "risk.daily_loss", "severity": "warning"}

            place(user, acct, "BTC", "sell", "0.001")  # another loss: no second alert
            assert alerts() == (1, 1) and day_loss() > Decimal("13.438")

            for call in (
                lambda: place(user, acct, "BTC", "buy", "0.001"),
                lambda: place(user, acct, "ETH", "buy", "0.01"),
                lambda: place(
                    user, acct, "BTC", "buy", "0.001", order_type="limit", limit_price=40000
                ),
                lambda: place(
                    user, acct, "BTC", "buy", "0.001", order_type="stop", stop_price=49000
                ),
            ):
                refused = expect_rejection(owner, acct, "max_daily_loss", call)
                assert refused.sqlstate == "CT409"

            # sells are still allowed
            assert place(user, acct, "BTC", "sell", "0.001")["status"] == "completed"
            assert alerts() == (1, 1)
        check_invariants(owner, acct)


# ------------------------------------------------------------------ malformed orders


BAD_ORDERS: list[tuple[str, dict[str, Any]]] = [
    ("hold", {}),
    ("", {}),
    ("buy", {"order_type": "trailing_stop"}),
    ("buy", {"order_type": "stop_loss", "stop_price": 40000}),  # engine-internal types
    ("buy", {"order_type": "take_profit"}),
    ("buy", {"time_in_force": "day"}),
    ("buy", {"limit_price": 50000}),  # a limit price on a market order
    ("buy", {"order_type": "stop", "stop_price": 51000, "limit_price": 52000}),
    ("buy", {"order_type": "limit", "limit_price": 45000, "stop_price": 44000}),
    ("buy", {"stop_loss": 50000}),  # stop-loss not below the entry (the market price)
    ("buy", {"stop_loss": 50001}),
    ("buy", {"order_type": "limit", "limit_price": 45000, "stop_loss": 45000}),
    ("buy", {"take_profit": 50000}),  # take-profit not above the entry
    ("buy", {"take_profit": 49000}),
    ("buy", {"order_type": "stop", "stop_price": 52000, "take_profit": 51000}),
    ("sell", {"stop_loss": 40000}),  # exits go with a buy
    ("sell", {"take_profit": 60000}),
    ("buy", {"order_type": "limit", "limit_price": 45000, "expires_at": "2000-01-01"}),
    ("buy", {"confidence_level": 101}),
    ("buy", {"confidence_level": "NaN"}),
    ("buy", {"trade_category": ""}),
]


def test_invalid_order(trader: Trader) -> None:
    trader.buy("0.01")  # so that the sells below fail for their shape, not the position
    for side, kwargs in BAD_ORDERS:
        trader.refused(
            "invalid_order",
            lambda sd=side, kw=kwargs: place(
                trader.user, trader.account_id, "BTC", sd, "0.01", **kw
            ),
            "CT422",
        )


BAD_PRICES: list[dict[str, Any]] = [
    {"order_type": "limit"},  # no limit price
    {"order_type": "limit", "limit_price": 0},
    {"order_type": "limit", "limit_price": -45000},
    {"order_type": "limit", "limit_price": "NaN"},
    {"order_type": "limit", "limit_price": "Infinity"},
    {"order_type": "limit", "limit_price": "1e15"},
    {"order_type": "limit", "limit_price": "45000.0000000000000000001"},
    {"order_type": "stop"},  # no stop price
    {"order_type": "stop", "stop_price": 0},
    {"order_type": "stop", "stop_price": "NaN"},
    {"stop_loss": -1},
    {"stop_loss": 0},
    {"take_profit": "NaN"},
    {"take_profit": "Infinity"},
]


def test_invalid_price(trader: Trader) -> None:
    for kwargs in BAD_PRICES:
        trader.refused("invalid_price", lambda kw=kwargs: trader.buy("0.01", **kw), "CT422")


def test_order_would_trigger(trader: Trader) -> None:
    trader.buy("0.02")
    for side, stop in [
        ("buy", "50000"),
        ("buy", "49999.99"),
        ("sell", "50000"),
        ("sell", "50000.01"),
    ]:
        trader.refused(
            "order_would_trigger",
            lambda sd=side, st=stop: place(
                trader.user, trader.account_id, "BTC", sd, "0.01", order_type="stop", stop_price=st
            ),
            "CT422",
        )


# ------------------------------------------------------------------ cancel, not found


def test_order_not_cancellable(trader: Trader) -> None:
    filled = trader.buy("0.01")
    resting = trader.buy("0.01", order_type="limit", limit_price=40000)
    cancel(trader.user, resting["id"])
    expired = trader.buy("0.01", order_type="limit", limit_price=40000, time_in_force="ioc")
    assert expired["status"] == "expired"
    for done in (filled, resting, expired):
        trader.refused(
            "order_not_cancellable", lambda d=done: cancel(trader.user, d["id"]), "CT409"
        )


def test_bot_not_found(trader: Trader) -> None:
    other = create_user(trader.owner)
    bot = trader.owner.execute(
        "INSERT INTO ai_trading_bots (user_id, name, strategy, target_symbols)"
        " VALUES (%s, 'theirs', 'momentum', '{BTC}') RETURNING id",
        [other],
    ).fetchone()
    assert bot is not None
    for bot_id in (bot["id"], uuid.uuid4()):
        trader.refused("bot_not_found", lambda b=bot_id: trader.buy("0.01", bot_id=b), "CT404")


def test_stop_loss_above_the_fill_of_a_marketable_limit_buy_is_refused(trader: Trader) -> None:
    # The market is at 50,000: a limit buy at 55,000 fills at once at 50,000 (ideal model),
    # so a stop-loss at 52,000 is above the entry, which the engine refuses for market
    # orders (invalid_order) and, for a stand-alone stop, as order_would_trigger.
    trader.refused(
        "invalid_order",
        lambda: trader.buy("0.01", order_type="limit", limit_price=55000, stop_loss=52000),
        "CT422",
    )


def test_account_and_order_not_found(trader: Trader) -> None:
    missing = uuid.uuid4()
    trader.refused(
        "account_not_found", lambda: place(trader.user, missing, "BTC", "buy", 1), "CT404"
    )
    trader.refused("account_not_found", lambda: reset(trader.user, missing), "CT404")
    trader.refused("order_not_found", lambda: cancel(trader.user, missing), "CT404")


def test_another_users_account_and_orders_look_missing(trader: Trader) -> None:
    victim = trader  # alice, with a filled trade and a resting order
    victim.buy("0.02")
    resting = victim.buy("0.01", order_type="limit", limit_price=40000)
    mallory = create_user(victim.owner)
    with user_session(victim.db, mallory) as conn:
        before = snapshot(victim.owner, victim.account_id)
        pairs = [
            (
                lambda: place(conn, victim.account_id, "BTC", "buy", "0.01"),
                lambda: place(conn, uuid.uuid4(), "BTC", "buy", "0.01"),
                "account_not_found",
            ),
            (
                lambda: place(conn, victim.account_id, "BTC", "sell", "0.01"),
                lambda: place(conn, uuid.uuid4(), "BTC", "sell", "0.01"),
                "account_not_found",
            ),
            (
                lambda: cancel(conn, resting["id"]),
                lambda: cancel(conn, uuid.uuid4()),
                "order_not_found",
            ),
            (
                lambda: reset(conn, victim.account_id, "mine now"),
                lambda: reset(conn, uuid.uuid4(), "mine now"),
                "account_not_found",
            ),
        ]
        for foreign_call, missing_call, code in pairs:
            foreign, missing = rejected(foreign_call), rejected(missing_call)
            assert foreign == missing, (foreign, missing)
            assert (foreign.sqlstate, foreign.code) == ("CT404", code)
        assert snapshot(victim.owner, victim.account_id) == before
    assert order(victim.owner, resting["id"])["status"] == "pending"


# ------------------------------------------------------------------ fill models and fees


def test_ideal_fills_at_the_cached_price(trader: Trader) -> None:
    bought = trader.buy("0.03")
    sold = trader.sell("0.01")
    for trade in (bought, sold):
        assert trade["execution_price"] == BTC and trade["slippage_bps"] == 0
        assert trade["fill_model"] == "ideal"
    assert (bought["total_value"], bought["fee"], bought["fee_rate"]) == (
        1500,
        Decimal("1.5"),
        Decimal("0.001"),
    )
    assert (sold["total_value"], sold["fee"]) == (500, Decimal("0.5"))


def test_fixed_slippage(trader: Trader) -> None:
    for bps in (Decimal(5), Decimal("12.5"), Decimal(0)):
        check_fixed_slippage(trader, bps)


def check_fixed_slippage(trader: Trader, bps: Decimal) -> None:
    update_account(trader.owner, trader.account_id, fill_model="fixed", slippage_bps=bps)
    set_price(trader.owner, "ETH", Decimal("2922.48"))
    bought = trader.buy("1.5", "ETH")
    sold = trader.sell("0.7", "ETH")
    up = money(Decimal("2922.48") * (1 + bps / 10000), 10)
    down = money(Decimal("2922.48") * (1 - bps / 10000), 10)
    assert (bought["execution_price"], bought["slippage_bps"]) == (up, bps)
    assert (sold["execution_price"], sold["slippage_bps"]) == (down, bps)
    assert bought["total_value"] == money(Decimal("1.5") * up)
    assert bought["fee"] == money(bought["total_value"] * Decimal("0.001"))
    assert sold["fee"] == money(sold["total_value"] * Decimal("0.001"))


def test_volume_slippage_grows_with_size_and_is_capped(db: TestDatabase) -> None:
    with db.owner() as owner:
        fresh_prices(owner)
        # price 100, 24h range 4% of it, 1,000,000 USD of daily volume
        set_price(owner, "SOL", 100, high_24h=102, low_24h=98, volume_24h_usd=10**6)
        user_id = create_user(owner)
        acct = create_account(
            owner,
            user_id,
            balance=Decimal(2 * 10**7),
            initial_balance=Decimal(2 * 10**7),
            max_position_size=Decimal(10**9),
            max_daily_loss=Decimal(10**9),  # fees count as realized loss
            fill_model="volume",
            slippage_bps=Decimal(5),
        )
        with user_session(db, user_id) as user:
            # bps = 5 + 10000 * 0.04 * sqrt(notional / 1e6), at most 500
            expected = {"1": 9, "100": 45, "10000": 405, "40000": 500, "90000": 500}
            got = {}
            for amount, bps in expected.items():
                trade = place(user, acct, "SOL", "buy", amount)
                got[amount] = trade["slippage_bps"]
                assert trade["execution_price"] == 100 * (1 + Decimal(bps) / 10000)
            assert got == expected
            sold = place(user, acct, "SOL", "sell", "100")
            assert (sold["slippage_bps"], sold["execution_price"]) == (45, Decimal("99.55"))
        check_invariants(owner, acct)


def test_taker_fee_on_market_and_marketable_limit_maker_fee_on_resting_limit(
    trader: Trader,
) -> None:
    market = trader.buy("0.02")
    assert (market["fee_rate"], market["fee"]) == (Decimal("0.001"), Decimal("1"))
    marketable = trader.buy("1", "ETH", order_type="limit", limit_price=3100)
    assert marketable["status"] == "completed" and marketable["execution_price"] == ETH
    assert (marketable["fee_rate"], marketable["fee"]) == (Decimal("0.001"), Decimal("3"))

    resting_buy = trader.buy("1", "ETH", order_type="limit", limit_price=2900)
    resting_sell = trader.sell("0.01", order_type="limit", limit_price=52000)
    # the buy reserves its cost at the limit price plus the maker fee
    assert resting_buy["reserved_amount"] == Decimal("2902.32")
    assert trader.account()["reserved_balance"] == Decimal("2902.32")

    assert tick(trader.service, "ETH", Decimal("2850")) == 1  # gapped through: fills at 2,900
    assert tick(trader.service, "BTC", Decimal("52500")) == 1
    buy_fill, sell_fill = (
        order(trader.owner, resting_buy["id"]),
        order(trader.owner, resting_sell["id"]),
    )
    assert (buy_fill["status"], buy_fill["execution_price"], buy_fill["trade_type"]) == (
        "completed",
        2900,
        "limit",
    )
    assert (buy_fill["fee_rate"], buy_fill["fee"], buy_fill["slippage_bps"]) == (
        Decimal("0.0008"),
        Decimal("2.32"),
        0,
    )
    assert (sell_fill["execution_price"], sell_fill["fee"]) == (52000, Decimal("0.416"))
    assert sell_fill["realized_pnl"] == 20  # 520 for a basis of 500
    assert trader.account()["reserved_balance"] == 0
    assert trader.account()["fees_paid"] == Decimal("1") + 3 + Decimal("2.32") + Decimal("0.416")


def test_ioc_and_fok_that_cannot_fill_expire_without_moving_money(trader: Trader) -> None:
    trader.buy("0.01")
    for tif in ("ioc", "fok"):
        check_unfillable(trader, tif)


def check_unfillable(trader: Trader, tif: str) -> None:
    before = trader.account()
    buy = trader.buy("0.01", order_type="limit", limit_price=49000, time_in_force=tif)
    sell = trader.sell("0.01", order_type="limit", limit_price=51000, time_in_force=tif)
    for trade in (buy, sell):
        assert (trade["status"], trade["status_reason"]) == ("expired", "not immediately fillable")
        assert trade["reserved_amount"] == 0 and trade["closed_at"] is not None
    after = trader.account()
    for column in ("balance", "reserved_balance", "fees_paid", "day_realized_pnl"):
        assert after[column] == before[column]
    pos = position(trader.owner, trader.account_id, "BTC")
    assert pos is not None and (pos["quantity"], pos["reserved_quantity"]) == (Decimal("0.01"), 0)
    # a limit that crosses fills at once whatever its time in force (and is sold back)
    crossing = trader.buy("0.01", order_type="limit", limit_price=50000, time_in_force=tif)
    assert crossing["status"] == "completed"
    trader.sell("0.01")


def test_ioc_and_fok_are_checked_like_any_order_before_they_expire(trader: Trader) -> None:
    update_account(trader.owner, trader.account_id, max_position_size=Decimal(10**9))
    for tif in ("ioc", "fok"):
        trader.refused(
            "insufficient_position",
            lambda t=tif: trader.sell(
                "1000", order_type="limit", limit_price=51000, time_in_force=t
            ),
        )
        trader.refused(
            "insufficient_funds",
            lambda t=tif: trader.buy("1000", order_type="limit", limit_price=100, time_in_force=t),
        )
        trader.refused(
            "invalid_order",
            lambda t=tif: trader.sell("0.01", order_type="stop", stop_price=40000, time_in_force=t),
            "CT422",
        )


def test_gtc_orders_expire_on_the_first_tick_after_expiry(trader: Trader) -> None:
    trader.buy("0.02")
    start = trader.account()
    now = datetime.now(UTC)
    buy = trader.buy(
        "0.01", order_type="limit", limit_price=45000, expires_at=now + timedelta(hours=1)
    )
    stop = trader.sell(
        "0.015", order_type="stop", stop_price=45000, expires_at=now + timedelta(hours=1)
    )
    assert trader.account()["reserved_balance"] == Decimal("450.36")
    assert trader.reserved_quantity("BTC") == Decimal("0.015")
    # before the expiry nothing happens
    assert tick(trader.service, "BTC", 49000, now + timedelta(minutes=30)) == 0
    assert order(trader.owner, buy["id"])["status"] == "pending"
    # the first tick after it ends both and releases what they held
    assert tick(trader.service, "BTC", 49000, now + timedelta(hours=2)) == 2
    for o in (buy, stop):
        ended = order(trader.owner, o["id"])
        assert (ended["status"], ended["status_reason"], ended["reserved_amount"]) == (
            "expired",
            "expired",
            0,
        )
    after = trader.account()
    assert (after["balance"], after["reserved_balance"]) == (start["balance"], 0)
    assert trader.reserved_quantity("BTC") == 0
    release = trader.owner.execute(
        "SELECT amount_changed FROM paper_account_audit WHERE account_id = %s"
        " AND action = 'order_release'",
        [trader.account_id],
    ).fetchall()
    assert release == [{"amount_changed": Decimal("450.36")}]


def test_resting_orders_of_an_inactive_account_wait(trader: Trader) -> None:
    trader.buy("0.06")
    for status in ("paused", "archived", "suspended"):
        check_resting_orders_wait(trader, status)


def check_resting_orders_wait(trader: Trader, status: str) -> None:
    update_account(trader.owner, trader.account_id, status="active")
    set_price(trader.owner, "BTC", BTC)
    buy = trader.buy("0.01", order_type="limit", limit_price=45000)
    sell = trader.sell("0.01", order_type="limit", limit_price=55000)
    update_account(trader.owner, trader.account_id, status=status)
    held = trader.account()
    assert tick(trader.service, "BTC", 44000) == 0
    assert tick(trader.service, "BTC", 56000) == 0
    assert (
        order(trader.owner, buy["id"])["status"]
        == order(trader.owner, sell["id"])["status"]
        == "pending"
    )
    assert trader.account()["reserved_balance"] == held["reserved_balance"] > 0
    update_account(trader.owner, trader.account_id, status="active")
    assert tick(trader.service, "BTC", 44000) == 1
    assert tick(trader.service, "BTC", 56000) == 1
    assert (
        order(trader.owner, buy["id"])["status"]
        == order(trader.owner, sell["id"])["status"]
        == "completed"
    )


def test_stop_buy_that_cannot_be_paid_at_the_trigger_is_rejected(trader: Trader) -> None:
    update_account(trader.owner, trader.account_id, max_position_size=Decimal(10**9))
    stop = trader.buy("1.9", order_type="stop", stop_price=51000)  # reserves 97,045.39845
    assert stop["status"] == "pending"
    free_before = trader.account()["balance"]
    assert tick(trader.service, "BTC", 60000) == 1  # 114,000 + fee: more than all the cash
    ended = order(trader.owner, stop["id"])
    assert ended["status"] == "rejected" and ended["reserved_amount"] == 0
    after = trader.account()
    assert after["reserved_balance"] == 0
    assert after["balance"] == free_before + stop["reserved_amount"] == after["initial_balance"]
    assert position(trader.owner, trader.account_id, "BTC") is None
