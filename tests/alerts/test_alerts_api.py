"""/alerts over HTTP: each type created, stored in its columns and listed with filters and
pages; refused shapes are 422s that write nothing; another user's account, portfolio or
bot is a 404 like a missing one; PATCH checks the whole shape again; enable re-arms
(an expired alert only with a new expiry), disable, delete, and the firing history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from tests.api.conftest import Api, api, app
from tests.support import default_account

__all__ = ["api", "app"]  # the API fixtures, from tests/api
V1 = "/api/v1"
LATER = (datetime.now(UTC) + timedelta(days=30)).isoformat()


def targets(api: Api, user: UUID) -> dict[str, str]:
    """The user's default account and portfolio, and a bot of theirs."""
    with api.db.owner() as conn:
        account = default_account(conn, user)
        portfolio = conn.execute("SELECT id FROM portfolios WHERE user_id = %s", [user]).fetchone()
        bot = conn.execute(
            "INSERT INTO ai_trading_bots (user_id, name, strategy, target_symbols, account_id)"
            " VALUES (%s, 'B', 'sma_crossover', ARRAY['BTC'], %s) RETURNING id",
            [user, account],
        ).fetchone()
    assert portfolio is not None and bot is not None
    return {
        "account_id": str(account),
        "portfolio_id": str(portfolio["id"]),
        "bot_id": str(bot["id"]),
    }


def bodies(t: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"type": "price", "symbol": "btc", "condition": "crosses_above", "value": "100000"},
        {"type": "price", "symbol": "ETH", "condition": "moves_pct", "value": "5",
         "window_seconds": 3600, "frequency": "every_time", "cooldown_seconds": 600},
        {"type": "account", "account_id": t["account_id"], "condition": "drawdown_pct",
         "value": "10", "expires_at": LATER},
        {"type": "account", "account_id": t["account_id"], "condition": "cash_below",
         "value": "250000"},
        {"type": "portfolio", "portfolio_id": t["portfolio_id"], "condition": "value_below",
         "value": "90000", "frequency": "once_per_bar", "bar_seconds": 86400},
        {"type": "bot", "bot_id": t["bot_id"], "condition": "entered_error"},
        {"type": "bot", "bot_id": t["bot_id"], "condition": "confidence_below", "value": "0.4"},
    ]  # fmt: skip


def alert_rows(api: Api, user: UUID) -> list[dict[str, Any]]:
    with api.db.owner() as conn:
        return conn.execute(
            "SELECT alert_type, trigger_condition, trigger_value, symbol, account_id,"
            " portfolio_id, bot_id, status FROM risk_alerts WHERE user_id = %s"
            " ORDER BY created_at, id",
            [user],
        ).fetchall()


