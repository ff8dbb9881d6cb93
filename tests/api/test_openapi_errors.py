"""The errors of the OpenAPI document are the errors the API sends: every one is
application/problem+json with the Problem schema, every operation lists the codes it can
answer (FastAPI's own 422 is gone), and real failing requests of each kind, sent to every
operation they apply to, answer a status and code their operation documents."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.api.openapi import PROBLEM_REF
from cryptotrader.api.problems import PROBLEM_JSON, Problem, codes_of, problem_response, responses
from cryptotrader.auth.tokens import InvalidToken, issue_access_token
from cryptotrader.errors import InvalidAmount, NotAuthenticated
from cryptotrader.trading.router import IdempotencyKeyReused
from tests.api.conftest import JWT_SECRET, Api, api_settings
from tests.api.test_lists import LISTS
from tests.api.test_openapi_examples import DOCUMENT, OPERATIONS, examples_of, schema_errors

# Operations that decode a bearer token when one is sent but need none.
PUBLIC_WITH_TOKEN = {
    "GET /api/v1/market/prices/{symbol}",
    "GET /api/v1/market/candles",
    "GET /api/v1/market/feed",
    "GET /api/v1/account-templates",
    "GET /api/v1/account-templates/{template_id}",
}
# Answers that are not problem documents.
NOT_PROBLEMS = {("GET /health", "503")}


def codes(name: str, status: int | str) -> list[str]:
    response = OPERATIONS[name]["responses"].get(str(status))
    return codes_of(response["description"]) if response else []


def takes_input(operation: dict[str, Any]) -> bool:
    return bool(operation.get("parameters")) or "requestBody" in operation


# ------------------------------------------------------------------ the document


def test_fastapis_validation_error_is_not_documented() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    assert not {"HTTPValidationError", "ValidationError"} & set(schemas)
    assert "HTTPValidationError" not in str(DOCUMENT)
    default = [n for n, op in OPERATIONS.items() if "422" in op["responses"] and not codes(n, 422)]
    assert not default


@pytest.mark.parametrize("name", OPERATIONS)
def test_every_error_is_a_problem(name: str) -> None:
    """Every 4xx and 5xx: problem+json only, with the Problem schema, and its codes."""
    for status, response in OPERATIONS[name]["responses"].items():
        if int(status) < 400 or (name, status) in NOT_PROBLEMS:
            continue
        assert set(response["content"]) == {PROBLEM_JSON}, (name, status)
        assert response["content"][PROBLEM_JSON]["schema"] == {"$ref": PROBLEM_REF}
        assert codes_of(response["description"]), (name, status)


def test_the_problem_schema_has_what_the_handlers_send() -> None:
    problem = DOCUMENT["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code"} == set(problem["required"])
    assert {"instance", "errors", "correlation_id"} <= set(problem["properties"])
    invalid = DOCUMENT["components"]["schemas"]["InvalidField"]
    assert set(invalid["required"]) == {"field", "message", "type"}


@pytest.mark.parametrize("name", OPERATIONS)
def test_generic_errors_are_documented(name: str) -> None:
    """Those that do not depend on the route's own logic: invalid input, a body that is not
    JSON or is too large, a bad token, an unexpected error."""
    operation = OPERATIONS[name]
    if takes_input(operation):
        assert codes(name, 422)[:2] == ["validation_error", "unknown_parameter"]
    else:
        assert codes(name, 422)[0] == "unknown_parameter"
        assert "validation_error" not in codes(name, 422)
    has_body = "requestBody" in operation
    assert ("bad_request" in codes(name, 400), "payload_too_large" in codes(name, 413)) == (
        has_body,
        has_body,
    )
    # a bearer token is read exactly where the operation declares the security scheme
    reads_token = "security" in operation
    assert ("invalid_token" in codes(name, 401)) == reads_token, name
    needs_token = reads_token and name not in PUBLIC_WITH_TOKEN
    assert ("not_authenticated" in codes(name, 401)) == needs_token, name
    assert codes(name, 500) == ["internal_error"]
    [example] = examples_of(operation["responses"]["500"]["content"][PROBLEM_JSON])
    assert re.fullmatch(r"[0-9a-f]{32}", example["correlation_id"])


def test_public_operations_document_a_rejected_token() -> None:
    for name in PUBLIC_WITH_TOKEN:
        assert codes(name, 401) == ["invalid_token"], name
    assert "401" not in OPERATIONS["GET /api/v1/market/prices"]["responses"]


@pytest.mark.parametrize("name", OPERATIONS)
def test_paginated_lists_document_an_invalid_cursor(name: str) -> None:
    parameters = {p["name"] for p in OPERATIONS[name].get("parameters", ())}
    assert ("invalid_cursor" in codes(name, 422)) == ("cursor" in parameters)


def test_place_order_lists_every_422_it_can_answer() -> None:
    assert codes("POST /api/v1/orders", 422) == [
        "validation_error",
        "unknown_parameter",
        "unknown_symbol",
        "invalid_amount",
        "invalid_price",
        "invalid_order",
        "order_would_trigger",
        "invalid_request",
        "idempotency_key_reused",
    ]


def test_auth_bodies_all_document_validation_errors_alike() -> None:
    for name in ("signup", "login", "refresh", "logout"):
        description = OPERATIONS[f"POST /api/v1/auth/{name}"]["responses"]["422"]["description"]
        assert codes_of(description)[0] == "validation_error"
        remark = description.split(";", 1)[1]
        assert remark.startswith(" each of `errors` names its field and a type such as"), name


# ------------------------------------------------------------------ responses()


def test_responses_of_one_status_are_merged_not_replaced() -> None:
    csv = {200: {"content": {"text/csv": {}}}}
    retry = {401: {"headers": {"Retry-After": {"schema": {"type": "integer"}}}}}
    merged = responses(
        NotAuthenticated, {"422": problem_response("validation_error")}, InvalidAmount, csv
    )
    assert merged == {
        401: problem_response("not_authenticated"),
        422: problem_response("validation_error", "invalid_amount"),
        200: {"content": {"text/csv": {}}},
    }
    later = responses(merged, responses(IdempotencyKeyReused, InvalidToken), retry)
    assert codes_of(later[422]["description"]) == [
        "validation_error",
        "invalid_amount",
        "idempotency_key_reused",
    ]
    assert codes_of(later[401]["description"]) == ["not_authenticated", "invalid_token"]
    assert later[401]["headers"] == retry[401]["headers"]
    assert later[401]["model"] is Problem
    remark = responses({422: problem_response("validation_error", remark="see `errors`")})
    both = responses(remark, AccountNotFound, responses(InvalidAmount))
    assert both[422]["description"] == "`validation_error`, `invalid_amount`; see `errors`"


def test_responses_refuse_two_models_for_one_status() -> None:
    with pytest.raises(ValueError, match="two models"):
        responses(NotAuthenticated, {401: {"model": dict}})


# ------------------------------------------------------------------ what the API sends


@dataclass
class Sent:
    """A request to one operation and what it is meant to fail with (None: whatever it
    answers must be documented)."""

    name: str
    path: str
    expect: tuple[int, str] | None
    headers: dict[str, str] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)


def send(api: Api, sent: Sent) -> httpx.Response:
    method = sent.name.split()[0]
    return api.client.request(method, sent.path, headers=sent.headers, **sent.kwargs)


def assert_documented(sent: Sent, response: httpx.Response) -> None:
    """The answer is the expected problem, and its status and code are the operation's."""
    body = response.json()
    if sent.expect is None:
        assert response.status_code < 500, (sent, body)
        if response.status_code < 400:
            return
    else:
        assert (response.status_code, body.get("code")) == sent.expect, (sent, body)
    assert response.headers["content-type"] == PROBLEM_JSON
    assert body["code"] in codes(sent.name, response.status_code), (sent.name, body)
    assert not schema_errors(body, {"$ref": PROBLEM_REF}), body


