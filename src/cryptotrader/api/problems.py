"""Every error as RFC 9457 ``application/problem+json`` with a stable ``code``.

Domain errors carry their own status and code. Database errors a client can cause
(constraint and data errors) map, by SQLSTATE class, to 4xx; anything else is a 500 with a
correlation id and no internals.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from cryptotrader.errors import DomainError, from_db_error

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}
# Database errors a client's input can cause (by SQLSTATE): status, code, title.
_SQLSTATE = {
    "23505": (409, "conflict", "Already exists"),
    "23503": (404, "not_found", "Referenced resource not found"),
    "23514": (422, "invalid_request", "Value out of range"),
    "23502": (422, "invalid_request", "Missing value"),
    "42501": (403, "forbidden", "Not allowed"),
}


class Problem(BaseModel):
    """RFC 9457 problem details, plus our stable ``code``."""

    type: str = Field(examples=["/problems/insufficient_funds"])
    title: str = Field(examples=["Insufficient funds"])
    status: int = Field(examples=[409])
    detail: str = Field(examples=["needs 1001.00 including fees, 250.00 available"])
    code: str = Field(examples=["insufficient_funds"])
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="For validation errors: each field and what is wrong."
    )


BAD_REQUEST: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "`bad_request`"}
}


def problem(
    status: int, code: str, title: str, detail: str, *, instance: str | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def responses(*errors: type[DomainError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the domain errors an endpoint may return."""
    out: dict[int | str, dict[str, Any]] = {}
    for err in errors:
        entry = out.setdefault(
            err.status,
            {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": ""},
        )
        entry["description"] = ", ".join(filter(None, [entry["description"], f"`{err.code}`"]))
    return out


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(DomainError)
    async def domain(request: Request, exc: DomainError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.title, exc.detail, instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ())),
                "message": e.get("msg"),
                "type": e.get("type"),
            }
            for e in exc.errors()
        ]
        fields = ", ".join(e["field"] for e in errors) or "request"
        return problem(
            422,
            "validation_error",
            "Invalid request",
            f"invalid: {fields}",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else code
        response = problem(
            exc.status_code,
            code,
            code.replace("_", " ").capitalize(),
            detail,
            instance=request.url.path,
        )
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(psycopg.Error)
    async def database(request: Request, exc: psycopg.Error) -> JSONResponse:
        mapped = from_db_error(exc)
        if mapped is not None:
            return problem(
                mapped.status, mapped.code, mapped.title, mapped.detail, instance=request.url.path
            )
        state = exc.sqlstate or ""
        if not state and isinstance(exc, psycopg.DataError):
            # refused by the driver before it reached the server (a NUL in text, say)
            return problem(
                422,
                "invalid_request",
                "Invalid value",
                str(exc).split("\n")[0],
                instance=request.url.path,
            )
        if state in _SQLSTATE or state.startswith("22"):
            status, code, title = _SQLSTATE.get(state, (422, "invalid_request", "Invalid value"))
            detail = (exc.diag.message_primary or title) if state != "42501" else title
            return problem(status, code, title, detail, instance=request.url.path)
        return await unexpected(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        correlation = uuid.uuid4().hex
        log.exception("unexpected error %s on %s %s", correlation, request.method, request.url.path)
        return problem(
            500,
            "internal_error",
            "Internal error",
            f"an unexpected error occurred; quote {correlation} when reporting it",
            instance=request.url.path,
            correlation_id=correlation,
        )
