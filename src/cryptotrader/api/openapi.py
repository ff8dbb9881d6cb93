"""The OpenAPI document completed: the errors every operation can get besides its own, and
examples for every operation, so /docs shows real requests, answers and errors.

Errors: the routes declare their domain errors (``problems.responses``); the errors that
come from elsewhere are derived here from what an operation takes and depends on: a
``validation_error`` (422) for any input, ``bad_request`` (400, a body that is not JSON at
all) and ``payload_too_large`` (413) for a body, ``not_authenticated`` and
``invalid_token`` (401) from the caller dependencies, ``unknown_parameter`` (422) from the
app's query check (api/parameters.py), and ``internal_error`` (500) for all.
Codes of one status are listed together; every problem is ``application/problem+json``
with the ``Problem`` schema, and FastAPI's own ``HTTPValidationError`` is gone.

Examples: a JSON body's example is its model's own (``examples`` in the model's config or
on its fields) or is composed from the schema: property examples, formats, enums,
defaults. An error response gets one problem document per code its description lists
(which is where ``problems.responses`` and the derivation above write the codes), with
that error's real type, title and status, its detail (the error class's
``example_detail``) and its instance (the path filled with its parameters' examples, which
the domain routers give: ``Path(examples=...)``). Other answers (the trades export's CSV)
carry the example their route gives. Where the schema offers nothing realistic, the example
is left out rather than filled with a placeholder: the tests name those places. Nothing
here knows a domain: the examples are the domains' own.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.routing import BaseRoute

from cryptotrader.api.deps import get_caller, require_user
from cryptotrader.api.parameters import UnknownParameter, reject_unknown_query, unknown_detail
from cryptotrader.api.problems import PROBLEM_JSON, codes_of, describe, merge_descriptions
from cryptotrader.auth.tokens import InvalidToken
from cryptotrader.config import Settings
from cryptotrader.errors import DomainError, NotAuthenticated

Schema = dict[str, Any]
METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
PROBLEM_REF = "#/components/schemas/Problem"
# FastAPI's default 422, which the API never sends (api/problems.py answers problem+json).
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
# The errors a dependency raises: every route depending on it, however deeply, can get them.
_DEPENDENCY_ERRORS: dict[Callable[..., Any], tuple[type[DomainError], ...]] = {
    require_user: (NotAuthenticated, InvalidToken),
    get_caller: (InvalidToken,),
    reject_unknown_query: (UnknownParameter,),
}
# The unknown query parameter of the `unknown_parameter` examples.
UNKNOWN_PARAMETER = "page"
CORRELATION_ID = "5f0c6d1e9a2b4c7d8e3f1a2b3c4d5e6f"  # in the example of internal_error

_FORMATS = {
    "uuid": "3b241101-e2bb-4255-8caf-4136c566a962",
    "date-time": "2025-01-15T14:30:00Z",
    "date": "2025-01-15",
    "email": "alice@example.com",
    "uri": "https://example.com/",
}
# Codes that no DomainError carries: the handlers in api/problems.py produce them.
_HANDLER_TITLES = {"validation_error": "Invalid request", "bad_request": "Bad request"}
# The detail the API sends with each code: an error's own ``example_detail`` (the services'
# and SQL functions' messages), else the one here for the errors the app itself raises,
# else its title, as most not-found errors send.
_DETAILS = {
    "bad_request": "There was an error parsing the body",
    "internal_error": f"an unexpected error occurred; quote {CORRELATION_ID} when reporting it",
    "invalid_cursor": "the cursor is not one this API issued",
    "not_authenticated": "this endpoint needs a bearer access token",
}
_METRICS = """\
# HELP cryptotrader_http_requests_total HTTP requests
# TYPE cryptotrader_http_requests_total counter
cryptotrader_http_requests_total{method="POST",route="/api/v1/orders",status="201"} 87.0
# HELP cryptotrader_orders_total Orders placed, by type and resulting status
# TYPE cryptotrader_orders_total counter
cryptotrader_orders_total{order_type="market",status="completed"} 61.0
# HELP cryptotrader_feed_lag_seconds Seconds since the market feed's last good refresh
# TYPE cryptotrader_feed_lag_seconds gauge
cryptotrader_feed_lag_seconds 12.4
"""


class NoExample(Exception):
    """The schema offers nothing to build a realistic value from."""


@dataclass(frozen=True)
class Composer:
    """Example values for the schemas of one document."""

    components: dict[str, Schema]

    def example(self, schema: Schema, depth: int = 0) -> Any:
        """The schema's own example, else one composed from its parts; raises NoExample."""
        if depth > 20:
            raise NoExample("nested too deeply")
        for key in ("examples", "const", "default", "$ref", "enum", "anyOf", "oneOf", "allOf"):
            if key in schema:
                return self._by_keyword(key, schema, depth)
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "string" and schema.get("format") in _FORMATS:
            return _FORMATS[schema["format"]]
        if kind == "boolean":
            return False
        if kind == "null":
            return None
        raise NoExample(f"nothing to go on in {schema}")

    def _by_keyword(self, key: str, schema: Schema, depth: int) -> Any:
        value = schema[key]
        if key == "examples":
            return value[0]
        if key in ("const", "default"):
            return value
        if key == "$ref":
            return self.example(self.resolve(value), depth + 1)
        if key == "enum":
            return value[0]
        if key == "allOf":
            if len(value) != 1:
                raise NoExample("allOf of several schemas")
            return self.example(value[0], depth + 1)
        return self._first(value, depth)

    def _first(self, branches: list[Schema], depth: int) -> Any:
        """The first branch that has an example; null only when none has one."""
        for branch in branches:
            if branch.get("type") != "null":
                try:
                    return self.example(branch, depth + 1)
                except NoExample:
                    continue
        if any(branch.get("type") == "null" for branch in branches):
            return None
        raise NoExample("no branch has an example")

    def _object(self, schema: Schema, depth: int) -> dict[str, Any]:
        required = set(schema.get("required", ()))
        out = {}
        for name, prop in schema.get("properties", {}).items():
            try:
                out[name] = self.example(prop, depth + 1)
            except NoExample:
                if name in required:
                    raise
        return out

    def _array(self, schema: Schema, depth: int) -> list[Any]:
        try:
            return [self.example(schema.get("items", {}), depth + 1)]
        except NoExample:
            if schema.get("minItems"):
                raise
            return []

    def resolve(self, ref: str) -> Schema:
        return self.components[ref.rsplit("/", 1)[-1]]

    def normalised(self, value: Any, schema: Schema) -> Any:
        """``value`` as the API sends it: an object's keys in the schema's order (pydantic
        sorts those of a model's examples), with the required nulls put back (FastAPI
        encodes the document with ``exclude_none``, which strips them from examples)."""
        schema = self._shape_of(value, schema)
        if isinstance(value, list):
            return [self.normalised(item, schema.get("items", {})) for item in value]
        if not isinstance(value, dict) or "properties" not in schema:
            return value
        required = schema.get("required", ())
        out = {}
        for name, prop in schema["properties"].items():
            if name in value:
                out[name] = self.normalised(value[name], prop)
            elif name in required and _nullable(prop):
                out[name] = None
        return out | {name: item for name, item in value.items() if name not in out}

    def _shape_of(self, value: Any, schema: Schema) -> Schema:
        """The (referenced) schema, or branch of it, that describes ``value``'s shape."""
        if "$ref" in schema:
            return self._shape_of(value, self.resolve(schema["$ref"]))
        for branch in [*schema.get("anyOf", ()), *schema.get("oneOf", ())]:
            shape = self._shape_of(value, branch)
            if ("properties" in shape and isinstance(value, dict)) or (
                shape.get("type") == "array" and isinstance(value, list)
            ):
                return shape
        return schema

    def top_example(self, schema: Schema) -> Any:
        """The example of a whole body, or None (a body of just null shows nothing)."""
        try:
            return self.example(schema)
        except NoExample:
            return None


