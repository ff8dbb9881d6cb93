"""Metrics, the body size limit, CORS, OpenAPI, unknown routes: all as problem+json."""

from __future__ import annotations

from fastapi.testclient import TestClient
from pydantic import SecretStr

from cryptotrader.api.app import create_app
from cryptotrader.config import Settings
from tests.api.conftest import Api
from tests.support import TestDatabase
from tests.support_targets import target_for


def test_metrics_count_requests_orders_and_rejections(api: Api) -> None:
    _, h = api.user()
    acct = api.client.get("/api/v1/accounts", headers=h).json()["items"][0]["id"]
    api.client.post(
        "/api/v1/orders",
        headers=h,
        json={"account_id": acct, "symbol": "BTC", "side": "buy", "amount": "0.01"},
    )
    api.client.post(
        "/api/v1/orders",
        headers=h,
        json={"account_id": acct, "symbol": "BTC", "side": "sell", "amount": "5"},
    )
    body = api.client.get("/metrics")
    assert body.headers["content-type"].startswith("text/plain")
    text = body.text
    assert 'cryptotrader_orders_total{order_type="market",status="completed"} 1.0' in text
    assert 'cryptotrader_order_rejections_total{code="insufficient_position"} 1.0' in text
    assert 'route="/api/v1/orders"' in text and "cryptotrader_http_request_seconds_bucket" in text


def test_oversized_bodies_are_413_and_unknown_routes_404(api: Api) -> None:
    _, h = api.user()
    big = api.client.post(
        "/api/v1/accounts",
        headers=h | {"Content-Type": "application/json"},
        content=b"x" * 2_000_000,
    )
    assert (big.status_code, big.json()["code"]) == (413, "payload_too_large")
    missing = api.client.get("/api/v1/nowhere")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert missing.headers["content-type"].startswith("application/problem+json")
    wrong = api.client.put("/api/v1/orders")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "method_not_allowed")
    malformed = api.client.post(
        "/api/v1/accounts", headers=h | {"Content-Type": "application/json"}, content=b"{nope"
    )
    assert (malformed.status_code, malformed.json()["code"]) == (422, "validation_error")


def test_cors_only_for_configured_origins(db: TestDatabase) -> None:
    settings = Settings(
        jwt_secret=SecretStr("x" * 32), run_workers=False, cors_origins=["https://app.example"]
    )
    with TestClient(create_app(settings, target_for(db))) as client:
        allowed = client.options(
            "/api/v1/market/prices",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
        )
        other = client.options(
            "/api/v1/market/prices",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
    assert allowed.headers.get("access-control-allow-origin") == "https://app.example"
    assert "access-control-allow-origin" not in other.headers


def test_openapi_lists_every_route_with_its_problems(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"/api/v1/orders", "/api/v1/accounts/{account_id}", "/api/v1/market/prices"} <= set(
        paths
    )
    place = paths["/api/v1/orders"]["post"]
    assert {"201", "404", "409", "422"} <= set(place["responses"])
    assert "application/problem+json" in place["responses"]["409"]["content"]
    assert api.client.get("/docs").status_code == 200
