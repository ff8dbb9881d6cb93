"""gateway.place_order(): one statement that places an order as its caller (migration 0016).

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

CALL = "SELECT * FROM gateway.place_order(%s, %s::inet, %s, %s, 'BTC', 'buy', %s)"

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
