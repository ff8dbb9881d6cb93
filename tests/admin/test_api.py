"""/api/v1/admin end to end: administrators use it, everyone else gets the 404 of an unknown
route, bad input is a 4xx problem, and every change is audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.routing import APIRoute

from cryptotrader.admin.router import router
from tests.api.conftest import Api, headers_for
from tests.support import Row, create_user, default_account

V1 = "/api/v1"
ADMIN = f"{V1}/admin"
PROBLEM = "application/problem+json"
PASSWORD = "s3cret-passw0rd"
# A valid body for each route that takes one.
BODIES = {
    "/admin/users/{user_id}/ban": {"reason": "spam"},
    "/admin/accounts/{account_id}/suspend": {"reason": "fraud"},
    "/admin/templates": {"name": "Hidden"},
    "/admin/templates/{template_id}": {"name": "Hidden"},
}


def admin(api: Api) -> tuple[uuid.UUID, dict[str, str]]:
    with api.db.owner() as conn:
        uid = create_user(conn, email=f"admin-{uuid.uuid4().hex[:6]}@example.test")
    return uid, headers_for(uid, admin=True)


def audit(api: Api, action: str) -> list[Row]:
    with api.db.owner() as conn:
        return conn.execute(
            "SELECT user_id, resource_type, resource_id, details FROM audit_logs"
            " WHERE action = %s ORDER BY timestamp, id",
            [action],
        ).fetchall()


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert (r.status_code, r.json().get("code")) == (status, code), r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    return body


def test_to_non_admins_every_admin_route_is_an_unknown_route(api: Api) -> None:
    _, user = api.user()
    routes = [r for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) == 11
    for route in routes:
        path = route.path.format(
            user_id=uuid.uuid4(), account_id=uuid.uuid4(), template_id=uuid.uuid4()
        )
        [method] = route.methods
        kwargs = {"json": BODIES[route.path]} if route.path in BODIES and method != "GET" else {}
        answer = api.client.request(method, V1 + path, headers=user, **kwargs)
        unknown = api.client.request(method, f"{V1}/no-such-route", headers=user, **kwargs)
        assert answer.status_code == unknown.status_code == 404, (method, path, answer.text)
        assert answer.headers["content-type"] == unknown.headers["content-type"] == PROBLEM
        assert answer.json() | {"instance": None} == unknown.json() | {"instance": None}
        assert answer.json()["instance"] == V1 + path
    with api.db.owner() as conn:
        assert conn.execute(
            "SELECT count(*) AS n FROM audit_logs WHERE action LIKE 'admin.%'"
        ).fetchone() == {"n": 0}


def test_a_banned_user_cannot_sign_in_until_unbanned(api: Api) -> None:
    admin_id, h = admin(api)
    made = api.client.post(
        f"{V1}/auth/signup", json={"email": "frank@example.test", "password": PASSWORD}
    )
    assert made.status_code == 201, made.text
    frank, refresh_token = made.json()["user"]["id"], made.json()["refresh_token"]

    found = api.client.get(f"{ADMIN}/users", headers=h, params={"q": "FRANK"})
    assert found.status_code == 200, found.text
    [row] = found.json()["items"]
    assert (row["id"], row["is_banned"], row["account_count"]) == (frank, False, 1)
    assert row["last_sign_in_at"] is not None

    until = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    banned = api.client.post(
        f"{ADMIN}/users/{frank}/ban", headers=h, json={"reason": "spam", "until": until}
    )
    assert banned.status_code == 200, banned.text
    assert banned.json()["is_banned"] and banned.json()["banned_until"] is not None
    login = {"email": "frank@example.test", "password": PASSWORD}
    problem(api.client.post(f"{V1}/auth/login", json=login), 403, "user_banned")
    refused = api.client.post(f"{V1}/auth/refresh", json={"refresh_token": refresh_token})
    problem(refused, 401, "invalid_refresh_token")  # revoked with the ban
    listed = api.client.get(f"{ADMIN}/users", headers=h, params={"banned": "true"}).json()
    assert [u["id"] for u in listed["items"]] == [frank]

    unbanned = api.client.post(f"{ADMIN}/users/{frank}/unban", headers=h)
    assert unbanned.status_code == 200 and not unbanned.json()["is_banned"]
    assert api.client.post(f"{V1}/auth/login", json=login).status_code == 200
    problem(api.client.post(f"{ADMIN}/users/{frank}/unban", headers=h), 409, "user_not_banned")
    problem(
        api.client.post(f"{ADMIN}/users/{admin_id}/ban", headers=h, json={"reason": "x"}),
        409,
        "cannot_ban_yourself",
    )
    missing = api.client.post(f"{ADMIN}/users/{uuid.uuid4()}/ban", headers=h, json={"reason": "x"})
    problem(missing, 404, "user_not_found")

    [ban] = audit(api, "admin.user_banned")
    assert (ban["user_id"], ban["resource_type"], ban["resource_id"]) == (admin_id, "user", frank)
    assert ban["details"] == {
        "reason": "spam",
        "until": datetime.fromisoformat(until).isoformat(),
        "sessions_revoked": 1,
    }
    assert [r["resource_id"] for r in audit(api, "admin.user_unbanned")] == [frank]


def test_a_suspended_accounts_owner_cannot_order_until_it_is_lifted(api: Api) -> None:
    admin_id, h = admin(api)
    owner, owner_h = api.user()
    with api.db.owner() as conn:
        account = str(default_account(conn, owner))
    order = {"account_id": account, "symbol": "BTC", "side": "buy", "amount": "0.01"}

    listed = api.client.get(f"{ADMIN}/accounts", headers=h, params={"status": "active"}).json()
    assert account in [a["id"] for a in listed["items"]]
    suspended = api.client.post(
        f"{ADMIN}/accounts/{account}/suspend", headers=h, json={"reason": "wash trading"}
    )
    assert suspended.status_code == 200, suspended.text
    assert (suspended.json()["status"], suspended.json()["user_id"]) == ("suspended", str(owner))
    problem(api.client.post(f"{V1}/orders", headers=owner_h, json=order), 409, "account_not_active")
    problem(
        api.client.post(f"{V1}/accounts/{account}/resume", headers=owner_h),
        403,
        "account_suspension_forbidden",
    )
    again = api.client.post(
        f"{ADMIN}/accounts/{account}/suspend", headers=h, json={"reason": "again"}
    )
    problem(again, 409, "account_already_suspended")

    lifted = api.client.post(f"{ADMIN}/accounts/{account}/unsuspend", headers=h)
    assert lifted.status_code == 200 and lifted.json()["status"] == "active"
    assert api.client.post(f"{V1}/orders", headers=owner_h, json=order).status_code == 201
    problem(
        api.client.post(f"{ADMIN}/accounts/{account}/unsuspend", headers=h),
        409,
        "account_not_suspended",
    )

    [row] = audit(api, "admin.account_suspended")
    assert (row["user_id"], row["resource_type"], row["resource_id"]) == (
        admin_id,
        "account",
        account,
    )
    assert row["details"] == {
        "reason": "wash trading",
        "previous_status": "active",
        "owner_id": str(owner),
    }
    assert [r["resource_id"] for r in audit(api, "admin.account_unsuspended")] == [account]


def test_platform_templates_through_the_api(api: Api) -> None:
    admin_id, h = admin(api)
    _, user = api.user()
    made = api.client.post(
        f"{ADMIN}/templates", headers=h, json={"name": "Weekly DCA", "risk_level": "low"}
    )
    assert made.status_code == 201, made.text
    template = made.json()
    assert (template["is_builtin"], template["is_public"], template["risk_level"]) == (
        True,
        True,
        "low",
    )
    offered = api.client.get(f"{V1}/account-templates", headers=user).json()["items"]
    assert template["id"] in [t["id"] for t in offered]
    problem(
        api.client.post(f"{ADMIN}/templates", headers=h, json={"name": "Weekly DCA"}),
        409,
        "template_name_taken",
    )

    edited = api.client.patch(
        f"{ADMIN}/templates/{template['id']}", headers=h, json={"icon": "Shield"}
    )
    assert edited.status_code == 200 and edited.json()["icon"] == "Shield"
    retired = api.client.post(f"{ADMIN}/templates/{template['id']}/retire", headers=h)
    assert retired.status_code == 200 and not retired.json()["is_public"]
    offered = api.client.get(f"{V1}/account-templates", headers=user).json()["items"]
    assert template["id"] not in [t["id"] for t in offered]
    problem(
        api.client.post(f"{ADMIN}/templates/{template['id']}/retire", headers=h),
        409,
        "template_already_retired",
    )
    listed = api.client.get(f"{ADMIN}/templates", headers=h, params={"retired": "true"}).json()
    assert [t["id"] for t in listed["items"]] == [template["id"]]

    for action in ("admin.template_created", "admin.template_updated", "admin.template_retired"):
        [row] = audit(api, action)
        assert (row["user_id"], row["resource_type"], row["resource_id"]) == (
            admin_id,
            "account_template",
            template["id"],
        )
    assert audit(api, "admin.template_updated")[0]["details"] == {"icon": "Shield"}


def test_bad_input_is_a_4xx_problem(api: Api) -> None:
    _, h = admin(api)
    some = uuid.uuid4()
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for method, path, body, status, code in [
        ("POST", f"/users/{some}/ban", {"reason": "x", "until": past}, 422, "validation_error"),
        (
            "POST",
            f"/users/{some}/ban",
            {"reason": "x", "until": "2030-01-01T00:00:00"},
            422,
            "validation_error",
        ),
        ("POST", f"/users/{some}/ban", {"reason": ""}, 422, "validation_error"),
        ("POST", f"/users/{some}/ban", {"reason": "x", "role": "admin"}, 422, "validation_error"),
        ("POST", "/users/not-a-uuid/ban", {"reason": "x"}, 422, "validation_error"),
        ("POST", f"/accounts/{some}/suspend", {}, 422, "validation_error"),
        ("POST", f"/accounts/{some}/suspend", {"reason": "x"}, 404, "account_not_found"),
        ("POST", f"/accounts/{some}/unsuspend", None, 404, "account_not_found"),
        ("POST", "/templates", {"name": "X", "color_theme": "red"}, 422, "validation_error"),
        ("POST", "/templates", {"name": "X", "usage_count": 1000}, 422, "validation_error"),
        ("PATCH", f"/templates/{some}", {}, 422, "invalid_request"),
        ("PATCH", f"/templates/{some}", {"name": None}, 422, "validation_error"),
        ("PATCH", f"/templates/{some}", {"name": "X"}, 404, "template_not_found"),
        ("POST", f"/templates/{some}/retire", None, 404, "template_not_found"),
        ("GET", "/accounts?status=frozen", None, 422, "validation_error"),
        ("GET", "/users?cursor=not-a-cursor", None, 422, "invalid_cursor"),
        ("GET", "/users?page=2", None, 422, "unknown_parameter"),
        ("GET", "/users?q=a%00b", None, 422, "invalid_request"),
    ]:
        kwargs = {} if body is None else {"json": body}
        r = api.client.request(method, ADMIN + path, headers=h, **kwargs)
        problem(r, status, code)
    problem(api.client.get(f"{ADMIN}/status"), 401, "not_authenticated")


def test_lists_walk_their_pages_and_status_reads_the_platform(api: Api) -> None:
    _, h = admin(api)
    for _ in range(3):
        api.user()
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.client.get(f"{ADMIN}/users", headers=h, params=params).json()
        seen += [u["id"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    whole = api.client.get(f"{ADMIN}/users", headers=h).json()["items"]
    assert seen == [u["id"] for u in whole] and len(seen) == 4
    accounts = api.client.get(f"{ADMIN}/accounts", headers=h, params={"limit": 500}).json()["items"]
    assert len(accounts) == 4 and all(a["balance"].endswith(".00000000") for a in accounts)

    state = api.client.get(f"{ADMIN}/status", headers=h)
    assert state.status_code == 200, state.text
    body = state.json()
    assert set(body) == {"feed", "backtests", "database", "checked_at"}
    assert body["backtests"]["pending"] == 0 and body["database"]["size_bytes"] > 0
