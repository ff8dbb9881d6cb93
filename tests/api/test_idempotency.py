"""Idempotency-Key beyond the happy path: keys are per user, a refused order is not
remembered, and a key is remembered for 24 hours only.

(The happy path, ten concurrent repeats giving one trade, is in test_trading_api.py.)"""

from __future__ import annotations

import uuid
from typing import Any

import httpx2

from tests.api.conftest import Api, headers_for
from tests.support import Row, create_user, default_account

ORDERS = "/api/v1/orders"


def trader(api: Api, **account: Any) -> tuple[uuid.UUID, uuid.UUID, dict[str, str]]:
    """A signed-up user, their default account (with ``account`` columns set), headers."""
    with api.db.owner() as conn:
        user = create_user(conn)
        acct = default_account(conn, user)
        for column, value in account.items():
            conn.execute(
                f"UPDATE paper_trading_accounts SET {column} = %s WHERE id = %s",  # type: ignore[arg-type]
                [value, acct],
            )
    return user, acct, headers_for(user)


def buy(acct: uuid.UUID, amount: str = "0.01") -> dict[str, str]:
    return {"account_id": str(acct), "symbol": "BTC", "side": "buy", "amount": amount}


def post(api: Api, headers: dict[str, str], key: str, body: dict[str, str]) -> httpx2.Response:
    return api.client.post(ORDERS, headers=headers | {"Idempotency-Key": key}, json=body)


def replayed(r: httpx2.Response) -> bool:
    return r.headers.get("Idempotent-Replayed") == "true"


def trades_of(api: Api, acct: uuid.UUID) -> list[Row]:
    with api.db.owner() as conn:
        return conn.execute(
            "SELECT id, status FROM paper_trades WHERE account_id = %s ORDER BY created_at",
            [acct],
        ).fetchall()


def test_two_users_with_the_same_key_each_get_their_own_order(api: Api) -> None:
    _, alice_acct, alice = trader(api)
    _, bob_acct, bob = trader(api)
    a = post(api, alice, "order-1", buy(alice_acct))
    b = post(api, bob, "order-1", buy(bob_acct))
    assert (a.status_code, b.status_code) == (201, 201), (a.text, b.text)
    assert not replayed(a) and not replayed(b)
    assert a.json()["id"] != b.json()["id"]
    assert b.json()["account_id"] == str(bob_acct)

    # each repeat replays its own user's order
    again_a, again_b = (
        post(api, alice, "order-1", buy(alice_acct)),
        post(api, bob, "order-1", buy(bob_acct)),
    )
    assert replayed(again_a) and again_a.json() == a.json()
    assert replayed(again_b) and again_b.json() == b.json()
    # alice's very request (key and body) under bob's token: bob's own claim, refused as an
    # order on an account he cannot see, never alice's stored answer
    mine = post(api, alice, "order-2", buy(alice_acct, "0.02"))
    assert mine.status_code == 201, mine.text
    stolen = post(api, bob, "order-2", buy(alice_acct, "0.02"))
    assert (stolen.status_code, stolen.json()["code"]) == (404, "account_not_found"), stolen.text
    assert not replayed(stolen) and mine.json()["id"] not in stolen.text
    ids = [uuid.UUID(r.json()["id"]) for r in (a, mine)]
    assert [t["id"] for t in trades_of(api, alice_acct)] == ids
    assert [t["id"] for t in trades_of(api, bob_acct)] == [uuid.UUID(b.json()["id"])]


def test_a_refused_order_runs_again_under_its_key(api: Api) -> None:
    _, acct, headers = trader(api, balance=100)  # 0.01 BTC costs hundreds: refused
    first = post(api, headers, "retry-me", buy(acct))
    assert (first.status_code, first.json()["code"]) == (409, "insufficient_funds"), first.text
    again = post(api, headers, "retry-me", buy(acct))  # runs again, and is refused again
    assert (again.status_code, again.json()["code"]) == (409, "insufficient_funds"), again.text
    assert not replayed(again)
    assert trades_of(api, acct) == []

    with api.db.owner() as conn:
        conn.execute("UPDATE paper_trading_accounts SET balance = 100000 WHERE id = %s", [acct])
    placed = post(api, headers, "retry-me", buy(acct))  # now the funds allow it
    assert placed.status_code == 201 and not replayed(placed), placed.text
    assert placed.json()["status"] == "completed"
    repeat = post(api, headers, "retry-me", buy(acct))  # and from now on it is remembered
    assert repeat.status_code == 201 and replayed(repeat) and repeat.json() == placed.json()
    assert trades_of(api, acct) == [{"id": uuid.UUID(placed.json()["id"]), "status": "completed"}]


def test_a_key_is_remembered_for_24_hours_then_is_new(api: Api) -> None:
    user, acct, headers = trader(api)

    def age_key(interval: str) -> None:
        with api.db.owner() as conn:
            conn.execute(
                "UPDATE idempotency_keys SET created_at = now() - %s::interval"
                " WHERE user_id = %s AND key = 'daily'",
                [interval, user],
            )

    first = post(api, headers, "daily", buy(acct))
    assert first.status_code == 201 and not replayed(first), first.text
    age_key("23 hours 59 minutes")  # still within the window: a replay
    within = post(api, headers, "daily", buy(acct))
    assert replayed(within) and within.json()["id"] == first.json()["id"]
    other = post(api, headers, "daily", buy(acct, "0.02"))
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")

    age_key("24 hours 1 minute")  # expired: the same key is a new request, even another order
    renewed = post(api, headers, "daily", buy(acct, "0.02"))
    assert renewed.status_code == 201 and not replayed(renewed), renewed.text
    assert renewed.json()["id"] != first.json()["id"] and renewed.json()["amount"].startswith(
        "0.02"
    )
    # the renewed claim starts a new window: its repeat replays it, not the expired one
    repeat = post(api, headers, "daily", buy(acct, "0.02"))
    assert replayed(repeat) and repeat.json()["id"] == renewed.json()["id"]
    assert len(trades_of(api, acct)) == 2
    with api.db.owner() as conn:
        row = conn.execute(
            "SELECT count(*) AS n, max(created_at) > now() - interval '1 minute' AS fresh"
            " FROM idempotency_keys WHERE user_id = %s",
            [user],
        ).fetchone()
    assert row == {"n": 1, "fresh": True}
