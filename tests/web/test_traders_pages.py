"""The traders pages: the list, your follows and your profile's form; a profile listed
through the form seen by another user, a bad form refused at its field with nothing
written, follow / pause / resume / unfollow through the buttons, no following yourself,
an unlisted trader's page not found like a missing one; and in Chromium a listed trader
followed with the button. The leaderboard ranked by the Deflated Sharpe Ratio with the
trials beside it, per period and sort; a trader's page with their public curve; and in
Chromium the leaderboard's period and sort switched, a trader opened from it."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from tests.social import tracks
from tests.support import TestDatabase
from tests.web.conftest import Site, Visitor, new_visitor
from tests.web.test_browser import shoot
from tests.web.test_browser import sign_up as sign_up_in_browser
from tests.web.test_pages import (
    app_settings,
    audit_actions,
    client,
    csrf_of,
    replace_cookies,
    sign_up,
)

__all__ = ["app_settings", "client"]  # the fixtures, shared with test_pages


def htmx(client: TestClient, path: str = "/traders") -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": csrf_of(client, path)}


def profile_form(**changes: str) -> dict[str, str]:
    form = {
        "display_name": "Alice",
        "category": "Swing",
        "bio": "BTC swing trades on the daily chart.",
        "is_listed": "listed",
        "shows": "statistics_and_trades",
        "trade_delay_minutes": "60",
    }
    return form | changes


def save_profile(client: TestClient, **changes: str) -> Any:
    return client.post("/traders/profile", data=profile_form(**changes), headers=htmx(client))


def cookies(client: TestClient) -> dict[str, str]:
    return {c.name: c.value for c in client.cookies.jar if c.value is not None}


def user_id(db: TestDatabase, email: str) -> str:
    with db.owner() as conn:
        row = conn.execute("SELECT id FROM auth.users WHERE email = %s", [email]).fetchone()
    assert row is not None
    return str(row["id"])


def follow_rows(db: TestDatabase) -> list[dict[str, Any]]:
    with db.owner() as conn:
        rows = conn.execute(
            "SELECT id, follower_id, followed_id, trader_name, is_active FROM trader_follows"
            " WHERE followed_id IS NOT NULL"
        ).fetchall()
    return [dict(r) for r in rows]


def count_profiles(db: TestDatabase) -> int:
    with db.owner() as conn:
        row = conn.execute("SELECT count(*) AS n FROM trader_profiles").fetchone()
    assert row is not None
    return int(row["n"])


def trader_row(page: str, trader: str) -> str:
    found = re.search(rf'<tr data-trader-id="{trader}">(.*?)</tr>', page, re.S)
    assert found, page
    return found.group(1)


def two_users(client: TestClient, db: TestDatabase) -> tuple[str, dict[str, str]]:
    """Alice lists her profile through the form; then Bob is signed in. Alice's id and
    cookies."""
    alice = sign_up(client)
    saved = save_profile(client)
    assert saved.status_code == 204, saved.text
    assert saved.headers["HX-Redirect"] == "/traders"
    alice_cookies = cookies(client)
    client.cookies.clear()
    sign_up(client)
    return user_id(db, alice), alice_cookies


def test_the_pages_render_and_a_listed_profile_is_seen_by_others(
    client: TestClient, db: TestDatabase
) -> None:
    sign_up(client)
    empty = client.get("/traders")
    assert empty.status_code == 200
    assert 'href="/traders" aria-current="page"' in empty.text
    for part in ('id="no-traders"', 'id="no-follows"', 'id="profile-form"', "no profile yet"):
        assert part in empty.text, part
    client.cookies.clear()

    alice, _ = two_users(client, db)
    assert "trader_profile.update" in audit_actions(db)
    listing = client.get("/traders").text
    row = trader_row(listing, alice)
    for text in ("Alice", "Swing", "statistics and trades (60 min later)", "<time", ">0<"):
        assert text in row, text
    assert "Follow</button>" in row
    page = client.get(f"/traders/{alice}")
    assert page.status_code == 200
    for text in ("Alice", "Swing", "BTC swing trades", "60 min after they fill", "Follow</button>"):
        assert text in page.text, text
    assert re.search(r"data-followers>0<", page.text)


def test_a_bad_profile_form_shows_the_error_at_its_field_and_writes_nothing(
    client: TestClient, db: TestDatabase
) -> None:
    sign_up(client)
    before = audit_actions(db)
    for changes, field in (
        ({"display_name": " "}, "display_name"),
        ({"display_name": "x" * 61}, "display_name"),
        ({"trade_delay_minutes": "soon"}, "trade_delay_minutes"),
        ({"trade_delay_minutes": "10081"}, "trade_delay_minutes"),
        ({"shows": "everything"}, "shows"),
        ({"bio": "x" * 501}, "bio"),
    ):
        answer = save_profile(client, **changes)
        assert answer.status_code == 422, (changes, answer.text)
        assert answer.json()["field"] == field, (changes, answer.json())
    token = csrf_of(client, "/traders")
    plain = client.post(
        "/traders/profile", data=profile_form(display_name="") | {"csrf_token": token}
    )
    assert plain.status_code == 422
    assert 'data-error-code="validation_error"' in plain.text and "Display name" in plain.text
    assert count_profiles(db) == 0
    assert audit_actions(db) == before


def test_follow_pause_resume_and_unfollow_through_the_buttons(
    client: TestClient, db: TestDatabase
) -> None:
    alice, _ = two_users(client, db)
    followed = client.post(
        f"/traders/{alice}/follow", data={"back": "traders"}, headers=htmx(client)
    )
    assert followed.status_code == 204, followed.text
    assert followed.headers["HX-Redirect"] == "/traders"
    (row,) = follow_rows(db)
    assert str(row["followed_id"]) == alice and row["is_active"] and row["trader_name"] == "Alice"
    follow = str(row["id"])
    listing = client.get("/traders").text
    assert "data-following>Following<" in trader_row(listing, alice)
    assert "Follow</button>" not in trader_row(listing, alice)
    assert f'<tr data-follow-id="{follow}">' in listing
    assert re.search(r"data-followers>1<", client.get(f"/traders/{alice}").text)

    again = client.post(f"/traders/{alice}/follow", headers=htmx(client))
    assert again.status_code == 409 and again.json()["code"] == "already_following"

    for action, active, buttons in (
        ("pause", False, {"resume", "unfollow"}),
        ("resume", True, {"pause", "unfollow"}),
    ):
        answer = client.post(f"/follows/{follow}", data={"action": action}, headers=htmx(client))
        assert answer.status_code == 204, answer.text
        assert answer.headers["HX-Redirect"] == "/traders"
        assert follow_rows(db)[0]["is_active"] is active
        page = client.get("/traders").text
        status = "active" if active else "paused"
        assert f'data-follow-status="{status}"' in page
        assert set(re.findall(r'name="action" value="(\w+)"', page)) == buttons

    # the trader's page: Unfollow, back to that page
    trader_page = client.get(f"/traders/{alice}").text
    assert f'hx-post="/follows/{follow}"' in trader_page and "Unfollow</button>" in trader_page
    gone = client.post(
        f"/follows/{follow}", data={"action": "unfollow", "back": "trader"}, headers=htmx(client)
    )
    assert gone.status_code == 204 and gone.headers["HX-Redirect"] == f"/traders/{alice}"
    assert follow_rows(db) == []
    assert "Follow</button>" in client.get(f"/traders/{alice}").text
    actions = [a for a in audit_actions(db) if a.startswith("follow.")]
    assert actions == ["follow.create", "follow.pause", "follow.resume", "follow.delete"]

    missing = client.post(f"/follows/{follow}", data={"action": "pause"}, headers=htmx(client))
    assert missing.status_code == 404 and missing.json()["code"] == "follow_not_found"


def test_you_cannot_follow_yourself(client: TestClient, db: TestDatabase) -> None:
    email = sign_up(client)
    assert save_profile(client).status_code == 204
    me = user_id(db, email)
    listing = client.get("/traders").text
    row = trader_row(listing, me)
    assert "Follow</button>" not in row and ">You<" in row
    own = client.get(f"/traders/{me}").text
    assert "Follow</button>" not in own and "This is your listed profile" in own
    before = audit_actions(db)
    forged = client.post(f"/traders/{me}/follow", headers=htmx(client))
    assert forged.status_code == 422 and forged.json()["code"] == "self_follow"
    token = csrf_of(client, "/traders")
    plain = client.post(f"/traders/{me}/follow", data={"csrf_token": token})
    assert plain.status_code == 422 and 'data-error-code="self_follow"' in plain.text
    assert follow_rows(db) == [] and audit_actions(db) == before


def test_an_unlisted_trader_is_not_found_like_a_missing_one(
    client: TestClient, db: TestDatabase
) -> None:
    alice, alice_cookies = two_users(client, db)
    bob_cookies = cookies(client)
    replace_cookies(client, alice_cookies)
    assert save_profile(client, is_listed="private").status_code == 204
    assert "Private: no one else sees it." in client.get("/traders").text
    replace_cookies(client, bob_cookies)

    unlisted = client.get(f"/traders/{alice}")
    missing_id = str(uuid.uuid4())
    missing = client.get(f"/traders/{missing_id}")
    assert unlisted.status_code == missing.status_code == 404
    assert 'data-error-code="trader_not_found"' in unlisted.text
    assert unlisted.text.replace(alice, "") == missing.text.replace(missing_id, "")
    assert alice not in client.get("/traders").text
    refused = client.post(f"/traders/{alice}/follow", headers=htmx(client))
    assert refused.status_code == 404 and refused.json()["code"] == "trader_not_found"
    assert follow_rows(db) == []


def test_in_chromium_a_listed_trader_is_followed_with_the_button(
    browser: Browser, site: Site, visitors: list[Visitor]
) -> None:
    alice = new_visitor(browser, site, visitors).page()
    sign_up_in_browser(alice, f"alice-{uuid.uuid4().hex[:8]}@example.test")
    alice.get_by_role("link", name="Traders").click()
    form = alice.locator("#profile-form")
    form.get_by_label("Name").fill("Alice the swing trader")
    form.get_by_label("Category").fill("Swing")
    form.get_by_label("Listed").check()
    form.get_by_role("button", name="Save profile").click()
    row = alice.locator("#traders tbody tr").filter(has_text="Alice the swing trader")
    expect(row).to_contain_text("You")

    bob = new_visitor(browser, site, visitors).page()
    sign_up_in_browser(bob, f"bob-{uuid.uuid4().hex[:8]}@example.test")
    bob.get_by_role("link", name="Traders").click()
    expect(bob.get_by_role("heading", name="Traders", exact=True)).to_be_visible()
    row = bob.locator("#traders tbody tr").filter(has_text="Alice the swing trader")
    row.get_by_role("button", name="Follow").click()
    expect(row.locator("[data-following]")).to_have_text("Following")
    expect(row.locator("[data-followers]")).to_have_text("1")
    follow = bob.locator("#follows tbody tr").filter(has_text="Alice the swing trader")
    expect(follow.locator("[data-follow-status]")).to_have_text("active")
    shoot(bob, "traders.png")


# ------------------------------------------------------------------ the leaderboard


def leaders(db: TestDatabase) -> tuple[tracks.Trader, tracks.Trader]:
    """Lucky (16 days, 200 trials) and Steady (45 days, 2 trials), their tracks made by the
    daily analytics step (tests/social/tracks.py)."""
    lucky = tracks.make_trader(db, "Lucky", tracks.LUCKY, trip_days=tracks.LUCKY_TRIPS)
    steady = tracks.make_trader(db, "Steady", tracks.STEADY, trip_days=tracks.STEADY_TRIPS)
    with db.owner() as conn:
        tracks.add_trials(conn, lucky.user_id, sweep=tracks.LUCKY_TRIALS)
        tracks.add_trials(conn, steady.user_id, singles=tracks.STEADY_TRIALS)
    tracks.run_daily_job(db, [lucky, steady])
    return lucky, steady


def leaderboard_rows(page: str) -> list[tuple[str, str]]:
    """(trader id, rank) of each row, in order."""
    return re.findall(r'<tr data-trader-id="([0-9a-f-]+)" data-rank="(\d+)">', page)


def test_the_leaderboard_ranks_by_the_deflated_sharpe_with_the_trials(
    client: TestClient, db: TestDatabase
) -> None:
    lucky, steady = leaders(db)
    sign_up(client)
    empty = client.get("/traders/leaderboard")  # 30 days: Lucky has 16, Steady 30
    assert empty.status_code == 200
    assert 'href="/traders/leaderboard" aria-current="page"' in empty.text
    assert 'href="/traders" aria-current="page"' not in empty.text
    assert [r[0] for r in leaderboard_rows(empty.text)] == [str(steady.user_id), str(lucky.user_id)]
    board = client.get("/traders/leaderboard", params={"period": "all"}).text
    assert leaderboard_rows(board) == [(str(steady.user_id), "1"), (str(lucky.user_id), "2")]
    assert 'value="all" checked' in board and 'id="lb-days"' in board and 'value="7"' in board
    assert "(2 trials)" in board and "(200 trials)" in board
    by_return = client.get("/traders/leaderboard", params={"period": "all", "sort": "return"})
    assert [r[0] for r in leaderboard_rows(by_return.text)] == [
        str(lucky.user_id),
        str(steady.user_id),
    ]
    week = client.get("/traders/leaderboard", params={"period": "7d", "min_trades": "9"}).text
    assert 'id="no-leaders"' in week and leaderboard_rows(week) == []
    assert client.get("/traders/leaderboard", params={"period": "1y"}).status_code == 422


def test_a_traders_page_draws_their_public_curve(client: TestClient, db: TestDatabase) -> None:
    _, steady = leaders(db)
    sign_up(client)
    page = client.get(f"/traders/{steady.user_id}")
    assert page.status_code == 200
    assert 'id="trader-performance"' in page.text and 'data-chart="equity"' in page.text
    found = re.search(
        r'<script type="application/json" id="trader-equity">(.*?)</script>', page.text
    )
    assert found
    chart = json.loads(found.group(1))
    assert len(chart["points"]) == len(steady.closes) == len(chart["drawdown"])
    assert float(chart["points"][0][1]) == 1.0
    assert float(chart["points"][-1][1]) == pytest.approx(float(steady.closes[-1] / 100), rel=1e-6)
    assert "(2 trials)" in page.text and 'aria-pressed="true" data-period-choice="all"' in page.text
    week = client.get(f"/traders/{steady.user_id}", params={"period": "7d"}).text
    found = re.search(r'<script type="application/json" id="trader-equity">(.*?)</script>', week)
    assert found and len(json.loads(found.group(1))["points"]) == 8


def test_in_chromium_the_leaderboard_switches_period_and_opens_a_trader(
    browser: Browser, site: Site, visitors: list[Visitor]
) -> None:
    lucky, steady = leaders(site.db)
    page = new_visitor(browser, site, visitors).page()
    sign_up_in_browser(page, f"viewer-{uuid.uuid4().hex[:8]}@example.test")
    page.get_by_role("link", name="Leaderboard", exact=True).click()
    expect(page.get_by_role("heading", name="Leaderboard", exact=True)).to_be_visible()
    rows = page.locator("#leaderboard tbody tr")
    expect(rows).to_have_count(2)
    filters = page.locator("#leaderboard-filters")
    filters.get_by_label("all").check()
    filters.get_by_role("button", name="Show").click()
    expect(page.locator("#leaderboard")).to_have_attribute("data-period", "all")
    expect(rows.first).to_have_attribute("data-trader-id", str(steady.user_id))
    expect(rows.first.locator("[data-trials]")).to_have_text("(2 trials)")
    expect(rows.nth(1).locator("[data-trials]")).to_have_text("(200 trials)")
    filters.get_by_label("Rank by").select_option("return")
    filters.get_by_role("button", name="Show").click()
    expect(rows.first).to_have_attribute("data-trader-id", str(lucky.user_id))
    shoot(page, "leaderboard.png")
    rows.first.get_by_role("link", name="Lucky").click()
    expect(page.get_by_role("heading", name="Public performance")).to_be_visible()
    chart = page.locator("#trader-equity-chart")
    expect(chart).to_have_attribute("data-rendered", re.compile(".*"))
    expect(chart.locator("canvas").first).to_be_visible()
    expect(page.locator("#trader-figures [data-trials]")).to_have_text("(200 trials)")
    shoot(page, "trader-performance.png")
