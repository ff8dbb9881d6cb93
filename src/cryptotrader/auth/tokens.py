"""Access tokens: short-lived HS256 JWTs whose claims are what the database's auth.uid(),
auth.role() and auth.is_admin() read (Supabase's shape)."""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt

from cryptotrader.auth.schemas import Identity
from cryptotrader.errors import NotAuthenticated

AUDIENCE = "authenticated"
ISSUER = "cryptotrader"
ACCESS_TTL = timedelta(minutes=15)
VERIFIED_CACHE_SIZE = 10_000
# Tokens already verified by this process: (secret, token) -> (claims, exp). Verifying
# (base64, JSON, HMAC, claim checks) is a good part of a small request's cost, and the same
# token comes back with every request of a session; expiry is still checked on every use.
_verified: OrderedDict[tuple[str, str], tuple[dict[str, Any], float]] = OrderedDict()


class InvalidToken(NotAuthenticated):
    code = "invalid_token"
    example_detail = "access token rejected: Signature has expired"
    title = "Invalid or expired token"


def issue_access_token(
    secret: str,
    user_id: UUID,
    *,
    email: str,
    admin: bool = False,
    session_id: UUID | None = None,
    ttl: timedelta = ACCESS_TTL,
    now: datetime | None = None,
) -> tuple[str, datetime]:
    """A signed access token and its expiry."""
    issued = now or datetime.now(UTC)
    expires = issued + ttl
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": "authenticated",
        "email": email,
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "app_metadata": {"role": "admin"} if admin else {},
    }
    if session_id is not None:
        claims["session_id"] = str(session_id)
    return jwt.encode(claims, secret, algorithm="HS256"), expires


def session_access_token(
    secret: str, user: Identity, session_id: UUID, ttl: timedelta
) -> tuple[str, datetime]:
    """The access token of a signed-in session (the API's token response and the
    dashboard's cookie hold the same one)."""
    return issue_access_token(
        secret, user.id, email=user.email, admin=user.is_admin, session_id=session_id, ttl=ttl
    )


def decode_access_token(secret: str, token: str) -> dict[str, Any]:
    """The token's claims (a copy). Raises InvalidToken when it is malformed, forged or
    expired. A token verified before is not verified again until it expires."""
    key = (secret, token)
    hit = _verified.get(key)
    if hit is not None:
        claims, exp = hit
        if time.time() < exp:
            return dict(claims)
        del _verified[key]
    claims = _verify(secret, token)
    _verified[key] = (claims, float(claims["exp"]))
    if len(_verified) > VERIFIED_CACHE_SIZE:
        _verified.popitem(last=False)
    return dict(claims)


def _verify(secret: str, token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["sub", "exp", "iat"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"access token rejected: {exc}") from exc
    try:
        UUID(str(claims["sub"]))
    except ValueError as exc:
        raise InvalidToken("access token rejected: bad subject") from exc
    return claims
