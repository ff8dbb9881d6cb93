"""Every error as RFC 9457 ``application/problem+json`` with a stable ``code``.

Domain errors carry their own status and code. Database errors a client can cause
(constraint and data errors) map, by SQLSTATE class, to 4xx; anything else is a 500 with a
correlation id and no internals.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Mapping
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


class InvalidField(BaseModel):
    """One field of a request that failed validation."""

    field: str = Field(
        description="Where it is: `body`, `query`, `path` or `header`, then its name.",
        examples=["body.amount"],
    )
    message: str = Field(examples=["Field required"])
    type: str = Field(description="What is wrong, as a stable name.", examples=["missing"])


class Problem(BaseModel):
    """RFC 9457 problem details, plus our stable ``code``."""

    type: str = Field(examples=["/problems/insufficient_funds"])
    title: str = Field(examples=["Insufficient funds"])
    status: int = Field(examples=[409])
    detail: str = Field(examples=["needs 1001.00 including fees, 250.00 available"])
    code: str = Field(examples=["insufficient_funds"])
    instance: str | None = Field(default=None, description="The path of the request.")
    errors: list[InvalidField] | None = Field(
        default=None, description="For `validation_error`: each invalid field."
    )
    correlation_id: str | None = Field(
        default=None, description="For `internal_error`: quote it when reporting the error."
    )


# The OpenAPI ``responses=`` of a route: status -> response (FastAPI's form, with "model").
Responses = dict[int | str, dict[str, Any]]


def describe(codes: Iterable[str], remark: str = "") -> str:
    """A problem response's description: its codes, then any remark after a ``;``."""
    listed = ", ".join(f"`{code}`" for code in codes)
    return f"{listed}; {remark}" if remark else listed


def codes_of(description: str) -> list[str]:
    """The error codes a problem response's description lists (before any ``;`` remark)."""
    return re.findall(r"`([a-z0-9_]+)`", description.split(";")[0])


def merge_descriptions(first: str, second: str) -> str:
    """One description for two responses of a status: their codes, then their remarks."""
    codes = list(dict.fromkeys([*codes_of(first), *codes_of(second)]))
    if not codes:
        return second or first
    remarks = [d.split(";", 1)[1].strip() for d in (first, second) if ";" in d]
    return describe(codes, "; ".join(dict.fromkeys(r for r in remarks if r)))


def problem_response(*codes: str, remark: str = "") -> dict[str, Any]:
    """A problem+json response listing ``codes`` (its examples are made from them)."""
    return {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": describe(codes, remark)}


def responses(*parts: type[DomainError] | Mapping[int | str, Mapping[str, Any]]) -> Responses:
    """OpenAPI ``responses=`` for the domain errors an endpoint may return, merged with any
    other ``responses=`` given: responses of one status are merged (their codes listed
    together), never replaced, so combine them here rather than with ``|`` or ``**``."""
    out: Responses = {}
    for part in parts:
        given: Mapping[int | str, Mapping[str, Any]] = (
            {part.status: problem_response(part.code)} if isinstance(part, type) else part
        )
        for status, response in given.items():
            key: int | str = int(status) if str(status).isdigit() else status
            out[key] = _merged(out[key], response) if key in out else dict(response)
    return out


def _merged(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    if "model" in first and "model" in second and first["model"] is not second["model"]:
        raise ValueError(f"two models for one status: {first['model']}, {second['model']}")
    out = {**first, **second}
    if "description" in first or "description" in second:
        out["description"] = merge_descriptions(
            first.get("description", ""), second.get("description", "")
        )
    for key in ("content", "headers"):
        if key in first or key in second:
            both = [first.get(key, {}), second.get(key, {})]
            out[key] = {
                name: {**both[0].get(name, {}), **both[1].get(name, {})}
                for name in [*both[0], *both[1]]
            }
    return out


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


async def _domain(request: Request, exc: DomainError) -> JSONResponse:
    return problem(exc.status, exc.code, exc.title, exc.detail, instance=request.url.path)


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
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


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
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


async def _database(request: Request, exc: psycopg.Error) -> JSONResponse:
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
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
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


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``: domain errors, invalid requests, HTTP errors,
    database rejections, and anything unexpected (a 500 with a correlation id to quote)."""
    app.exception_handler(DomainError)(_domain)
    app.exception_handler(RequestValidationError)(_validation)
    app.exception_handler(StarletteHTTPException)(_http)
    app.exception_handler(psycopg.Error)(_database)
    app.exception_handler(Exception)(_unexpected)
