"""The dashboard over HTTP (TestClient): sessions in cookies, CSRF, the same 404 as the
API for another user's rows, refusals named by their field, and every page rendering
what the services return."""

from __future__ import annotations

import asyncio
import html
import json
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Origin

from cryptotrader.api.app import create_app
from cryptotrader.audit.schemas import SYSTEM
from cryptotrader.auth.tokens import issue_access_token
from cryptotrader.backtest.schemas import SessionRequest
from cryptotrader.backtest.tasks import run_now
from cryptotrader.config import Settings
from cryptotrader.market.candle_import import import_candles_csv
from cryptotrader.stream.protocol import CLOSE_UNAUTHORIZED
from tests.support import TestDatabase, api_routes
from tests.support_targets import target_for
from tests.web.conftest import FIXTURES as OHLCV
from tests.web.conftest import Site

SECRET = "web-pages-secret-for-loopback-only-0123456789"
PASSWORD = "correct-horse-42"
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


@pytest.fixture
def app_settings() -> Settings:
    return Settings(jwt_secret=SecretStr(SECRET), run_workers=False, pool_max_size=6)


@pytest.fixture
def client(db: TestDatabase, app_settings: Settings) -> Iterator[TestClient]:
    with db.owner() as conn:
        conn.execute("UPDATE market_data_cache SET last_updated = now()")
    app = create_app(app_settings, target_for(db))
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as c:
        yield c


