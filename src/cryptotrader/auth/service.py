"""Users and sessions: sign-up as the service (the database trigger does the rest), sign-in
with a rate limit kept in PostgreSQL, rotating refresh tokens, listing and the admin flag.

Every function takes a connection inside a unit of work run as ``service_role`` (the auth
tables have no grants for the API roles) and never commits. Password hashing, which costs
tens of milliseconds of CPU, runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

import psycopg
from psycopg_pool import AsyncConnectionPool

from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import SYSTEM, Actor
from cryptotrader.auth.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidEmail,
    InvalidRefreshToken,
    LoginRateLimited,
    RefreshTokenReused,
    UserBanned,
    WeakPassword,
)
from cryptotrader.auth.passwords import hash_password, needs_rehash, verify_password
from cryptotrader.db.session import Conn, as_service

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
REFRESH_TOKEN_BYTES = 48  # secrets.token_urlsafe(48): 64 characters, 384 bits

# Advisory lock namespaces (the two-int4 key space; it never meets the bigint locks used by
# migrations and the feed leader): one login key (email + IP), one refresh-token family.
_LOGIN_LOCK = 0x43544C01  # "CTL\x01"
_FAMILY_LOCK = 0x43544602  # "CTF\x02"
_PRUNE_BATCH = 100


@dataclass(frozen=True)
class User:
    id: UUID
    email: str
    display_name: str | None
    is_admin: bool
    created_at: datetime


@dataclass(frozen=True)
class Identity:
    """A user as sessions and access tokens describe them."""

    id: UUID
    email: str
    display_name: str | None
    is_admin: bool


@dataclass(frozen=True)
class Credentials:
    identity: Identity
    password_hash: str | None
    banned: bool


@dataclass(frozen=True)
class LoginGate:
    """The outcome of opening a login attempt: refused for ``retry_after`` seconds, or
    allowed as attempt ``attempt_id`` (recorded as a failure until marked succeeded) with
    the credentials of the email, if it is registered."""

    retry_after: int | None
    attempt_id: int | None
    credentials: Credentials | None


@dataclass(frozen=True)
class IssuedRefreshToken:
    token: str  # the raw token: returned to the client once, never stored
    id: UUID
    family_id: UUID
    expires_at: datetime


@dataclass(frozen=True)
class Rotation:
    """What refreshing a token did. ``rotated``: ``token`` replaces the presented one;
    ``reused``: an already rotated token came back and its family (``revoked`` tokens) was
    revoked; ``invalid``: unknown, expired or revoked by logout; ``banned``: the user is."""

    outcome: Literal["rotated", "reused", "invalid", "banned"]
    user: Identity | None = None
    family_id: UUID | None = None
    token: IssuedRefreshToken | None = None
    revoked: int = 0


@dataclass(frozen=True)
class Revocation:
    user_id: UUID
    family_id: UUID
    revoked: int


# ------------------------------------------------------------------ rules


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


def hash_refresh_token(token: str) -> str:
    """What is stored of a refresh token: its SHA-256, hex. The token carries 384 random
    bits, so a fast hash is enough (no dictionary to attack)."""
    return hashlib.sha256(token.encode()).hexdigest()


# ------------------------------------------------------------------ users


async def _insert_user(
    conn: Conn, email: str, password_hash: str, *, display_name: str | None, admin: bool
) -> UUID:
    meta = {"display_name": display_name} if display_name else {}
    app_meta = {"role": "admin"} if admin else {}
    try:
        async with conn.transaction():
            cur = await conn.execute(
                "INSERT INTO auth.users (email, encrypted_password, raw_user_meta_data,"
                " raw_app_meta_data, email_confirmed_at)"
                " VALUES (%s, %s, %s, %s, now()) RETURNING id",
                [email, password_hash, json.dumps(meta), json.dumps(app_meta)],
            )
            row = await cur.fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise EmailTaken(f"a user with email {email} already exists") from exc
    if row is None:  # pragma: no cover - INSERT ... RETURNING always returns the row
        raise RuntimeError("INSERT INTO auth.users returned no row")
    return UUID(str(row["id"]))


async def _new_user(
    conn: Conn, email: str, password: str, *, display_name: str | None, admin: bool
) -> UUID:
    email = normalise_email(email)
    check_password(password)
    password_hash = await asyncio.to_thread(hash_password, password)
    return await _insert_user(conn, email, password_hash, display_name=display_name, admin=admin)


async def create_user(
    conn: Conn,
    email: str,
    password: str,
    *,
    display_name: str | None = None,
    admin: bool = False,
    actor: Actor = SYSTEM,
) -> UUID:
    """Create a confirmed user (run as service_role) on ``actor``'s behalf, audited as
    ``user.create``.

    Raises InvalidEmail, WeakPassword, EmailTaken; nothing is written then."""
    user_id = await _new_user(conn, email, password, display_name=display_name, admin=admin)
    await audit.record(conn, actor, "user.create", "user", user_id, {"admin": admin})
    return user_id


async def sign_up(
    conn: Conn, email: str, password: str, *, display_name: str | None = None
) -> Identity:
    """Create a confirmed user who is signing in now (no email step on this platform); the
    trigger gives them a profile, portfolio and default account in the same transaction."""
    user_id = await _new_user(conn, email, password, display_name=display_name, admin=False)
    await conn.execute("UPDATE auth.users SET last_sign_in_at = now() WHERE id = %s", [user_id])
    identity = await get_identity(conn, user_id)
    if identity is None:  # pragma: no cover - inserted just above
        raise RuntimeError(f"user {user_id} vanished")
    return identity


_IDENTITY = (
    "SELECT u.id, u.email, p.display_name, u.encrypted_password,"
    " coalesce(u.raw_app_meta_data ->> 'role' = 'admin', false) AS is_admin,"
    " coalesce(u.banned_until > now(), false) AS banned"
    " FROM auth.users u LEFT JOIN public.profiles p ON p.id = u.id"
)


def _identity(row: dict[str, object]) -> Identity:
    display_name = row["display_name"]
    return Identity(
        id=UUID(str(row["id"])),
        email=str(row["email"]),
        display_name=None if display_name is None else str(display_name),
        is_admin=bool(row["is_admin"]),
    )


async def get_identity(conn: Conn, user_id: UUID) -> Identity | None:
    cur = await conn.execute(_IDENTITY + " WHERE u.id = %s", [user_id])
    row = await cur.fetchone()
    return None if row is None else _identity(row)


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


async def set_admin(conn: Conn, user_id: UUID, admin: bool, *, actor: Actor = SYSTEM) -> None:
    """Grant (or take away) admin rights, audited as ``user.promote`` or ``user.demote``."""
    await conn.execute(
        "UPDATE auth.users SET raw_app_meta_data = CASE WHEN %s"
        " THEN raw_app_meta_data || '{\"role\": \"admin\"}' ELSE raw_app_meta_data - 'role' END"
        " WHERE id = %s",
        [admin, user_id],
    )
    action = "user.promote" if admin else "user.demote"
    await audit.record(conn, actor, action, "user", user_id, {"admin": admin})


# ------------------------------------------------------------------ sign-in


_FAILURES = """
WITH recent AS (
  SELECT attempted_at, succeeded FROM auth.login_attempts
   WHERE email_lower = %(email)s AND ip IS NOT DISTINCT FROM %(ip)s::inet
     AND attempted_at > now() - %(window)s
), failures AS (
  SELECT attempted_at FROM recent
   WHERE NOT succeeded
     AND attempted_at > coalesce((SELECT max(attempted_at) FROM recent WHERE succeeded),
                                 '-infinity')
)
SELECT (SELECT count(*) FROM failures) AS failures,
       ceil(extract(epoch FROM
         (SELECT attempted_at FROM failures ORDER BY attempted_at DESC
           OFFSET %(max)s - 1 LIMIT 1) + %(window)s - now()))::int AS retry_after
