"""Form handling shared by the pages: a refusal named by the field it concerns, and where
to go after a form succeeds (a redirect, or htmx's ``HX-Redirect``)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from cryptotrader.errors import DomainError
from cryptotrader.web.session import finish


class FieldRefusal(Exception):
    """A refusal to show next to one form field: the service's error (its status and
    stable code) with a sentence for the trader."""

    def __init__(self, status: int, code: str, title: str, detail: str, field: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail, self.field = (
            status,
            code,
            title,
            detail,
            field,
        )

    @classmethod
    def of(cls, error: DomainError, field: str, sentence: str | None = None) -> FieldRefusal:
        """The trader's sentence, then the service's own words and the stable code."""
        said = f"{sentence} ({error.detail})" if sentence else error.detail
        return cls(error.status, error.code, error.title, f"{said} [{error.code}]", field)


def invalid_form(exc: Exception) -> FieldRefusal:
    """The first problem of a form the services' models refused, with its field."""
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        loc = [str(p) for p in first.get("loc", ()) if not isinstance(p, int)]
        field = loc[-1] if loc else "_form"
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        label = field.replace("_", " ").capitalize()
        return FieldRefusal(422, "validation_error", "Invalid value", f"{label}: {message}", field)
    return FieldRefusal(422, "validation_error", "Invalid value", str(exc) or "invalid", "_form")


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def go(request: Request, url: str) -> Response:
    """After a form: htmx is told where to go; a plain form post is redirected."""
    if is_htmx(request):
        return finish(request, Response(status_code=204, headers={"HX-Redirect": url}))
    return finish(request, RedirectResponse(url, status_code=303))
