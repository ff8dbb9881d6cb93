"""The examples of the OpenAPI document: every operation shows its request body, its answers
and its errors; every JSON example is valid against its own schema; the error examples are
the documents the API really sends; and /docs serves them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from cryptotrader.accounts.schemas import EXAMPLE_ACCOUNT_ID
from cryptotrader.api.app import create_app
from cryptotrader.api.openapi import METHODS, PROBLEM_REF
from cryptotrader.api.problems import PROBLEM_JSON, codes_of
from cryptotrader.errors import DomainError
from cryptotrader.trading.service import CSV_COLUMNS
from tests.api.conftest import Api, api_settings

# Building the app opens nothing (its lifespan does): the document is read at collection.
DOCUMENT = create_app(api_settings()).openapi()
COMPONENTS = DOCUMENT["components"]
OPERATIONS = {
    f"{method.upper()} {path}": operation
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if method in METHODS
}
# Swagger UI's own fillers: an example showing one of these was never written.
PLACEHOLDERS = {"string", "3fa85f64-5717-4562-b3fc-2c963f66afa6"}

Media = tuple[str, str, dict[str, Any]]  # where (body or status), media type, content


def media_of(operation: dict[str, Any]) -> Iterator[Media]:
    for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
        yield "body", media_type, content
    for status, response in operation["responses"].items():
        for media_type, content in response.get("content", {}).items():
            yield status, media_type, content


def examples_of(content: dict[str, Any]) -> list[Any]:
    if "example" in content:
        return [content["example"]]
    return [named["value"] for named in content.get("examples", {}).values()]


def is_json(media_type: str) -> bool:
    base = media_type.split(";")[0]
    return base == "application/json" or base.endswith("+json")


def is_problem(media_type: str, content: dict[str, Any]) -> bool:
    return media_type == PROBLEM_JSON or content.get("schema") == {"$ref": PROBLEM_REF}


def schema_errors(instance: Any, schema: dict[str, Any]) -> list[str]:
    """What is wrong with ``instance`` under ``schema`` (JSON Schema 2020-12, as OpenAPI 3.1
    has it), its ``$ref``s resolved against the document's components."""
    validator = jsonschema_rs.Draft202012Validator(
        {**schema, "components": COMPONENTS}, validate_formats=True
    )
    return [
        f"/{'/'.join(map(str, e.instance_path))}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)
    else:
        yield value


# ------------------------------------------------------------------ every operation


def test_the_document_has_every_operation() -> None:
    assert len(OPERATIONS) >= 56
    assert {"GET /health", "GET /metrics", "GET /api/v1/trades.csv"} <= set(OPERATIONS)


@pytest.mark.parametrize("name", OPERATIONS)
def test_operation_has_examples(name: str) -> None:
    """The request body, every answer with content and every problem document."""
    missing = []
    for where, media_type, content in media_of(OPERATIONS[name]):
        needed = (
            where == "body"
            or where.startswith("2")
            or (where.startswith("4") and is_problem(media_type, content))
        )
        if needed and not examples_of(content):
            missing.append(f"{where} {media_type}")
    assert not missing, f"{name}: no example for {missing}"


@pytest.mark.parametrize("name", OPERATIONS)
def test_json_examples_match_their_schemas(name: str) -> None:
    wrong = {}
    for where, media_type, content in media_of(OPERATIONS[name]):
        if not is_json(media_type):
            continue
        schema = content.get("schema") or (
            {"$ref": PROBLEM_REF} if is_problem(media_type, content) else {}
        )
        for example in examples_of(content):
            errors = schema_errors(example, schema)
            if errors:
                wrong[f"{where} {media_type}"] = errors
            placeholders = PLACEHOLDERS & {
                leaf for leaf in leaves(example) if isinstance(leaf, str)
            }
            if placeholders:
                wrong[f"{where} {media_type}"] = [f"placeholder {sorted(placeholders)}"]
    assert not wrong, f"{name}: {wrong}"


@pytest.mark.parametrize("name", OPERATIONS)
def test_problem_examples_are_the_documented_errors(name: str) -> None:
    """One example per code the response lists, with that error's type, title and status."""
    for status, response in OPERATIONS[name]["responses"].items():
        codes = codes_of(response.get("description", ""))
        for media_type, content in response.get("content", {}).items():
            if not is_problem(media_type, content):
                continue
            shown = examples_of(content)
            assert [doc["code"] for doc in shown] == codes, (name, status, media_type)
            for doc in shown:
                assert doc["type"] == f"/problems/{doc['code']}"
                assert doc["status"] == int(status), (name, doc)
                error = DomainError.for_code(doc["code"])
                if error is not None:
                    assert (doc["title"], doc["status"]) == (error.title, error.status), (name, doc)


def test_model_examples_match_their_schemas() -> None:
    """The examples of each model and of each of its fields, as the document carries them."""
    wrong = {}
    for name, schema in COMPONENTS["schemas"].items():
        ref = {"$ref": f"#/components/schemas/{name}"}
        for example in schema.get("examples", ()):
            wrong[name] = schema_errors(example, ref)
        for field, prop in schema.get("properties", {}).items():
            for example in prop.get("examples", ()):
                wrong[f"{name}.{field}"] = schema_errors(example, prop)
    assert not {where: errors for where, errors in wrong.items() if errors}


def test_text_answers_have_text_examples() -> None:
    csv_example = OPERATIONS["GET /api/v1/trades.csv"]["responses"]["200"]["content"]["text/csv"]
    header, row = csv_example["example"].splitlines()
    assert header.split(",") == list(CSV_COLUMNS)
    assert row.split(",")[0] == COMPONENTS["schemas"]["Trade"]["examples"][0]["id"]
    [metrics] = OPERATIONS["GET /metrics"]["responses"]["200"]["content"].values()
    assert "# TYPE cryptotrader_http_requests_total counter" in metrics["example"]


def test_every_validation_error_is_documented_as_a_problem() -> None:
    default = [
        name
        for name, operation in OPERATIONS.items()
        if operation["responses"].get("422", {}).get("description") == "Validation Error"
    ]
    assert not default


# ------------------------------------------------------------------ what the API sends


def documented(name: str, status: str, code: str) -> dict[str, Any]:
    content = OPERATIONS[name]["responses"][status]["content"][PROBLEM_JSON]
    [doc] = [doc for doc in examples_of(content) if doc["code"] == code]
    return dict(doc)


def test_error_examples_are_what_the_api_sends(api: Api) -> None:
    _, headers = api.user()
    client = api.client
    not_signed_in = client.get("/api/v1/accounts")
    assert not_signed_in.json() == documented("GET /api/v1/accounts", "401", "not_authenticated")

    missing = client.get(f"/api/v1/accounts/{EXAMPLE_ACCOUNT_ID}", headers=headers)
    expected = documented("GET /api/v1/accounts/{account_id}", "404", "account_not_found")
    assert missing.json() == expected

    undecodable = client.post(
        "/api/v1/watchlists",
        content=b'{"name": "\xff"}',
        headers=headers | {"Content-Type": "application/json"},
    )
    assert undecodable.json() == documented("POST /api/v1/watchlists", "400", "bad_request")

    invalid = client.post("/api/v1/auth/signup", json={"password": "correct-horse-42"})
    expected = documented("POST /api/v1/auth/signup", "422", "validation_error")
    assert invalid.json() == expected
    assert invalid.headers["content-type"] == PROBLEM_JSON


# ------------------------------------------------------------------ served


def test_the_document_and_the_interactive_docs_are_served() -> None:
    client = TestClient(create_app(api_settings()))  # no lifespan: neither needs the database
    served = client.get("/openapi.json")
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/json"
    assert served.json() == DOCUMENT
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in docs.text and "/openapi.json" in docs.text