"""


async def open_login_attempt(
    conn: Conn, email: str, ip: str | None, *, max_attempts: int, window: timedelta
) -> LoginGate:
    """Check the rate limit of (email, ip) and, when not over it, record this attempt as a
    failure (flipped by :func:`mark_login_succeeded`) and load the email's credentials.

    The failures counted are those of the window since the key's last success. Checking and
    recording happen under a per-key advisory lock, so concurrent attempts from any number
    of API processes are all counted; the password is checked after this unit commits."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_LOGIN_LOCK, f"{email}|{ip or ''}"]
    )
    # keep the table to about one window of rows: each attempt removes a few stale ones
    await conn.execute(
        "DELETE FROM auth.login_attempts WHERE id IN (SELECT id FROM auth.login_attempts"
        " WHERE attempted_at < now() - %s ORDER BY attempted_at LIMIT %s"
        " FOR UPDATE SKIP LOCKED)",
        [window, _PRUNE_BATCH],
    )
    cur = await conn.execute(
        _FAILURES, {"email": email, "ip": ip, "window": window, "max": max_attempts}
    )
    row = await cur.fetchone()
    if row is not None and row["failures"] >= max_attempts:
        return LoginGate(
            retry_after=max(1, row["retry_after"] or 1), attempt_id=None, credentials=None
        )
    cur = await conn.execute(
        "INSERT INTO auth.login_attempts (email_lower, ip, succeeded)"
        " VALUES (%s, %s::inet, false) RETURNING id",
        [email, ip],
    )
    inserted = await cur.fetchone()
    if inserted is None:  # pragma: no cover - INSERT ... RETURNING always returns the row
        raise RuntimeError("INSERT INTO auth.login_attempts returned no row")
    cur = await conn.execute(_IDENTITY + " WHERE lower(u.email) = %s", [email])
    found = await cur.fetchone()
    credentials = None
    if found is not None:
        credentials = Credentials(
            identity=_identity(found),
            password_hash=found["encrypted_password"],
            banned=bool(found["banned"]),
        )
    return LoginGate(retry_after=None, attempt_id=int(inserted["id"]), credentials=credentials)


