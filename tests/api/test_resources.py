"""Profile, settings, account templates, watchlists and portfolios over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx2
import psycopg
import pytest
from psycopg import sql

from tests.api.conftest import Api, headers_for
from tests.support import TestDatabase, create_user

PROBLEM = "application/problem+json"
V1 = "/api/v1"
# Tables these routes write; a refused call must leave every one of them as it was.
WRITTEN = (
    "profiles",
    "user_settings",
    "paper_trading_accounts",
    "account_templates",
    "template_ratings",
    "watchlists",
    "portfolios",
    "portfolio_accounts",
)


def snapshot(api: Api) -> dict[str, list[str]]:
    """Every row of the tables above (as the owner), minus access bookkeeping."""
    out = {}
    with api.db.owner() as conn:
        for table in WRITTEN:
            rows = conn.execute(
                sql.SQL(
                    "SELECT (to_jsonb(t) - 'last_accessed' - 'access_count')::text AS row"
                    " FROM {} t ORDER BY 1"
                ).format(sql.Identifier(table))
            ).fetchall()
            out[table] = [r["row"] for r in rows]
    return out


def audit(api: Api, user_id: UUID) -> list[tuple[str, str | None, str | None]]:
    with api.db.owner() as conn:
        rows = conn.execute(
            "SELECT action, resource_type, resource_id FROM audit_logs WHERE user_id = %s"
            " ORDER BY timestamp, id",
            [user_id],
        ).fetchall()
    return [(r["action"], r["resource_type"], r["resource_id"]) for r in rows]


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert (r.status_code, r.json().get("code")) == (status, code), r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    return body


def invalid_fields(r: Any) -> set[str]:
    body = problem(r, 422, "validation_error")
    return {e["field"] for e in body["errors"]}


def default_account(api: Api, headers: dict[str, str]) -> str:
    accounts = api.client.get(f"{V1}/accounts", headers=headers).json()["items"]
    return str(next(a["id"] for a in accounts if a["is_default"]))


# ------------------------------------------------------------------ /me


def test_profile_read_update_and_validation(api: Api) -> None:
    uid, h = api.user()
    me = api.client.get(f"{V1}/me", headers=h)
    assert me.status_code == 200, me.text
    assert set(me.json()) == {
        "id",
        "email",
        "display_name",
        "avatar_url",
        "paper_balance",
        "created_at",
    }
    assert me.json()["id"] == str(uid) and isinstance(me.json()["paper_balance"], str)

    changed = api.client.patch(
        f"{V1}/me",
        headers=h,
        json={"display_name": "  Alice  ", "avatar_url": "https://cdn.example.test/a.png"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["display_name"] == "Alice"
    assert changed.json()["avatar_url"] == "https://cdn.example.test/a.png"
    cleared = api.client.patch(f"{V1}/me", headers=h, json={"avatar_url": None}).json()
    assert cleared["avatar_url"] is None and cleared["display_name"] == "Alice"

    bad = [
        ({"display_name": ""}, "body.display_name"),
        ({"display_name": "   "}, "body.display_name"),
        ({"display_name": "x" * 101}, "body.display_name"),
        ({"display_name": None}, "body.display_name"),
        ({"avatar_url": "ftp://example.test/a.png"}, "body.avatar_url"),
        ({"avatar_url": "javascript:alert(1)"}, "body.avatar_url"),
        ({"avatar_url": "https://"}, "body.avatar_url"),
        ({"avatar_url": "https://example.test/" + "a" * 480}, "body.avatar_url"),
        ({"email": "new@example.test"}, "body.email"),
    ]
    for body, field in bad:
        r = api.client.patch(f"{V1}/me", headers=h, json=body)
        assert field in invalid_fields(r), (body, r.text)
    problem(api.client.patch(f"{V1}/me", headers=h, json={}), 422, "invalid_request")
    assert api.client.get(f"{V1}/me", headers=h).json()["display_name"] == "Alice"
    assert audit(api, uid) == [("profile.update", "profile", str(uid))] * 2


def test_settings_defaults_rules_and_reset(api: Api) -> None:
    uid, h = api.user()
    acct = default_account(api, h)
    listed = api.client.get(f"{V1}/me/settings", headers=h)
    assert listed.status_code == 200, listed.text
    settings = {s["name"]: s for s in listed.json()["items"]}
    assert set(settings) == {
        "display_currency",
        "default_account_id",
        "theme",
        "fee_overrides",
        "notifications",
        "notification_preferences",
    }
    assert settings["display_currency"]["value"] == "USD"  # written at sign-up
    assert settings["default_account_id"]["value"] == acct
    assert settings["fee_overrides"] == {
        "name": "fee_overrides",
        "value": {},
        "is_default": True,
        "updated_at": None,
    }

    good = {
        "display_currency": "AUD",
        "theme": "light",
        "fee_overrides": {"taker_fee_rate": "0.002", "maker_fee_rate": 0.001},
        "notifications": {"email": False, "push": True},
    }
    for name, value in good.items():
        r = api.client.put(f"{V1}/me/settings/{name}", headers=h, json={"value": value})
        assert r.status_code == 200, r.text
        assert r.json()["is_default"] is False and r.json()["updated_at"]
    fees = api.client.get(f"{V1}/me/settings/fee_overrides", headers=h).json()
    assert fees["value"] == {"taker_fee_rate": "0.002000", "maker_fee_rate": "0.001000"}
    assert api.client.get(f"{V1}/me/settings/theme", headers=h).json()["value"] == "light"

    bad: list[tuple[str, Any, str]] = [
        ("display_currency", "EUR", '"USD", "AUD"'),
        ("display_currency", "usd", '"USD", "AUD"'),
        ("theme", "blue", '"light", "dark", "system"'),
        ("theme", None, '"light", "dark", "system"'),
        ("fee_overrides", {"taker_fee_rate": "0.06"}, "from 0 to 0.05"),
        ("fee_overrides", {"maker_fee_rate": -0.001}, "from 0 to 0.05"),
        ("fee_overrides", {"taker_fee_rate": "NaN"}, "from 0 to 0.05"),
        ("fee_overrides", {"rebate": 1}, "from 0 to 0.05"),
        ("notifications", {"email": "yes", "push": False}, '"email": true|false'),
        ("notifications", {"email": True}, '"email": true|false'),
        ("notification_preferences", {"order.nope": []}, "event type"),
        ("notification_preferences", {"order.filled": ["sms"]}, '"in_app", "webhook"'),
        ("default_account_id", "not-a-uuid", "one of your accounts"),
        ("default_account_id", 42, "one of your accounts"),
    ]
    before = snapshot(api)
    for setting, value, rule in bad:
        r = api.client.put(f"{V1}/me/settings/{setting}", headers=h, json={"value": value})
        body = problem(r, 422, "invalid_setting")
        assert setting in body["detail"] and rule in body["detail"], body["detail"]
    assert "body.value" in invalid_fields(
        api.client.put(f"{V1}/me/settings/theme", headers=h, json={})
    )
    for method in ("get", "put", "delete"):
        r = api.client.request(method, f"{V1}/me/settings/colour", headers=h, json={"value": "red"})
        problem(r, 404, "unknown_setting")
    assert snapshot(api) == before

    reset = api.client.delete(f"{V1}/me/settings/theme", headers=h)
    assert reset.json() == {
        "name": "theme",
        "value": "dark",
        "is_default": True,
        "updated_at": None,
    }
    assert api.client.get(f"{V1}/me/settings/theme", headers=h).json()["is_default"] is True
    actions = [a for a, _, _ in audit(api, uid)]
    assert actions.count("setting.update") == len(good) and actions[-1] == "setting.reset"
    assert ("setting.reset", "setting", "theme") in audit(api, uid)


def test_default_account_setting_moves_the_default_account(api: Api) -> None:
    alice, h = api.user()
    _, bob = api.user()
    first = default_account(api, h)
    side = api.client.post(f"{V1}/accounts", headers=h, json={"account_name": "Side"}).json()["id"]
    r = api.client.put(f"{V1}/me/settings/default_account_id", headers=h, json={"value": side})
    assert r.status_code == 200 and r.json()["value"] == side
    accounts = {
        a["id"]: a["is_default"]
        for a in api.client.get(f"{V1}/accounts", headers=h).json()["items"]
    }
    assert accounts == {first: False, side: True}

    bobs = default_account(api, bob)
    before = snapshot(api)
    for value in (bobs, str(uuid.uuid4())):
        r = api.client.put(f"{V1}/me/settings/default_account_id", headers=h, json={"value": value})
        problem(r, 404, "account_not_found")
    assert snapshot(api) == before
    # reset: the setting reads as the account marked default
    reset = api.client.delete(f"{V1}/me/settings/default_account_id", headers=h).json()
    assert reset == {
        "name": "default_account_id",
        "value": side,
        "is_default": True,
        "updated_at": None,
    }
    assert ("setting.update", "setting", "default_account_id") in audit(api, alice)


# ------------------------------------------------------------------ /account-templates


def new_template(api: Api, h: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": "Momentum 2x", "account_type": "aggressive", "risk_level": "high"} | fields
    r = api.client.post(f"{V1}/account-templates", headers=h, json=body)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def test_templates_visibility_create_and_delete(api: Api) -> None:
    alice, h = api.user()
    bob, hb = api.user()
    shared = new_template(
        api,
        hb,
        name="Shared",
        is_public=True,
        initial_balance="25000",
        tags=["momentum"],
        color_theme="#ff0000",
    )
    private = new_template(api, hb, name="Mine only")
    assert shared["is_own"] and not shared["is_builtin"]
    assert shared["initial_balance"] == "25000.00000000"
    assert private["is_public"] is False  # user templates are private unless asked
    assert shared["rating"] is None and shared["rating_count"] == 0 and shared["my_rating"] is None

    def names(headers: dict[str, str] | None) -> set[str]:
        r = api.client.get(f"{V1}/account-templates", headers=headers, params={"limit": 500})
        assert r.status_code == 200, r.text
        return {t["name"] for t in r.json()["items"]}

    builtins = {"Conservative", "Balanced", "Aggressive", "Day Trader", "Swing Trader"}
    assert names(None) == builtins | {"Shared"}  # anonymous: public ones
    assert names(h) == builtins | {"Shared"}
    assert names(hb) == builtins | {"Shared", "Mine only"}
    assert api.client.get(f"{V1}/account-templates/{shared['id']}").json()["name"] == "Shared"
    for headers in (None, h):
        r = api.client.get(f"{V1}/account-templates/{private['id']}", headers=headers)
        problem(r, 404, "template_not_found")

    # pages of two, newest first, each template once
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.client.get(f"{V1}/account-templates", headers=hb, params=params).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7 and seen[0] == private["id"]

    bad = [
        ({"name": ""}, "body.name"),
        ({"name": "x", "account_type": "yolo"}, "body.account_type"),
        ({"name": "x", "initial_balance": "0"}, "body.initial_balance"),
        ({"name": "x", "color_theme": "red"}, "body.color_theme"),
        ({"name": "x", "tags": ["t"] * 21}, "body.tags"),
        ({"name": "x", "rating": 5}, "body.rating"),
        ({"name": "x", "usage_count": 1000}, "body.usage_count"),
    ]
    for body, field in bad:
        r = api.client.post(f"{V1}/account-templates", headers=h, json=body)
        assert field in invalid_fields(r), (body, r.text)

    # an account opened from a template outlives it
    opened = api.client.post(
        f"{V1}/accounts/from-template",
        headers=h,
        json={"template_id": shared["id"], "account_name": "From Shared"},
    ).json()
    assert opened["template_id"] == shared["id"]
    before = snapshot(api)
    for template in (shared, private):  # another user's, public or not: 404
        r = api.client.delete(f"{V1}/account-templates/{template['id']}", headers=h)
        problem(r, 404, "template_not_found")
    builtin = next(
        t
        for t in api.client.get(f"{V1}/account-templates", params={"limit": 500}).json()["items"]
        if t["name"] == "Balanced"
    )
    problem(
        api.client.delete(f"{V1}/account-templates/{builtin['id']}", headers=h),
        404,
        "template_not_found",
    )
    assert snapshot(api) == before
    gone = api.client.delete(f"{V1}/account-templates/{shared['id']}", headers=hb)
    assert gone.status_code == 204
    problem(
        api.client.get(f"{V1}/account-templates/{shared['id']}", headers=hb),
        404,
        "template_not_found",
    )
    kept = api.client.get(f"{V1}/accounts/{opened['id']}", headers=h).json()
    assert kept["template_id"] is None
    assert [a for a, _, _ in audit(api, bob)] == [
        "template.create",
        "template.create",
        "template.delete",
    ]
    assert ("template.delete", "account_template", shared["id"]) in audit(api, bob)
    assert audit(api, alice) == [("account.create", "account", opened["id"])]


def test_template_ratings_average_one_per_user(api: Api) -> None:
    alice, h = api.user()
    _, hc = api.user()
    _, hb = api.user()
    shared = new_template(api, hb, name="Rated", is_public=True)
    private = new_template(api, hb, name="Hidden")
    url = f"{V1}/account-templates/{shared['id']}/rate"

    first = api.client.post(url, headers=h, json={"rating": 5})
    assert first.status_code == 200, first.text
    assert (first.json()["rating"], first.json()["rating_count"]) == ("5.00", 1)
    assert first.json()["my_rating"] == 5
    second = api.client.post(url, headers=hc, json={"rating": 2}).json()
    assert (second["rating"], second["rating_count"], second["my_rating"]) == ("3.50", 2, 2)
    again = api.client.post(url, headers=h, json={"rating": 3}).json()  # replaces Alice's 5
    assert (again["rating"], again["rating_count"], again["my_rating"]) == ("2.50", 2, 3)
    seen_by_bob = api.client.get(f"{V1}/account-templates/{shared['id']}", headers=hb).json()
    assert (seen_by_bob["rating"], seen_by_bob["my_rating"]) == ("2.50", None)
    listed = api.client.get(f"{V1}/account-templates", headers=h).json()["items"]
    assert next(t for t in listed if t["id"] == shared["id"])["my_rating"] == 3
    anon = api.client.get(f"{V1}/account-templates/{shared['id']}").json()
    assert (anon["rating"], anon["my_rating"]) == ("2.50", None)

    before = snapshot(api)
    problem(api.client.post(url, headers=hb, json={"rating": 5}), 403, "own_template_rating")
    hidden = f"{V1}/account-templates/{private['id']}/rate"
    problem(api.client.post(hidden, headers=h, json={"rating": 5}), 404, "template_not_found")
    missing = f"{V1}/account-templates/{uuid.uuid4()}/rate"
    problem(api.client.post(missing, headers=h, json={"rating": 5}), 404, "template_not_found")
    for rating in (0, 6, "many", None):
        r = api.client.post(url, headers=h, json={"rating": rating})
        assert "body.rating" in invalid_fields(r)
    problem(api.client.post(url, json={"rating": 5}), 401, "not_authenticated")
    assert snapshot(api) == before
    assert [a for a in audit(api, alice) if a[0] == "template.rate"] == [
        ("template.rate", "account_template", shared["id"])
    ] * 2


@pytest.mark.anyio
async def test_concurrent_ratings_keep_an_exact_average(live_url: str, db: TestDatabase) -> None:
    with db.owner() as conn:
        raters = [create_user(conn) for _ in range(12)]
        template = conn.execute(
            "SELECT id FROM account_templates WHERE name = 'Aggressive' AND created_by IS NULL"
        ).fetchone()
    assert template is not None
    url = f"{V1}/account-templates/{template['id']}/rate"
    ratings = [1 + i % 5 for i in range(len(raters))]
    async with httpx2.AsyncClient(base_url=live_url, timeout=30) as client:
        replies = await asyncio.gather(
            *[
                client.post(url, headers=headers_for(uid), json={"rating": rating})
                for uid, rating in zip(raters, ratings, strict=True)
            ]
        )
    assert {r.status_code for r in replies} == {200}
    with db.owner() as conn:
        row = conn.execute(
            "SELECT rating, rating_count FROM account_templates WHERE id = %s", [template["id"]]
        ).fetchone()
    expected = (Decimal(sum(ratings)) / len(ratings)).quantize(Decimal("0.01"))
    assert row == {"rating": expected, "rating_count": len(ratings)}


def test_users_cannot_write_template_ratings_directly(api: Api) -> None:
    alice, _ = api.user()
    with api.db.owner() as conn:
        template = conn.execute(
            "SELECT id FROM account_templates WHERE name = 'Balanced' AND created_by IS NULL"
        ).fetchone()
    assert template is not None
    with api.db.as_user(alice) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(
            "INSERT INTO template_ratings (template_id, user_id, rating) VALUES (%s, %s, 5)",
            [template["id"], alice],
        )
    with api.db.as_user(alice) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE account_templates SET rating = 5 WHERE id = %s", [template["id"]])


# ------------------------------------------------------------------ /watchlists


def test_watchlists_crud_and_symbols(api: Api) -> None:
    uid, h = api.user()
    created = api.client.post(
        f"{V1}/watchlists",
        headers=h,
        json={"name": "Majors", "symbols": ["btc", " eth "], "is_default": True},
    )
    assert created.status_code == 201, created.text
    wl = created.json()
    assert wl["symbols"] == ["BTC", "ETH"] and wl["is_default"]
    url = f"{V1}/watchlists/{wl['id']}"

    problem(
        api.client.post(f"{V1}/watchlists", headers=h, json={"name": "Majors"}),
        409,
        "watchlist_name_taken",
    )
    problem(
        api.client.post(f"{V1}/watchlists", headers=h, json={"name": "X", "symbols": ["NOPE"]}),
        422,
        "unknown_symbol",
    )
    for body, field in [
        ({"name": ""}, "body.name"),
        ({"name": "X", "symbols": ["BTC", "btc"]}, "body.symbols"),
        ({"name": "X", "symbols": ["BTC-USD"]}, "body.symbols.0"),
        ({"name": "X", "symbols": ["BTC"] * 501}, "body.symbols"),
    ]:
        assert field in invalid_fields(api.client.post(f"{V1}/watchlists", headers=h, json=body))

    added = api.client.post(f"{url}/symbols", headers=h, json={"symbol": "sol"})
    assert added.status_code == 200 and added.json()["symbols"] == ["BTC", "ETH", "SOL"]
    again = api.client.post(f"{url}/symbols", headers=h, json={"symbol": "SOL"})
    assert again.status_code == 200 and again.json()["symbols"] == ["BTC", "ETH", "SOL"]
    problem(
        api.client.post(f"{url}/symbols", headers=h, json={"symbol": "ZZZ"}), 422, "unknown_symbol"
    )
    assert "body.symbol" in invalid_fields(
        api.client.post(f"{url}/symbols", headers=h, json={"symbol": "B T C"})
    )
    removed = api.client.delete(f"{url}/symbols/eth", headers=h).json()
    assert removed["symbols"] == ["BTC", "SOL"]
    assert api.client.delete(f"{url}/symbols/ETH", headers=h).json()["symbols"] == ["BTC", "SOL"]
    reordered = api.client.put(f"{url}/symbols", headers=h, json={"symbols": ["sol", "BTC", "ADA"]})
    assert reordered.json()["symbols"] == ["SOL", "BTC", "ADA"]
    problem(
        api.client.put(f"{url}/symbols", headers=h, json={"symbols": ["BTC", "NOPE"]}),
        422,
        "unknown_symbol",
    )
    assert "body.symbols" in invalid_fields(
        api.client.put(f"{url}/symbols", headers=h, json={"symbols": ["BTC", "BTC"]})
    )
    assert api.client.get(url, headers=h).json()["symbols"] == ["SOL", "BTC", "ADA"]

    other = api.client.post(f"{V1}/watchlists", headers=h, json={"name": "Alts"}).json()
    problem(api.client.patch(url, headers=h, json={"name": "Alts"}), 409, "watchlist_name_taken")
    assert "body.name" in invalid_fields(api.client.patch(url, headers=h, json={"name": None}))
    problem(api.client.patch(url, headers=h, json={}), 422, "invalid_request")
    renamed = api.client.patch(url, headers=h, json={"name": "Core"}).json()
    assert renamed["name"] == "Core" and renamed["is_default"]
    promoted = api.client.patch(
        f"{V1}/watchlists/{other['id']}", headers=h, json={"is_default": True}
    ).json()
    assert promoted["is_default"]
    listed = api.client.get(f"{V1}/watchlists", headers=h).json()["items"]
    assert [(w["name"], w["is_default"]) for w in listed] == [("Alts", True), ("Core", False)]

    assert api.client.delete(url, headers=h).status_code == 204
    problem(api.client.get(url, headers=h), 404, "watchlist_not_found")
    problem(api.client.delete(url, headers=h), 404, "watchlist_not_found")
    assert [a for a, _, _ in audit(api, uid)] == [
        "watchlist.create",
        "watchlist.add_symbol",
        "watchlist.add_symbol",
        "watchlist.remove_symbol",
        "watchlist.remove_symbol",
        "watchlist.replace_symbols",
        "watchlist.create",
        "watchlist.update",
        "watchlist.update",
        "watchlist.delete",
    ]


def test_watchlist_holds_at_most_500_symbols(api: Api) -> None:
    _, h = api.user()
    wl = api.client.post(f"{V1}/watchlists", headers=h, json={"name": "Full"}).json()
    with api.db.owner() as conn:
        conn.execute(
            "UPDATE watchlists SET symbols = ARRAY(SELECT 'X' || n FROM generate_series(1, 500) n)"
            " WHERE id = %s",
            [wl["id"]],
        )
    url = f"{V1}/watchlists/{wl['id']}/symbols"
    problem(api.client.post(url, headers=h, json={"symbol": "BTC"}), 409, "watchlist_full")
    problem(api.client.post(url, headers=h, json={"symbol": "X500"}), 422, "unknown_symbol")
    assert len(api.client.get(f"{V1}/watchlists/{wl['id']}", headers=h).json()["symbols"]) == 500


# ------------------------------------------------------------------ /portfolios


def test_portfolios_value_members_and_default(api: Api) -> None:
    uid, h = api.user()
    main = default_account(api, h)
    order = api.client.post(
        f"{V1}/orders",
        headers=h,
        json={"account_id": main, "symbol": "BTC", "side": "buy", "amount": "0.01"},
    )
    assert order.status_code == 201, order.text
    side = api.client.post(
        f"{V1}/accounts", headers=h, json={"account_name": "Side", "initial_balance": "5000"}
    ).json()

    listed = api.client.get(f"{V1}/portfolios", headers=h)
    assert listed.status_code == 200, listed.text
    [default] = listed.json()["items"]
    assert default["is_default"] and [a["account_id"] for a in default["accounts"]] == [main]
    account = api.client.get(f"{V1}/accounts/{main}", headers=h).json()
    assert Decimal(default["total_value"]) == Decimal(account["equity"])
    assert Decimal(default["initial_balance"]) == Decimal(account["initial_balance"])
    assert Decimal(default["total_pnl"]) == Decimal(account["equity"]) - Decimal(
        account["initial_balance"]
    )
    assert Decimal(default["total_pnl"]) < 0  # the buy paid a fee

    created = api.client.post(f"{V1}/portfolios", headers=h, json={"name": "Both"})
    assert created.status_code == 201, created.text
    both = created.json()
    assert both["accounts"] == [] and both["total_value"] == "0.00000000" and not both["is_default"]
    url = f"{V1}/portfolios/{both['id']}"
    for acct in (main, side["id"], side["id"]):  # the second add of Side changes nothing
        r = api.client.post(f"{url}/accounts", headers=h, json={"account_id": acct})
        assert r.status_code == 200, r.text
    both = api.client.get(url, headers=h).json()
    assert [a["account_id"] for a in both["accounts"]] == [main, side["id"]]
    assert Decimal(both["total_value"]) == Decimal(account["equity"]) + Decimal(5000)
    assert Decimal(both["initial_balance"]) == Decimal(account["initial_balance"]) + 5000
    assert both["total_pnl"] == default["total_pnl"]

    problem(
        api.client.post(f"{url}/accounts", headers=h, json={"account_id": str(uuid.uuid4())}),
        404,
        "account_not_found",
    )
    assert "body.account_id" in invalid_fields(
        api.client.post(f"{url}/accounts", headers=h, json={"account_id": "x"})
    )
    after = api.client.delete(f"{url}/accounts/{main}", headers=h).json()
    assert [a["account_id"] for a in after["accounts"]] == [side["id"]]
    problem(api.client.delete(f"{url}/accounts/{main}", headers=h), 404, "account_not_found")

    for body, field in [
        ({"name": ""}, "body.name"),
        ({"name": "x", "mode": "real"}, "body.mode"),
    ]:
        assert field in invalid_fields(api.client.post(f"{V1}/portfolios", headers=h, json=body))
    assert "body.is_default" in invalid_fields(
        api.client.patch(url, headers=h, json={"is_default": False})
    )
    problem(
        api.client.delete(f"{V1}/portfolios/{default['id']}", headers=h),
        409,
        "portfolio_is_default",
    )
    problem(api.client.patch(url, headers=h, json={}), 422, "invalid_request")
    renamed = api.client.patch(url, headers=h, json={"name": "Core", "is_default": True}).json()
    assert renamed["name"] == "Core" and renamed["is_default"]
    assert api.client.delete(f"{V1}/portfolios/{default['id']}", headers=h).status_code == 204
    listed = api.client.get(f"{V1}/portfolios", headers=h).json()["items"]
    assert [p["name"] for p in listed] == ["Core"]
    assert api.client.get(f"{V1}/accounts/{main}", headers=h).status_code == 200  # kept
    assert [a for a, _, _ in audit(api, uid) if a.startswith("portfolio.")] == [
        "portfolio.create",
        "portfolio.add_account",
        "portfolio.add_account",
        "portfolio.add_account",
        "portfolio.remove_account",
        "portfolio.update",
        "portfolio.delete",
    ]


# ------------------------------------------------------------------ another user, anonymous


def test_another_users_ids_answer_404_and_change_nothing(api: Api) -> None:
    alice, ha = api.user()
    _, hb = api.user()
    acct = default_account(api, ha)
    wl = api.client.post(f"{V1}/watchlists", headers=ha, json={"name": "A", "symbols": ["BTC"]})
    portfolio = api.client.post(f"{V1}/portfolios", headers=ha, json={"name": "A"}).json()
    template = new_template(api, ha, name="A's private")
    bobs_acct = default_account(api, hb)
    bobs_portfolio = api.client.get(f"{V1}/portfolios", headers=hb).json()["items"][0]["id"]
    w, p, t = wl.json()["id"], portfolio["id"], template["id"]
    calls: list[tuple[str, str, Any, str]] = [
        ("get", f"/watchlists/{w}", None, "watchlist_not_found"),
        ("patch", f"/watchlists/{w}", {"name": "mine"}, "watchlist_not_found"),
        ("delete", f"/watchlists/{w}", None, "watchlist_not_found"),
        ("post", f"/watchlists/{w}/symbols", {"symbol": "ETH"}, "watchlist_not_found"),
        ("delete", f"/watchlists/{w}/symbols/BTC", None, "watchlist_not_found"),
        ("put", f"/watchlists/{w}/symbols", {"symbols": []}, "watchlist_not_found"),
        ("get", f"/portfolios/{p}", None, "portfolio_not_found"),
        ("patch", f"/portfolios/{p}", {"name": "mine"}, "portfolio_not_found"),
        ("delete", f"/portfolios/{p}", None, "portfolio_not_found"),
        ("post", f"/portfolios/{p}/accounts", {"account_id": bobs_acct}, "portfolio_not_found"),
        ("delete", f"/portfolios/{p}/accounts/{acct}", None, "portfolio_not_found"),
        # Bob's own portfolio with Alice's account: the account is not his
        (
            "post",
            f"/portfolios/{bobs_portfolio}/accounts",
            {"account_id": acct},
            "account_not_found",
        ),
        ("delete", f"/portfolios/{bobs_portfolio}/accounts/{acct}", None, "account_not_found"),
        ("get", f"/account-templates/{t}", None, "template_not_found"),
        ("delete", f"/account-templates/{t}", None, "template_not_found"),
        ("post", f"/account-templates/{t}/rate", {"rating": 1}, "template_not_found"),
        ("put", "/me/settings/default_account_id", {"value": acct}, "account_not_found"),
    ]
    # Alice's default portfolio holds her account: deleting it from Bob's side is a 404 too
    alices_default = api.client.get(f"{V1}/portfolios", headers=ha).json()["items"][0]["id"]
    calls.append(
        ("delete", f"/portfolios/{alices_default}/accounts/{acct}", None, "portfolio_not_found")
    )
    before = snapshot(api)
    for method, path, body, code in calls:
        r = api.client.request(method, V1 + path, headers=hb, json=body)
        problem(r, 404, code)
    assert snapshot(api) == before
    # ... and Alice still sees all of it, unchanged
    assert api.client.get(f"{V1}/watchlists/{w}", headers=ha).json()["symbols"] == ["BTC"]
    assert api.client.get(f"{V1}/account-templates/{t}", headers=ha).status_code == 200
    assert [a for a, _, _ in audit(api, alice)] == [
        "watchlist.create",
        "portfolio.create",
        "template.create",
    ]


def test_anonymous_callers_read_public_templates_only(api: Api) -> None:
    some = str(uuid.uuid4())
    listed = api.client.get(f"{V1}/account-templates")
    assert listed.status_code == 200 and listed.json()["items"]
    assert all(t["is_public"] and t["my_rating"] is None for t in listed.json()["items"])
    calls: list[tuple[str, str, Any]] = [
        ("get", "/me", None),
        ("patch", "/me", {"display_name": "x"}),
        ("get", "/me/settings", None),
        ("get", "/me/settings/theme", None),
        ("put", "/me/settings/theme", {"value": "dark"}),
        ("delete", "/me/settings/theme", None),
        ("post", "/account-templates", {"name": "x"}),
        ("delete", f"/account-templates/{some}", None),
        ("post", f"/account-templates/{some}/rate", {"rating": 3}),
        ("get", "/watchlists", None),
        ("post", "/watchlists", {"name": "x"}),
        ("get", f"/watchlists/{some}", None),
        ("patch", f"/watchlists/{some}", {"name": "x"}),
        ("delete", f"/watchlists/{some}", None),
        ("post", f"/watchlists/{some}/symbols", {"symbol": "BTC"}),
        ("delete", f"/watchlists/{some}/symbols/BTC", None),
        ("put", f"/watchlists/{some}/symbols", {"symbols": []}),
        ("get", "/portfolios", None),
        ("post", "/portfolios", {"name": "x"}),
        ("get", f"/portfolios/{some}", None),
        ("patch", f"/portfolios/{some}", {"name": "x"}),
        ("delete", f"/portfolios/{some}", None),
        ("post", f"/portfolios/{some}/accounts", {"account_id": some}),
        ("delete", f"/portfolios/{some}/accounts/{some}", None),
    ]
    for method, path, body in calls:
        problem(api.client.request(method, V1 + path, json=body), 401, "not_authenticated")
    with api.db.owner() as conn:
        assert conn.execute("SELECT count(*) AS n FROM audit_logs").fetchone() == {"n": 0}


def test_openapi_declares_the_errors(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    expected = {
        ("/api/v1/me/settings/{name}", "put"): {"401", "404", "422"},
        ("/api/v1/account-templates/{template_id}/rate", "post"): {"401", "403", "404", "422"},
        ("/api/v1/account-templates/{template_id}", "delete"): {"401", "404"},
        ("/api/v1/watchlists/{watchlist_id}/symbols", "post"): {"401", "404", "409", "422"},
        ("/api/v1/portfolios/{portfolio_id}", "delete"): {"401", "404", "409"},
        ("/api/v1/portfolios/{portfolio_id}/accounts", "post"): {"401", "404"},
    }
    for (path, method), statuses in expected.items():
        assert statuses <= set(paths[path][method]["responses"]), (path, method)
    described = paths["/api/v1/portfolios/{portfolio_id}"]["delete"]["responses"]["409"]
    assert "portfolio_is_default" in described["description"]