def create(api: Api, h: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    r = api.client.post(f"{V1}/alerts", headers=h, json=body)
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()
    return made


def test_each_type_is_created_in_its_columns_and_listed(api: Api) -> None:
    user, h = api.user()
    t = targets(api, user)
    made = [create(api, h, b) for b in bodies(t)]
    assert [(m["type"], m["condition"], m["status"]) for m in made][:3] == [
        ("price", "crosses_above", "active"),
        ("price", "moves_pct", "active"),
        ("account", "drawdown_pct", "active"),
    ]
    assert made[0]["symbol"] == "BTC" and made[0]["value"] == "100000.0000000000"
    assert made[5]["value"] is None and made[5]["bot_id"] == t["bot_id"]
    rows = alert_rows(api, user)
    assert [(r["alert_type"], r["trigger_condition"]) for r in rows] == [
        (b["type"], b["condition"]) for b in bodies(t)
    ]
    assert str(rows[4]["portfolio_id"]) == t["portfolio_id"] and rows[4]["symbol"] is None
    listed = api.client.get(f"{V1}/alerts", headers=h).json()
    assert [a["id"] for a in listed["items"]] == [m["id"] for m in reversed(made)]
    by = api.client.get(f"{V1}/alerts", headers=h, params={"type": "bot"}).json()
    by = by["items"]
    assert {a["condition"] for a in by} == {"entered_error", "confidence_below"}
    btc = api.client.get(f"{V1}/alerts", headers=h, params={"symbol": "btc"}).json()["items"]
    assert [a["id"] for a in btc] == [made[0]["id"]]
    only = {"account_id": t["account_id"], "type": "account"}
    of_account = api.client.get(f"{V1}/alerts", headers=h, params=only)
    assert len(of_account.json()["items"]) == 2
    first = api.client.get(f"{V1}/alerts", headers=h, params={"limit": 4}).json()
    rest = api.client.get(
        f"{V1}/alerts", headers=h, params={"limit": 4, "cursor": first["next_cursor"]}
    ).json()
    walked = [a["id"] for a in first["items"] + rest["items"]]
    assert walked == [m["id"] for m in reversed(made)] and rest["next_cursor"] is None
    one = api.client.get(f"{V1}/alerts/{made[2]['id']}", headers=h)
    assert one.status_code == 200 and one.json()["expires_at"] is not None


REFUSED: list[dict[str, Any]] = [
    {"type": "price", "condition": "moves_pct"},  # no window
    {"type": "price", "value": "0"},
    {"type": "price", "expires_at": "2020-01-01T00:00:00Z"},
    {"type": "account", "condition": "drawdown_pct", "value": "101"},
    {"type": "account", "account_id": None},
    {"type": "portfolio", "condition": "value_above", "value": "-1"},
    {"type": "bot", "condition": "entered_error", "value": "0.5"},
    {"type": "bot", "condition": "confidence_below", "value": "1"},
    {"type": "bot", "condition": "confidence_below", "value": None},
    {"type": "bot", "condition": "crosses_above"},
    {"type": "nope"},
    {"type": "price", "frequency": "hourly"},
    {"type": "price", "bar_seconds": 10},
]


def test_refused_shapes_are_422s_that_write_nothing(api: Api) -> None:
    user, h = api.user()
    t = targets(api, user)
    first = {b["type"]: b for b in reversed(bodies(t))}
    for change in REFUSED:
        body = first.get(change["type"], {"condition": "x"}) | change
        r = api.client.post(f"{V1}/alerts", headers=h, json=body)
        assert (r.status_code, r.json().get("code")) == (422, "validation_error"), (change, r.text)
    assert alert_rows(api, user) == []


def test_another_users_account_portfolio_or_bot_is_not_found(api: Api) -> None:
    owner, _ = api.user()
    theirs = targets(api, owner)
    _, h = api.user()
    notices = {"type": "price", "symbol": "BTC", "condition": "above", "value": "1"}
    missing_bot = {"type": "bot", "bot_id": str(uuid.uuid4()), "condition": "budget_spent"}
    for body in [*bodies(theirs)[2:], notices | {"account_id": theirs["account_id"]}, missing_bot]:
        r = api.client.post(f"{V1}/alerts", headers=h, json=body)
        assert (r.status_code, r.json()["code"]) == (404, "alert_target_not_found"), r.text
    assert api.client.get(f"{V1}/alerts", headers=h).json()["items"] == []


def test_patch_enable_disable_delete(api: Api) -> None:
    user, h = api.user()
    t = targets(api, user)
    price, _, drawdown, *_, bot = (create(api, h, b) for b in bodies(t))
    url = f"{V1}/alerts/{price['id']}"
    r = api.client.patch(url, headers=h, json={"value": "105000", "frequency": "every_time"})
    assert r.status_code == 200, r.text
    assert (r.json()["value"], r.json()["frequency"]) == ("105000.0000000000", "every_time")
    for alert, change in (
        (drawdown, {"value": "150"}),
        (bot, {"value": "2"}),
    ):
        refused = api.client.patch(f"{V1}/alerts/{alert['id']}", headers=h, json=change)
        assert (refused.status_code, refused.json()["code"]) == (422, "alert_invalid")
    null = api.client.patch(url, headers=h, json={"value": None})
    assert null.status_code == 422
    disabled = api.client.post(f"{url}/disable", headers=h)
    assert disabled.json()["status"] == "disabled"
    assert api.client.post(f"{url}/enable", headers=h).json()["status"] == "active"
    # an expired alert: only with a new expiry, or none
    with api.db.owner() as conn:
        conn.execute(
            "UPDATE risk_alerts SET status = 'expired', expires_at = now() - interval '1 hour'"
            " WHERE id = %s",
            [price["id"]],
        )
    refused = api.client.post(f"{url}/enable", headers=h)
    assert (refused.status_code, refused.json()["code"]) == (409, "alert_expired")
    again = api.client.post(f"{url}/enable", headers=h, json={"expires_at": LATER})
    assert again.status_code == 200 and again.json()["status"] == "active"
    assert api.client.delete(url, headers=h).status_code == 204
    gone = api.client.get(url, headers=h)
    assert (gone.status_code, gone.json()["code"]) == (404, "alert_not_found")
    with api.db.owner() as conn:
        actions = conn.execute(
            "SELECT action FROM audit_logs WHERE resource_type = 'alert' AND resource_id = %s"
            " ORDER BY timestamp, id",
            [price["id"]],
        ).fetchall()
    assert [a["action"] for a in actions] == [
        "alert.create", "alert.update", "alert.disable", "alert.enable", "alert.enable",
        "alert.delete",
    ]  # fmt: skip


def test_firings_newest_first_and_only_the_owners(api: Api) -> None:
    user, h = api.user()
    price = create(api, h, {"type": "price", "symbol": "BTC", "condition": "above",
                            "value": "1", "frequency": "every_time"})  # fmt: skip
    with api.db.owner() as conn:
        for n in range(3):
            conn.execute(
                "INSERT INTO alert_firings (alert_id, user_id, fire_key, symbol, value,"
                " trigger_value, fired_at) VALUES (%s, %s, %s, 'BTC', %s, 1,"
                " now() - %s * interval '1 minute')",
                [price["id"], user, f"tick:{n}", 100 + n, 3 - n],
            )
    url = f"{V1}/alerts/{price['id']}/firings"
    page = api.client.get(url, headers=h, params={"limit": 2}).json()
    assert [f["value"] for f in page["items"]] == ["102.0000000000", "101.0000000000"]
    rest = api.client.get(url, headers=h, params={"limit": 2, "cursor": page["next_cursor"]})
    assert [f["value"] for f in rest.json()["items"]] == ["100.0000000000"]
    _, stranger = api.user()
    for method, path in (
        ("GET", url),
        ("GET", f"{V1}/alerts/{price['id']}"),
        ("PATCH", f"{V1}/alerts/{price['id']}"),
        ("POST", f"{V1}/alerts/{price['id']}/enable"),
        ("POST", f"{V1}/alerts/{price['id']}/disable"),
        ("DELETE", f"{V1}/alerts/{price['id']}"),
    ):
        body = {"value": "2"} if method == "PATCH" else None
        r = api.client.request(method, path, headers=stranger, json=body)
        assert (r.status_code, r.json()["code"]) == (404, "alert_not_found"), (method, path)
    assert api.client.get(f"{V1}/alerts/{price['id']}", headers=h).json()["status"] == "active"
