"""Account states that mean what they say (issue 10), over HTTP: archiving the default
account hands the default on, an archived account cannot be resumed, and an order
without its price says the price is required; each answer is the documented problem."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.test_openapi_errors import codes
from tests.api.test_openapi_examples import OPERATIONS

PROBLEM = "application/problem+json"
V1 = "/api/v1"


def problem(r: Any, status: int, code: str, operation: str) -> dict[str, Any]:
    assert (r.status_code, r.json().get("code")) == (status, code), r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert code in codes(operation, status), f"{operation} does not document {code}"
    body: dict[str, Any] = r.json()
    return body


def accounts(api: Api, headers: dict[str, str]) -> list[dict[str, Any]]:
    body = api.client.get(f"{V1}/accounts", headers=headers, params={"include_archived": True})
    items: list[dict[str, Any]] = body.json()["items"]
    return items


def default_setting(api: Api, headers: dict[str, str]) -> Any:
    return api.client.get(f"{V1}/me/settings/default_account_id", headers=headers).json()["value"]


def test_archiving_the_default_account_hands_the_default_on(api: Api) -> None:
    _, h = api.user()
    [main] = accounts(api, h)
    side = api.client.post(f"{V1}/accounts", headers=h, json={"account_name": "Side"}).json()
    archived = api.client.post(f"{V1}/accounts/{main['id']}/archive", headers=h)
    assert archived.status_code == 200, archived.text
    assert (archived.json()["status"], archived.json()["is_default"]) == ("archived", False)
    by_id = {a["id"]: a for a in accounts(api, h)}
    assert by_id[side["id"]]["is_default"] and not by_id[main["id"]]["is_default"]
    assert default_setting(api, h) == side["id"]
    # the last active one archived: no default, and the setting says so
    assert api.client.post(f"{V1}/accounts/{side['id']}/archive", headers=h).status_code == 200
    assert not any(a["is_default"] for a in accounts(api, h))
    setting = api.client.get(f"{V1}/me/settings/default_account_id", headers=h).json()
    assert (setting["value"], setting["is_default"]) == (None, True)


def test_an_archived_account_cannot_be_resumed_paused_or_made_the_default(api: Api) -> None:
    _, h = api.user()
    side = api.client.post(f"{V1}/accounts", headers=h, json={"account_name": "Side"}).json()
    url = f"{V1}/accounts/{side['id']}"
    assert api.client.post(f"{url}/archive", headers=h).status_code == 200
    for action in ("resume", "pause"):
        body = problem(
            api.client.post(f"{url}/{action}", headers=h),
            409,
            "account_archived",
            f"POST /api/v1/accounts/{{account_id}}/{action}",
        )
        assert "archiving is final" in body["detail"]
    made_default = api.client.post(f"{url}/default", headers=h)
    body = problem(
        made_default, 409, "account_archived", "POST /api/v1/accounts/{account_id}/default"
    )
    assert body["detail"] == "an archived account cannot be the default account"
    by_setting = api.client.put(
        f"{V1}/me/settings/default_account_id", headers=h, json={"value": side["id"]}
    )
    problem(by_setting, 409, "account_archived", "PUT /api/v1/me/settings/{name}")
    assert api.client.get(url, headers=h).json()["status"] == "archived"
    # pausing is the reversible one
    [main] = [a for a in accounts(api, h) if a["id"] != side["id"]]
    assert api.client.post(f"{V1}/accounts/{main['id']}/pause", headers=h).status_code == 200
    resumed = api.client.post(f"{V1}/accounts/{main['id']}/resume", headers=h)
    assert (resumed.status_code, resumed.json()["status"]) == (200, "active")


@pytest.mark.parametrize(
    ("order_type", "detail"),
    [
        ("limit", "limit_price is required for limit orders"),
        ("stop", "stop_price is required for stop orders"),
    ],
)
def test_an_order_without_its_price_says_the_price_is_required(
    api: Api, order_type: str, detail: str
) -> None:
    _, h = api.user()
    [main] = accounts(api, h)
    order = {"account_id": main["id"], "symbol": "BTC", "side": "buy", "amount": "0.01"}
    r = api.client.post(f"{V1}/orders", headers=h, json=order | {"order_type": order_type})
    assert problem(r, 422, "invalid_price", "POST /api/v1/orders")["detail"] == detail
    assert api.client.get(f"{V1}/orders", headers=h).json()["items"] == []


def test_the_account_operations_document_account_archived() -> None:
    for action in ("pause", "resume", "archive", "default"):
        assert "account_archived" in codes(f"POST /api/v1/accounts/{{account_id}}/{action}", 409)
    assert "account_archived" in codes("PUT /api/v1/me/settings/{name}", 409)
    assert OPERATIONS["POST /api/v1/accounts/{account_id}/resume"]["description"].startswith(
        "Archiving is final"
    )
