"""Unknown query parameters are refused, on every route: ``GET /trades?start=...`` (the
filter is ``from``) answers 422 ``unknown_parameter`` naming ``start``, instead of
ignoring it and returning everything.

One app-level dependency does it (``create_app`` installs it). The names a route takes are
the ones its OpenAPI operation documents: every query parameter of the endpoint and its
dependencies, by alias, the fields of a query model (``Annotated[Model, Query()]``) by
theirs. WebSockets are left alone (the stream reads its ``token`` itself), and so are
the dashboard's pages (routes outside the OpenAPI document).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, get_args

from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.requests import HTTPConnection

from cryptotrader.errors import InvalidRequest


class UnknownParameter(InvalidRequest):
    code = "unknown_parameter"
    title = "Unknown query parameter"


_KNOWN = "_cryptotrader_query_names"  # the names, kept on the route (routes are unhashable)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model of a query parameter annotated with one (or with one or None)."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _query_names(dependant: Dependant) -> Iterator[str]:
    for field in dependant.query_params:
        model = _model_of(field.field_info.annotation)
        if model is None:
            yield field.alias
        else:
            yield from (info.alias or name for name, info in model.model_fields.items())
    for dependency in dependant.dependencies:
        yield from _query_names(dependency)


def query_names(route: APIRoute) -> tuple[str, ...]:
    """The query parameters ``route`` takes, in the order its operation lists them."""
    known: tuple[str, ...] | None = getattr(route, _KNOWN, None)
    if known is None:
        known = tuple(dict.fromkeys(_query_names(route.dependant)))
        setattr(route, _KNOWN, known)
    return known


def unknown_detail(unknown: Iterable[str], known: Iterable[str]) -> str:
    """The problem's detail: the unknown names, then the ones the operation takes."""
    names = list(unknown)
    takes = ", ".join(known) or "none"
    noun = "parameter" if len(names) == 1 else "parameters"
    return f"unknown query {noun} {', '.join(names)} (this operation takes: {takes})"


async def reject_unknown_query(connection: HTTPConnection) -> None:
    """Raise UnknownParameter when the request's query names a parameter the route does
    not take."""
    if connection.scope["type"] != "http" or not connection.scope.get("query_string"):
        return
    route = connection.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return  # the dashboard's pages are not API operations: a link may carry anything
    known = query_names(route)
    unknown = [name for name in dict.fromkeys(connection.query_params.keys()) if name not in known]
    if unknown:
        raise UnknownParameter(unknown_detail(unknown, known))


def install(app: FastAPI) -> None:
    """Refuse unknown query parameters on every route of ``app`` (call it before the
    routes are added)."""
    app.router.dependencies.append(Depends(reject_unknown_query))
