"""The bell, the notifications page and its actions, and the market chart's alert form, over
HTTP (TestClient): each action through the notifications (or alerts) service, audited,
answered as a fragment to htmx and as a redirect to a plain form."""

from __future__ import annotations

import re
import uuid
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from tests.notifications.helpers import notify
from tests.support import TestDatabase
from tests.web.test_pages import app_settings, audit_actions, client, csrf_of, sign_up

__all__ = ["app_settings", "client"]  # the fixtures, imported for this module's tests
HTMX = {"HX-Request": "true"}


def user_of(db: TestDatabase, email: str) -> UUID:
    with db.owner() as conn:
        user: Any = conn.execute("SELECT id FROM auth.users WHERE email = %s", [email]).fetchone()
    return UUID(str(user["id"]))


def accounts_of(db: TestDatabase, user: UUID) -> list[UUID]:
    """The user's accounts, oldest first."""
    with db.owner() as conn:
        rows = conn.execute(
            "SELECT id FROM paper_trading_accounts WHERE user_id = %s ORDER BY created_at, id",
            [user],
        ).fetchall()
    return [UUID(str(r["id"])) for r in rows]


def unread_badge(html: str) -> int:
    found = re.search(r'data-unread="(\d+)"', html)
    assert found, "no unread count on the page"
    return int(found.group(1))


@pytest.fixture
def signed_in(client: TestClient, db: TestDatabase) -> tuple[UUID, UUID]:
    user = user_of(db, sign_up(client))
    return user, accounts_of(db, user)[0]


def test_the_bell_counts_unread_and_the_page_lists_newest_first(
    client: TestClient, db: TestDatabase, signed_in: tuple[UUID, UUID]
) -> None:
    user, account = signed_in
    assert client.get("/notifications/bell").text.count('data-unread="0"') == 1
    with db.owner() as conn:
        old = notify(conn, account, user, notification_type="order.filled", ago="1 hour")
        new = notify(conn, account, user, notification_type="alert.triggered")
        notify(conn, account, user, notification_type="order.filled", expired=True)
        conn.execute(
            "UPDATE account_notifications SET metadata = %s::jsonb, severity = 'warning'"
            " WHERE id = %s",
            ['{"alert_id": "' + str(uuid.uuid4()) + '", "symbol": "BTC"}', new],
        )
    assert unread_badge(client.get("/notifications/bell").text) == 2
    listing = client.get("/notifications")
    assert listing.status_code == 200
    assert unread_badge(listing.text) == 2  # the bell, server-rendered on this page
    assert listing.text.index(str(new)) < listing.text.index(str(old))  # newest first
    row = re.search(rf'<li id="notification-{new}".*?</li>', listing.text, re.S)
    assert row and 'class="notification unread"' in row.group(0)
    assert 'data-severity="warning"' in row.group(0)
    assert 'href="/alerts"' in row.group(0) and 'href="/markets/BTC"' in row.group(0)
    assert listing.text.count("data-notification-id=") == 2  # the expired one never
    # the market page's bell is server-rendered too; other pages read it on load
    assert unread_badge(client.get("/markets/BTC").text) == 2
    assert 'hx-trigger="load, ct-notification from:body' in client.get("/").text


def test_read_unread_delete_and_read_all_through_the_service(
    client: TestClient, db: TestDatabase, signed_in: tuple[UUID, UUID]
) -> None:
    user, account = signed_in
    with db.owner() as conn:
        first = notify(conn, account, user, notification_type="order.filled", ago="2 minutes")
        second = notify(conn, account, user, notification_type="order.filled", ago="1 minute")
        third = notify(conn, account, user, notification_type="order.filled")
    token = csrf_of(client, "/notifications")
    form = {"csrf_token": token}

    read = client.post(f"/notifications/{first}/read", data=form, headers=HTMX)
    assert read.status_code == 200 and read.headers["HX-Trigger"] == "ct-notifications-changed"
    assert 'data-read="true"' in read.text and "Mark unread" in read.text
    assert unread_badge(client.get("/notifications/bell").text) == 2
    unread = client.post(f"/notifications/{first}/unread", data=form, headers=HTMX)
    assert 'data-read="false"' in unread.text
    # a plain form (no script) is redirected back to the page
    plain = client.post(f"/notifications/{second}/read", data=form)
    assert plain.status_code == 303 and plain.headers["location"] == "/notifications"

    gone = client.post(f"/notifications/{third}/delete", data=form, headers=HTMX)
    assert gone.status_code == 200 and gone.text == ""
    assert str(third) not in client.get("/notifications").text
    again = client.post(f"/notifications/{third}/delete", data=form, headers=HTMX)
    assert again.status_code == 404 and again.json()["code"] == "notification_not_found"

    only_unread = client.get("/notifications/items?unread=1")
    assert str(first) in only_unread.text and str(second) not in only_unread.text
    everything = client.post("/notifications/read-all", data=form, headers=HTMX)
    assert everything.status_code == 200 and 'id="notification-list"' in everything.text
    assert 'data-read="false"' not in everything.text
    assert unread_badge(client.get("/notifications/bell").text) == 0
    actions = audit_actions(db)
    for action in ("read", "unread", "delete", "read_all"):
        assert f"notification.{action}" in actions, action


