"""Rotating refresh tokens: a sign-in starts a token family, each refresh replaces the token
with its successor in the family, and a rotated token presented again revokes the family.

Every function takes a connection inside a unit of work run as ``service_role`` and never
commits; the workflows in :mod:`cryptotrader.auth.service` call them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from uuid import UUID

from cryptotrader.auth import users
from cryptotrader.auth.schemas import IssuedRefreshToken, Revocation, Rotation
from cryptotrader.db.calls import execute, fetch_one
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn

Q = load_queries("cryptotrader.auth")

REFRESH_TOKEN_BYTES = 48  # secrets.token_urlsafe(48): 64 characters, 384 bits
# An advisory lock namespace (the two-int4 key space; it never meets the bigint locks used
# by migrations and the feed leader): one refresh-token family.
_FAMILY_LOCK = 0x43544602  # "CTF\x02"


def hash_refresh_token(token: str) -> str:
    """What is stored of a refresh token: its SHA-256, hex. The token carries 384 random
    bits, so a fast hash is enough (no dictionary to attack)."""
    return hashlib.sha256(token.encode()).hexdigest()


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
    row = await fetch_one(
        conn,
        Q["insert_refresh_token"],
        {
            "user_id": user_id,
            "family_id": family_id,
            "token_hash": hash_refresh_token(token),
            "parent_id": parent_id,
            "ttl": ttl,
            "user_agent": (user_agent or "")[:500] or None,
            "ip": ip,
        },
    )
    if row is None:  # pragma: no cover - INSERT ... RETURNING always returns the row
        raise RuntimeError("the refresh token insert returned no row")
    return IssuedRefreshToken(
        token, UUID(str(row["id"])), UUID(str(row["family_id"])), row["expires_at"]
    )


async def start_session(
    conn: Conn, user_id: UUID, *, ttl: timedelta, ip: str | None, user_agent: str | None
) -> IssuedRefreshToken:
    """A new token family for a sign-in; the user's expired tokens are dropped."""
    await execute(conn, Q["drop_expired_refresh_tokens"], {"user_id": user_id})
    return await issue_refresh_token(conn, user_id, ttl=ttl, ip=ip, user_agent=user_agent)


async def _locked_token(conn: Conn, token_hash: str) -> dict[str, object] | None:
    """The presented token, read after taking its family's lock, which serialises every
    change to the family (rotation, reuse, logout) across transactions; None when the token
    is unknown (or was deleted while we waited for the lock)."""
    row = await fetch_one(conn, Q["refresh_token"], {"token_hash": token_hash})
    if row is None:
        return None
    lock = {"namespace": _FAMILY_LOCK, "key": str(row["family_id"])}
    await execute(conn, Q["lock_key"], lock)
    return await fetch_one(conn, Q["refresh_token"], {"token_hash": token_hash})


async def _revoke_family(conn: Conn, family_id: UUID) -> int:
    return await execute(conn, Q["revoke_family"], {"family_id": family_id})


async def rotate_refresh_token(
    conn: Conn, token: str, *, ttl: timedelta, ip: str | None, user_agent: str | None
) -> Rotation:
    """Exchange a refresh token for its successor in the same family.

    A token that was already rotated (revoked and replaced) is a copy in someone else's
    hands, or the original used after the copy: either way the family is revoked, so the
    newest token fails too and the user signs in again. Nothing is raised here, so the
    caller can commit the revocation and its audit record before answering 401."""
    current = await _locked_token(conn, hash_refresh_token(token))
    if current is None:
        return Rotation("invalid")
    family_id = UUID(str(current["family_id"]))
    found = await users.credentials_of(conn, UUID(str(current["user_id"])))
    if found is None:  # pragma: no cover - tokens cascade with their user
        return Rotation("invalid", family_id=family_id)
    if current["rotated"]:
        revoked = await _revoke_family(conn, family_id)
        return Rotation("reused", family_id=family_id, revoked=revoked, user=found.identity)
    if current["revoked"] or current["expired"]:
        return Rotation("invalid", family_id=family_id)
    if found.banned:
        return Rotation("banned", user=found.identity, family_id=family_id)
    successor = await issue_refresh_token(
        conn,
        found.identity.id,
        ttl=ttl,
        family_id=family_id,
        parent_id=UUID(str(current["id"])),
        ip=ip,
        user_agent=user_agent,
    )
    replaced = {"successor": successor.id, "token_id": current["id"]}
    await execute(conn, Q["replace_refresh_token"], replaced)
    return Rotation("rotated", user=found.identity, family_id=family_id, token=successor)


async def revoke_session(conn: Conn, token: str) -> Revocation | None:
    """Revoke the whole family of a refresh token (sign-out); None when it is unknown.
    Revoking a revoked family again changes nothing."""
    current = await _locked_token(conn, hash_refresh_token(token))
    if current is None:
        return None
    family_id = UUID(str(current["family_id"]))
    revoked = await _revoke_family(conn, family_id)
    return Revocation(UUID(str(current["user_id"])), family_id, revoked)
