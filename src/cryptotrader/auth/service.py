"""Users: sign-up as the service (the database trigger does the rest), listing, admin flag."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg

from cryptotrader.auth.errors import EmailTaken, InvalidEmail, WeakPassword
from cryptotrader.auth.passwords import hash_password
from cryptotrader.db.session import Conn

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


@dataclass(frozen=True)
class User:
    id: UUID
    email: str
    display_name: str | None
    is_admin: bool
    created_at: datetime


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidEmail(f"not a valid email address: {email!r}")
    return email


def check_password(password: str) -> None:
    """Raise WeakPassword unless the password is 8-128 characters with a letter and a digit."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise WeakPassword(
            f"password must have {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    if not (any(c.isalpha() for c in password) and any(c.isdigit() for c in password)):
        raise WeakPassword("password must contain at least one letter and one digit")


async def create_user(
    conn: Conn, email: str, password: str, *, display_name: str | None = None, admin: bool = False
) -> UUID:
    """Create a confirmed user (run as service_role).

    Raises InvalidEmail, WeakPassword, EmailTaken; nothing is written then."""
    email = normalise_email(email)
    check_password(password)
    meta = {"display_name": display_name} if display_name else {}
    app_meta = {"role": "admin"} if admin else {}
    try:
        async with conn.transaction():
            cur = await conn.execute(
                "INSERT INTO auth.users (email, encrypted_password, raw_user_meta_data,"
                " raw_app_meta_data, email_confirmed_at)"
                " VALUES (%s, %s, %s, %s, now()) RETURNING id",
                [email, hash_password(password), json.dumps(meta), json.dumps(app_meta)],
            )
            row = await cur.fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise EmailTaken(f"a user with email {email} already exists") from exc
    assert row is not None
    return UUID(str(row["id"]))


async def find_user_id(conn: Conn, email: str) -> UUID | None:
    cur = await conn.execute("SELECT id FROM auth.users WHERE lower(email) = lower(%s)", [email])
    row = await cur.fetchone()
    return None if row is None else UUID(str(row["id"]))


async def list_users(conn: Conn) -> list[User]:
    cur = await conn.execute(
        "SELECT u.id, u.email, p.display_name, u.created_at,"
        " coalesce(u.raw_app_meta_data ->> 'role' = 'admin', false) AS is_admin"
        " FROM auth.users u LEFT JOIN profiles p ON p.id = u.id ORDER BY u.created_at"
    )
    return [
        User(r["id"], r["email"], r["display_name"], r["is_admin"], r["created_at"])
        for r in await cur.fetchall()
    ]


async def set_admin(conn: Conn, user_id: UUID, admin: bool) -> None:
    await conn.execute(
        "UPDATE auth.users SET raw_app_meta_data = CASE WHEN %s"
        " THEN raw_app_meta_data || '{\"role\": \"admin\"}' ELSE raw_app_meta_data - 'role' END"
        " WHERE id = %s",
        [admin, user_id],
    )