def test_filters_by_account_and_refuses_what_is_not_an_id(
    client: TestClient, db: TestDatabase, signed_in: tuple[UUID, UUID]
) -> None:
    user, account = signed_in
    token = csrf_of(client, "/")
    made = client.post(
        "/accounts", data={"account_name": "Second", "initial_balance": "1000", "csrf_token": token}
    )
    assert made.status_code == 303, made.text
    other = next(a for a in accounts_of(db, user) if a != account)
    with db.owner() as conn:
        mine = notify(conn, account, user, notification_type="order.filled")
        theirs = notify(conn, other, user, notification_type="order.filled")
    filtered = client.get(f"/notifications?account_id={other}")
    assert str(theirs) in filtered.text and str(mine) not in filtered.text
    # read all of one account leaves the other's unread
    done = client.post(
        "/notifications/read-all", data={"csrf_token": token, "account_id": str(other)}
    )
    assert done.status_code == 303 and done.headers["location"].endswith(f"account_id={other}")
    assert unread_badge(client.get("/notifications/bell").text) == 1
    bad = client.get("/notifications/items?account_id=nope", headers=HTMX)
    assert bad.status_code == 422 and bad.json()["field"] == "account_id"
    # another user's notification is a 404, as in the API
    client.cookies.clear()
    sign_up(client)
    token = csrf_of(client, "/notifications")
    answer = client.post(f"/notifications/{mine}/read", data={"csrf_token": token}, headers=HTMX)
    assert answer.status_code == 404


def test_an_alert_from_the_chart_form_and_its_line(
    client: TestClient, db: TestDatabase, signed_in: tuple[UUID, UUID]
) -> None:
    _, account = signed_in
    page = client.get("/markets/BTC")
    assert 'data-alert-form="chart-alert"' in page.text and 'id="chart-alert"' in page.text
    token = csrf_of(client, "/markets/BTC")
    form = {
        "csrf_token": token,
        "condition": "crosses_above",
        "value": "123456.78",
        "frequency": "once",
        "expires_in": "1d",
        "account_id": str(account),
    }
    made = client.post("/markets/BTC/alerts", data=form, headers=HTMX)
    assert made.status_code == 200, made.text
    assert made.headers["HX-Trigger"] == "ct-alerts-changed"
    assert "crosses above" in made.text and "123,456.78" in made.text
    lines = client.get("/markets/BTC/alert-lines.json").json()["lines"]
    assert [line["price"] for line in lines] == ["123456.78"]
    assert client.get("/markets/ETH/alert-lines.json").json()["lines"] == []
    assert "alert.create" in audit_actions(db)

    bad = client.post("/markets/BTC/alerts", data=form | {"value": "-1"}, headers=HTMX)
    assert bad.status_code == 422 and bad.json()["field"] == "value"
    stranger = form | {"account_id": str(uuid.uuid4())}
    refused = client.post("/markets/BTC/alerts", data=stranger, headers=HTMX)
    assert refused.status_code == 404 and refused.json()["field"] == "account_id"
    unknown = client.post("/markets/NOPE/alerts", data=form, headers=HTMX)
    assert unknown.status_code == 422
    plain = client.post("/markets/BTC/alerts", data=form | {"account_id": ""})
    assert plain.status_code == 303 and plain.headers["location"] == "/markets/BTC"
    assert len(client.get("/markets/BTC/alert-lines.json").json()["lines"]) == 2
