"""The engine's events become notifications in the transaction that causes them (a rollback
writes nothing), under their dotted event names, routed by each user's preferences; and
account, portfolio and bot alerts fire on fills, price refreshes and bot events, once per
their frequency (migration 0039)."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.support import TestDatabase, create_account, create_user
from tests.trading.helpers import place, set_price, tick, user_session


def notes(db: TestDatabase, user: uuid.UUID) -> list[dict[str, Any]]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT notification_type AS type, title, message, severity, metadata"
            " FROM account_notifications WHERE user_id = %s ORDER BY created_at, id",
            [user],
        ).fetchall()


def types(db: TestDatabase, user: uuid.UUID) -> list[str]:
    return [n["type"] for n in notes(db, user)]


def trader(db: TestDatabase, **fields: Any) -> tuple[uuid.UUID, uuid.UUID]:
    with db.owner() as conn:
        user = create_user(conn)
        account = create_account(
            conn,
            user,
            balance=Decimal(10000),
            initial_balance=Decimal(10000),
            fill_model="ideal",
            taker_fee_rate=Decimal(0),
            maker_fee_rate=Decimal(0),
            max_position_size=Decimal(10**6),
            **fields,
        )
        set_price(conn, "BTC", 50000)
        conn.execute("DELETE FROM account_notifications WHERE user_id = %s", [user])
    return user, account


def alert(db: TestDatabase, user: uuid.UUID, **fields: Any) -> uuid.UUID:
    cols = ["user_id", *fields]
    with db.owner() as conn:
        row = conn.execute(
            f"INSERT INTO risk_alerts ({', '.join(cols)})"  # type: ignore[arg-type]
            f" VALUES ({', '.join(['%s'] * len(cols))}) RETURNING id",
            [user, *fields.values()],
        ).fetchone()
    assert row is not None
    return uuid.UUID(str(row["id"]))


def firings(db: TestDatabase, alert_id: uuid.UUID) -> list[dict[str, Any]]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT f.fire_key, f.value, a.status, a.fire_count FROM alert_firings f"
            " JOIN risk_alerts a ON a.id = f.alert_id WHERE f.alert_id = %s ORDER BY f.fired_at",
            [alert_id],
        ).fetchall()


def refresh(db: TestDatabase, symbol: str, prev: Any, price: Any) -> int:
    """A price refresh as market/cache.py records it, evaluated as the alert worker does."""
    with db.owner() as conn:
        set_price(conn, symbol, price)
        conn.execute(
            "INSERT INTO private.alert_ticks (symbols, prev, prices, quoted_at, as_of)"
            " VALUES (ARRAY[%s], ARRAY[%s::numeric], ARRAY[%s::numeric], ARRAY[now()], now())",
            [symbol, str(prev), str(price)],
        )
        row = conn.execute(
            "SELECT fired FROM private.evaluate_alert_ticks_v2(10, interval '120 seconds')"
        ).fetchone()
    assert row is not None
    return int(row["fired"])


# ------------------------------------------------------------------ the engine's events


def test_a_fill_notifies_in_its_transaction_and_a_rollback_notifies_nothing(
    db: TestDatabase,
) -> None:
    user, account = trader(db)
    with psycopg.connect(db.app_conninfo, row_factory=dict_row) as conn:
        conn.execute(
            "SELECT set_config('role', 'authenticated', true),"
            " set_config('request.jwt.claims', %s, true)",
            [json.dumps({"sub": str(user), "role": "authenticated"})],
        )
        place(conn, account, "BTC", "buy", "0.01")
        conn.rollback()
    with db.owner() as conn:
        events = conn.execute(
            "SELECT count(*) AS n FROM private.stream_events WHERE user_id = %s", [user]
        ).fetchone()
    assert types(db, user) == [] and events == {"n": 0}

    with user_session(db, user) as conn:
        order = place(conn, account, "BTC", "buy", "0.01")
    [note] = notes(db, user)
    assert (note["type"], note["severity"]) == ("order.filled", "success")
    assert note["title"] == "Filled: buy 0.01 BTC"
    assert note["message"].startswith("Bought 0.01 BTC at 50000")
    assert note["metadata"]["order_id"] == str(order["id"])
    assert note["metadata"]["side"] == "buy" and note["metadata"]["order_type"] == "market"


def test_resting_orders_notify_when_triggered_and_when_they_expire(db: TestDatabase) -> None:
    user, account = trader(db)
    with user_session(db, user) as conn:
        place(conn, account, "BTC", "buy", "0.01", order_type="limit", limit_price="49000")
        place(conn, account, "BTC", "buy", "0.01", order_type="limit", limit_price="40000",
              time_in_force="ioc")  # fmt: skip
    assert types(db, user) == ["order.expired"]  # an IOC that could not fill at once
    with db.owner() as conn:
        set_price(conn, "BTC", 48900)
        assert tick(conn, "BTC", 48900) == 1
    assert types(db, user) == ["order.expired", "order.triggered"]
    triggered = notes(db, user)[-1]
    assert triggered["title"] == "Limit order triggered: buy 0.01 BTC"


def test_a_reset_and_a_finished_backtest_notify(db: TestDatabase) -> None:
    user, account = trader(db)
    with user_session(db, user) as conn:
        conn.execute("SELECT public.reset_paper_account(%s)", [account])
    assert types(db, user) == ["account.reset"]
    with db.owner() as conn:
        session = conn.execute(
            "INSERT INTO backtest_sessions (user_id, session_name, symbol, start_date, end_date,"
            " initial_capital, status) VALUES (%s, 'SMA test', 'BTC', now() - interval"
            " '30 days', now(), 10000, 'running') RETURNING id",
            [user],
        ).fetchone()
        assert session is not None
        conn.execute(
            "UPDATE backtest_sessions SET status = 'completed', final_capital = 10250.5"
            " WHERE id = %s",
            [session["id"]],
        )
    finished = notes(db, user)[-1]
    assert finished["type"] == "backtest.finished" and finished["severity"] == "success"
    assert finished["metadata"] == {"backtest_id": str(session["id"]), "status": "completed"}


def test_preferences_route_each_event_to_its_channels(db: TestDatabase) -> None:
    user, account = trader(db)
    with db.owner() as conn:
        endpoint = conn.execute(
            "INSERT INTO webhook_endpoints (user_id, url)"
            " VALUES (%s, 'https://hooks.example.com/in') RETURNING id",
            [user],
        ).fetchone()
        assert endpoint is not None

    def deliveries() -> list[str]:
        with db.owner() as conn:
            rows = conn.execute(
                "SELECT event_type FROM webhook_deliveries WHERE user_id = %s ORDER BY created_at",
                [user],
            ).fetchall()
        return [r["event_type"] for r in rows]

    def prefer(value: dict[str, list[str]]) -> None:
        with db.owner() as conn:
            conn.execute(
                "INSERT INTO user_settings (user_id, setting_name, setting_value)"
                " VALUES (%s, 'notification_preferences', %s) ON CONFLICT (user_id,"
                " setting_name) DO UPDATE SET setting_value = EXCLUDED.setting_value",
                [user, json.dumps(value)],
            )

    with user_session(db, user) as conn:
        place(conn, account, "BTC", "buy", "0.01")  # no preference: everywhere
        assert (types(db, user), deliveries()) == (["order.filled"], ["order.filled"])
        prefer({"order.filled": ["webhook"]})
        place(conn, account, "BTC", "buy", "0.01")
        assert (types(db, user), deliveries()) == (["order.filled"], ["order.filled"] * 2)
        prefer({"order.filled": []})
        place(conn, account, "BTC", "buy", "0.01")
        assert (types(db, user), deliveries()) == (["order.filled"], ["order.filled"] * 2)
        prefer({"order.filled": ["in_app"], "account.reset": ["webhook"]})
        place(conn, account, "BTC", "buy", "0.01")
        conn.execute("SELECT public.reset_paper_account(%s)", [account])
    assert types(db, user) == ["order.filled"] * 2
    assert deliveries() == ["order.filled"] * 2 + ["account.reset"]


def test_older_type_names_and_the_daily_loss_notice_are_dotted(db: TestDatabase) -> None:
    user, account = trader(db, max_daily_loss=Decimal(5))
    with user_session(db, user) as conn:
        place(conn, account, "BTC", "buy", "0.02")
        with db.owner() as owner:
            set_price(owner, "BTC", 49000)
        place(conn, account, "BTC", "sell", "0.02")
    assert "risk.daily_loss" in types(db, user)
    with db.owner() as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO account_notifications (account_id, user_id, notification_type,"
            " title, message) VALUES (%s, %s, 'risk_limit', 't', 'm')",
            [account, user],
        )


# ------------------------------------------------------------------ account alerts


def test_account_alerts_fire_after_fills_once_or_every_time(db: TestDatabase) -> None:
    user, account = trader(db)
    once = alert(db, user, account_id=account, alert_type="account",
                 trigger_condition="cash_below", trigger_value=Decimal(9000))  # fmt: skip
    every = alert(db, user, account_id=account, alert_type="account", frequency="every_time",
                  trigger_condition="position_pct", trigger_value=Decimal(5))  # fmt: skip
    with user_session(db, user) as conn:
        place(conn, account, "BTC", "buy", "0.01")  # 500 of 10,000: 5 % in BTC, cash 9,500
        assert [f["fire_key"][:5] for f in firings(db, every)] == ["fill:"]
        assert firings(db, once) == []
        place(conn, account, "BTC", "buy", "0.02")  # cash 8,500: below 9,000
        place(conn, account, "BTC", "buy", "0.001")
    [fired] = firings(db, once)
    assert (fired["fire_key"], fired["value"], fired["status"]) == ("once:0", 8500, "triggered")
    assert len(firings(db, every)) == 3 and firings(db, every)[-1]["status"] == "active"
    note = next(n for n in notes(db, user) if n["metadata"].get("alert_id") == str(once))
    assert (note["type"], note["title"]) == ("alert.triggered", "Cash below 9000")
    assert note["message"] == "Cash is 8500.00 (alert below 9000)"


def test_a_drawdown_alert_fires_on_the_refresh_that_takes_equity_past_it(
    db: TestDatabase,
) -> None:
    user, account = trader(db)
    drawdown = alert(db, user, account_id=account, alert_type="account",
                     trigger_condition="drawdown_pct", trigger_value=Decimal(4))  # fmt: skip
    with user_session(db, user) as conn:
        place(conn, account, "BTC", "buy", "0.1")  # 5,000 in BTC, equity 10,000
    assert refresh(db, "BTC", 50000, 55000) == 0  # equity 10,500: the new peak
    assert refresh(db, "BTC", 55000, 51500) == 0  # 10,150: 3.3 % from the peak
    assert refresh(db, "ETH", 3000, 2000) == 0  # not held: not looked at
    assert refresh(db, "BTC", 51500, 50500) == 1  # 10,050: 4.29 %
    [fired] = firings(db, drawdown)
    assert fired["value"] == Decimal("4.2857") and fired["status"] == "triggered"
    assert refresh(db, "BTC", 50500, 40000) == 0  # once: done


def test_portfolio_value_alerts_fire_on_refreshes(db: TestDatabase) -> None:
    user, account = trader(db)
    with db.owner() as conn:
        portfolio = conn.execute(
            "INSERT INTO portfolios (user_id, name) VALUES (%s, 'Core') RETURNING id", [user]
        ).fetchone()
        assert portfolio is not None
        conn.execute(
            "INSERT INTO portfolio_accounts (portfolio_id, account_id, user_id)"
            " VALUES (%s, %s, %s)",
            [portfolio["id"], account, user],
        )
    above = alert(db, user, portfolio_id=portfolio["id"], alert_type="portfolio",
                  trigger_condition="value_above", trigger_value=Decimal(10400),
                  frequency="once_per_bar", bar_seconds=3600)  # fmt: skip
    with user_session(db, user) as conn:
        place(conn, account, "BTC", "buy", "0.1")
    assert refresh(db, "BTC", 50000, 54000) == 0  # equity 10,400: not above it
    assert refresh(db, "BTC", 54000, 56000) == 1  # 10,600
    assert refresh(db, "BTC", 56000, 57000) == 0  # the same bar: once per bar
    [fired] = firings(db, above)
    assert (fired["value"], fired["status"]) == (10600, "active")


# ------------------------------------------------------------------ bot alerts


def test_bot_alerts_fire_on_error_budget_and_a_low_confidence_trade(db: TestDatabase) -> None:
    user, account = trader(db)
    with db.owner() as conn:
        bot = conn.execute(
            "INSERT INTO ai_trading_bots (user_id, account_id, name, strategy, target_symbols,"
            " status, max_position_size) VALUES (%s, %s, 'B', 'sma_crossover', '{BTC}', 'active',"
            " 1000000) RETURNING id",
            [user, account],
        ).fetchone()
        assert bot is not None
    bot_id = bot["id"]
    error = alert(db, user, bot_id=bot_id, alert_type="bot", trigger_condition="entered_error")
    low = alert(db, user, bot_id=bot_id, alert_type="bot", frequency="every_time",
                trigger_condition="confidence_below", trigger_value=Decimal("0.6"))  # fmt: skip
    with user_session(db, user) as conn:
        place(conn, account, "BTC", "buy", "0.01", bot_id=bot_id, confidence_level="0.9")
        place(conn, account, "BTC", "buy", "0.01", bot_id=bot_id, confidence_level="0.4")
    [fired] = firings(db, low)
    assert fired["value"] == Decimal("0.4")
    with db.owner() as conn:
        conn.execute(
            "UPDATE ai_trading_bots SET status = 'error', error_message = 'x' WHERE id = %s",
            [bot_id],
        )
    assert [f["status"] for f in firings(db, error)] == ["triggered"]
    titles = [n["title"] for n in notes(db, user) if n["type"] == "alert.triggered"]
    assert titles == ["Bot traded below 0.6 confidence", "Bot stopped on an error"]


def test_alert_shapes_are_checked(db: TestDatabase) -> None:
    user, account = trader(db)
    for fields in (
        {"alert_type": "account", "trigger_condition": "drawdown_pct", "trigger_value": 150},
        {"alert_type": "account", "account_id": account, "trigger_condition": "nope",
         "trigger_value": 1},
        {"alert_type": "portfolio", "trigger_condition": "value_above", "trigger_value": 1},
        {"alert_type": "bot", "trigger_condition": "confidence_below", "trigger_value": 1},
    ):  # fmt: skip
        with pytest.raises(psycopg.errors.CheckViolation):
            alert(db, user, **fields)
