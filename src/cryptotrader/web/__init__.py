"""The web dashboard: server-rendered pages over the same services as the API, served by
the same app at ``/`` (the API stays under ``/api/v1``).

Errors on a page are pages (a 404 of another user's account is the API's 404, as HTML);
an htmx request gets the API's problem+json, with the field it concerns, so the script
can show it next to that field (web/static/js/app.js)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cryptotrader.api.problems import problem
from cryptotrader.errors import DomainError
from cryptotrader.web import (
    account,
    admin,
    ai_strategies,
    alerts,
    auth,
    backtests,
    bots,
    copies,
    markets,
    notifications,
    orders,
    overview,
    portfolios,
    preferences,
    tearsheet,
    traders,
    webhooks,
)
from cryptotrader.web.forms import FieldRefusal, is_htmx
from cryptotrader.web.render import page
from cryptotrader.web.session import SignInRequired, finish

NOT_PAGES = ("/api/", "/docs", "/redoc", "/openapi.json", "/static/", "/health", "/metrics")
Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(NOT_PAGES)


def error_page(request: Request, status: int, code: str, title: str, detail: str) -> Response:
    if is_htmx(request):
        return problem(status, code, title, detail, instance=request.url.path)
    context = {"status": status, "code": code, "title": title, "detail": detail}
    return page(request, "error.html", context, status_code=status)


async def _sign_in(request: Request, exc: SignInRequired) -> Response:
    if is_htmx(request):
        return finish(request, Response(status_code=401, headers={"HX-Redirect": exc.location}))
    return finish(request, RedirectResponse(exc.location, status_code=303))


async def _call(api: Handler, request: Request, exc: Exception) -> Response:
    answer = api(request, exc)
    return answer if isinstance(answer, Response) else await answer


async def _refusal(request: Request, exc: FieldRefusal) -> Response:
    if is_htmx(request):
        path = request.url.path
        return problem(exc.status, exc.code, exc.title, exc.detail, instance=path, field=exc.field)
    return error_page(request, exc.status, exc.code, exc.title, exc.detail)


def _wrap(app: FastAPI, kind: type[Exception]) -> None:
    """Pages answer ``kind`` as pages; everything else as the API does."""
    api: Handler = app.exception_handlers[kind]

    async def handler(request: Request, exc: Any) -> Response:
        if not is_page(request):
            return await _call(api, request, exc)
        if isinstance(exc, DomainError):
            return error_page(request, exc.status, exc.code, exc.title, exc.detail)
        if isinstance(exc, StarletteHTTPException):
            # the same words as the API's 404 (and an admin page's to a non-admin)
            code = "not_found" if exc.status_code == 404 else "http_error"
            title = "Not found" if exc.status_code == 404 else "Request refused"
            return error_page(request, exc.status_code, code, title, str(exc.detail))
        if isinstance(exc, RequestValidationError):
            return error_page(
                request,
                422,
                "validation_error",
                "Invalid request",
                "The address or the form has a value this page cannot use.",
            )
        return await _call(api, request, exc)

    app.exception_handlers[kind] = handler


def install(app: FastAPI) -> None:
    """Add the pages and their error handling (after problems.install)."""
    for router in (
        auth.router,
        overview.router,
        account.router,
        orders.router,
        markets.router,
        notifications.router,
        backtests.router,
        bots.router,
        ai_strategies.router,
        portfolios.router,
        alerts.router,
        tearsheet.router,
        preferences.router,
        webhooks.router,
        traders.router,
        copies.router,
        admin.router,
    ):
        app.include_router(router)
    app.exception_handler(SignInRequired)(_sign_in)
    app.exception_handler(FieldRefusal)(_refusal)
    for kind in (DomainError, StarletteHTTPException, RequestValidationError):
        _wrap(app, kind)
