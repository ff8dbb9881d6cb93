"""Property-based conformance: schemathesis fuzzes every operation of the OpenAPI document.

One test item per operation, all against one database and one real server (module scope),
signed in as a user created the way sign-up creates them (profile, portfolio, default
account), with fresh prices. No generated request may get a 5xx, every answer must be a
status its operation documents, and every body must match the documented schema.
Generation is bounded and derandomized with a fixed seed, so a run is reproducible.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
import uvicorn
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from cryptotrader.api.app import create_app
from tests.api.conftest import api_settings, headers_for
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


@dataclass(frozen=True)
class Target:
    base_url: str
    headers: dict[str, str]
    session: requests.Session


@pytest.fixture(scope="module")
def target(module_db: TestDatabase) -> Iterator[Target]:
    """The app with its lifespan (pool, stream listener) served by uvicorn on loopback."""
    with module_db.owner() as conn:
        user_id = create_user(conn)
        conn.execute("UPDATE market_data_cache SET last_updated = now()")
    app = create_app(api_settings(), target_for(module_db))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.02)
    with requests.Session() as session:
        yield Target(f"http://127.0.0.1:{port}", headers_for(user_id), session)
    server.should_exit = True
    thread.join(10)


# ------------------------------------------------------------------ known deviations

_CANDLE_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._/-]{0,31}$")  # market/candles.py's _SYMBOL


def sidestep_candle_symbol_bug(case: schemathesis.Case) -> None:
    """A /market/candles symbol that passes validation but not the candle store's pattern is
    a 500 today (see test_candles_with_an_invalid_symbol_is_a_client_error): replaced by a
    valid one, so the fuzzing still guards everything else about the route."""
    if case.operation.path != f"{V1}/market/candles" or not isinstance(case.query, dict):
        return
    symbol = case.query.get("symbol")
    if (
        isinstance(symbol, str)
        and 1 <= len(symbol) <= 15
        and not _CANDLE_SYMBOL.match(symbol.strip().upper())
    ):
        case.query["symbol"] = "BTC"


def _undecodable_body(response: schemathesis.Response) -> bool:
    body = response.request.body
    if not isinstance(body, bytes):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def documented_status(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """status_code_conformance, except FastAPI's own 400 for a JSON body that is not UTF-8:
    every operation with a body answers it and none documents it (see
    test_undecodable_json_body_answers_a_documented_status)."""
    if response.status_code == 400 and _undecodable_body(response):
        return
    status_code_conformance(ctx, response, case)


CHECKS = [not_a_server_error, documented_status, response_schema_conformance]


# ------------------------------------------------------------------ the fuzzing


@schema.parametrize()
def test_operation_conforms(case: schemathesis.Case, target: Target) -> None:
    sidestep_candle_symbol_bug(case)
    case.call_and_validate(
        base_url=target.base_url,
        session=target.session,
        headers=target.headers,
        checks=CHECKS,
        timeout=10,
    )


# ------------------------------------------------------------------ what it found


@pytest.mark.xfail(
    strict=True,
    reason="BUG: market/router.py candles() lets candles.CandleImportError (a ValueError from"
    " normalize_symbol) escape for a symbol outside [A-Z0-9][A-Z0-9._/-]{0,31}: 500 internal_error"
    " instead of a 422",
)
def test_candles_with_an_invalid_symbol_is_a_client_error(target: Target) -> None:
    answers = {}
    for params in (
        {"symbol": "%N", "timeframe": "1h"},  # stored bars (get_candles)
        {"symbol": "-", "timeframe": "1h", "source_timeframe": "15m"},  # aggregate_candles
    ):
        r = target.session.get(
            f"{target.base_url}{V1}/market/candles", params=params, headers=target.headers
        )
        answers[params["symbol"]] = (r.status_code, r.json()["code"])
    # any documented client error will do (422 is the one documented)
    assert {symbol: status for symbol, (status, _) in answers.items()} == {"%N": 422, "-": 422}, (
        answers
    )


@pytest.mark.xfail(
    strict=True,
    reason="undocumented status: a JSON body that is not UTF-8 gets FastAPI's 400 bad_request"
    " ('There was an error parsing the body'), which no operation's responses list",
)
def test_undecodable_json_body_answers_a_documented_status(target: Target) -> None:
    r = target.session.post(
        f"{target.base_url}{V1}/watchlists",
        data=b'{"name": "\xff"}',
        headers=target.headers | {"Content-Type": "application/json"},
    )
    documented = schema[f"{V1}/watchlists"]["POST"].responses.status_codes
    assert str(r.status_code) in documented, (r.status_code, r.text)
