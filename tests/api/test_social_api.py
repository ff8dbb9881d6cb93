"""Copy trading over HTTP: copy settings (and their refusals as problem+json, writing
nothing), the copy log after the worker ran, the copy gap, and the what-if of a listed
trader (an unlisted one is not found)."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from cryptotrader.db.session import open_pool
from cryptotrader.social.copying import CopyWorker
from tests.api.conftest import Api
from tests.support import default_account

V1 = "/api/v1"
PROBLEM = "application/problem+json"


def listed(api: Api, name: str) -> tuple[UUID, dict[str, str]]:
    user, headers = api.user()
    body = {"is_listed": True, "display_name": name}
    assert api.client.put(f"{V1}/me/trader-profile", headers=headers, json=body).status_code == 200
    return user, headers


def account_of(api: Api, user: UUID) -> str:
    with api.db.owner() as conn:
        account = default_account(conn, user)
        conn.execute(
            "UPDATE paper_trading_accounts SET max_position_size = 1e9 WHERE id = %s", [account]
        )
    return str(account)


def buy(api: Api, headers: dict[str, str], account: str, amount: str, side: str = "buy") -> None:
    order = {"account_id": account, "symbol": "BTC", "side": side, "amount": amount}
    assert api.client.post(f"{V1}/orders", headers=headers, json=order).status_code == 201


def fan_out(api: Api) -> None:
    async def drain() -> None:
        pool = open_pool(api.db.app_conninfo, min_size=1, max_size=2)
        await pool.open()
        try:
            while await CopyWorker(pool, identity="api-test").run_once():
                pass
        finally:
            await pool.close()

    asyncio.run(drain())


def writes(api: Api) -> Any:
    with api.db.owner() as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM audit_logs) AS audit,"
            " (SELECT count(*) FROM trader_follows WHERE copy_trading_enabled) AS copying"
        ).fetchone()


def test_copy_settings_the_log_and_the_gap(api: Api) -> None:
    leader, lh = listed(api, "Alice")
    follower, fh = api.user()
    follow = api.client.post(f"{V1}/follows", headers=fh, json={"trader_id": str(leader)}).json()
    url = f"{V1}/follows/{follow['id']}"
    mine = account_of(api, follower)
    before = writes(api)
    for body, code in (
        ({"enabled": True}, "validation_error"),  # no account
        ({"account_id": mine, "allocation_pct": "150"}, "validation_error"),
        ({"account_id": mine, "mode": "fixed"}, "validation_error"),  # no fixed_amount
        (
            {"account_id": str(default_account_of(api, leader)), "allocation_pct": "10"},
            "account_not_found",
        ),
    ):
        r = api.client.put(f"{url}/copy", headers=fh, json=body)
        assert r.status_code in (404, 422) and r.headers["content-type"] == PROBLEM, body
        assert r.json()["code"] == code, (body, r.json())
    assert writes(api) == before  # a refusal writes nothing, not even its audit row

    settings = {
        "account_id": mine,
        "allocation_pct": "20",
        "min_order": "10",
        "stop_loss_pct": "50",
    }
    r = api.client.put(f"{url}/copy", headers=fh, json=settings)
    assert r.status_code == 200, r.text
    copying = r.json()["copying"]
    assert copying["allocation_pct"] == "20.000000" and copying["allocated_usd"] == "20000.00000000"
    buy(api, lh, account_of(api, leader), "0.5")
    fan_out(api)
    page = api.client.get(f"{url}/copies", headers=fh).json()
    [copy] = page["items"]
    assert copy["status"] == "filled" and copy["side"] == "buy" and copy["symbol"] == "BTC"
    assert api.client.get(f"{url}/copies?status=skipped", headers=fh).json()["items"] == []
    gap = api.client.get(f"{url}/gap", headers=fh).json()
    assert gap["copies"] == 1 and gap["skipped"] == 0
    parts = sum(float(p["usd"]) for p in gap["gap"].values())
    assert abs(parts - (float(gap["copied_pnl"]) - float(gap["trader_pnl"]))) < 1e-6
    # the trader cannot read their follower's copies or gap
    for path in ("copies", "gap"):
        r = api.client.get(f"{url}/{path}", headers=lh)
        assert r.status_code == 404 and r.json()["code"] == "follow_not_found"


def default_account_of(api: Api, user: UUID) -> UUID:
    with api.db.owner() as conn:
        return default_account(conn, user)


def test_what_if_of_a_listed_trader_only(api: Api) -> None:
    leader, lh = listed(api, "Bob")
    account = account_of(api, leader)
    buy(api, lh, account, "0.2")
    buy(api, lh, account, "0.1", side="sell")
    _, someone = api.user()
    body = {
        "trader_id": str(leader),
        "days": 7,
        "capital": "10000",
        "settings": {"enabled": False, "allocation_pct": "50"},
    }
    r = api.client.post(f"{V1}/follows/what-if", headers=someone, json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["fills"] == 2 and got["copied"] == 2 and got["skipped"] == 0
    assert float(got["final_equity"]) > 0 and float(got["fees"]) > 0
    unlisted, _ = api.user()
    r = api.client.post(
        f"{V1}/follows/what-if", headers=someone, json=body | {"trader_id": str(unlisted)}
    )
    assert r.status_code == 404 and r.json()["code"] == "trader_not_found"
    r = api.client.post(f"{V1}/follows/what-if", headers=someone, json=body | {"days": 0})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