def example_body(name: str) -> Any:
    return OPERATIONS[name].get("requestBody", {}).get("content", {})["application/json"]["example"]


def filled(name: str, values: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: values[m.group(1)], name.split()[1])


SignedIn = tuple[dict[str, str], dict[str, str]]  # headers, and path values


@pytest.fixture
def signed_in(api: Api) -> SignedIn:
    """A user's headers, and path values: rows of the user's own (so requests get past the
    lookups), a symbol and a setting."""
    _, headers = api.user()

    def created(path: str, body: dict[str, Any]) -> str:
        answer = api.client.post(f"/api/v1{path}", headers=headers, json=body)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    account = api.client.get("/api/v1/accounts", headers=headers).json()["items"][0]["id"]
    order = {"account_id": account, "symbol": "BTC", "side": "buy", "amount": "0.01"}
    backtest = api.client.post(
        "/api/v1/backtests", headers=headers, json=example_body("POST /api/v1/backtests")
    )
    assert backtest.status_code == 202, backtest.text
    strategy = created("/ai-strategies", {"name": "LLM", "prompt": "Trade {symbols}."})
    bot = {"name": "B", "account_id": account, "strategy": "llm", "strategy_id": strategy}
    _, leader = api.user()
    listed = {"is_listed": True, "display_name": "Leader"}
    assert (
        api.client.put("/api/v1/me/trader-profile", headers=leader, json=listed).status_code == 200
    )
    leader_id = api.client.get("/api/v1/me/trader-profile", headers=leader).json()["user_id"]
    return headers, {
        "trader_id": leader_id,
        "follow_id": created("/follows", {"trader_id": leader_id}),
        "bot_id": created("/bots", bot | {"target_symbols": ["BTC"]}),
        "strategy_id": strategy,
        "account_id": account,
        "order_id": created("/orders", order | {"order_type": "limit", "limit_price": "1000"}),
        "template_id": created("/account-templates", {"name": "Mine"}),
        "watchlist_id": created("/watchlists", {"name": "Majors", "symbols": ["BTC"]}),
        "portfolio_id": created("/portfolios", {"name": "Side"}),
        "session_id": str(backtest.json()["id"]),
        "symbol": "BTC",
        "name": "theme",
        "strategy_name": "sma_crossover",
        "user_id": str(uuid.uuid4()),  # the admin routes' (a non-admin gets not_found)
        "job_id": "1",  # the admin jobs routes' (likewise)
        "notification_id": str(uuid.uuid4()),  # none exists: notification_not_found
        "alert_id": str(uuid.uuid4()),  # none exists: alert_not_found
        "endpoint_id": str(uuid.uuid4()),  # none exists: webhook_endpoint_not_found
        "delivery_id": str(uuid.uuid4()),  # none exists: webhook_delivery_not_found
    }


