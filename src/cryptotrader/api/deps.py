"""Request dependencies: who is calling, and a unit of work run as them."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import AsyncConnectionPool

from cryptotrader.audit.schemas import SYSTEM_CLAIMS, Actor
from cryptotrader.auth.tokens import decode_access_token
from cryptotrader.db.session import Conn, as_anon, as_user
from cryptotrader.errors import NotAuthenticated

bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/login.")


@dataclass(frozen=True)
class Caller:
    """The caller of one request: their claims (None for anonymous) and where they came from."""

    pool: AsyncConnectionPool[Conn]
    claims: dict[str, Any] | None
    ip: str | None
    user_agent: str | None

    @property
    def user_id(self) -> UUID:
        if self.claims is None:
            raise NotAuthenticated("sign in first")
        return UUID(str(self.claims["sub"]))

    @property
    def is_admin(self) -> bool:
        return bool(self.claims and (self.claims.get("app_metadata") or {}).get("role") == "admin")

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Conn]:
        """One transaction as this caller (RLS applies); committed when the block ends, so
        before the response is sent."""
        context = as_user(self.pool, self.claims) if self.claims else as_anon(self.pool)
        async with context as conn:
            yield conn

    @property
    def actor(self) -> Actor:
        """Who acts, for the services: these claims (the system's when anonymous) and the
        client's address."""
        return Actor(claims=self.claims or SYSTEM_CLAIMS, ip=self.ip, user_agent=self.user_agent)


def _client_ip(request: Request) -> str | None:
    """The peer's address when it is one (test transports use names such as 'testclient')."""
    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


def caller_from(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    claims = None
    if credentials is not None:
        claims = decode_access_token(request.app.state.jwt_secret, credentials.credentials)
    return caller_from_claims(request, claims)


def caller_from_claims(request: Request, claims: dict[str, Any] | None) -> Caller:
    """The caller of a request whose claims are known (the dashboard reads them from its
    session cookie)."""
    return Caller(
        pool=request.app.state.pool,
        claims=claims,
        ip=_client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )


async def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller, signed in or anonymous (a token sent must be valid)."""
    return caller_from(request, credentials)


async def require_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """A signed-in caller. (Not layered on get_caller: each dependency level costs every
    request a little.)"""
    caller = caller_from(request, credentials)
    if caller.claims is None:
        raise NotAuthenticated("this endpoint needs a bearer access token")
    return caller


AnyCaller = Annotated[Caller, Depends(get_caller)]
SignedIn = Annotated[Caller, Depends(require_user)]