def csrf_of(client: TestClient, path: str = "/login") -> str:
    found = CSRF.search(client.get(path).text)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_up(client: TestClient, email: str | None = None) -> str:
    email = email or f"web-{uuid.uuid4().hex[:8]}@example.test"
    token = csrf_of(client, "/signup")
    answer = client.post(
        "/signup", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 303, answer.text[-3000:]
    assert answer.headers["location"] == "/"
    return email


def replace_cookies(client: TestClient, values: dict[str, str]) -> None:
    """The browser's cookies, replaced (as the host the server set them for)."""
    client.cookies.clear()
    for name, value in values.items():
        client.cookies.set(name, value, domain="127.0.0.1", path="/")


def audit_actions(db: TestDatabase) -> list[str]:
    with db.owner() as conn:
        rows = conn.execute("SELECT action FROM audit_logs ORDER BY timestamp, id").fetchall()
    return [r["action"] for r in rows]


def first_account(client: TestClient) -> str:
    found = re.search(r'data-account-id="([0-9a-f-]{36})"', client.get("/").text)
    assert found
    return found.group(1)


def test_a_page_without_a_session_redirects_to_sign_in(client: TestClient) -> None:
    answer = client.get("/accounts/00000000-0000-0000-0000-000000000000?x=1")
    assert answer.status_code == 303
    assert (
        answer.headers["location"]
        == "/login?next=/accounts/00000000-0000-0000-0000-000000000000%3Fx%3D1"
    )
    htmx = client.get("/", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"].startswith("/login")


def test_sign_up_sets_http_only_lax_cookies_and_audits(
    client: TestClient, db: TestDatabase
) -> None:
    sign_up(client)
    cookies = client.cookies
    assert {"ct_access", "ct_refresh", "ct_csrf"} <= set(cookies.keys())
    page = client.get("/")
    assert page.status_code == 200 and "Your accounts" in page.text
    assert "auth.signup" in audit_actions(db)


def test_cookie_flags(db: TestDatabase, app_settings: Settings) -> None:
    app = create_app(app_settings, target_for(db))
    for base, secure in (("http://127.0.0.1", False), ("https://dashboard.example", True)):
        with TestClient(app, base_url=base, follow_redirects=False) as c:
            token = csrf_of(c, "/signup")
            email = f"flags-{uuid.uuid4().hex[:8]}@example.test"
            answer = c.post(
                "/signup", data={"email": email, "password": PASSWORD, "csrf_token": token}
            )
            set_cookies = answer.headers.get_list("set-cookie")
            assert len(set_cookies) == 2
            for header in set_cookies:
                assert "HttpOnly" in header and "SameSite=lax" in header
                assert ("Secure" in header) is secure


@pytest.mark.parametrize("token", [None, "", "forged-token-forged-token-forged-token-00"])
def test_a_form_without_its_csrf_token_is_refused_and_writes_nothing(
    client: TestClient, db: TestDatabase, token: str | None
) -> None:
    sign_up(client)
    before = audit_actions(db)
    data: dict[str, Any] = {"account_name": "No token"}
    if token is not None:
        data["csrf_token"] = token
    answer = client.post("/accounts", data=data)
    assert answer.status_code == 403
    assert "csrf_failed" in answer.text
    htmx = client.post("/accounts", data=data, headers={"HX-Request": "true"})
    assert htmx.status_code == 403
    assert htmx.json()["code"] == "csrf_failed"
    with db.owner() as conn:
        named = conn.execute(
            "SELECT count(*) AS n FROM paper_trading_accounts WHERE account_name = 'No token'"
        ).fetchone()
    assert named is not None and named["n"] == 0
    assert audit_actions(db) == before


def test_sign_in_errors_are_shown_in_the_form(client: TestClient, db: TestDatabase) -> None:
    email = sign_up(client)
    client.cookies.delete("ct_access")
    client.cookies.delete("ct_refresh")
    token = csrf_of(client)
    wrong = client.post(
        "/login", data={"email": email, "password": "nope-12345", "csrf_token": token}
    )
    assert wrong.status_code == 401
    assert 'data-code="invalid_credentials"' in wrong.text
    assert "auth.login_failed" in audit_actions(db)
    right = client.post(
        "/login",
        data={
            "email": email,
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/x",
        },
    )
    assert right.status_code == 303 and right.headers["location"] == "/"


def test_an_expired_access_cookie_is_renewed_by_rotating_the_refresh_token(
    client: TestClient, db: TestDatabase
) -> None:
    sign_up(client)
    old_refresh = client.cookies["ct_refresh"]
    assert client.get("/settings").status_code == 200
    expired, _ = issue_access_token(
        SECRET, uuid.uuid4(), email="x@example.test", ttl=timedelta(seconds=-5)
    )
    keep = {k: v for k, v in client.cookies.items() if k != "ct_access"}
    replace_cookies(client, keep | {"ct_access": expired})
    page = client.get("/")
    assert page.status_code == 200
    assert client.cookies["ct_refresh"] != old_refresh
    assert "auth.refresh" in audit_actions(db)
    # the rotated token again: the whole session is revoked, the browser signed out
    csrf = client.cookies["ct_csrf"]
    replace_cookies(client, {"ct_access": expired, "ct_refresh": old_refresh, "ct_csrf": csrf})
    gone = client.get("/")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    assert "auth.refresh_token_reused" in audit_actions(db)


def test_another_users_account_is_404_like_the_api(
    db: TestDatabase, app_settings: Settings
) -> None:
    app = create_app(app_settings, target_for(db))
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as bob:
        sign_up(bob)
        bob_cookies = dict(bob.cookies)
        bob.cookies.clear()
        sign_up(bob)  # now Alice, in the same client
        account = first_account(bob)
        assert bob.get(f"/accounts/{account}").status_code == 200
        replace_cookies(bob, bob_cookies)
        theirs = bob.get(f"/accounts/{account}")
        missing = bob.get(f"/accounts/{uuid.uuid4()}")
        assert theirs.status_code == missing.status_code == 404
        assert 'data-error-code="account_not_found"' in theirs.text
        assert 'data-error-code="account_not_found"' in missing.text
        for path in ("/live", "/trades", "/audit", "/trades.csv"):
            assert bob.get(f"/accounts/{account}{path}").status_code == 404, path
        token = csrf_of(bob, "/")
        post = bob.post(
            f"/accounts/{account}/status", data={"action": "pause", "csrf_token": token}
        )
        assert post.status_code == 404


def test_order_ticket_refusal_names_its_field(client: TestClient, db: TestDatabase) -> None:
    sign_up(client)
    account = first_account(client)
    token = csrf_of(client, f"/accounts/{account}")
    headers = {"HX-Request": "true", "X-CSRF-Token": token}
    form = {"symbol": "BTC", "side": "sell", "order_type": "market", "amount": "1"}
    refused = client.post(f"/accounts/{account}/orders", data=form, headers=headers)
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["code"] == "insufficient_position" and problem["field"] == "amount"
    assert "less of this coin" in problem["detail"]
    bad = client.post(f"/accounts/{account}/orders", data=form | {"amount": "abc"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["field"] == "amount"
    preview = client.post(
        "/orders/preview",
        data=form | {"account_id": account, "side": "buy", "amount": "0.01"},
        headers=headers,
    )
    assert preview.status_code == 200 and 'data-preview-status="completed"' in preview.text
    placed = client.post(
        f"/accounts/{account}/orders",
        data=form | {"side": "buy", "amount": "0.01"},
        headers=headers,
    )
    assert placed.status_code == 200 and 'data-order-status="completed"' in placed.text
    assert "ct-refresh" in placed.headers["HX-Trigger"]
    assert "order.place" in audit_actions(db)
    live = client.get(f"/accounts/{account}/live")
    assert 'data-symbol="BTC"' in live.text
    csv = client.get(f"/accounts/{account}/trades.csv")
    assert csv.status_code == 200 and csv.text.count("\n") == 2


def test_every_page_renders(client: TestClient) -> None:
    sign_up(client)
    account = first_account(client)
    for path in (
        "/",
        f"/accounts/{account}",
        "/markets",
        "/markets/BTC",
        "/backtests",
        "/settings",
        f"/accounts/{account}/trades?symbol=BTC&side=buy",
    ):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
        assert "text/html" in answer.headers["content-type"]
    chart = client.get("/markets/BTC/candles.json?timeframe=1h").json()
    assert chart["symbol"] == "BTC" and isinstance(chart["candles"], list)
    assert client.get("/markets/NOPE").status_code == 422  # as the API: unknown_symbol
    assert client.get("/no/such/page").status_code == 404


def test_display_currency_is_the_settings_one(client: TestClient, db: TestDatabase) -> None:
    sign_up(client)
    token = csrf_of(client, "/settings")
    saved = client.post(
        "/settings", data={"display_currency": "AUD", "theme": "light", "csrf_token": token}
    )
    assert saved.status_code == 303
    page = client.get("/")
    assert 'data-currency="AUD"' in page.text and "A$" in page.text
    assert 'data-theme="light"' in page.text
    bad = client.post(
        "/settings",
        data={"display_currency": "EUR", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 422 and bad.json()["field"] == "display_currency"


def test_notification_choices_are_the_preferences_setting(
    client: TestClient, db: TestDatabase
) -> None:
    sign_up(client)
    page = client.get("/settings").text
    assert 'name="in_app:order.filled" aria-label="order.filled in_app" checked' in page
    token = csrf_of(client, "/settings")
    boxes = {f"{c}:{e}": "on" for e in ("order.filled", "alert.triggered") for c in ("in_app",)}
    saved = client.post("/settings/notifications", data=boxes | {"csrf_token": token})
    assert saved.status_code == 303
    with db.owner() as conn:
        row = conn.execute(
            "SELECT setting_value FROM user_settings WHERE setting_name ="
            " 'notification_preferences' ORDER BY updated_at DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    chosen = row["setting_value"]
    assert chosen["order.filled"] == ["in_app"] and chosen["order.expired"] == []
    assert len(chosen) == 15  # every event that is not on every channel
    page = client.get("/settings").text
    assert 'name="webhook:order.filled" aria-label="order.filled webhook" >' in page


def test_the_stream_takes_the_session_cookie_from_its_own_origin(site: Site) -> None:
    with httpx2.Client(base_url=site.url) as browser:
        token = CSRF.search(browser.get("/signup").text)
        assert token
        email = f"ws-{uuid.uuid4().hex[:8]}@example.test"
        browser.post(
            "/signup", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
        )
        access = browser.cookies["ct_access"]
    url = site.url.replace("http://", "ws://") + "/api/v1/stream"
    cookie = {"Cookie": f"ct_access={access}"}
    with connect(url, additional_headers=cookie, origin=Origin(site.url)) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
    evil = Origin("http://evil.example")  # another site's page: no session
    with (
        connect(url, additional_headers=cookie, origin=evil) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.send(json.dumps({"type": "ping"}))  # not an auth message: refused at once
        ws.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_UNAUTHORIZED


def make_admin(db: TestDatabase, email: str) -> None:
    with db.owner() as conn:
        conn.execute(
            'UPDATE auth.users SET raw_app_meta_data = raw_app_meta_data || \'{"role": "admin"}\''
            " WHERE email = %s",
            [email],
        )


def test_admin_pages_are_a_missing_page_to_others_and_audited_for_admins(
    client: TestClient, db: TestDatabase
) -> None:
    victim = sign_up(client)
    victim_account = first_account(client)
    client.cookies.clear()
    sign_up(client)
    refused = client.get("/admin")
    missing = client.get("/no-such-page")
    assert refused.status_code == missing.status_code == 404
    assert refused.text.replace("/admin", "") == missing.text.replace("/no-such-page", "")
    token = csrf_of(client, "/")
    post = client.post(
        f"/admin/accounts/{victim_account}/suspend", data={"reason": "x", "csrf_token": token}
    )
    assert post.status_code == 404

    email = sign_up(client)
    make_admin(db, email)
    client.cookies.clear()
    token = csrf_of(client)
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    page = client.get("/admin")
    assert page.status_code == 200 and victim in page.text
    token = csrf_of(client, "/admin")
    headers = {"HX-Request": "true", "X-CSRF-Token": token}
    no_reason = client.post(
        f"/admin/accounts/{victim_account}/suspend", data={"reason": " "}, headers=headers
    )
    assert no_reason.status_code == 422
    done = client.post(
        f"/admin/accounts/{victim_account}/suspend",
        data={"reason": "fraud review"},
        headers=headers,
    )
    assert done.status_code == 204 and done.headers["HX-Redirect"] == "/admin"
    assert "admin.account_suspended" in audit_actions(db)
    with db.owner() as conn:
        row = conn.execute("SELECT id FROM auth.users WHERE email = %s", [victim]).fetchone()
    assert row is not None
    banned = client.post(f"/admin/users/{row['id']}/ban", data={"reason": "abuse"}, headers=headers)
    assert banned.status_code == 204
    assert "admin.user_banned" in audit_actions(db)
    created = client.post(
        "/admin/templates", data={"name": "House", "risk_level": "low"}, headers=headers
    )
    assert created.status_code == 204 and "House" in client.get("/admin").text


def test_a_sweeps_page_ranks_it_and_draws_a_heatmap(client: TestClient, db: TestDatabase) -> None:
    email = sign_up(client)
    import_candles_csv(db.app_conninfo, OHLCV / "BTC-USDT_1h.csv.gz", "BTC", "1h")
    with db.owner() as conn:
        row = conn.execute("SELECT id FROM auth.users WHERE email = %s", [email]).fetchone()
    assert row is not None
    request = SessionRequest.model_validate(
        {
            "symbol": "BTC",
            "timeframe": "1h",
            "strategy": "sma_crossover",
            "sweep": {"fast": [5, 10], "slow": [20, 40, 60]},
            "start": "2021-01-01T00:00:00Z",
            "end": "2021-03-01T00:00:00Z",
        }
    )
    session, _ = asyncio.run(run_now(db.app_conninfo, SYSTEM, row["id"], request, processes=1))
    page = client.get(f"/backtests/{session['id']}")
    assert page.status_code == 200
    assert page.text.count('<tr><td class="num">') == 6  # the ranked combinations
    found = re.search(r'<script type="application/json" id="bt-heatmap">(.*?)</script>', page.text)
    assert found
    heat = json.loads(html.unescape(found.group(1)))
    assert heat["x"] == {"name": "fast", "values": [5, 10]}
    assert heat["y"] == {"name": "slow", "values": [20, 40, 60]}
    assert len(heat["cells"]) == 3 and all(len(r) == 2 for r in heat["cells"])
    assert 'id="bt-equity"' in page.text and 'id="bt-candles"' in page.text
    listing = client.get("/backtests")
    assert str(session["id"]) in listing.text


def test_every_state_changing_page_route_checks_the_csrf_token(client: TestClient) -> None:
    """Not one form of the dashboard's is exempt: each POST route refuses a request
    without the token before it looks at anything else (even the path's ids)."""
    sign_up(client)
    posts = [
        r.path
        for r in api_routes(client.app.routes)  # type: ignore[attr-defined]
        if not r.include_in_schema and "POST" in r.methods
    ]
    assert len(posts) >= 20, posts
    for path in posts:
        url = re.sub(r"{[^}]+}", str(uuid.uuid4()), path)
        answer = client.post(url, data={"x": "1"})
        assert answer.status_code == 403 and "csrf_failed" in answer.text, (path, answer.text)


def test_a_view_counts_as_an_access_and_its_live_parts_do_not(
    client: TestClient, db: TestDatabase
) -> None:
    sign_up(client)
    account = first_account(client)

    def accesses() -> int:
        with db.owner() as conn:
            row = conn.execute(
                "SELECT access_count FROM paper_trading_accounts WHERE id = %s", [account]
            ).fetchone()
        assert row is not None
        return int(row["access_count"])

    before = accesses()
    assert client.get(f"/accounts/{account}").status_code == 200
    assert accesses() == before + 1
    for part in ("/live", "/equity.json", "/trades", "/audit"):
        assert client.get(f"/accounts/{account}{part}").status_code == 200, part
    assert accesses() == before + 1
