"""The dashboard's session: the API's tokens in cookies, and CSRF protection.

A signed-in browser holds the same two tokens an API client does: the access token (a
short-lived JWT) and the refresh token, each in an ``HttpOnly``, ``SameSite=Lax`` cookie
(``Secure`` when the request came over HTTPS). A page whose access token has expired
rotates the refresh token through the auth service, exactly as ``POST /auth/refresh``
does, and sets both cookies again.

CSRF: a random token in a third ``HttpOnly`` cookie, repeated by every form (a hidden
field) and every script request (the ``X-CSRF-Token`` header, from the page's meta tag).
A state-changing request whose token does not match the cookie is refused (403) before
anything runs. ``SameSite=Lax`` already keeps the cookies off cross-site POSTs; the token
is the second wall (docs/decisions.md).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import Depends, Request, Response

from cryptotrader.api.deps import Caller, caller_from_claims
from cryptotrader.auth import service as auth
from cryptotrader.auth.errors import InvalidRefreshToken, RefreshTokenReused, UserBanned
from cryptotrader.auth.schemas import Session
from cryptotrader.auth.tokens import InvalidToken, decode_access_token, session_access_token
from cryptotrader.config import Settings
from cryptotrader.errors import DomainError
from cryptotrader.stream.service import SESSION_COOKIE

ACCESS_COOKIE = SESSION_COOKIE  # "ct_access": the stream reads it too
REFRESH_COOKIE = "ct_refresh"
CSRF_COOKIE = "ct_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
R = TypeVar("R", bound=Response)


class SignInRequired(Exception):
    """The page needs a signed-in user: answered with a redirect to the sign-in form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path

    @property
    def location(self) -> str:
        return "/login?next=" + quote(self.next_path, safe="/")


class CsrfRejected(DomainError):
    status = 403
    code = "csrf_failed"
    title = "Form expired"
    example_detail = "the form's security token is missing or does not match; reload the page"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _set(request: Request, name: str, value: str, max_age: int) -> None:
    """Queue a cookie for this request's response (:func:`finish` writes it): FastAPI
    does not merge a dependency's response headers into a response a handler returns."""
    pending: list[tuple[str, str, int]] = getattr(request.state, "web_cookies", [])
    pending.append((name, value, max_age))
    request.state.web_cookies = pending


def finish(request: Request, response: R) -> R:
    """Write the cookies this request queued (a session started, renewed or ended, a new
    CSRF token) onto its response."""
    for name, value, max_age in getattr(request.state, "web_cookies", ()):
        response.set_cookie(
            name,
            value,
            max_age=max(max_age, 0),
            expires=0 if max_age <= 0 else None,  # 0: forget it now
            path="/",
            httponly=True,
            secure=_secure(request),
            samesite="lax",
        )
    request.state.web_cookies = []
    return response


def csrf_token(request: Request) -> str:
    """This browser's CSRF token, set as a cookie on its first page."""
    token = getattr(request.state, "csrf_token", None) or request.cookies.get(CSRF_COOKIE)
    if not token or len(token) < 32:
        token = secrets.token_urlsafe(32)
        _set(request, CSRF_COOKIE, token, 60 * 60 * 24 * 365)
    request.state.csrf_token = token
    return str(token)


async def check_csrf(request: Request) -> None:
    """Refuse a state-changing request whose token (form field or header) does not match
    the cookie's."""
    if request.method in SAFE_METHODS:
        return
    expected = request.cookies.get(CSRF_COOKIE) or ""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise CsrfRejected(CsrfRejected.example_detail)


def start(request: Request, settings: Settings, session: Session) -> str:
    """Sign the browser in: the session's tokens into their cookies; the access token."""
    secret: str = request.app.state.jwt_secret
    ttl = timedelta(minutes=settings.access_token_minutes)
    access, _ = session_access_token(secret, session.user, session.refresh.family_id, ttl)
    _set(request, ACCESS_COOKIE, access, int(ttl.total_seconds()))
    refresh_age = int(timedelta(days=settings.refresh_token_days).total_seconds())
    _set(request, REFRESH_COOKIE, session.refresh.token, refresh_age)
    return access


def end(request: Request) -> None:
    """Forget the session's cookies (the CSRF token stays: it belongs to the browser)."""
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        _set(request, name, "", 0)


def anonymous(request: Request) -> Caller:
    return caller_from_claims(request, None)


async def refresh(request: Request) -> dict[str, Any] | None:
    """Rotate the browser's refresh token (the auth service's workflow, audited); the new
    access token's claims, or None when there is no session to renew (cookies cleared)."""
    token = request.cookies.get(REFRESH_COOKIE)
    if not token:
        return None
    settings: Settings = request.app.state.settings
    try:
        session = await auth.refresh_session(
            request.app.state.pool,
            anonymous(request).actor,
            token,
            refresh_ttl=timedelta(days=settings.refresh_token_days),
        )
    except (InvalidRefreshToken, RefreshTokenReused, UserBanned):
        end(request)
        return None
    access = start(request, settings, session)
    return decode_access_token(request.app.state.jwt_secret, access)


async def claims_of(request: Request) -> dict[str, Any] | None:
    """The signed-in browser's claims: the access cookie's, else a renewed session's."""
    token = request.cookies.get(ACCESS_COOKIE)
    if token:
        try:
            return decode_access_token(request.app.state.jwt_secret, token)
        except InvalidToken:
            pass
    return await refresh(request)


@dataclass(frozen=True)
class Viewer:
    """Who looks at a page: the caller (RLS applies to what it reads), their claims, and
    the CSRF token the page's forms repeat."""

    caller: Caller
    claims: dict[str, Any]
    csrf: str

    @property
    def email(self) -> str:
        return str(self.claims.get("email", ""))

    @property
    def is_admin(self) -> bool:
        return self.caller.is_admin


async def viewer(request: Request) -> Viewer:
    """The signed-in viewer of a page, or a redirect to the sign-in form."""
    csrf = csrf_token(request)
    claims = await claims_of(request)
    if claims is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target if request.method in SAFE_METHODS else "/")
    return Viewer(caller=caller_from_claims(request, claims), claims=claims, csrf=csrf)


async def form_viewer(request: Request) -> Viewer:
    """The viewer of a state-changing request: its CSRF token checked first."""
    await check_csrf(request)
    return await viewer(request)


SignedInPage = Annotated[Viewer, Depends(viewer)]
SignedInForm = Annotated[Viewer, Depends(form_viewer)]
Csrf = Annotated[str, Depends(csrf_token)]
