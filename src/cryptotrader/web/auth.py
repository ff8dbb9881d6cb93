"""Sign-up, sign-in, sign-out and session renewal in the browser: forms over the auth
service's workflows (the same rate limit, password rules, ban check and audit rows as
``/api/v1/auth``), the session kept in cookies (web/session.py)."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from cryptotrader.auth import service as auth
from cryptotrader.auth.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidEmail,
    InvalidRefreshToken,
    LoginRateLimited,
    UserBanned,
    WeakPassword,
)
from cryptotrader.auth.schemas import Session
from cryptotrader.config import Settings
from cryptotrader.errors import DomainError
from cryptotrader.web import session
from cryptotrader.web.render import page
from cryptotrader.web.session import REFRESH_COOKIE, Csrf, check_csrf

router = APIRouter(include_in_schema=False)

# the field a refusal is shown next to
_FIELD: dict[type[DomainError], str] = {
    InvalidEmail: "email",
    EmailTaken: "email",
    WeakPassword: "password",
}


def _next(path: str | None) -> str:
    """A local path to go on to (never another site: ``//host`` and schemes are refused)."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


def _form(
    request: Request, mode: str, csrf: str, *, next_path: str = "/", **context: object
) -> HTMLResponse:
    status = 200
    error = context.get("error")
    if isinstance(error, dict):
        status = int(error.get("status", 400))
    return page(
        request,
        "login.html",
        {"mode": mode, "next_path": _next(next_path), "form": {}} | context,
        csrf=csrf,
        status_code=status,
    )


def _error(exc: DomainError) -> dict[str, object]:
    return {
        "code": exc.code,
        "message": exc.detail,
        "status": exc.status,
        "field": _FIELD.get(type(exc), "_form"),
    }


def _signed_in(request: Request, settings: Settings, sess: Session, to: str) -> Response:
    session.start(request, settings, sess)
    return session.finish(request, RedirectResponse(_next(to), status_code=303))


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, csrf: Csrf, next: str = "/") -> HTMLResponse:
    return _form(request, "login", csrf, next_path=next)


@router.get("/signup", response_class=HTMLResponse)
async def signup_form(request: Request, csrf: Csrf) -> HTMLResponse:
    return _form(request, "signup", csrf)


@router.post("/login", dependencies=[Depends(check_csrf)])
async def login(
    request: Request,
    csrf: Csrf,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    settings: Settings = request.app.state.settings
    try:
        sess = await auth.login(
            request.app.state.pool,
            session.anonymous(request).actor,
            email,
            password,
            max_attempts=settings.login_max_attempts,
            window=timedelta(seconds=settings.login_window_seconds),
            refresh_ttl=timedelta(days=settings.refresh_token_days),
        )
    except (InvalidCredentials, UserBanned, LoginRateLimited) as exc:
        response = _form(
            request, "login", csrf, next_path=next, error=_error(exc), form={"email": email}
        )
        if isinstance(exc, LoginRateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return _signed_in(request, settings, sess, next)


@router.post("/signup", dependencies=[Depends(check_csrf)])
async def signup(
    request: Request,
    csrf: Csrf,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    display_name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    settings: Settings = request.app.state.settings
    form = {"email": email, "display_name": display_name}
    try:
        sess = await auth.register(
            request.app.state.pool,
            session.anonymous(request).actor,
            email,
            password,
            display_name=display_name.strip() or None,
            refresh_ttl=timedelta(days=settings.refresh_token_days),
        )
    except (InvalidEmail, WeakPassword, EmailTaken) as exc:
        return _form(request, "signup", csrf, error=_error(exc), form=form)
    return _signed_in(request, settings, sess, "/")


@router.post("/logout", dependencies=[Depends(check_csrf)])
async def logout(request: Request) -> Response:
    """End the session (every token of it, audited) and forget the cookies."""
    response = RedirectResponse("/login", status_code=303)
    token = request.cookies.get(REFRESH_COOKIE)
    if token:
        # a token never issued has no session to end: the cookies go anyway
        with contextlib.suppress(InvalidRefreshToken):
            await auth.logout(request.app.state.pool, session.anonymous(request).actor, token)
    session.end(request)
    return session.finish(request, response)


@router.post("/session/refresh", dependencies=[Depends(check_csrf)])
async def refresh(request: Request) -> Response:
    """Renew the session's cookies (the live stream calls this before it reconnects)."""
    claims = await session.refresh(request)
    if claims is None:
        session.end(request)
        return session.finish(request, JSONResponse({"refreshed": False}, status_code=401))
    return session.finish(request, JSONResponse({"refreshed": True}))
