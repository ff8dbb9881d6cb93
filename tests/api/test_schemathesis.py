"""Property-based conformance: schemathesis fuzzes every operation of the OpenAPI document.

One test item per operation, all against one database and one real server (module scope),
signed in as a user created the way sign-up creates them (profile, portfolio, default
account), with fresh prices. No generated request may get a 5xx, every answer must be a
status its operation documents, and every body must match the documented schema.
Generation is bounded and derandomized with a fixed seed, so a run is reproducible.
"""

from __future__ import annotations

import re
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from cryptotrader.api.app import create_app
from cryptotrader.profiles.schemas import SETTINGS
from tests.api.conftest import api_settings, headers_for
from tests.serve import serving
from tests.support import TestDatabase, create_user
from tests.support_targets import target_for

V1 = "/api/v1"
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20240601,
        "generation": {
            "max-examples": 8,
            "deterministic": True,
            "database": "none",
            "no-shrink": True,
            "allow-x00": True,  # a NUL in text is a 422 (test_text_with_a_nul_...)
        },
        # the explicit examples and the fuzzing; the coverage phase would blow the budget
        "phases": {"stateful": {"enabled": False}},
    }
)
# The document the app serves; building the app opens nothing (its lifespan does).
# /metrics is text for Prometheus, not part of the API: left out.
schema = schemathesis.openapi.from_dict(
    create_app(api_settings()).openapi(), config=CONFIG
).exclude(path="/metrics")


Owned = dict[str, list[str]]
PRICE_ALERT = {"type": "price", "symbol": "BTC", "condition": "above", "value": "1000000"}


