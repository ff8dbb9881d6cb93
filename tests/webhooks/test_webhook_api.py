"""/api/v1/webhooks: endpoints with a secret shown once, rotation, the test event, the
delivery log and redelivery; the SSRF guard at creation; another user's endpoints and
deliveries answer 404 over the API and stay out of reach in SQL as that user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from cryptotrader.api.app import create_app
from cryptotrader.config import Settings
from tests.api.conftest import JWT_SECRET, Api, headers_for
from tests.support import TestDatabase, create_user
from tests.support_targets import target_for
from tests.webhooks.helpers import attempts, deliveries, enqueue, receiving

V1 = "/api/v1/webhooks"
URL = "http://127.0.0.1:9/hook"  # loopback is open in these tests


def _api(db: TestDatabase, loopback: bool) -> Iterator[Api]:
    settings = Settings(
        jwt_secret=SecretStr(JWT_SECRET), run_workers=False, webhook_allow_loopback=loopback
    )
    with TestClient(create_app(settings, target_for(db))) as client:
        yield Api(client, db)


@pytest.fixture
def loopback_api(db: TestDatabase) -> Iterator[Api]:
    yield from _api(db, loopback=True)


@pytest.fixture
def default_api(db: TestDatabase) -> Iterator[Api]:
    yield from _api(db, loopback=False)


def created(api: Api, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    r = api.client.post(V1, headers=headers, json={"url": URL} | body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def audit(db: TestDatabase) -> list[str]:
    with db.owner() as conn:
        rows = conn.execute(
            "SELECT action FROM audit_logs WHERE resource_type = 'webhook' ORDER BY timestamp, id"
        ).fetchall()
    return [r["action"] for r in rows]


def test_endpoint_lifecycle(loopback_api: Api) -> None:
    api, (_, h) = loopback_api, loopback_api.user()
    hook = created(api, h, description="Fills", event_types=["order.filled", "alert.*"])
    assert hook["secret"].startswith("whsec_") and hook["enabled"] is True
    assert hook["event_types"] == ["alert.*", "order.filled"]
    listed = api.client.get(V1, headers=h).json()
    assert [e["id"] for e in listed["items"]] == [hook["id"]]
    assert "secret" not in listed["items"][0] and hook["secret"] not in str(listed)
    one = api.client.get(f"{V1}/{hook['id']}", headers=h).json()
    assert "secret" not in one and one["description"] == "Fills"
    off = api.client.patch(f"{V1}/{hook['id']}", headers=h, json={"enabled": False}).json()
    assert (off["enabled"], off["disabled_reason"]) == (False, "user")
    test = api.client.post(f"{V1}/{hook['id']}/test", headers=h)
    assert test.json()["code"] == "webhook_endpoint_disabled"
    on = api.client.patch(f"{V1}/{hook['id']}", headers=h, json={"enabled": True}).json()
    assert (on["enabled"], on["disabled_reason"]) == (True, None)
    nothing = api.client.patch(f"{V1}/{hook['id']}", headers=h, json={})
    assert nothing.status_code == 422
    rotated = api.client.post(f"{V1}/{hook['id']}/rotate-secret", headers=h).json()
    assert rotated["secret"] != hook["secret"] and rotated["previous_expires_at"] is not None
    assert api.client.delete(f"{V1}/{hook['id']}", headers=h).status_code == 204
    assert api.client.get(f"{V1}/{hook['id']}", headers=h).status_code == 404
    assert audit(api.db) == [
        "webhook.create",
        "webhook.update",
        "webhook.update",
        "webhook.rotate_secret",
        "webhook.delete",
    ]


def test_a_private_url_is_refused_at_creation(loopback_api: Api) -> None:
    api, (_, h) = loopback_api, loopback_api.user()
    for url in ("http://10.0.0.1/hook", "http://169.254.169.254/", "ftp://example.test/"):
        r = api.client.post(V1, headers=h, json={"url": url})
        assert r.status_code == 422 and r.json()["code"] in {
            "webhook_url_refused",
            "validation_error",
        }, r.text
    hook = created(api, h)
    r = api.client.patch(f"{V1}/{hook['id']}", headers=h, json={"url": "http://10.1.2.3/"})
    assert r.json()["code"] == "webhook_url_refused"
    assert api.client.get(f"{V1}/{hook['id']}", headers=h).json()["url"] == URL
    assert audit(api.db) == ["webhook.create"]  # the refusals wrote nothing


def test_loopback_is_refused_by_default(default_api: Api) -> None:
    api, (_, h) = default_api, default_api.user()
    r = api.client.post(V1, headers=h, json={"url": URL})
    assert (r.status_code, r.json()["code"]) == (422, "webhook_url_refused")


def test_test_event_delivery_log_and_redelivery(loopback_api: Api) -> None:
    """The test event is signed with the secret the create answer showed."""
    api, (_, h) = loopback_api, loopback_api.user()
    with receiving() as receiver:
        hook = api.client.post(V1, headers=h, json={"url": receiver.url}).json()
        receiver.secrets = [hook["secret"]]
        sent = api.client.post(f"{V1}/{hook['id']}/test", headers=h)
        assert sent.status_code == 202, sent.text
        delivery = sent.json()
        assert (delivery["event_type"], delivery["status"]) == ("webhook.test", "pending")
        _run(api.db, delivery["id"])
        log = api.client.get(f"{V1}/{hook['id']}/deliveries", headers=h).json()["items"]
        assert [d["status"] for d in log] == ["delivered"]
        assert [a["status_code"] for a in log[0]["attempt_log"]] == [204]
        again = api.client.post(
            f"{V1}/{hook['id']}/deliveries/{delivery['id']}/redeliver", headers=h
        )
        assert again.status_code == 202 and again.json()["status"] == "pending"
        _run(api.db, delivery["id"])
    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivery["msg_id"]] * 2
    Webhook(hook["secret"]).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert receiver.accepted[delivery["msg_id"]]["data"]["endpoint_id"] == hook["id"]
    assert [a["attempt"] for a in attempts(api.db, delivery["id"])] == [1, 2]
    filtered = api.client.get(
        f"{V1}/{hook['id']}/deliveries", headers=h, params={"status": "failed"}
    )
    assert filtered.json()["items"] == []
    assert audit(api.db) == ["webhook.create", "webhook.test", "webhook.redeliver"]


def _run(db: TestDatabase, delivery_id: str) -> None:
    import anyio

    from cryptotrader.db.session import open_pool
    from tests.webhooks.test_jobs import run_next

    async def main() -> None:
        pool = open_pool(db.app_conninfo, min_size=1, max_size=2)
        await pool.open()
        try:
            await run_next(db, pool, delivery_id)
        finally:
            await pool.close()

    anyio.run(main)


def test_another_user_cannot_reach_endpoints_or_deliveries(loopback_api: Api) -> None:
    api = loopback_api
    (a, ha), (b, hb) = api.user(), api.user()
    hook = created(api, ha)
    enqueue(api.db, a, "order.filled", {"order_id": "1"})
    [delivery] = deliveries(api.db, hook["id"])
    d = delivery["id"]
    calls = [
        ("GET", f"{V1}/{hook['id']}", None),
        ("PATCH", f"{V1}/{hook['id']}", {"enabled": False}),
        ("DELETE", f"{V1}/{hook['id']}", None),
        ("POST", f"{V1}/{hook['id']}/rotate-secret", None),
        ("POST", f"{V1}/{hook['id']}/test", None),
        ("GET", f"{V1}/{hook['id']}/deliveries", None),
        ("POST", f"{V1}/{hook['id']}/deliveries/{d}/redeliver", None),
    ]
    for method, url, body in calls:
        r = api.client.request(method, url, headers=hb, json=body)
        assert r.status_code == 404, (method, url, r.text)
    assert api.client.get(V1, headers=hb).json()["items"] == []
    # B's own endpoint does not open A's delivery either
    own = created(api, hb)
    r = api.client.post(f"{V1}/{own['id']}/deliveries/{d}/redeliver", headers=hb)
    assert r.json()["code"] == "webhook_delivery_not_found"
    _sql_as(api.db, b, hook["id"], d)
    assert api.client.get(f"{V1}/{hook['id']}", headers=ha).json()["enabled"] is True
    assert len(deliveries(api.db, hook["id"])) == 1


def _sql_as(db: TestDatabase, b: Any, endpoint_id: Any, delivery_id: Any) -> None:
    """The same in SQL as the authenticated role with B's claims."""
    with db.as_user(b) as conn:
        for query, key in [
            ("SELECT count(*) AS n FROM webhook_endpoints WHERE id = %s", endpoint_id),
            ("SELECT count(*) AS n FROM webhook_deliveries WHERE id = %s", delivery_id),
            ("SELECT count(*) AS n FROM webhook_attempts WHERE delivery_id = %s", delivery_id),
        ]:
            assert conn.execute(query, [key]).fetchone() == {"n": 0}
        changed = conn.execute(
            "UPDATE webhook_endpoints SET url = 'http://evil.test/' WHERE id = %s", [endpoint_id]
        )
        assert changed.rowcount == 0
        gone = conn.execute("DELETE FROM webhook_endpoints WHERE id = %s", [endpoint_id])
        assert gone.rowcount == 0
        conn.commit()
    refusals = [
        ("SELECT public.redeliver_webhook(%s, %s)", [endpoint_id, delivery_id], "CT404"),
        ("SELECT public.send_webhook_test(%s)", [endpoint_id], "CT404"),
        (
            "SELECT public.set_webhook_secret(%s, %s, 0)",
            [endpoint_id, "whsec_" + "A" * 32],
            "CT404",
        ),
        ("SELECT secret FROM private.webhook_secrets", [], "42501"),
        ("SELECT private.enqueue_webhook_event(%s, 'a.b', '{}')", [b], "42501"),
        ("UPDATE webhook_deliveries SET status = 'pending'", [], "42501"),
    ]
    for query, params, sqlstate in refusals:
        with db.as_user(b) as conn, pytest.raises(psycopg.Error) as refused:
            conn.execute(query, params)
        assert refused.value.sqlstate == sqlstate, (query, refused.value)


def test_lists_are_paginated(loopback_api: Api) -> None:
    api = loopback_api
    with api.db.owner() as conn:
        user = create_user(conn)
    h = headers_for(user)
    ids = [created(api, h)["id"] for _ in range(3)]
    first = api.client.get(V1, headers=h, params={"limit": 2}).json()
    second = api.client.get(
        V1, headers=h, params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [e["id"] for e in first["items"] + second["items"]] == ids[::-1]
