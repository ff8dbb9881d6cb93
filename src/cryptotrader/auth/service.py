"""Users and sessions: sign-up as the service (the database trigger does the rest), sign-in
with a rate limit kept in PostgreSQL, rotating refresh tokens, listing and the admin flag.

The workflows at the end (:func:`register`, :func:`login`, :func:`refresh_session`,
:func:`logout`) are what the API, the dashboard and the CLI call. The steps take a
connection inside a unit of work run as ``service_role`` (the auth tables have no grants
for the API roles) and never commit. Password hashing, which costs tens of milliseconds of
CPU, runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from datetime import timedelta
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import SYSTEM, Actor
from cryptotrader.auth import users
from cryptotrader.auth.errors import (
    InvalidCredentials,
    InvalidRefreshToken,
    LoginRateLimited,
    RefreshTokenReused,
    UserBanned,
)
from cryptotrader.auth.passwords import hash_password, needs_rehash, verify_password
from cryptotrader.auth.schemas import (
    Credentials,
    Identity,
    LoginGate,
    Revocation,
    Session,
    check_password,
    normalise_email,
)
from cryptotrader.auth.sessions import revoke_session, rotate_refresh_token, start_session
from cryptotrader.auth.tokens import InvalidToken
from cryptotrader.auth.users import find_user_id as find_user_id
from cryptotrader.auth.users import get_identity as get_identity
from cryptotrader.auth.users import list_users as list_users
from cryptotrader.db.calls import execute, fetch_one
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn, as_service

Q = load_queries("cryptotrader.auth")

# An advisory lock namespace (the two-int4 key space; it never meets the bigint locks used
# by migrations and the feed leader): one login key (email + IP).
_LOGIN_LOCK = 0x43544C01  # "CTL\x01"
_PRUNE_BATCH = 100


# ------------------------------------------------------------------ users


async def _new_user(
    conn: Conn, email: str, password: str, *, display_name: str | None, admin: bool
) -> UUID:
    email = normalise_email(email)
    check_password(password)
    password_hash = await asyncio.to_thread(hash_password, password)
    return await users.insert_user(
        conn, email, password_hash, display_name=display_name, admin=admin
    )


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
    await users.touch_sign_in(conn, user_id)
    identity = await get_identity(conn, user_id)
    if identity is None:  # pragma: no cover - inserted just above
        raise RuntimeError(f"user {user_id} vanished")
    return identity


async def set_admin(conn: Conn, user_id: UUID, admin: bool, *, actor: Actor = SYSTEM) -> None:
    """Grant (or take away) admin rights, audited as ``user.promote`` or ``user.demote``."""
    await users.update_admin(conn, user_id, admin)
    action = "user.promote" if admin else "user.demote"
    await audit.record(conn, actor, action, "user", user_id, {"admin": admin})


# ------------------------------------------------------------------ sign-in


async def open_login_attempt(
    conn: Conn, email: str, ip: str | None, *, max_attempts: int, window: timedelta
) -> LoginGate:
    """Check the rate limit of (email, ip) and, when not over it, record this attempt as a
    failure (flipped by :func:`mark_login_succeeded`) and load the email's credentials.

    The failures counted are those of the window since the key's last success. Checking and
    recording happen under a per-key advisory lock, so concurrent attempts from any number
    of API processes are all counted; the password is checked after this unit commits."""
    key = {"namespace": _LOGIN_LOCK, "key": f"{email}|{ip or ''}"}
    await execute(conn, Q["lock_key"], key)
    await execute(conn, Q["prune_login_attempts"], {"window": window, "batch": _PRUNE_BATCH})
    counted = {"email": email, "ip": ip, "window": window, "max": max_attempts}
    row = await fetch_one(conn, Q["login_failures"], counted)
    if row is not None and row["failures"] >= max_attempts:
        return LoginGate(
            retry_after=max(1, row["retry_after"] or 1), attempt_id=None, credentials=None
        )
    inserted = await fetch_one(conn, Q["insert_login_attempt"], {"email": email, "ip": ip})
    if inserted is None:  # pragma: no cover - INSERT ... RETURNING always returns the row
        raise RuntimeError("the login attempt insert returned no row")
    credentials = await users.credentials_by_email(conn, email)
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
    await execute(conn, Q["mark_login_succeeded"], {"attempt_id": attempt_id})


# ------------------------------------------------------------------ workflows
# What the API, the dashboard and the CLI call: each acts as the service role (the auth
# tables have no grants for the API roles) and writes its audit record in the transaction
# of its change; a refusal that must leave a trace (a failed or refused login, a reused
# refresh token) commits its record in a unit of its own before the error is raised.


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
        await users.touch_sign_in(conn, user.id, new_hash=new_hash)
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


async def current_user(pool: AsyncConnectionPool[Conn], user_id: UUID) -> Identity:
    """The signed-in user as the database has them now. Raises InvalidToken when the
    token's user no longer exists."""
    async with as_service(pool) as conn:
        user = await get_identity(conn, user_id)
    if user is None:
        raise InvalidToken("the token's user no longer exists")
    return user


async def prune_expired(conn: Conn) -> int:
    """Delete the refresh tokens that expired more than a week ago, revoked ones included
    (``conn`` as the service role); returns how many. An expired token signs nobody in, so
    nothing a client holds stops working."""
    return await execute(conn, Q["prune_expired_refresh_tokens"])