def failing_requests(headers: dict[str, str], values: dict[str, str]) -> list[Sent]:
    """Per kind of failure, one request to every operation it applies to."""
    out = []
    limit = api_settings().max_body_bytes
    json_type = {"Content-Type": "application/json"}
    for name, operation in OPERATIONS.items():
        if not name.split()[1].startswith("/api/"):
            continue
        path = filled(name, values)
        parameters = {p["name"] for p in operation.get("parameters", ())}
        body = {"json": example_body(name)} if "requestBody" in operation else {}
        query = {"params": {"symbol": "BTC", "timeframe": "1h"}} if "candles" in name else {}
        if "cursor" in parameters:
            bad = {"params": {**query.get("params", {}), "cursor": "not-a-cursor"}}
            out.append(Sent(name, path, (422, "invalid_cursor"), headers, bad))
        # a parameter no operation takes, beside a valid request (`start` for `from`...)
        unknown = {**body, "params": {**query.get("params", {}), "page": "2"}}
        out.append(Sent(name, path, (422, "unknown_parameter"), headers, unknown))
        if "security" in operation:
            bearer = {"Authorization": "Bearer not-a-token"}
            out.append(Sent(name, path, (401, "invalid_token"), bearer, body | query))
            if name not in PUBLIC_WITH_TOKEN:
                out.append(Sent(name, path, (401, "not_authenticated"), {}, body | query))
        if "requestBody" in operation:
            big = {"content": b" " * (limit + 1)}
            out.append(Sent(name, path, (413, "payload_too_large"), headers | json_type, big))
            bad = {"content": b'{"name": "\xff"}'}
            out.append(Sent(name, path, (400, "bad_request"), headers | json_type, bad))
            out.append(Sent(name, path, (422, "validation_error"), headers, {"json": [1]}))
            deep = {"content": b"[" * 100_000 + b"]" * 100_000}
            out.append(Sent(name, path, (400, "bad_request"), headers | json_type, deep))
            if isinstance(example_body(name), dict):  # a field of a valid body nests 50,000
                fields = json.dumps({k: v for k, v in example_body(name).items() if k != "tags"})
                nested = fields[:-1].encode() + b', "tags": ' + b"[" * 50_000 + b"]" * 50_000
                out.append(
                    Sent(
                        name,
                        path,
                        (400, "bad_request"),
                        headers | json_type,
                        {"content": nested + b"}"},
                    )
                )
        for where, text in text_inputs(operation):
            nul = with_nul(Sent(name, path, None, headers, body | query), where, text, values)
            out.append(nul)
    return out