@dataclass(frozen=True)
class Target:
    base_url: str
    headers: dict[str, str]
    signup_rows: Owned = field(default_factory=dict)  # the default account and portfolio
    owned: dict[str, Owned] = field(default_factory=dict)

    def rows_for(self, case: schemathesis.Case) -> Owned:
        """Rows of the user's for this operation, created at its first case (the operations
        before it may have deleted or archived theirs), by the name a parameter or body
        field gives them; with a public template and the price symbols."""
        label = case.operation.label
        if label not in self.owned:
            tag = uuid.uuid4().hex[:8]
            side = self.post("/accounts", {"account_name": f"Side {tag}"})
            order = {"account_id": side, "symbol": "BTC", "side": "buy", "amount": "0.01"}
            limit = order | {"order_type": "limit", "limit_price": "1000"}
            self.owned[label] = {
                "account_id": [*self.signup_rows["account_id"], side],
                "order_id": [self.post("/orders", limit), self.post("/orders", order)],
                "watchlist_id": [
                    self.post("/watchlists", {"name": f"W {tag}", "symbols": ["BTC"]})
                ],
                "portfolio_id": [
                    *self.signup_rows["portfolio_id"],
                    self.post("/portfolios", {"name": f"P {tag}"}),
                ],
                "template_id": [
                    self.post("/account-templates", {"name": f"T {tag}"}),
                    self.get("/account-templates")["items"][-1]["id"],
                ],
                "symbol": ["BTC", "ETH"],
                "alert_id": [self.post("/alerts", PRICE_ALERT)],
            }
        return self.owned[label]

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        """A connection of its own: after a 500, uvicorn may drop a kept-alive one."""
        url, sent = f"{self.base_url}{V1}{path}", self.headers | (headers or {})
        return requests.request(method, url, headers=sent, timeout=10, **kwargs)

    def post(self, path: str, body: dict[str, Any]) -> str:
        r = self.request("POST", path, json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def get(self, path: str) -> Any:
        r = self.request("GET", path)
        assert r.status_code == 200, r.text
        return r.json()


_UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def steer(case: schemathesis.Case, owned: Owned) -> None:
    """Random ids are nobody's: a generated id (symbol, setting name) is swapped for one of
    the user's own, or kept, so the fuzzing reaches the routes' success paths too. The
    choice hangs on the case's content, so a run is reproducible."""
    key = repr((case.path_parameters, case.query, case.body))
    in_path = owned | {"name": list(SETTINGS)}
    for part, choices_by_name in (
        (case.path_parameters, in_path),
        (case.query, owned),
        (case.body, owned),
    ):
        if not isinstance(part, dict):
            continue
        for name, choices in choices_by_name.items():
            value = part.get(name)
            if isinstance(value, str) and _valid(name, value):
                index = zlib.crc32(f"{key}/{name}".encode()) % (len(choices) + 1)
                part[name] = choices[index] if index < len(choices) else value


def _valid(name: str, value: str) -> bool:
    """Whether `value` is valid where it stands: only those are swapped, so a negative case
    stays negative."""
    if name.endswith("_id"):
        return _UUID.fullmatch(value) is not None
    return 1 <= len(value) <= 15 if name == "symbol" else len(value) <= 64


@pytest.fixture(scope="module")
def target(module_db: TestDatabase) -> Iterator[Target]:
    """The app with its lifespan (pool, stream listener) served by uvicorn on loopback, and a
    signed-up user."""
    with module_db.owner() as conn:
        user_id = create_user(conn)
        conn.execute("UPDATE market_data_cache SET last_updated = now()")
    app = create_app(api_settings(), target_for(module_db))
    with serving(app) as url:
        t = Target(url, headers_for(user_id))
        t.signup_rows["account_id"] = [t.get("/accounts")["items"][0]["id"]]
        t.signup_rows["portfolio_id"] = [t.get("/portfolios")["items"][0]["id"]]
        yield t


CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


# ------------------------------------------------------------------ the fuzzing


@schema.parametrize()
def test_operation_conforms(case: schemathesis.Case, target: Target) -> None:
    steer(case, target.rows_for(case))
    case.call_and_validate(
        base_url=target.base_url,
        headers=target.headers,
        checks=CHECKS,
        timeout=10,
    )


# ------------------------------------------------------------------ what it found
# Bugs the fuzzing found, fixed; these keep them fixed.


def test_candles_with_an_invalid_symbol_is_a_client_error(target: Target) -> None:
    answers = {}
    for params in (
        {"symbol": "%N", "timeframe": "1h"},  # stored bars (get_candles)
        {"symbol": "-", "timeframe": "1h", "source_timeframe": "15m"},  # aggregate_candles
    ):
        r = target.request("GET", "/market/candles", params=params)
        answers[params["symbol"]] = (r.status_code, r.json()["code"])
    # the documented client error
    assert {symbol: status for symbol, (status, _) in answers.items()} == {"%N": 422, "-": 422}, (
        answers
    )


def test_patch_account_with_null_is_a_client_error(target: Target) -> None:
    account = target.post("/accounts", {"account_name": f"Nulls {uuid.uuid4().hex[:8]}"})
    fields = ("account_type", "risk_level", "max_daily_loss", "max_position_size", "tags")
    answers = {
        name: target.request("PATCH", f"/accounts/{account}", json={name: None}).status_code
        for name in fields
    }
    assert answers == dict.fromkeys(fields, 422)


def test_text_with_a_nul_is_a_client_error(target: Target) -> None:
    nul = "a\x00b"
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/watchlists", {"json": {"name": nul}}),
        ("POST", "/accounts", {"json": {"account_name": nul}}),
        ("PATCH", "/me", {"json": {"display_name": nul}}),
        ("GET", "/orders", {"params": {"symbol": nul}}),
        ("GET", "/market/prices", {"params": {"symbols": nul}}),
    ]
    answers = {(m, path): target.request(m, path, **kw).status_code for m, path, kw in calls}
    assert answers == dict.fromkeys(answers, 422)


def test_undecodable_json_body_answers_a_documented_status(target: Target) -> None:
    r = target.request(
        "POST",
        "/watchlists",
        data=b'{"name": "\xff"}',
        headers={"Content-Type": "application/json"},
    )
    documented = schema[f"{V1}/watchlists"]["POST"].responses.status_codes
    assert str(r.status_code) in documented, (r.status_code, r.text)
