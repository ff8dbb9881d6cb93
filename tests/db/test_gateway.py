"""gateway.place_order_v2(): one statement that places an order as its caller (migrations
0016 and 0024).

Called by the app's login role in autocommit, it switches its own transaction to
`authenticated` with the given claims; the API roles may not call it, the switch never
outlives the statement, and a rejection writes nothing, not even the audit row."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest
from psycopg.rows import dict_row

from cryptotrader.db.session import user_claims
from tests.support import Row, TestDatabase, create_user, default_account
from tests.trading.helpers import fresh_prices

CALL = (
    "SELECT (g.trade).* FROM gateway.place_order_v2(%s, %s::inet, %s, NULL, NULL, %s, 'BTC',"
    " 'buy', %s) AS g"
)

COUNTS = "SELECT (SELECT count(*) FROM paper_trades) AS t, (SELECT count(*) FROM audit_logs) AS a"


@pytest.fixture
def login(db: TestDatabase) -> Iterator[psycopg.Connection[Row]]:
    """The app's login role, in autocommit, as the API's hot path uses it."""
    with psycopg.connect(db.app_conninfo, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def _user(db: TestDatabase) -> tuple[uuid.UUID, uuid.UUID]:
    with db.owner() as owner:
        user = create_user(owner)
        fresh_prices(owner)
        return user, default_account(owner, user)


def test_places_the_order_as_the_caller_and_audits_it(
    db: TestDatabase, login: psycopg.Connection[Row]
) -> None:
    user, account = _user(db)
    claims = json.dumps(user_claims(user))
    row = login.execute(CALL, [claims, "10.1.2.3", "bench/1", account, Decimal("0.01")]).fetchone()
    assert row is not None and row["status"] == "completed" and row["user_id"] == user
    # the switch lasted only for that statement's transaction
    assert login.execute(
        "SELECT current_user AS u,"
        " nullif(current_setting('request.jwt.claims', true), '') AS claims"
    ).fetchone() == {
        "u": "cryptotrader_app",
        "claims": None,
    }
    with db.owner() as owner:
        audit = owner.execute(
            "SELECT user_id, action, resource_id, details, host(ip_address) AS ip, user_agent"
            " FROM audit_logs WHERE resource_id = %s",
            [str(row["id"])],
        ).fetchall()
    assert audit == [
        {
            "user_id": user,
            "action": "order.place",
            "resource_id": str(row["id"]),
            "details": {"symbol": "BTC", "side": "buy", "type": "market", "status": "completed"},
            "ip": "10.1.2.3",
            "user_agent": "bench/1",
        }
    ]


def test_another_users_account_is_not_found_and_nothing_is_written(
    db: TestDatabase, login: psycopg.Connection[Row]
) -> None:
    _, victim_account = _user(db)
    attacker, _ = _user(db)
    with db.owner() as owner:
        before = owner.execute(COUNTS).fetchone()
    with pytest.raises(psycopg.Error) as caught:
        login.execute(
            CALL,
            [json.dumps(user_claims(attacker)), None, None, victim_account, Decimal("0.01")],
        )
    assert caught.value.diag.message_hint == "account_not_found"
    with db.owner() as owner:
        after = owner.execute(COUNTS).fetchone()
    assert after == before


@pytest.mark.parametrize("role", ["anon", "authenticated", "service_role"])
def test_api_roles_cannot_assert_claims(db: TestDatabase, role: str) -> None:
    victim, account = _user(db)
    claims = json.dumps(user_claims(victim))
    with (
        db.as_role(role, {"role": role}) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(CALL, [claims, None, None, account, Decimal("0.01")])


KEYED = (
    "SELECT (g.trade).*, g.replayed FROM gateway.place_order_v2(%s, NULL, NULL, %s, %s, %s,"
    " 'BTC', 'buy', %s) AS g"
)


def _keyed(
    login: psycopg.Connection[Row], user: uuid.UUID, account: uuid.UUID, key: str, amount: str
) -> Row:
    row = login.execute(
        KEYED, [json.dumps(user_claims(user)), key, f"hash-{amount}", account, Decimal(amount)]
    ).fetchone()
    assert row is not None
    return row


def _trades_and_audits(db: TestDatabase, user: uuid.UUID) -> tuple[int, int]:
    with db.owner() as owner:
        row = owner.execute(
            "SELECT (SELECT count(*) FROM paper_trades WHERE user_id = %(u)s) AS t,"
            " (SELECT count(*) FROM audit_logs WHERE user_id = %(u)s) AS a",
            {"u": user},
        ).fetchone()
    assert row is not None
    return row["t"], row["a"]


def test_a_repeated_key_replays_the_first_trade_exactly(
    db: TestDatabase, login: psycopg.Connection[Row]
) -> None:
    user, account = _user(db)
    first = _keyed(login, user, account, "k", "0.01")
    with db.owner() as owner:  # the trade moves on; the replay is still the first answer
        owner.execute("UPDATE paper_trades SET notes = 'later' WHERE id = %s", [first["id"]])
    again = _keyed(login, user, account, "k", "0.01")
    assert (first.pop("replayed"), again.pop("replayed")) == (False, True)
    assert again == first and again["notes"] is None
    assert _trades_and_audits(db, user) == (1, 1)


def test_a_key_reused_for_another_order_is_refused_and_writes_nothing(
    db: TestDatabase, login: psycopg.Connection[Row]
) -> None:
    user, account = _user(db)
    _keyed(login, user, account, "k", "0.01")
    with pytest.raises(psycopg.Error) as caught:
        _keyed(login, user, account, "k", "0.02")
    assert caught.value.diag.message_hint == "idempotency_key_reused"
    assert _trades_and_audits(db, user) == (1, 1)


def test_keys_are_per_user(db: TestDatabase, login: psycopg.Connection[Row]) -> None:
    alice, alices = _user(db)
    bob, bobs = _user(db)
    a = _keyed(login, alice, alices, "same", "0.01")
    b = _keyed(login, bob, bobs, "same", "0.01")
    assert not a["replayed"] and not b["replayed"]
    assert (a["user_id"], b["user_id"]) == (alice, bob) and a["id"] != b["id"]


def test_a_refused_keyed_order_keeps_no_key_and_can_be_retried(
    db: TestDatabase, login: psycopg.Connection[Row]
) -> None:
    user, account = _user(db)
    with pytest.raises(psycopg.Error) as caught:
        _keyed(login, user, account, "k", "1000")  # far over the account's limits
    assert caught.value.diag.message_hint == "max_position_size"
    with db.owner() as owner:
        keys = owner.execute("SELECT count(*) AS n FROM idempotency_keys").fetchone()
    assert keys == {"n": 0}
    with db.owner() as owner:  # the limits are raised; the same key now places the order
        owner.execute(
            "UPDATE paper_trading_accounts SET balance = 1e9, initial_balance = 1e9,"
            " max_position_size = 1e12 WHERE id = %s",
            [account],
        )
    retried = _keyed(login, user, account, "k", "1000")
    assert retried["status"] == "completed" and not retried["replayed"]


def test_an_expired_key_is_a_new_request(db: TestDatabase, login: psycopg.Connection[Row]) -> None:
    user, account = _user(db)
    first = _keyed(login, user, account, "k", "0.01")
    with db.owner() as owner:
        owner.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    second = _keyed(login, user, account, "k", "0.02")  # even another order: the key is free
    assert not second["replayed"] and second["id"] != first["id"]
    assert _trades_and_audits(db, user) == (2, 2)
    within = _keyed(login, user, account, "k", "0.02")
    assert within["replayed"] and within["id"] == second["id"]