def install(app: FastAPI) -> None:
    """Have ``app`` serve its document with all its errors and examples (built once, when
    first asked for)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            settings: Settings = app.state.settings
            document = add_errors(build(), app.routes)
            app.openapi_schema = add_examples(document, max_body_bytes=settings.max_body_bytes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# ------------------------------------------------------------------ errors


def add_errors(document: dict[str, Any], routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """Document, on every operation of ``document`` (in place), the errors it can get
    besides those its route declares; returns it."""
    raised = _dependency_errors(routes)
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            default = responses.get("422", {}).get("content", {}).get("application/json", {})
            if default.get("schema") == {"$ref": _ref(_FASTAPI_VALIDATION[0])}:
                del responses["422"]
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    _as_problem(response)
            for status, codes in _generic_errors(operation, raised.get((method, path), [])):
                _add_codes(responses, status, codes)
            operation["responses"] = dict(sorted(responses.items(), key=_status_order))
    _drop_unreferenced(document, _FASTAPI_VALIDATION)
    return document


def _generic_errors(
    operation: dict[str, Any], dependency_errors: list[type[DomainError]]
) -> Iterator[tuple[str, list[str]]]:
    """The errors an operation can get whatever its route: by status, their codes."""
    takes_body = "requestBody" in operation
    for status in sorted({error.status for error in dependency_errors}):
        yield str(status), [error.code for error in dependency_errors if error.status == status]
    if takes_body:
        yield "400", ["bad_request"]  # not JSON at all (not UTF-8, say): refused unparsed
        yield "413", ["payload_too_large"]  # api/middleware.py's BodyLimits
    if takes_body or operation.get("parameters"):
        yield "422", ["validation_error"]
    yield "500", ["internal_error"]


def _dependency_errors(
    routes: Sequence[BaseRoute],
) -> dict[tuple[str, str], list[type[DomainError]]]:
    """By (method, path): the errors raised by the dependencies of the route (FastAPI keeps
    included routers as such: their routes' contexts carry the full path)."""
    out = {}
    for route in iter_route_contexts(routes):
        if isinstance(route.original_route, APIRoute):
            dependant: Dependant = route.dependant
            raised = [e for call in _calls(dependant) for e in _DEPENDENCY_ERRORS.get(call, ())]
            for method in route.methods or ():
                out[(method.lower(), str(route.path_format))] = list(dict.fromkeys(raised))
    return out


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """The dependencies of ``dependant`` and theirs, outermost first."""
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _as_problem(response: dict[str, Any]) -> None:
    """FastAPI puts an error's model under application/json; problems are sent as
    application/problem+json only."""
    content = response.get("content", {})
    if content.get("application/json", {}).get("schema") == {"$ref": PROBLEM_REF}:
        content.setdefault(PROBLEM_JSON, {}).update(content.pop("application/json"))
    if PROBLEM_JSON in content:
        content[PROBLEM_JSON]["schema"] = {"$ref": PROBLEM_REF}


def _add_codes(responses: dict[str, Any], status: str, codes: list[str]) -> None:
    """List ``codes`` first among the problems of ``status``, merged with those there."""
    response = responses.setdefault(status, {"description": ""})
    response["description"] = merge_descriptions(describe(codes), response["description"])
    response.setdefault("content", {}).setdefault(PROBLEM_JSON, {})["schema"] = {
        "$ref": PROBLEM_REF
    }


def _status_order(item: tuple[str, Any]) -> tuple[int, str]:
    status = item[0]
    return (int(status), "") if status.isdigit() else (1000, status)


def _ref(name: str) -> str:
    return f"#/components/schemas/{name}"


def _drop_unreferenced(document: dict[str, Any], names: Iterable[str]) -> None:
    """Remove the named schemas when nothing else in the document refers to them."""
    schemas = document.get("components", {}).get("schemas", {})
    for name in names:
        if name in schemas:
            held = schemas.pop(name)
            if json.dumps(_ref(name)) in json.dumps(document):
                schemas[name] = held


# ------------------------------------------------------------------ examples


def add_examples(document: dict[str, Any], *, max_body_bytes: int) -> dict[str, Any]:
    """Give every operation of ``document`` its examples (in place); returns it."""
    limit = f"request bodies are limited to {max_body_bytes} bytes"
    details = _DETAILS | {"payload_too_large": limit}
    composer = Composer(document.get("components", {}).get("schemas", {}))
    for schema in composer.components.values():
        if "examples" in schema:
            schema["examples"] = [composer.normalised(e, schema) for e in schema["examples"]]
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            body = operation.get("requestBody", {}).get("content", {})
            for media_type, content in body.items():
                if _is_json(media_type):
                    _set_example(content, composer.top_example(content.get("schema", {})))
            problems = ProblemExamples(composer, details, path, operation)
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    _add_problems(response, int(status), problems)
                _add_answers(response, composer)
    return document


def _set_example(content: dict[str, Any], value: Any) -> None:
    if value is not None and "example" not in content and "examples" not in content:
        content["example"] = value


def _nullable(schema: Schema) -> bool:
    branches = [schema, *schema.get("anyOf", ()), *schema.get("oneOf", ())]
    return any(branch.get("type") == "null" for branch in branches)


def _is_json(media_type: str) -> bool:
    base = media_type.split(";")[0].strip()
    return base == "application/json" or base.endswith("+json")


def _add_answers(response: dict[str, Any], composer: Composer) -> None:
    """Examples of the answers that are not problem documents."""
    for media_type, content in response.get("content", {}).items():
        if media_type == PROBLEM_JSON:
            continue
        if _is_json(media_type):
            example = composer.top_example(content.get("schema", {}))
        else:  # other text answers carry their own (the trades export's CSV, say)
            example = _METRICS if media_type == CONTENT_TYPE_LATEST else None
        _set_example(content, example)


def _add_problems(response: dict[str, Any], status: int, problems: ProblemExamples) -> None:
    documents = [problems.document(code, status) for code in codes_of(response["description"])]
    content = response.get("content", {}).get(PROBLEM_JSON)
    if content is None or not documents or "example" in content or "examples" in content:
        return
    if len(documents) == 1:
        content["example"] = documents[0]
    else:
        content["examples"] = {
            doc["code"]: {"summary": doc["title"], "value": doc} for doc in documents
        }


@dataclass(frozen=True)
class ProblemExamples:
    """The problem documents the API sends (see api/problems.py) for one operation."""

    composer: Composer
    details: dict[str, str]
    path: str
    operation: dict[str, Any]

    def document(self, code: str, status: int) -> dict[str, Any]:
        error = DomainError.for_code(code)
        if error is not None:
            title, detail = error.title, error.example_detail
        else:  # the HTTP handler's rule for the codes it makes up
            title, detail = _HANDLER_TITLES.get(code, code.replace("_", " ").capitalize()), None
        doc: dict[str, Any] = {
            "type": f"/problems/{code}",
            "title": title,
            "status": status,
            "detail": detail or self.details.get(code, title),
            "code": code,
        }
        path_values = self.path_values()
        instance = _instance(self.path, path_values)
        if code == "validation_error":
            invalid, sent = self.invalid_input()
            doc["detail"] = f"invalid: {invalid['field']}"
            doc["errors"] = [invalid]
            where, _, name = invalid["field"].partition(".")
            if where == "path":
                instance = _instance(self.path, path_values | {name: sent})
        elif code == "unknown_parameter":
            known = [p["name"] for p in self.operation.get("parameters", ()) if p["in"] == "query"]
            doc["detail"] = unknown_detail([UNKNOWN_PARAMETER], known)
        elif code == "internal_error":
            doc["correlation_id"] = CORRELATION_ID
        if instance is not None:
            doc["instance"] = instance
        return doc

    def path_values(self) -> dict[str, str]:
        """The example value of each path parameter that has one: the parameter's own
        (its route's ``Path(examples=...)``), else one composed from its schema."""
        values = {}
        for parameter in self.operation.get("parameters", ()):
            if parameter["in"] != "path":
                continue
            named = list(parameter.get("examples", {}).values())
            if "example" in parameter or named:
                values[parameter["name"]] = str(parameter.get("example", named[0]["value"]))
                continue
            with contextlib.suppress(NoExample):
                values[parameter["name"]] = str(self.composer.example(parameter["schema"]))
        return values

    def invalid_input(self) -> tuple[dict[str, str], str]:
        """One invalid field of the operation's input as the validation handler reports it,
        and the value sent: a required body field left out, else a wrong value for its
        first parameter that can be wrong."""
        if self.operation.get("requestBody", {}).get("required"):
            field = f"body.{self._first_required()}".rstrip(".")
            return {"field": field, "message": "Field required", "type": "missing"}, ""
        for parameter in self.operation.get("parameters", ()):
            field = f"{parameter['in']}.{parameter['name']}"
            if parameter.get("required") and parameter["in"] != "path":
                return {"field": field, "message": "Field required", "type": "missing"}, ""
            wrong = _wrong_value(parameter.get("schema", {}))
            if wrong is not None:
                kind, message, sent = wrong
                return {"field": field, "message": message, "type": kind}, sent
        return {"field": "body", "message": "Field required", "type": "missing"}, ""

    def _first_required(self) -> str:
        """The first required field of the operation's JSON body, or "" without one."""
        body = self.operation.get("requestBody", {}).get("content", {})
        schema = body.get("application/json", {}).get("schema", {})
        if "$ref" in schema:
            schema = self.composer.resolve(schema["$ref"])
        required = schema.get("required") or [""]
        return str(required[0])


def _wrong_value(schema: Schema) -> tuple[str, str, str] | None:
    """A wrong value for a parameter of ``schema`` (a UUID that is too short, a number over
    its maximum...): the error's type and message, and the value; None when any text will
    do."""
    branches = [b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]
    schema = branches[0] if len(branches) == 1 else {}
    kind = schema.get("type")
    if schema.get("format") == "uuid":
        return "uuid_parsing", "Input should be a valid UUID, invalid length: found 2", "42"
    if kind == "integer" and "maximum" in schema:
        top = int(schema["maximum"])
        return "less_than_equal", f"Input should be less than or equal to {top}", str(top + 1)
    if kind == "boolean":
        return "bool_parsing", "Input should be a valid boolean, unable to interpret input", "maybe"
    if kind == "string" and "maxLength" in schema:
        top = int(schema["maxLength"])
        return "string_too_long", f"String should have at most {top} characters", "x" * (top + 1)
    return None


def _instance(path: str, values: dict[str, str]) -> str | None:
    """The path with its parameters filled in from ``values``, or None when one has no
    value."""
    names = re.findall(r"{(\w+)}", path)
    if any(name not in values for name in names):
        return None
    return re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path)
