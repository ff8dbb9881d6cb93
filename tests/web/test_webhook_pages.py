"""The webhook settings page over HTTP (TestClient): an endpoint created with its secret
shown once, rotated, tested, its delivery log with status and attempts, redelivery, the
SSRF guard's refusal, and another user's endpoint answering 404."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cryptotrader.api.app import create_app
from cryptotrader.config import Settings
from tests.support import TestDatabase
from tests.support_targets import target_for
from tests.web.test_pages import SECRET, csrf_of, sign_up

PAGE = "/settings/webhooks"
URL = "http://127.0.0.1:9/hook"
SECRET_SHOWN = re.compile(r"<code data-secret>(whsec_[^<]+)</code>")


@pytest.fixture
def client(db: TestDatabase) -> Iterator[TestClient]:
    settings = Settings(
        jwt_secret=SecretStr(SECRET),
        run_workers=False,
        pool_max_size=6,
        webhook_allow_loopback=True,
    )
    app = create_app(settings, target_for(db))
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as c:
        yield c


def post(client: TestClient, path: str, **data: str) -> str:
    answer = client.post(path, data=data | {"csrf_token": csrf_of(client, PAGE)})
    assert answer.status_code in (200, 303), answer.text[-2000:]
    return answer.text


def test_create_rotate_test_and_redeliver(client: TestClient, db: TestDatabase) -> None:
    sign_up(client)
    settings = client.get("/settings").text
    assert 'href="/settings/webhooks"' in settings
    assert "No endpoints yet" in client.get(PAGE).text
    created = post(client, PAGE, url=URL, description="Bot", events="order.filled alert.*")
    found = SECRET_SHOWN.search(created)
    assert found, created[-2000:]
    secret = html.unescape(found.group(1))
    page = client.get(PAGE).text
    assert URL in page and "alert.*" in page and secret not in page  # shown once
    endpoint_id = re.search(r'data-endpoint="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    rotated = post(client, f"{PAGE}/{endpoint_id}/rotate")
    new = SECRET_SHOWN.search(rotated)
    assert new and new.group(1) != secret and "previous secret keeps signing" in rotated
    post(client, f"{PAGE}/{endpoint_id}/test")
    page = client.get(PAGE).text
    delivery_id = re.search(r'data-delivery="([^"]+)" data-status="pending"', page)
    assert delivery_id and "webhook.test" in page
    post(client, f"{PAGE}/{endpoint_id}/deliveries/{delivery_id.group(1)}/redeliver")
    post(client, f"{PAGE}/{endpoint_id}/enabled", enabled="false")
    assert 'data-disabled="user"' in client.get(PAGE).text
    with db.owner() as conn:
        actions = [
            r["action"]
            for r in conn.execute(
                "SELECT action FROM audit_logs WHERE resource_type = 'webhook'"
                " ORDER BY timestamp, id"
            ).fetchall()
        ]
    assert actions == [
        "webhook.create",
        "webhook.rotate_secret",
        "webhook.test",
        "webhook.redeliver",
        "webhook.update",
    ]
    post(client, f"{PAGE}/{endpoint_id}/delete")
    assert "No endpoints yet" in client.get(PAGE).text


def test_a_private_url_is_refused_and_another_users_endpoint_is_not_found(
    client: TestClient,
) -> None:
    sign_up(client)
    refused = client.post(
        PAGE, data={"url": "http://10.0.0.1/", "csrf_token": csrf_of(client, PAGE)}
    )
    assert refused.status_code == 422 and "webhook_url_refused" in refused.text
    post(client, PAGE, url=URL)
    endpoint_id = re.search(r'data-endpoint="([^"]+)"', client.get(PAGE).text).group(1)  # type: ignore[union-attr]
    client.cookies.clear()
    sign_up(client)
    for action in ("rotate", "test", "delete"):
        answer = client.post(
            f"{PAGE}/{endpoint_id}/{action}", data={"csrf_token": csrf_of(client, PAGE)}
        )
        assert answer.status_code == 404, (action, answer.text[-500:])
    assert URL not in client.get(PAGE).text