@functools.cache
def _dummy_hash() -> str:
    """A hash with the current parameters of a password nobody knows: unknown emails are
    checked against it, so they cost the same argon2 work as known ones."""
    return hash_password(secrets.token_urlsafe(32))


def _verify(credentials: Credentials | None, password: str) -> tuple[bool, str | None]:
    stored = credentials.password_hash if credentials is not None else None
    matched = verify_password(stored or _dummy_hash(), password) and stored is not None
    new_hash = hash_password(password) if matched and stored and needs_rehash(stored) else None
    return matched, new_hash


async def verify_credentials(
    credentials: Credentials | None, password: str
) -> tuple[bool, str | None]:
    """Whether ``password`` is the user's, and a new hash when the stored one was made with
    other argon2 parameters. The same argon2 work whether the email exists or not."""
    return await asyncio.to_thread(_verify, credentials, password)


async def mark_login_succeeded(conn: Conn, attempt_id: int) -> None:
    """The attempt matched: it no longer counts, and it resets the failures before it."""
    await conn.execute(
        "UPDATE auth.login_attempts SET succeeded = true WHERE id = %s", [attempt_id]
    )


async def record_sign_in(conn: Conn, user_id: UUID, *, new_hash: str | None = None) -> None:
    await conn.execute(
        "UPDATE auth.users SET last_sign_in_at = now(),"
        " encrypted_password = coalesce(%s, encrypted_password) WHERE id = %s",
        [new_hash, user_id],
    )


# ------------------------------------------------------------------ refresh tokens


async def issue_refresh_token(
    conn: Conn,
    user_id: UUID,
    *,
    ttl: timedelta,
    family_id: UUID | None = None,
    parent_id: UUID | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> IssuedRefreshToken:
    """A new refresh token: the first of a new family (a sign-in) unless ``family_id``."""
    token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
    cur = await conn.execute(
        "INSERT INTO auth.refresh_tokens (user_id, family_id, token_hash, parent_id,"
        " expires_at, user_agent, ip)"
        " VALUES (%s, coalesce(%s, gen_random_uuid()), %s, %s, now() + %s, %s, %s::inet)"
        " RETURNING id, family_id, expires_at",
        [
            user_id,
            family_id,
            hash_refresh_token(token),
            parent_id,
            ttl,
            (user_agent or "")[:500] or None,
            ip,
        ],
    )
    row = await cur.fetchone()
    if row is None:  # pragma: no cover - INSERT ... RETURNING always returns the row
        raise RuntimeError("INSERT INTO auth.refresh_tokens returned no row")
    return IssuedRefreshToken(
        token, UUID(str(row["id"])), UUID(str(row["family_id"])), row["expires_at"]
    )


async def start_session(
    conn: Conn, user_id: UUID, *, ttl: timedelta, ip: str | None, user_agent: str | None
) -> IssuedRefreshToken:
    """A new token family for a sign-in; the user's expired tokens are dropped."""
    await conn.execute(
        "DELETE FROM auth.refresh_tokens WHERE user_id = %s AND expires_at < now()", [user_id]
    )
    return await issue_refresh_token(conn, user_id, ttl=ttl, ip=ip, user_agent=user_agent)


async def _lock_family_of(conn: Conn, token_hash: str) -> UUID | None:
    """Serialise every change to the presented token's family (rotation, reuse, logout)
    across transactions; None when the token is unknown."""
    cur = await conn.execute(
        "SELECT family_id FROM auth.refresh_tokens WHERE token_hash = %s", [token_hash]
    )
    row = await cur.fetchone()
    if row is None:
        return None
    family_id = UUID(str(row["family_id"]))
    await conn.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_FAMILY_LOCK, str(family_id)]
    )
    return family_id


