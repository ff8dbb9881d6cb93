"""A follow's page and the what-if page: the page for its owner (and linked from Traders),
another user's follow not found like a missing one, the settings form round-tripping
(start, change, stop, with the settings kept), refusals at their field with nothing
written, the copy log after the copy worker ran (a skipped copy marked, its reason in
plain words) and the copy gap; a what-if replay as a fragment and as a page; and in
Chromium copying started from the form and stopped again."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from tests.cli.test_social_copies_cli import fan_out, member_account, trade
from tests.support import TestDatabase
from tests.web.conftest import Site, Visitor, new_visitor
from tests.web.test_browser import shoot
from tests.web.test_browser import sign_up as sign_up_in_browser
from tests.web.test_pages import app_settings, audit_actions, client, csrf_of, replace_cookies
from tests.web.test_traders_pages import cookies, follow_rows, two_users

__all__ = ["app_settings", "client"]  # the fixtures, shared with test_pages


def htmx(client: TestClient, path: str = "/traders") -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": csrf_of(client, path)}


def followed(client: TestClient, db: TestDatabase) -> tuple[uuid.UUID, str, dict[str, str]]:
    """Alice lists her profile, Bob (signed in) follows her: her id, the follow's id and
    her cookies."""
    alice, alice_cookies = two_users(client, db)
    answer = client.post(f"/traders/{alice}/follow", headers=htmx(client))
    assert answer.status_code == 204, answer.text
    (row,) = follow_rows(db)
    return uuid.UUID(alice), str(row["id"]), alice_cookies


def bob_id(db: TestDatabase, follow: str) -> uuid.UUID:
    with db.owner() as conn:
        row = conn.execute("SELECT user_id FROM trader_follows WHERE id = %s", [follow]).fetchone()
    assert row is not None
    return uuid.UUID(str(row["user_id"]))


def settings_form(account: uuid.UUID | str, **changes: str) -> dict[str, str]:
    form = {
        "action": "copy",
        "account_id": str(account),
        "mode": "ratio",
        "allocation_pct": "25",
        "min_order": "100",
        "max_per_trade": "3000",
        "slippage_pct": "2",
        "stop_loss_pct": "20",
        "stop_closes": "yes",
    }
    return form | changes


def post_copy(client: TestClient, follow: str, form: dict[str, str]) -> Any:
    return client.post(f"/follows/{follow}/copy", data=form, headers=htmx(client))


def input_value(page: str, name: str) -> str:
    found = re.search(rf'<form id="copy-form".*?name="{name}"[^>]*value="([^"]*)"', page, re.S)
    assert found, name
    return found.group(1)


def test_the_page_is_its_owners_and_another_users_follow_is_not_found(
    client: TestClient, db: TestDatabase
) -> None:
    alice, follow, alice_cookies = followed(client, db)
    assert f'href="/follows/{follow}"' in client.get("/traders").text
    page = client.get(f"/follows/{follow}")
    assert page.status_code == 200
    for part in (
        "Alice",
        'data-copy-status="not copying"',
        'id="copy-form"',
        "Start copying",
        "Also open the trader",
        'id="no-copies"',
        'id="no-gap"',
        f'hx-post="/traders/{alice}/what-if"',
    ):
        assert part in page.text, part
    assert "Stop copying" not in page.text

    replace_cookies(client, alice_cookies)
    before = audit_actions(db)
    theirs = client.get(f"/follows/{follow}")
    missing_id = str(uuid.uuid4())
    missing = client.get(f"/follows/{missing_id}")
    assert theirs.status_code == missing.status_code == 404
    assert 'data-error-code="follow_not_found"' in theirs.text
    assert theirs.text.replace(follow, "") == missing.text.replace(missing_id, "")
    own_account = member_account(db, alice)
    forged = post_copy(client, follow, settings_form(own_account))
    assert forged.status_code == 404 and forged.json()["code"] == "follow_not_found"
    stop = post_copy(client, follow, {"action": "stop"})
    assert stop.status_code == 404 and stop.json()["code"] == "follow_not_found"
    assert audit_actions(db) == before


def test_the_settings_form_round_trips_and_refuses_at_its_fields(
    client: TestClient, db: TestDatabase
) -> None:
    alice, follow, _ = followed(client, db)
    account = member_account(db, bob_id(db, follow))
    before = audit_actions(db)
    for changes, field, code in (
        ({"allocation_pct": "150"}, "allocation_pct", "validation_error"),
        ({"allocation_pct": "lots"}, "allocation_pct", "validation_error"),
        ({"mode": "fixed", "fixed_amount": ""}, "fixed_amount", "validation_error"),
        ({"account_id": ""}, "account_id", "validation_error"),
        ({"slippage_pct": "51"}, "slippage_pct", "validation_error"),
        ({"account_id": str(member_account(db, alice))}, "account_id", "account_not_found"),
    ):
        answer = post_copy(client, follow, settings_form(account, **changes))
        assert answer.status_code in (404, 422), (changes, answer.text)
        assert (answer.json()["field"], answer.json()["code"]) == (field, code), changes
    assert audit_actions(db) == before

    started = post_copy(client, follow, settings_form(account))
    assert started.status_code == 204, started.text
    assert started.headers["HX-Redirect"] == f"/follows/{follow}"
    page = client.get(f"/follows/{follow}").text
    assert 'data-copy-status="copying"' in page and "Save settings" in page
    assert "Stop copying" in page and "Also open the trader" not in page
    assert re.search(rf'<option value="{account}" selected>', page)
    for name, value in (
        ("allocation_pct", "25"),
        ("min_order", "100"),
        ("max_per_trade", "3000"),
        ("slippage_pct", "2"),
        ("stop_loss_pct", "20"),
    ):
        assert input_value(page, name) == value, name
    assert re.search(r'name="stop_closes" value="yes" checked', page)
    assert "data-copy-allocated>$25,000.00<" in page

    changed = post_copy(
        client, follow, settings_form(account, allocation_pct="30", stop_loss_pct="")
    )
    assert changed.status_code == 204
    page = client.get(f"/follows/{follow}").text
    assert input_value(page, "allocation_pct") == "30" and input_value(page, "stop_loss_pct") == ""

    stopped = post_copy(client, follow, {"action": "stop"})
    assert stopped.status_code == 204 and stopped.headers["HX-Redirect"] == f"/follows/{follow}"
    page = client.get(f"/follows/{follow}").text
    assert 'data-copy-status="stopped"' in page and "Start copying" in page
    assert 'data-copy-stop-reason="by_follower"' in page and "you stopped it" in page
    assert input_value(page, "allocation_pct") == "30"  # kept for next time
    assert [a for a in audit_actions(db) if a.startswith("follow.copy")] == ["follow.copy"] * 3


def copy_rows(page: str) -> list[str]:
    return re.findall(r'<tr data-copy-id="[^"]+".*?</tr>', page, re.S)


def test_the_copy_log_shows_a_skipped_copy_with_its_reason_and_the_gap(
    client: TestClient, db: TestDatabase
) -> None:
    alice, follow, _ = followed(client, db)
    account = member_account(db, bob_id(db, follow))
    form = settings_form(account, allocation_pct="10", max_per_trade="", stop_loss_pct="")
    assert post_copy(client, follow, form).status_code == 204
    alice_account = member_account(db, alice)
    trade(db, alice, alice_account, "buy", "0.01")  # 0.5% of Alice: a 50 USD copy, skipped
    trade(db, alice, alice_account, "buy", "0.5")  # 25%: a 2,500 USD copy, filled
    fan_out(db)

    page = client.get(f"/follows/{follow}").text
    newest, oldest = copy_rows(page)
    assert 'data-copy-status="filled"' in newest and "copy-skipped" not in newest
    assert 'data-copy-status="skipped"' in oldest and 'class="copy-skipped"' in oldest
    assert 'data-copy-reason="below_minimum"' in oldest
    assert "Worth less than your minimum order." in oldest
    assert "$50,000.00" in newest  # filled at the quote (the ideal fill model)
    assert 'id="gap-parts"' in page and 'id="no-gap"' not in page
    for part in ("skipped", "slippage", "fees", "timing"):
        assert f'data-gap-part="{part}"' in page, part


def test_a_what_if_replay_as_a_fragment_and_as_a_page(client: TestClient, db: TestDatabase) -> None:
    alice, follow, alice_cookies = followed(client, db)
    alice_account = member_account(db, alice)
    trade(db, alice, alice_account, "buy", "0.2")
    trade(db, alice, alice_account, "sell", "0.1")

    form_page = client.get(f"/traders/{alice}/what-if")
    assert form_page.status_code == 200
    assert 'id="what-if-form"' in form_page.text and "data-what-if>" not in form_page.text
    asked = {"days": "30", "capital": "20000", "mode": "ratio", "allocation_pct": "50"}
    fragment = client.post(
        f"/traders/{alice}/what-if", data=asked, headers=htmx(client, f"/traders/{alice}/what-if")
    )
    assert fragment.status_code == 200, fragment.text
    assert "<html" not in fragment.text and "data-what-if>" in fragment.text
    assert "data-what-if-fills>2<" in fragment.text
    token = csrf_of(client, f"/traders/{alice}/what-if")
    whole = client.post(f"/traders/{alice}/what-if", data=asked | {"csrf_token": token})
    assert whole.status_code == 200 and "<html" in whole.text
    assert "data-what-if-fills>2<" in whole.text and 'value="20000"' in whole.text

    bad = client.post(
        f"/traders/{alice}/what-if", data=asked | {"days": "400"}, headers=htmx(client)
    )
    assert bad.status_code == 422 and bad.json()["field"] == "days"
    assert f'hx-post="/traders/{alice}/what-if"' in client.get(f"/follows/{follow}").text

    bob_cookies = cookies(client)
    replace_cookies(client, alice_cookies)
    token = csrf_of(client, "/traders")
    client.post(
        "/traders/profile",
        data={"display_name": "Alice", "is_listed": "private", "csrf_token": token},
    )
    replace_cookies(client, bob_cookies)
    unlisted = client.get(f"/traders/{alice}/what-if")
    assert unlisted.status_code == 404 and 'data-error-code="trader_not_found"' in unlisted.text
    refused = client.post(f"/traders/{alice}/what-if", data=asked, headers=htmx(client))
    assert refused.status_code == 404 and refused.json()["code"] == "trader_not_found"


def test_in_chromium_copying_is_started_from_the_form_and_stopped(
    browser: Browser, site: Site, visitors: list[Visitor]
) -> None:
    alice = new_visitor(browser, site, visitors).page()
    sign_up_in_browser(alice, f"alice-{uuid.uuid4().hex[:8]}@example.test")
    alice.get_by_role("link", name="Traders").click()
    profile = alice.locator("#profile-form")
    profile.get_by_label("Name").fill("Alice the copied")
    profile.get_by_label("Listed").check()
    profile.get_by_role("button", name="Save profile").click()
    expect(alice.locator("#traders tbody tr").filter(has_text="Alice the copied")).to_be_visible()

    bob = new_visitor(browser, site, visitors).page()
    sign_up_in_browser(bob, f"bob-{uuid.uuid4().hex[:8]}@example.test")
    bob.get_by_role("link", name="Traders").click()
    row = bob.locator("#traders tbody tr").filter(has_text="Alice the copied")
    row.get_by_role("button", name="Follow").click()
    bob.locator("#follows").get_by_role("link", name="Alice the copied").click()
    expect(bob).to_have_url(re.compile(r"/follows/[0-9a-f-]{36}$"))
    status = bob.locator("h1 [data-copy-status]")
    expect(status).to_have_text("not copying")

    form = bob.locator("#copy-form")
    expect(form.get_by_label("Amount per buy (USD)")).to_be_hidden()  # ratio mode
    form.get_by_label("Allocation (% of the account)").fill("20")
    form.get_by_role("button", name="Start copying").click()
    expect(status).to_have_text("copying")
    expect(bob.locator("[data-copy-started] time")).to_be_visible()
    expect(form.get_by_role("button", name="Save settings")).to_be_visible()
    expect(form.get_by_label("Allocation (% of the account)")).to_have_value("20")
    shoot(bob, "follow.png")

    bob.once("dialog", lambda dialog: dialog.accept())
    bob.get_by_role("button", name="Stop copying").click()
    expect(status).to_have_text("stopped")
    expect(bob.locator("[data-copy-stop-reason]")).to_have_text("you stopped it")
