"""/api/v1/auth: sign-up, sign-in, refresh-token rotation, sign-out, and who am I.

The endpoints that create or end sessions act as ``service_role`` (the auth tables have no
grants for the API roles) and ignore any ``Authorization`` header, so a client that still
sends an expired access token can refresh. The workflows (rate limit, password, ban check,
sessions, audit) are the auth service's: the dashboard and the CLI call the same ones.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from cryptotrader.api import problems
from cryptotrader.api.deps import Caller, SignedIn
from cryptotrader.auth import service
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
from cryptotrader.auth.schemas import (
    Identity,
    IssuedRefreshToken,
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    SignupRequest,
    TokenResponse,
    UserOut,
)
from cryptotrader.auth.tokens import InvalidToken, session_access_token
from cryptotrader.config import Settings
from cryptotrader.errors import InvalidRequest, NotAuthenticated

router = APIRouter(prefix="/auth", tags=["auth"])


@dataclass(frozen=True)
class AuthContext:
    """A request to the session endpoints: an anonymous caller (any bearer token is
    ignored), the settings and the signing key."""

    caller: Caller
    settings: Settings
    jwt_secret: str

    @property
    def refresh_ttl(self) -> timedelta:
        return timedelta(days=self.settings.refresh_token_days)

    @property
    def access_ttl(self) -> timedelta:
        return timedelta(minutes=self.settings.access_token_minutes)

    def tokens(self, user: Identity, refresh: IssuedRefreshToken) -> TokenResponse:
        access, _ = session_access_token(self.jwt_secret, user, refresh.family_id, self.access_ttl)
        return TokenResponse(
            access_token=access,
            expires_in=int(self.access_ttl.total_seconds()),
            refresh_token=refresh.token,
            user=UserOut.of(user),
        )


def _client_ip(request: Request) -> str | None:
    """The peer address when it is an IP address (it is not under some test transports);
    the inet columns take nothing else."""
    host = request.client.host if request.client else None
    try:
        return None if host is None else str(ipaddress.ip_address(host))
    except ValueError:
        return None


def auth_context(request: Request) -> AuthContext:
    caller = Caller(
        pool=request.app.state.pool,
        claims=None,
        ip=_client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    return AuthContext(caller, request.app.state.settings, request.app.state.jwt_secret)


Context = Annotated[AuthContext, Depends(auth_context)]

_RATE_LIMITED = problems.responses(
    LoginRateLimited,
    {
        LoginRateLimited.status: {
            "headers": {
                "Retry-After": {
                    "description": "Seconds until a login for this email from this address"
                    " is accepted.",
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
        }
    },
)


def _invalid_body(*kinds: str) -> problems.Responses:
    """The 422 of a body that fails validation: problem+json ``validation_error`` whose
    ``errors`` name each field and its ``type``."""
    listed = ", ".join(f"`{k}`" for k in (*kinds, "extra_forbidden"))
    remark = f"each of `errors` names its field and a type such as {listed}"
    return {422: problems.problem_response("validation_error", remark=remark)}


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    summary="Create an account and sign in",
    description=(
        "Creates a confirmed user (no email step) with a profile, a default portfolio and a"
        " default paper account, and returns a session. Passwords need 8 to 128 characters"
        " with a letter and a digit; emails are compared case-insensitively."
    ),
    responses=problems.responses(
        EmailTaken, _invalid_body(InvalidEmail.code, WeakPassword.code), InvalidRequest
    ),
)
async def signup(body: SignupRequest, ctx: Context) -> TokenResponse:
    session = await service.register(
        ctx.caller.pool,
        ctx.caller.actor,
        body.email,
        body.password,
        display_name=body.display_name,
        refresh_ttl=ctx.refresh_ttl,
    )
    return ctx.tokens(session.user, session.refresh)


@router.post(
    "/login",
    response_model=TokenResponse,
    summary="Sign in with email and password",
    description=(
        "Returns an access token and a refresh token. A wrong email and a wrong password get"
        " the same answer. After too many failures for one email from one address within"
        " the window, attempts are refused with 429 and `Retry-After` until the oldest"
        " counted failure leaves the window; a successful login resets the count."
    ),
    responses=problems.responses(
        InvalidCredentials, UserBanned, _RATE_LIMITED, _invalid_body(InvalidEmail.code)
    ),
)
async def login(body: LoginRequest, ctx: Context, request: Request) -> TokenResponse | JSONResponse:
    try:
        return await _login(body, ctx)
    except LoginRateLimited as exc:
        response = problems.problem(
            exc.status, exc.code, exc.title, exc.detail, instance=request.url.path
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response


async def _login(body: LoginRequest, ctx: AuthContext) -> TokenResponse:
    settings = ctx.settings
    session = await service.login(
        ctx.caller.pool,
        ctx.caller.actor,
        body.email,
        body.password,
        max_attempts=settings.login_max_attempts,
        window=timedelta(seconds=settings.login_window_seconds),
        refresh_ttl=ctx.refresh_ttl,
    )
    return ctx.tokens(session.user, session.refresh)


@router.post(
    "/refresh",
    summary="Exchange a refresh token for a new session pair",
    description=(
        "Refresh tokens are single use: the one presented is revoked and replaced by the"
        " returned one. Presenting an already rotated token again revokes the whole session"
        " (every token descended from the same sign-in) and answers `refresh_token_reused`."
    ),
    responses=problems.responses(
        InvalidRefreshToken, RefreshTokenReused, UserBanned, _invalid_body("string_too_long")
    ),
)
async def refresh(body: RefreshRequest, ctx: Context) -> TokenResponse:
    session = await service.refresh_session(
        ctx.caller.pool, ctx.caller.actor, body.refresh_token, refresh_ttl=ctx.refresh_ttl
    )
    return ctx.tokens(session.user, session.refresh)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Sign out: revoke the session of a refresh token",
    description=(
        "Revokes the presented refresh token and every other token of its session. Signing"
        " out of a session already revoked succeeds too. Access tokens already issued stay"
        " valid until they expire (minutes)."
    ),
    responses=problems.responses(InvalidRefreshToken, _invalid_body("string_too_long")),
)
async def logout(body: LogoutRequest, ctx: Context) -> Response:
    await service.logout(ctx.caller.pool, ctx.caller.actor, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/me",
    summary="The signed-in user",
    responses=problems.responses(NotAuthenticated, InvalidToken),
)
async def me(caller: SignedIn) -> UserOut:
    return UserOut.of(await service.current_user(caller.pool, caller.user_id))
