"""The users table: create, look up, list, and the admin flag. Every function takes a
connection inside a unit of work run as ``service_role`` (the auth tables have no grants
for the API roles) and never commits; the workflows in :mod:`cryptotrader.auth.service`
call them."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import psycopg

from cryptotrader.auth.errors import EmailTaken
from cryptotrader.auth.schemas import Credentials, Identity, User
from cryptotrader.db.calls import execute, fetch_all, fetch_one
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn

Q = load_queries("cryptotrader.auth")


async def insert_user(
    conn: Conn, email: str, password_hash: str, *, display_name: str | None, admin: bool
) -> UUID:
    """A confirmed user; the database trigger gives them a profile, portfolio and default
    account. Raises EmailTaken (nothing is written then)."""
    params = {
        "email": email,
        "password_hash": password_hash,
        "meta": json.dumps({"display_name": display_name} if display_name else {}),
        "app_meta": json.dumps({"role": "admin"} if admin else {}),
    }
    try:
        async with conn.transaction():
            row = await fetch_one(conn, Q["insert_user"], params)
    except psycopg.errors.UniqueViolation as exc:
        raise EmailTaken(f"a user with email {email} already exists") from exc
    if row is None:  # pragma: no cover - INSERT ... RETURNING always returns the row
        raise RuntimeError("the user insert returned no row")
    return UUID(str(row["id"]))


def _identity(row: dict[str, Any]) -> Identity:
    display_name = row["display_name"]
    return Identity(
        id=UUID(str(row["id"])),
        email=str(row["email"]),
        display_name=None if display_name is None else str(display_name),
        is_admin=bool(row["is_admin"]),
    )


def _credentials(row: dict[str, Any]) -> Credentials:
    return Credentials(
        identity=_identity(row), password_hash=row["encrypted_password"], banned=bool(row["banned"])
    )


async def credentials_of(conn: Conn, user_id: UUID) -> Credentials | None:
    row = await fetch_one(conn, Q["identity_by_id"], {"user_id": user_id})
    return None if row is None else _credentials(row)


async def credentials_by_email(conn: Conn, email: str) -> Credentials | None:
    """``email`` normalised (lower case)."""
    row = await fetch_one(conn, Q["identity_by_email"], {"email": email})
    return None if row is None else _credentials(row)


async def get_identity(conn: Conn, user_id: UUID) -> Identity | None:
    found = await credentials_of(conn, user_id)
    return None if found is None else found.identity


async def find_user_id(conn: Conn, email: str) -> UUID | None:
    row = await fetch_one(conn, Q["find_user_id"], {"email": email})
    return None if row is None else UUID(str(row["id"]))


async def list_users(conn: Conn) -> list[User]:
    return [
        User(r["id"], r["email"], r["display_name"], r["is_admin"], r["created_at"])
        for r in await fetch_all(conn, Q["list_users"])
    ]


async def update_admin(conn: Conn, user_id: UUID, admin: bool) -> None:
    await execute(conn, Q["set_admin"], {"admin": admin, "user_id": user_id})


async def touch_sign_in(conn: Conn, user_id: UUID, *, new_hash: str | None = None) -> None:
    """The user signed in now; ``new_hash`` replaces a hash made with other parameters."""
    await execute(conn, Q["touch_sign_in"], {"new_hash": new_hash, "user_id": user_id})
