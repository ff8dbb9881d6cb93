"""The alerts page over HTTP: a price alert made with the form and listed, a refusal at its
field with nothing written, disable / enable / delete through the buttons, the firing
history; the account page's form for an account alert; another user's alert or account
as a missing one."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.support import TestDatabase
from tests.web.test_pages import (
    app_settings,
    audit_actions,
    client,
    csrf_of,
    first_account,
    sign_up,
)

__all__ = ["app_settings", "client"]  # the fixtures, shared with test_pages
ROW = re.compile(r'data-alert-id="([0-9a-f-]{36})"')


def htmx(client: TestClient, path: str = "/alerts") -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": csrf_of(client, path)}


def alert_rows(db: TestDatabase) -> list[dict[str, Any]]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT id, user_id, alert_type, trigger_condition, trigger_value, status, account_id"
            " FROM risk_alerts ORDER BY created_at, id"
        ).fetchall()


def price_form(**changes: str) -> dict[str, str]:
    form = {
        "symbol": "btc",
        "condition": "crosses_above",
        "value": "100,000",
        "window_seconds": "",
        "frequency": "once",
        "expires_in": "7d",
        "account_id": "",
    }
    return form | changes


def test_a_price_alert_made_with_the_form_is_listed_and_changed_by_its_buttons(
    client: TestClient, db: TestDatabase
) -> None:
    sign_up(client)
    empty = client.get("/alerts")
    assert empty.status_code == 200 and 'id="no-alerts"' in empty.text
    assert 'href="/alerts"' in empty.text  # the nav link
    refused = client.post("/alerts", data=price_form(value="0"), headers=htmx(client))
    assert (refused.status_code, refused.json()["field"]) == (422, "value")
    moves = client.post("/alerts", data=price_form(condition="moves_pct"), headers=htmx(client))
    assert (moves.status_code, moves.json()["code"]) == (422, "validation_error")
    assert alert_rows(db) == []
    made = client.post("/alerts", data=price_form(), headers=htmx(client))
    assert (made.status_code, made.headers["HX-Redirect"]) == (204, "/alerts")
    [row] = alert_rows(db)
    assert (row["alert_type"], row["trigger_condition"], str(row["trigger_value"])) == (
        "price",
        "crosses_above",
        "100000",
    )
    listed = client.get("/alerts").text
    assert ROW.findall(listed) == [str(row["id"])] and 'data-alert-status="active"' in listed
    with db.owner() as conn:
        conn.execute(
            "INSERT INTO alert_firings (alert_id, user_id, fire_key, symbol, value)"
            " VALUES (%s, %s, 'once', 'BTC', 100123.5)",
            [row["id"], row["user_id"]],
        )
        conn.execute("UPDATE risk_alerts SET fire_count = 1 WHERE id = %s", [row["id"]])
    shown = client.get("/alerts").text
    assert f'data-history-for="{row["id"]}"' in shown and "100,123.5" in shown
    for step, status in (("disable", "disabled"), ("enable", "active")):
        answer = client.post(f"/alerts/{row['id']}/{step}", headers=htmx(client))
        assert answer.status_code == 204, answer.text
        assert alert_rows(db)[0]["status"] == status
    assert client.post(f"/alerts/{row['id']}/delete", headers=htmx(client)).status_code == 204
    assert alert_rows(db) == []
    actions = [a for a in audit_actions(db) if a.startswith("alert.")]
    assert actions == ["alert.create", "alert.disable", "alert.enable", "alert.delete"]


def test_the_account_pages_form_makes_an_account_alert(
    client: TestClient, db: TestDatabase
) -> None:
    sign_up(client)
    account = first_account(client)
    page = client.get(f"/accounts/{account}").text
    assert 'id="account-alert-form"' in page
    form = {"condition": "drawdown_pct", "value": "150", "frequency": "once"}
    refused = client.post(f"/accounts/{account}/alerts", data=form, headers=htmx(client))
    assert refused.status_code == 422 and alert_rows(db) == []
    form["value"] = "12.5"
    made = client.post(f"/accounts/{account}/alerts", data=form, headers=htmx(client))
    assert (made.status_code, made.headers["HX-Redirect"]) == (204, f"/accounts/{account}")
    [row] = alert_rows(db)
    assert (row["alert_type"], str(row["account_id"])) == ("account", account)
    assert "drawdown pct" in client.get("/alerts").text
    # another user: the account and the alert are not found, and nothing changes
    client.cookies.clear()
    sign_up(client)
    theirs = client.post(f"/accounts/{account}/alerts", data=form, headers=htmx(client))
    assert (theirs.status_code, theirs.json()["code"]) == (404, "alert_target_not_found")
    for step in ("disable", "delete"):
        answer = client.post(f"/alerts/{row['id']}/{step}", headers=htmx(client))
        assert (answer.status_code, answer.json()["code"]) == (404, "alert_not_found")
    assert alert_rows(db) == [row]
    assert ROW.findall(client.get("/alerts").text) == []
