"""Examples for every operation of the OpenAPI document, so /docs shows real requests,
answers and errors.

A JSON body's example is its model's own (``examples`` in the model's config or on its
fields) or is composed from the schema: property examples, formats, enums, defaults. An
error response gets one problem document per code its description lists (which is where
``problems.responses`` writes the codes of the errors a route declares), with that
error's real type, title and status. Where the schema offers nothing realistic, the
example is left out rather than filled with a placeholder: the tests name those places.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST

from cryptotrader.accounts.schemas import EXAMPLE_ACCOUNT_ID
from cryptotrader.api.problems import PROBLEM_JSON
from cryptotrader.errors import DomainError
from cryptotrader.portfolios.schemas import EXAMPLE_PORTFOLIO_ID
from cryptotrader.profiles.schemas import SETTINGS
from cryptotrader.templates.schemas import EXAMPLE_TEMPLATE_ID
from cryptotrader.trading.router import CSV_COLUMNS
from cryptotrader.trading.schemas import EXAMPLE_ORDER_ID
from cryptotrader.watchlists.schemas import EXAMPLE_WATCHLIST_ID

Schema = dict[str, Any]
METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
PROBLEM_REF = "#/components/schemas/Problem"

_FORMATS = {
    "uuid": "3b241101-e2bb-4255-8caf-4136c566a962",
    "date-time": "2025-01-15T14:30:00Z",
    "date": "2025-01-15",
    "email": "alice@example.com",
    "uri": "https://example.com/",
}
# Path parameters, for the `instance` of an error example: the ids of the models' examples.
_PATH_VALUES = {
    "account_id": EXAMPLE_ACCOUNT_ID,
    "order_id": EXAMPLE_ORDER_ID,
    "template_id": EXAMPLE_TEMPLATE_ID,
    "watchlist_id": EXAMPLE_WATCHLIST_ID,
    "portfolio_id": EXAMPLE_PORTFOLIO_ID,
    "symbol": "BTC",
    "name": "display_currency",
}
# Codes that no DomainError carries: the handlers in api/problems.py produce them.
_HANDLER_TITLES = {"validation_error": "Invalid request", "bad_request": "Bad request"}
# The detail the API sends with each code (the services' and SQL functions' messages);
# a code not here is sent with its title as the detail, as most not-found errors are.
_DETAILS = {
    "bad_request": "There was an error parsing the body",
    "not_authenticated": "this endpoint needs a bearer access token",
    "invalid_token": "access token rejected: Signature has expired",
    "email_taken": "a user with email alice@example.com already exists",
    "invalid_credentials": "invalid email or password",
    "user_banned": "this user is banned",
    "rate_limited": "too many failed logins; try again in 42 seconds",
    "invalid_refresh_token": "the refresh token is unknown, expired or revoked",
    "refresh_token_reused": "this refresh token was already used; the session has been revoked",
    "template_not_found": f"account template {EXAMPLE_TEMPLATE_ID} not found",
    "account_suspension_forbidden": "only an administrator can suspend or unsuspend an account",
    "account_not_active": "account is paused",
    "stale_price": "the BTC price is from 2025-01-15 14:20:00+00, older than 300 s",
    "insufficient_funds": "needs 4857.28 including fees, 1250.00 available",
    "insufficient_position": "sell of 0.10 exceeds the 0.05 available",
    "max_position_size": "position would be worth 14587.50, over the limit of 10000.00",
    "max_daily_loss": "daily realized loss >= max_daily_loss",
    "unknown_symbol": "unknown symbol XYZ",
    "invalid_amount": "amount must be a positive number below 1e15 with at most 18 decimals",
    "invalid_price": "limit price must be a positive number below 1e15 with at most 18 decimals",
    "invalid_order": "a limit price is only for limit orders",
    "order_would_trigger": "the stop price is already crossed; send a market order instead",
    "order_not_cancellable": "order is completed, not pending",
    "idempotency_key_reused": "this Idempotency-Key was used for a different order",
    "unknown_setting": f"no setting named 'colour'; known: {', '.join(SETTINGS)}",
    "invalid_setting": 'theme must be one of "light", "dark", "system" '
    "(Input should be 'light', 'dark' or 'system')",
    "own_template_rating": "you cannot rate your own template",
    "invalid_rating": "a rating is a whole number from 1 to 5",
    "watchlist_name_taken": "you already have a watchlist named 'Majors'",
    "watchlist_full": "a watchlist holds at most 500 symbols",
    "portfolio_is_default": "make another portfolio the default one first",
}
# JSON answers without a model: the example is all their documentation.
_UNTYPED = {("get", "/health"): {"status": "ok", "database": "ok"}}
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
    """Have ``app`` serve its document with examples (built once, when first asked for)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_examples(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def add_examples(document: dict[str, Any]) -> dict[str, Any]:
    """Give every operation of ``document`` its examples (in place); returns it."""
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
            for status, response in operation.get("responses", {}).items():
                if status.startswith("2"):
                    _add_success(response, (method, path), composer)
                elif status.isdigit() and int(status) >= 400:
                    _add_problems(response, int(status), path, operation, composer)
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


def _add_success(response: dict[str, Any], operation: tuple[str, str], composer: Composer) -> None:
    for media_type, content in response.get("content", {}).items():
        if _is_json(media_type):
            example = _UNTYPED.get(operation) or composer.top_example(content.get("schema", {}))
        elif media_type == "text/csv":  # the trades export
            trade = composer.top_example({"$ref": "#/components/schemas/Trade"})
            example = _csv(trade) if trade else None
        else:
            example = _METRICS if media_type == CONTENT_TYPE_LATEST else None
        _set_example(content, example)


def _csv(trade: dict[str, Any]) -> str:
    """The export's header and one row, as the CSV export writes them."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerow(["" if trade.get(c) is None else trade[c] for c in CSV_COLUMNS])
    return out.getvalue()


def codes_of(description: str) -> list[str]:
    """The error codes a problem response's description lists (before any ``;`` remark)."""
    return re.findall(r"`([a-z0-9_]+)`", description.split(";")[0])


def _add_problems(
    response: dict[str, Any],
    status: int,
    path: str,
    operation: dict[str, Any],
    composer: Composer,
) -> None:
    documents = [
        _problem(code, status, _instance(path), operation, composer)
        for code in codes_of(response.get("description", ""))
    ]
    for media_type, content in response.get("content", {}).items():
        is_problem = media_type == PROBLEM_JSON or content.get("schema") == {"$ref": PROBLEM_REF}
        if not is_problem or not documents or "example" in content or "examples" in content:
            continue
        if len(documents) == 1:
            content["example"] = documents[0]
        else:
            content["examples"] = {
                doc["code"]: {"summary": doc["title"], "value": doc} for doc in documents
            }


def _problem(
    code: str, status: int, instance: str | None, operation: dict[str, Any], composer: Composer
) -> dict[str, Any]:
    """The problem document the API sends for ``code`` (see api/problems.py)."""
    error = DomainError.for_code(code)
    if error is not None:
        title = error.title
    else:  # the HTTP handler's rule for the codes it makes up
        title = _HANDLER_TITLES.get(code, code.replace("_", " ").capitalize())
    doc: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": _DETAILS.get(code, title),
        "code": code,
    }
    if instance is not None:
        doc["instance"] = instance
    if code == "validation_error":
        field = f"body.{_first_required(operation, composer)}".rstrip(".")
        doc["detail"] = f"invalid: {field}"
        doc["errors"] = [{"field": field, "message": "Field required", "type": "missing"}]
    return doc


def _first_required(operation: dict[str, Any], composer: Composer) -> str:
    """The first required field of the operation's JSON body, or "" without one."""
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = schema.get("schema", {})
    if "$ref" in schema:
        schema = composer.resolve(schema["$ref"])
    required = schema.get("required") or [""]
    return str(required[0])


def _instance(path: str) -> str | None:
    """The path with its parameters filled in, or None when one has no example value."""
    names = re.findall(r"{(\w+)}", path)
    if any(name not in _PATH_VALUES for name in names):
        return None
    return re.sub(r"{(\w+)}", lambda m: _PATH_VALUES[m.group(1)], path)