def _non_null(schema: dict[str, Any]) -> dict[str, Any]:
    branches = [b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]
    return branches[0] if len(branches) == 1 else {}


def _free_text(schema: dict[str, Any]) -> bool:
    """A text of any characters (not a UUID, a date, a pattern's or an enum's)."""
    schema = _non_null(schema)
    return schema.get("type") == "string" and not (
        {"format", "pattern", "enum", "const"} & set(schema)
    )


def text_inputs(operation: dict[str, Any]) -> list[tuple[str, str]]:
    """Where the operation takes free text: (path, query, body or body[] for a list of
    texts, name)."""
    out = [
        (p["in"], p["name"])
        for p in operation.get("parameters", ())
        if p["in"] in ("path", "query") and _free_text(p["schema"])
    ]
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = schema.get("schema", {})
    for branch in schema.get("anyOf", [schema]):
        if "$ref" in branch:
            resolved = DOCUMENT["components"]["schemas"][branch["$ref"].rsplit("/", 1)[-1]]
            for prop, prop_schema in resolved.get("properties", {}).items():
                listed = _non_null(prop_schema)
                if _free_text(prop_schema):
                    out.append(("body", prop))
                elif listed.get("type") == "array" and _free_text(listed.get("items", {})):
                    out.append(("body[]", prop))
    return out


def with_nul(sent: Sent, where: str, name: str, values: dict[str, str]) -> Sent:
    """``sent`` with a NUL in one text (PostgreSQL's text cannot hold one)."""
    nul = "a\x00b"
    kwargs = dict(sent.kwargs)
    if where == "path":
        sent.path = filled(sent.name, values | {name: "a%00b"})
    elif where == "query":
        kwargs["params"] = {**kwargs.get("params", {}), name: nul}
    else:
        kwargs["json"] = {**(kwargs.get("json") or {}), name: nul if where == "body" else [nul]}
    sent.kwargs = kwargs
    return sent


def test_real_failures_are_documented(api: Api, signed_in: SignedIn) -> None:
    headers, values = signed_in
    sent = failing_requests(headers, values)
    assert {s.expect for s in sent} == {
        (422, "invalid_cursor"),
        (422, "unknown_parameter"),
        (401, "invalid_token"),
        (401, "not_authenticated"),
        (413, "payload_too_large"),
        (400, "bad_request"),
        (422, "validation_error"),
        None,  # a NUL in a text
    }
    # every list (tests/api/test_lists.py), each with its cursor
    assert len([s for s in sent if s.expect == (422, "invalid_cursor")]) == len(LISTS)
    assert len([s for s in sent if s.expect == (422, "unknown_parameter")]) == len(
        [name for name in OPERATIONS if name.split()[1].startswith("/api/")]
    )
    wrong = []
    for one in sent:
        try:
            assert_documented(one, send(api, one))
        except AssertionError as exc:
            wrong.append(str(exc).splitlines()[0])
    assert not wrong, "\n".join(wrong)


def test_health_answers_as_documented(api: Api) -> None:
    answers = OPERATIONS["GET /health"]["responses"]
    ok = api.client.get("/health")
    assert ok.status_code == 200
    assert not schema_errors(ok.json(), answers["200"]["content"]["application/json"]["schema"])
    unavailable = answers["503"]["content"]["application/json"]
    assert unavailable["schema"] == {"$ref": "#/components/schemas/HealthUnavailable"}
    assert not schema_errors(unavailable["example"], unavailable["schema"])


