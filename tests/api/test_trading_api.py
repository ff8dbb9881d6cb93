"""Orders, trades and accounts over HTTP: shapes, errors, pagination, idempotency."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from decimal import Decimal

import httpx2
import pytest

from tests.api.conftest import Api, headers_for
from tests.support import TestDatabase, create_user, default_account

PROBLEM = "application/problem+json"


def account_id(api: Api, headers: dict[str, str]) -> str:
    accounts = api.client.get("/api/v1/accounts", headers=headers).json()["items"]
    return str(accounts[0]["id"])


def test_market_order_round_trip_with_decimals_as_strings(api: Api) -> None:
    _, h = api.user()
    acct = account_id(api, h)
    r = api.client.post(
        "/api/v1/orders",
        headers=h,
        json={"account_id": acct, "symbol": "btc", "side": "buy", "amount": "0.01"},
    )
    assert r.status_code == 201, r.text
    trade = r.json()
    assert trade["status"] == "completed" and trade["symbol"] == "BTC"
    assert isinstance(trade["execution_price"], str) and Decimal(trade["fee"]) > 0
    assert trade["created_at"].endswith(("Z", "+00:00"))
    got = api.client.get(f"/api/v1/orders/{trade['id']}", headers=h).json()
    assert got["id"] == trade["id"]
    positions = api.client.get(f"/api/v1/accounts/{acct}/positions", headers=h).json()
    assert [(p["symbol"], p["quantity"]) for p in positions["items"]] == [("BTC", "0.01000000")]


def test_rejections_are_problem_json_with_stable_codes(api: Api) -> None:
    _, h = api.user()
    acct = account_id(api, h)
    cases = [
        (
            {"account_id": acct, "symbol": "BTC", "side": "sell", "amount": "1"},
            409,
            "insufficient_position",
        ),
        (
            {"account_id": acct, "symbol": "BTC", "side": "buy", "amount": "100"},
            409,
            "max_position_size",
        ),
        (
            {"account_id": acct, "symbol": "NOPE", "side": "buy", "amount": "1"},
            422,
            "unknown_symbol",
        ),
        (
            {"account_id": str(uuid.uuid4()), "symbol": "BTC", "side": "buy", "amount": "1"},
            404,
            "account_not_found",
        ),
        (
            {"account_id": acct, "symbol": "BTC", "side": "buy", "amount": "-1"},
            422,
            "validation_error",
        ),
        (
            {"account_id": acct, "symbol": "BTC", "side": "hold", "amount": "1"},
            422,
            "validation_error",
        ),
    ]
    for body, status, code in cases:
        r = api.client.post("/api/v1/orders", headers=h, json=body)
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
        assert r.headers["content-type"].startswith(PROBLEM)
        assert {"type", "title", "status", "detail", "code"} <= set(r.json())
    invalid = api.client.post("/api/v1/orders", headers=h, json={"account_id": acct}).json()
    assert {e["field"] for e in invalid["errors"]} >= {"body.symbol", "body.side", "body.amount"}
    anonymous = api.client.get("/api/v1/orders")
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")
    bad = api.client.get("/api/v1/orders", headers={"Authorization": "Bearer nonsense"})
    assert (bad.status_code, bad.json()["code"]) == (401, "invalid_token")


def test_cursor_pagination_and_csv_export(api: Api) -> None:
    _, h = api.user()
    acct = account_id(api, h)
    for _ in range(5):
        assert (
            api.client.post(
                "/api/v1/orders",
                headers=h,
                json={"account_id": acct, "symbol": "ETH", "side": "buy", "amount": "0.01"},
            ).status_code
            == 201
        )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.client.get("/api/v1/trades", headers=h, params=params).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    assert (
        api.client.get("/api/v1/trades", headers=h, params={"cursor": "!!"}).json()["code"]
        == "invalid_cursor"
    )
    exported = api.client.get("/api/v1/trades.csv", headers=h, params={"symbol": "ETH"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 5 and {r["symbol"] for r in rows} == {"ETH"}


def test_limit_order_cancel_and_account_actions(api: Api) -> None:
    _, h = api.user()
    acct = account_id(api, h)
    order = api.client.post(
        "/api/v1/orders",
        headers=h,
        json={
            "account_id": acct,
            "symbol": "BTC",
            "side": "buy",
            "amount": "0.01",
            "order_type": "limit",
            "limit_price": "1000",
        },
    ).json()
    assert order["status"] == "pending"
    reserved = api.client.get(f"/api/v1/accounts/{acct}", headers=h).json()["reserved_balance"]
    assert reserved == "10.00800000"  # 0.01 at 1000, plus the 0.08% maker fee
    cancelled = api.client.post(f"/api/v1/orders/{order['id']}/cancel", headers=h).json()
    assert cancelled["status"] == "cancelled"
    again = api.client.post(f"/api/v1/orders/{order['id']}/cancel", headers=h)
    assert (again.status_code, again.json()["code"]) == (409, "order_not_cancellable")
    paused = api.client.post(f"/api/v1/accounts/{acct}/pause", headers=h).json()
    assert paused["status"] == "paused"
    refused = api.client.post(
        "/api/v1/orders",
        headers=h,
        json={"account_id": acct, "symbol": "BTC", "side": "buy", "amount": "0.01"},
    )
    assert refused.json()["code"] == "account_not_active"
    assert (
        api.client.post(f"/api/v1/accounts/{acct}/resume", headers=h).json()["status"] == "active"
    )
    renamed = api.client.patch(f"/api/v1/accounts/{acct}", headers=h, json={"account_name": "Core"})
    assert renamed.json()["account_name"] == "Core"
    reset = api.client.post(f"/api/v1/accounts/{acct}/reset", headers=h, json={"reason": "again"})
    assert reset.json()["epoch"] == 1
    created = api.client.post(
        "/api/v1/accounts", headers=h, json={"account_name": "Side", "initial_balance": "5000"}
    )
    assert created.status_code == 201 and created.json()["balance"] == "5000.00000000"
    with api.db.owner() as conn:
        actions = [
            r["action"] for r in conn.execute("SELECT action FROM audit_logs ORDER BY timestamp")
        ]
    assert {
        "order.place",
        "order.cancel",
        "account.paused",
        "account.active",
        "account.update",
        "account.reset",
        "account.create",
    } <= set(actions)


def test_another_users_ids_answer_404_and_change_nothing(api: Api) -> None:
    _, alice = api.user()
    _, bob = api.user()
    acct = account_id(api, alice)
    order = api.client.post(
        "/api/v1/orders",
        headers=alice,
        json={
            "account_id": acct,
            "symbol": "BTC",
            "side": "buy",
            "amount": "0.01",
            "order_type": "limit",
            "limit_price": "1000",
        },
    ).json()
    with api.db.owner() as conn:
        before = conn.execute(
            "SELECT count(*) AS n, sum(balance) AS b FROM paper_trading_accounts"
        ).fetchone()
    calls = [
        ("get", f"/api/v1/accounts/{acct}", None),
        ("patch", f"/api/v1/accounts/{acct}", {"account_name": "mine"}),
        ("post", f"/api/v1/accounts/{acct}/pause", None),
        ("post", f"/api/v1/accounts/{acct}/archive", None),
        ("post", f"/api/v1/accounts/{acct}/default", None),
        ("post", f"/api/v1/accounts/{acct}/reset", None),
        ("get", f"/api/v1/accounts/{acct}/positions", None),
        ("get", f"/api/v1/accounts/{acct}/audit", None),
        ("get", f"/api/v1/orders/{order['id']}", None),
        ("post", f"/api/v1/orders/{order['id']}/cancel", None),
        (
            "post",
            "/api/v1/orders",
            {"account_id": acct, "symbol": "BTC", "side": "buy", "amount": "0.01"},
        ),
    ]
    for method, url, body in calls:
        r = api.client.request(method, url, headers=bob, json=body)
        assert r.status_code == 404, (method, url, r.text)
        assert r.json()["code"] in ("account_not_found", "order_not_found"), (method, url, r.text)
    with api.db.owner() as conn:
        after = conn.execute(
            "SELECT count(*) AS n, sum(balance) AS b FROM paper_trading_accounts"
        ).fetchone()
        status = conn.execute(
            "SELECT status FROM paper_trades WHERE id = %s", [order["id"]]
        ).fetchone()
    assert after == before and status == {"status": "pending"}


def test_prices_are_public_and_flag_staleness(api: Api) -> None:
    r = api.client.get("/api/v1/market/prices", params={"symbols": "BTC,ETH"})
    assert r.status_code == 200
    assert [p["symbol"] for p in r.json()["items"]] == ["BTC", "ETH"]
    assert all(not p["stale"] and p["price_aud"] for p in r.json()["items"])
    assert api.client.get("/api/v1/market/prices/XYZ").json()["code"] == "unknown_symbol"


@pytest.mark.anyio
async def test_same_idempotency_key_ten_times_concurrently_gives_one_trade(
    live_url: str, db: TestDatabase
) -> None:
    with db.owner() as conn:
        uid = create_user(conn)
        acct = default_account(conn, uid)
    h = headers_for(uid) | {"Idempotency-Key": "order-42"}
    body = {"account_id": str(acct), "symbol": "BTC", "side": "buy", "amount": "0.01"}
    async with httpx2.AsyncClient(base_url=live_url, timeout=30) as client:
        replies = await asyncio.gather(
            *[client.post("/api/v1/orders", headers=h, json=body) for _ in range(10)]
        )
        other = await client.post("/api/v1/orders", headers=h, json=body | {"amount": "0.02"})
    assert {r.status_code for r in replies} == {201}
    assert len({r.json()["id"] for r in replies}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in replies) == 9
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    with db.owner() as conn:
        n = conn.execute(
            "SELECT count(*) AS n FROM paper_trades WHERE account_id = %s", [acct]
        ).fetchone()
    assert n == {"n": 1}


def test_candles_stored_and_aggregated(api: Api) -> None:
    with api.db.owner() as conn:
        conn.execute(
            "INSERT INTO market_candles"
            " (symbol, timeframe, open_time, open, high, low, close, volume)"
            " SELECT 'BTC', '1m', timestamptz '2021-05-01 00:00+00' + g * interval '1 minute',"
            " 100 + g, 101 + g, 99 + g, 100.5 + g, 1 FROM generate_series(0, 119) g WHERE g <> 70"
        )
    raw = api.client.get(
        "/api/v1/market/candles", params={"symbol": "BTC", "timeframe": "1m", "limit": 3}
    )
    assert raw.json()["source_timeframe"] == "1m"
    assert [c["open"] for c in raw.json()["items"]] == [
        "217.0000000000",
        "218.0000000000",
        "219.0000000000",
    ]  # the newest three
    hourly = api.client.get(
        "/api/v1/market/candles",
        params={
            "symbol": "BTC",
            "timeframe": "1h",
            "source_timeframe": "1m",
            "from": "2021-05-01T00:00:00Z",
        },
    ).json()
    assert hourly["source_timeframe"] == "1m"
    assert [
        (c["open"], c["close"], c["high"], c["low"], c["volume"], c["bars"], c["complete"])
        for c in hourly["items"]
    ] == [
        (
            "100.0000000000",
            "159.5000000000",
            "160.0000000000",
            "99.0000000000",
            "60.00000000",
            60,
            True,
        ),
        (
            "160.0000000000",
            "219.5000000000",
            "220.0000000000",
            "159.0000000000",
            "59.00000000",
            59,
            False,
        ),
    ]
    bad = api.client.get(
        "/api/v1/market/candles",
        params={"symbol": "BTC", "timeframe": "1m", "source_timeframe": "1h"},
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_request")


def test_account_fields_cannot_be_nulled(api: Api) -> None:
    _, h = api.user()
    acct = account_id(api, h)
    for field in ("account_name", "account_type", "risk_level", "tags", "fill_model"):
        r = api.client.patch(f"/api/v1/accounts/{acct}", headers=h, json={field: None})
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), field
    cleared = api.client.patch(f"/api/v1/accounts/{acct}", headers=h, json={"description": None})
    assert cleared.status_code == 200 and cleared.json()["description"] is None
    assert api.client.get(f"/api/v1/accounts/{acct}", headers=h).status_code == 200


def test_an_accounts_trades(api: Api) -> None:
    _, h = api.user()
    acct = account_id(api, h)
    other = api.client.post("/api/v1/accounts", headers=h, json={"account_name": "Other"}).json()
    for target in (acct, acct, other["id"]):
        body = {"account_id": target, "symbol": "ETH", "side": "buy", "amount": "0.01"}
        assert api.client.post("/api/v1/orders", headers=h, json=body).status_code == 201
    page = api.client.get(f"/api/v1/accounts/{acct}/trades", headers=h, params={"limit": 1}).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = api.client.get(
        f"/api/v1/accounts/{acct}/trades", headers=h, params={"cursor": page["next_cursor"]}
    ).json()
    assert [t["account_id"] for t in page["items"] + rest["items"]] == [acct, acct]
