"""POST /orders is one ordinary handler over trading.service.place_order(), the one order
path: with or without an Idempotency-Key an order answers alike and is audited alike, and
every malformed request gets the standard problem."""

from __future__ import annotations

import json

from tests.api.conftest import Api, headers_for
from tests.api.test_trading_api import PROBLEM, account_id


def _audit(api: Api, order_id: str) -> list[dict[str, object]]:
    with api.db.owner() as conn:
        return list(
            conn.execute(
                "SELECT user_id, action, details, host(ip_address) AS ip, user_agent"
                " FROM audit_logs WHERE resource_id = %s",
                [order_id],
            ).fetchall()
        )


def test_keyed_and_plain_orders_give_the_same_answer_and_audit(api: Api) -> None:
    user, h = api.user()
    acct = account_id(api, h)
    order = {"account_id": acct, "symbol": "BTC", "side": "buy", "amount": "0.01"}
    plain = api.client.post("/api/v1/orders", headers=h | {"User-Agent": "ua/1"}, json=order)
    keyed = api.client.post(
        "/api/v1/orders",
        headers=h | {"User-Agent": "ua/1", "Idempotency-Key": "k-1"},
        json=order,
    )
    assert plain.status_code == keyed.status_code == 201
    assert plain.headers["content-type"] == keyed.headers["content-type"]
    assert "idempotent-replayed" not in keyed.headers
    a, b = plain.json(), keyed.json()
    assert a.keys() == b.keys() and a["id"] != b["id"]
    same = ("account_id", "symbol", "side", "amount", "status", "order_type", "fee")
    assert {k: a[k] for k in same} == {k: b[k] for k in same}
    for trade in (a, b):
        [row] = _audit(api, trade["id"])
        assert row["user_id"] == user and row["action"] == "order.place"
        assert row["user_agent"] == "ua/1"
        assert row["details"] == {
            "symbol": "BTC",
            "side": "buy",
            "type": "market",
            "status": "completed",
        }


def test_a_body_that_does_not_validate_gets_the_standard_field_errors(api: Api) -> None:
    _, h = api.user()
    r = api.client.post(
        "/api/v1/orders",
        headers=h,
        json={"account_id": account_id(api, h), "symbol": "BTC", "side": "hold", "amount": "-1"},
    )
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    problem = r.json()
    assert problem["code"] == "validation_error"
    assert {e["field"] for e in problem["errors"]} >= {"body.side", "body.amount"}


def test_broken_json_and_other_content_types_answer_alike_with_or_without_a_key(api: Api) -> None:
    _, h = api.user()
    broken = api.client.post(
        "/api/v1/orders",
        headers=h | {"Content-Type": "application/json"},
        content=b'{"account_id": ',
    )
    assert broken.status_code == 422 and broken.json()["code"] == "validation_error"
    body = {"account_id": account_id(api, h), "symbol": "BTC", "side": "buy", "amount": "0.01"}
    as_text = api.client.post(
        "/api/v1/orders",
        headers=h | {"Content-Type": "text/plain"},
        content=json.dumps(body).encode(),
    )
    standard = api.client.post(
        "/api/v1/orders",
        headers=h | {"Content-Type": "text/plain", "Idempotency-Key": "k-2"},
        content=json.dumps(body).encode(),
    )
    assert as_text.status_code == standard.status_code


def test_tokens_are_checked(api: Api) -> None:
    user, h = api.user()
    order = {"account_id": account_id(api, h), "symbol": "BTC", "side": "buy", "amount": "0.01"}
    forged = headers_for(user)["Authorization"][:-2] + "xx"
    r = api.client.post("/api/v1/orders", headers={"Authorization": forged}, json=order)
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"
    r = api.client.post("/api/v1/orders", json=order)
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"


def test_rejections_are_counted_once(api: Api) -> None:
    _, h = api.user()
    order = {"account_id": account_id(api, h), "symbol": "BTC", "side": "sell", "amount": "5"}
    r = api.client.post("/api/v1/orders", headers=h, json=order)
    assert r.status_code == 409 and r.json()["code"] == "insufficient_position"
    metrics = api.client.get("/metrics").text
    assert 'cryptotrader_order_rejections_total{code="insufficient_position"} 1.0' in metrics