def test_a_reused_idempotency_key_is_documented(api: Api, signed_in: SignedIn) -> None:
    headers, values = signed_in
    keyed = headers | {"Idempotency-Key": "order-1"}
    order = {"account_id": values["account_id"], "symbol": "BTC", "side": "buy", "amount": "0.01"}
    first = api.client.post("/api/v1/orders", headers=keyed, json=order)
    assert first.status_code == 201, first.text
    other = Sent(
        "POST /api/v1/orders",
        "/api/v1/orders",
        (422, "idempotency_key_reused"),
        keyed,
        {"json": order | {"amount": "0.02"}},
    )
    assert_documented(other, send(api, other))


# ------------------------------------------------------------------ examples as sent


def documented(name: str, status: int, code: str) -> dict[str, Any]:
    content = OPERATIONS[name]["responses"][str(status)]["content"][PROBLEM_JSON]
    [doc] = [doc for doc in examples_of(content) if doc["code"] == code]
    return dict(doc)


def test_generic_error_examples_are_what_the_api_sends(api: Api, signed_in: SignedIn) -> None:
    headers, _ = signed_in
    too_large = api.client.post(
        "/api/v1/watchlists",
        content=b" " * (api_settings().max_body_bytes + 1),
        headers=headers | {"Content-Type": "application/json"},
    )
    expected = documented("POST /api/v1/watchlists", 413, "payload_too_large")
    assert too_large.json() == expected
    cursor = api.client.get("/api/v1/orders", params={"cursor": "nope"}, headers=headers)
    assert cursor.json() == documented("GET /api/v1/orders", 422, "invalid_cursor")
    long_ago = datetime.now(UTC) - timedelta(days=1)
    expired, _ = issue_access_token(JWT_SECRET, uuid.uuid4(), email="a@b.test", now=long_ago)
    token = api.client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {expired}"})
    assert token.json() == documented("GET /api/v1/accounts", 401, "invalid_token")
    for name, path in [("GET /api/v1/trades", "/api/v1/trades"), ("GET /health", "/health")]:
        unknown = api.client.get(path, params={"page": "2"}, headers=headers)
        assert unknown.json() == documented(name, 422, "unknown_parameter")


def _valid(schema: dict[str, Any]) -> Any:
    branch = _non_null(schema)
    for key in ("examples", "enum"):
        if key in branch:
            return branch[key][0]
    return branch.get("default")


def _wrong(error: dict[str, str]) -> str:
    """The value that makes the validation error an example reports."""
    number = re.search(r"\d+", error["message"])
    by_type = {
        "uuid_parsing": "42",
        "bool_parsing": "maybe",
        "less_than_equal": str(int(number.group()) + 1) if number else "",
        "string_too_long": "x" * (int(number.group()) + 1) if number else "",
    }
    return by_type[error["type"]]


def validation_request(name: str, example: dict[str, Any], headers: dict[str, str]) -> Sent:
    """The request the operation's `validation_error` example is the answer to."""
    operation = OPERATIONS[name]
    [error] = example["errors"]
    where, _, field_name = error["field"].partition(".")
    kwargs: dict[str, Any] = {}
    if "requestBody" in operation and not (where == "body" and not field_name):
        body = dict(example_body(name))
        body.pop(field_name, None)
        kwargs["json"] = body
    query = {
        p["name"]: _valid(p["schema"])
        for p in operation.get("parameters", ())
        if p["in"] == "query" and p.get("required")
    }
    sent = Sent(name, example["instance"], (422, "validation_error"), dict(headers))
    if where == "query":
        query.pop(field_name, None)
        if error["type"] != "missing":
            query[field_name] = _wrong(error)
    elif where == "header":
        sent.headers[field_name] = _wrong(error)
    if query:
        kwargs["params"] = query
    sent.kwargs = kwargs
    return sent


def test_validation_error_examples_are_what_the_api_sends(api: Api, signed_in: SignedIn) -> None:
    headers, _ = signed_in
    checked = 0
    for name, operation in OPERATIONS.items():
        content = operation["responses"].get("422", {}).get("content", {}).get(PROBLEM_JSON)
        if content is None:
            continue
        examples = [e for e in examples_of(content) if e["code"] == "validation_error"]
        if not examples:  # an operation without input: only its unknown parameters fail
            continue
        [example] = examples
        sent = validation_request(name, example, headers)
        answer = send(api, sent)
        assert answer.json() == example, (name, sent)
        checked += 1
    assert checked == len([op for op in OPERATIONS.values() if takes_input(op)])
