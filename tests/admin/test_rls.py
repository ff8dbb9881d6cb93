"""What the admin capability rests on, in SQL as the API roles see it: a user without admin
claims reaches none of it (another user's accounts, the platform's templates, the sign-in
identities), and an admin's claims reach exactly it (migration 0027: the platform's
templates; 0002: any account's suspension)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from tests.support import TestDatabase, create_user, default_account

INSERT_PLATFORM_TEMPLATE = (
    "INSERT INTO account_templates (name, account_type, risk_level) VALUES (%s, 'balanced', 'low')"
)


@dataclass(frozen=True)
class World:
    alice: uuid.UUID  # an ordinary user
    mallory: uuid.UUID  # another ordinary user, who tries
    admin: uuid.UUID  # an ordinary user too: admin rights come only from the claims
    alice_account: uuid.UUID
    platform_template: uuid.UUID  # a built-in one
    alice_private: uuid.UUID
    alice_shared: uuid.UUID


@pytest.fixture
def world(db: TestDatabase) -> World:
    with db.owner() as conn:
        alice, mallory, admin = (create_user(conn) for _ in range(3))
        ids = []
        for name, public in (("Alice keeps", False), ("Alice shares", True)):
            row = conn.execute(
                "INSERT INTO account_templates (name, account_type, risk_level, is_public,"
                " created_by) VALUES (%s, 'balanced', 'medium', %s, %s) RETURNING id",
                [name, public, alice],
            ).fetchone()
            assert row is not None
            ids.append(row["id"])
        builtin = conn.execute(
            "SELECT id FROM account_templates WHERE created_by IS NULL AND name = 'Balanced'"
        ).fetchone()
        assert builtin is not None
        account = default_account(conn, alice)
    return World(alice, mallory, admin, account, builtin["id"], ids[0], ids[1])


def _row(db: TestDatabase, query: str, params: list[Any]) -> dict[str, Any] | None:
    with db.owner() as conn:
        return conn.execute(query, params).fetchone()


def test_a_non_admin_reaches_nothing_the_admin_capability_does(
    db: TestDatabase, world: World
) -> None:
    with db.as_user(world.mallory) as conn:
        # another user's accounts: invisible, so neither listed nor suspended
        assert conn.execute(
            "SELECT count(*) AS n FROM paper_trading_accounts WHERE user_id <> %s",
            [world.mallory],
        ).fetchone() == {"n": 0}
        suspended = conn.execute(
            "UPDATE paper_trading_accounts SET status = 'suspended' WHERE id = %s",
            [world.alice_account],
        )
        assert suspended.rowcount == 0
        # the platform's templates and a user's shared one: read, never written
        for template in (world.platform_template, world.alice_shared):
            retired = conn.execute(
                "UPDATE account_templates SET is_public = false WHERE id = %s", [template]
            )
            assert retired.rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(INSERT_PLATFORM_TEMPLATE, ["Mallory's platform template"])
    with db.as_user(world.mallory) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT id, banned_until FROM auth.users")
    with db.as_user(world.mallory) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE auth.refresh_tokens SET revoked_at = now()")
    # an admin's own account, suspended by themselves without admin claims: refused
    with db.as_user(world.admin) as conn, pytest.raises(psycopg.Error) as raised:
        conn.execute(
            "UPDATE paper_trading_accounts SET status = 'suspended' WHERE user_id = %s",
            [world.admin],
        )
    assert (raised.value.sqlstate, raised.value.diag.message_hint) == (
        "CT403",
        "account_suspension_forbidden",
    )
    assert _row(
        db, "SELECT status FROM paper_trading_accounts WHERE id = %s", [world.alice_account]
    ) == {"status": "active"}
    assert _row(
        db,
        "SELECT count(*) FILTER (WHERE is_public) AS public FROM account_templates"
        " WHERE id = ANY(%s)",
        [[world.platform_template, world.alice_shared]],
    ) == {"public": 2}


def test_admin_claims_reach_the_platforms_templates_and_any_account(
    db: TestDatabase, world: World
) -> None:
    with db.as_user(world.admin, admin=True) as conn:
        made = conn.execute(
            INSERT_PLATFORM_TEMPLATE + " RETURNING id, created_by", ["Admin's"]
        ).fetchone()
        assert made is not None and made["created_by"] is None
        edited = conn.execute(
            "UPDATE account_templates SET description = 'edited' WHERE id = ANY(%s)",
            [[made["id"], world.platform_template, world.alice_shared]],
        )
        assert edited.rowcount == 3
        # a user's private template is theirs: neither edited nor retired
        private = conn.execute(
            "UPDATE account_templates SET is_public = false WHERE id = %s", [world.alice_private]
        )
        assert private.rowcount == 0
        suspended = conn.execute(
            "UPDATE paper_trading_accounts SET status = 'suspended' WHERE id = %s",
            [world.alice_account],
        )
        assert suspended.rowcount == 1
        conn.commit()
    # the system's columns stay the system's, and an admin writes no user's template
    denied = pytest.raises(psycopg.errors.InsufficientPrivilege)
    with db.as_user(world.admin, admin=True) as conn, denied:
        conn.execute(
            "UPDATE account_templates SET usage_count = 0 WHERE id = %s",
            [world.platform_template],
        )
    planted = pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security")
    with db.as_user(world.admin, admin=True) as conn, planted:
        conn.execute(
            "INSERT INTO account_templates (name, account_type, risk_level, created_by)"
            " VALUES ('Planted', 'balanced', 'low', %s)",
            [world.alice],
        )
    with db.as_user(world.admin, admin=True) as conn:
        assert (
            conn.execute(
                "DELETE FROM account_templates WHERE id = %s", [world.platform_template]
            ).rowcount
            == 0
        )
    assert _row(
        db, "SELECT status FROM paper_trading_accounts WHERE id = %s", [world.alice_account]
    ) == {"status": "suspended"}
    assert _row(
        db, "SELECT description FROM account_templates WHERE id = %s", [world.alice_private]
    ) == {"description": None}