async def _revoke_family(conn: Conn, family_id: UUID) -> int:
    cur = await conn.execute(
        "UPDATE auth.refresh_tokens SET revoked_at = now()"
        " WHERE family_id = %s AND revoked_at IS NULL",
        [family_id],
    )
    return cur.rowcount


async def rotate_refresh_token(
    conn: Conn, token: str, *, ttl: timedelta, ip: str | None, user_agent: str | None
) -> Rotation:
    """Exchange a refresh token for its successor in the same family.

    A token that was already rotated (revoked and replaced) is a copy in someone else's
    hands, or the original used after the copy: either way the family is revoked, so the
    newest token fails too and the user signs in again. Nothing is raised here, so the
    caller can commit the revocation and its audit record before answering 401."""
    token_hash = hash_refresh_token(token)
    family_id = await _lock_family_of(conn, token_hash)
    if family_id is None:
        return Rotation("invalid")
    cur = await conn.execute(
        "SELECT t.id, t.user_id, t.revoked_at IS NOT NULL AS revoked,"
        " t.replaced_by IS NOT NULL AS rotated, t.expires_at <= now() AS expired"
        " FROM auth.refresh_tokens t WHERE t.token_hash = %s",
        [token_hash],
    )
    current = await cur.fetchone()
    if current is None:  # deleted while we waited for the lock
        return Rotation("invalid")
    user_id = UUID(str(current["user_id"]))
    if current["rotated"]:
        revoked = await _revoke_family(conn, family_id)
        return Rotation(
            "reused", family_id=family_id, revoked=revoked, user=await get_identity(conn, user_id)
        )
    if current["revoked"] or current["expired"]:
        return Rotation("invalid", family_id=family_id)
    cur = await conn.execute(_IDENTITY + " WHERE u.id = %s", [user_id])
    found = await cur.fetchone()
    if found is None:  # pragma: no cover - tokens cascade with their user
        return Rotation("invalid", family_id=family_id)
    user = _identity(found)
    if found["banned"]:
        return Rotation("banned", user=user, family_id=family_id)
    successor = await issue_refresh_token(
        conn,
        user_id,
        ttl=ttl,
        family_id=family_id,
        parent_id=current["id"],
        ip=ip,
        user_agent=user_agent,
    )
    await conn.execute(
        "UPDATE auth.refresh_tokens SET revoked_at = now(), replaced_by = %s WHERE id = %s",
        [successor.id, current["id"]],
    )
    return Rotation("rotated", user=user, family_id=family_id, token=successor)


async def revoke_session(conn: Conn, token: str) -> Revocation | None:
    """Revoke the whole family of a refresh token (sign-out); None when it is unknown.
    Revoking a revoked family again changes nothing."""
    token_hash = hash_refresh_token(token)
    family_id = await _lock_family_of(conn, token_hash)
    if family_id is None:
        return None
    cur = await conn.execute(
        "SELECT user_id FROM auth.refresh_tokens WHERE token_hash = %s", [token_hash]
    )
    row = await cur.fetchone()
    if row is None:  # deleted while we waited for the lock
        return None
    revoked = await _revoke_family(conn, family_id)
    return Revocation(UUID(str(row["user_id"])), family_id, revoked)


# ------------------------------------------------------------------ workflows
# What the API, the dashboard and the CLI call: each acts as the service role (the auth
# tables have no grants for the API roles) and writes its audit record in the transaction
# of its change; a refusal that must leave a trace (a failed or refused login, a reused
# refresh token) commits its record in a unit of its own before the error is raised.


@dataclass(frozen=True, kw_only=True)
class Session:
    """A signed-in user and the refresh token of their new session."""

    user: Identity
    refresh: IssuedRefreshToken


async def register(
    pool: AsyncConnectionPool[Conn],
    actor: Actor,
    email: str,
    password: str,
    *,
    display_name: str | None,
    refresh_ttl: timedelta,
) -> Session:
    """Sign up and sign in: a confirmed user with their profile, portfolio and default
    account, and a session, audited as ``auth.signup``.

    Raises InvalidEmail, WeakPassword, EmailTaken; nothing is written then."""
    async with as_service(pool) as conn:
        user = await sign_up(conn, email, password, display_name=display_name)
        refresh = await start_session(
            conn, user.id, ttl=refresh_ttl, ip=actor.ip, user_agent=actor.user_agent
        )
        details = {"session_id": str(refresh.family_id)}
        await audit.record(conn, actor, "auth.signup", "user", user.id, details, user_id=user.id)
    return Session(user=user, refresh=refresh)


async def login(
    pool: AsyncConnectionPool[Conn],
    actor: Actor,
    email: str,
    password: str,
    *,
    max_attempts: int,
    window: timedelta,
    refresh_ttl: timedelta,
) -> Session:
    """Sign in with email and password (rate limit per email and address, password, ban
    check, a new session), audited as ``auth.login`` or why it was refused.

    Raises LoginRateLimited, InvalidCredentials (a wrong email and a wrong password alike,
    at the same argon2 cost) and UserBanned."""
    details = {"email": email}
    async with as_service(pool) as conn:
        gate = await open_login_attempt(
            conn, email, actor.ip, max_attempts=max_attempts, window=window
        )
        if gate.retry_after is not None:
            limited = {**details, "retry_after": gate.retry_after}
            await audit.record(conn, actor, "auth.login_rate_limited", "session", None, limited)
    if gate.retry_after is not None or gate.attempt_id is None:
        raise LoginRateLimited(gate.retry_after or 1)

    # the password is checked outside any transaction: no connection is held meanwhile
    matched, new_hash = await verify_credentials(gate.credentials, password)
    if not matched or gate.credentials is None:
        failed = {**details, "reason": InvalidCredentials.code}
        async with as_service(pool) as conn:
            await audit.record(conn, actor, "auth.login_failed", "session", None, failed)
        raise InvalidCredentials

    user = gate.credentials.identity
    if gate.credentials.banned:
        refused = {**details, "reason": UserBanned.code}
        async with as_service(pool) as conn:
            await mark_login_succeeded(conn, gate.attempt_id)
            await audit.record(
                conn, actor, "auth.login_refused", "session", None, refused, user_id=user.id
            )
        raise UserBanned("this user is banned")

    async with as_service(pool) as conn:
        await mark_login_succeeded(conn, gate.attempt_id)
        await record_sign_in(conn, user.id, new_hash=new_hash)
        refresh = await start_session(
            conn, user.id, ttl=refresh_ttl, ip=actor.ip, user_agent=actor.user_agent
        )
        signed_in = {"rehashed": new_hash is not None}
        await audit.record(
            conn, actor, "auth.login", "session", refresh.family_id, signed_in, user_id=user.id
        )
    return Session(user=user, refresh=refresh)


async def refresh_session(
    pool: AsyncConnectionPool[Conn], actor: Actor, token: str, *, refresh_ttl: timedelta
) -> Session:
    """Exchange a refresh token for a new one (single use), audited as ``auth.refresh``.
    Presenting a rotated token again revokes its whole session.

    Raises RefreshTokenReused, UserBanned and InvalidRefreshToken."""
    async with as_service(pool) as conn:
        rotation = await rotate_refresh_token(
            conn, token, ttl=refresh_ttl, ip=actor.ip, user_agent=actor.user_agent
        )
        if rotation.outcome == "reused" and rotation.user is not None:
            await audit.record(
                conn,
                actor,
                "auth.refresh_token_reused",
                "session",
                rotation.family_id,
                {"revoked": rotation.revoked},
                user_id=rotation.user.id,
            )
        elif rotation.outcome == "rotated" and rotation.user is not None:
            await audit.record(
                conn, actor, "auth.refresh", "session", rotation.family_id, user_id=rotation.user.id
            )
    if rotation.outcome == "reused":
        raise RefreshTokenReused
    if rotation.outcome == "banned":
        raise UserBanned("this user is banned")
    if rotation.outcome != "rotated" or rotation.user is None or rotation.token is None:
        raise InvalidRefreshToken("the refresh token is unknown, expired or revoked")
    return Session(user=rotation.user, refresh=rotation.token)


async def logout(pool: AsyncConnectionPool[Conn], actor: Actor, token: str) -> Revocation:
    """Revoke the session of a refresh token (every token of it), audited as
    ``auth.logout``; a session already revoked is signed out again without error.

    Raises InvalidRefreshToken for a token never issued."""
    async with as_service(pool) as conn:
        revocation = await revoke_session(conn, token)
        if revocation is not None:
            await audit.record(
                conn,
                actor,
                "auth.logout",
                "session",
                revocation.family_id,
                {"revoked": revocation.revoked},
                user_id=revocation.user_id,
            )
    if revocation is None:
        raise InvalidRefreshToken("the refresh token is unknown")
    return revocation
