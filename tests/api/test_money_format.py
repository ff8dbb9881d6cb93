"""One money format (cryptotrader.numbers): every decimal of every response is a string in
plain notation with its field's fixed scale, a not-yet-known number is null, the stream
writes decimals and times like REST; and no request body obeys a field it does not know.

The response models are the ones the app's routes answer with (walked from ``app.routes``),
so a new route or field is covered without touching this file."""

from __future__ import annotations

import copy
import functools
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from websockets.sync.client import connect

from cryptotrader.accounts.schemas import Account, AuditEntry, Position
from cryptotrader.api.app import create_app
from cryptotrader.backtest.schemas import Backtest, BacktestResultRow, BacktestTrade
from cryptotrader.market.cache import Price
from cryptotrader.market.schemas import CandleOut
from cryptotrader.numbers import Scale
from cryptotrader.portfolios.schemas import Portfolio, PortfolioMember
from cryptotrader.templates.schemas import Template
from cryptotrader.trading.schemas import Trade
from tests.api.conftest import Api, api_settings
from tests.stream.test_stream import (
    buy,
    live_server,
    next_of,
    notify_prices,
    recv,
    stream_client,
    token_for,
    trader,
)
from tests.support import TestDatabase, api_routes

APP = create_app(api_settings())  # building the app opens nothing; its lifespan would
V1 = "/api/v1"
PLAIN = re.compile(r"^-?\d+(\.\d+)?$")
MIGRATION = Path(__file__).parents[2] / "src/cryptotrader/db/migrations"
BACKTEST = {
    "symbol": "BTC",
    "timeframe": "1h",
    "start": "2021-01-01T00:00:00Z",
    "end": "2021-04-01T00:00:00Z",
    "strategy": "sma_crossover",
    "parameters": {"fast": 10, "slow": 30},
    "config": {"initial_capital": "5000"},
}
# The scale of each named field, wherever it appears (money and quantities 8, prices 10).
SCALES = {
    "balance": 8,
    "reserved_balance": 8,
    "initial_balance": 8,
    "positions_value": 8,
    "equity": 8,
    "total_pnl": 8,
    "total_pnl_percentage": 6,
    "fees_paid": 8,
    "max_daily_loss": 8,
    "max_position_size": 8,
    "slippage_bps": 4,
    "taker_fee_rate": 6,
    "maker_fee_rate": 6,
    "fee_rate": 6,
    "quantity": 8,
    "reserved_quantity": 8,
    "avg_entry_price": 10,
    "cost_basis": 8,
    "realized_pnl": 8,
    "price": 10,
    "market_value": 8,
    "unrealized_pnl": 8,
    "amount": 8,
    "execution_price": 10,
    "total_value": 8,
    "fee": 8,
    "reserved_amount": 8,
    "limit_price": 10,
    "risk_score": 2,
    "confidence_level": 2,
    "old_balance": 8,
    "new_balance": 8,
    "amount_changed": 8,
    "initial_capital": 8,
    "final_capital": 8,
    "progress": 8,
    "paper_balance": 8,
}


# ------------------------------------------------------------------ the response models


def _models_in(annotation: Any, found: set[type[BaseModel]]) -> None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in found:
            found.add(annotation)
            for field in annotation.model_fields.values():
                _models_in(field.annotation, found)
        return
    for arg in get_args(annotation):
        _models_in(arg, found)


def response_models() -> list[type[BaseModel]]:
    """Every model a route answers with, and every model nested in those."""
    found: set[type[BaseModel]] = set()
    for route in api_routes(APP.routes):
        if route.response_model is not None:
            _models_in(route.response_model, found)
    return sorted(found, key=lambda m: m.__name__)


def decimals_in(annotation: Any, metadata: tuple[Any, ...] = ()) -> Iterator[Scale | None]:
    """The scale of each Decimal in a field's type (None for a bare Decimal)."""
    if annotation is Decimal:
        yield next((m for m in metadata if isinstance(m, Scale)), None)
    elif get_origin(annotation) is Annotated:
        inner, *meta = get_args(annotation)
        yield from decimals_in(inner, (*metadata, *meta))
    elif not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        for arg in get_args(annotation):
            yield from decimals_in(arg)


def decimal_fields(model: type[BaseModel]) -> dict[str, int | None]:
    """The model's own decimal fields and their scales (None: a bare Decimal)."""
    out: dict[str, int | None] = {}
    for name, field in model.model_fields.items():
        for scale in decimals_in(field.annotation, tuple(field.metadata)):
            out[name] = None if scale is None else scale.places
    return out


MODELS = response_models()


def test_the_walk_sees_the_api_s_models() -> None:
    expected = {Account, Position, AuditEntry, Trade, Portfolio, PortfolioMember, Template}
    expected |= {Price, CandleOut, Backtest, BacktestTrade, BacktestResultRow}
    assert expected <= set(MODELS)


def test_no_response_model_has_a_bare_decimal() -> None:
    """A new decimal field must pick its type (Money, Quantity, Price, ...)."""
    bare = [
        f"{model.__name__}.{name}"
        for model in MODELS
        for name, field in model.model_fields.items()
        if None in decimals_in(field.annotation, tuple(field.metadata))
    ]
    assert bare == []


# ------------------------------------------------------------------ property: any value


def _filler(annotation: Any) -> Any:
    """A valid value for a field without an example (the decimals are drawn separately)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _filler(args[0])
    if origin in (Union, UnionType):
        return _filler(next(a for a in args if a is not NoneType))
    if origin is Literal:
        return args[0]
    if origin in (list, dict):
        return origin()
    if origin is tuple:
        return tuple(_filler(a) for a in args)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {n: _filler(f.annotation) for n, f in annotation.model_fields.items()}
    values = {str: "x", bool: True, int: 1, float: 1.0, Decimal: Decimal(1)}
    if annotation in values:
        return values[annotation]
    if annotation is datetime:
        return datetime(2025, 1, 15, tzinfo=UTC)
    if annotation is uuid.UUID:
        return uuid.uuid4()
    raise AssertionError(f"no filler for {annotation!r}")


@functools.cache
def base_data(model: type[BaseModel]) -> dict[str, Any]:
    """The model's own example (its story: a completed run, a rated template), else filled."""
    extra = model.model_config.get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    if examples:
        return dict(copy.deepcopy(examples[0]))
    filled = _filler(model)
    assert isinstance(filled, dict)
    return filled


EDGES = [
    "0",
    "-0",
    "0E-8",
    "-0E-20",
    "1E-12",
    "-1E-12",
    "0.000000005",
    "-0.000000005",
    "0.00000000499999999",
    "0.00000000005",
    "1E+15",
    "1E+30",
    "123456789012345.123456789012345",
    "-987654321.987654321987654321",
    "100000.00",
    "100000.00000000",
]
DECIMALS = st.one_of(
    st.sampled_from([Decimal(e) for e in EDGES]),
    st.builds(
        lambda digits, exponent: Decimal(digits).scaleb(exponent),
        st.integers(-(10**30), 10**30),
        st.integers(-40, 12),
    ),
    st.decimals(min_value=Decimal("-1e18"), max_value=Decimal("1e18"), allow_nan=False, places=12),
)


def expected_text(value: Decimal, places: int) -> Decimal:
    """What a value of ``places`` decimals must read as: rounded half away from zero, like
    PostgreSQL's round(numeric) (computed here with a context that never rounds digits)."""
    return value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP, Context(prec=200))


@functools.cache
def schema_pattern(model: type[BaseModel], name: str) -> str:
    """The pattern the OpenAPI document gives the field."""
    prop = model.model_json_schema(mode="serialization")["properties"][name]
    [pattern] = [b["pattern"] for b in [prop, *prop.get("anyOf", [])] if "pattern" in b]
    return str(pattern)


@pytest.mark.parametrize(
    "model", [m for m in MODELS if decimal_fields(m)], ids=lambda m: m.__name__
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_decimal_is_a_plain_string_with_its_fields_scale(
    model: type[BaseModel], data: st.DataObject
) -> None:
    fields = decimal_fields(model)
    assert None not in fields.values(), f"a bare Decimal in {model.__name__}: {fields}"
    values = copy.deepcopy(base_data(model))
    drawn: dict[str, Decimal | None] = {}
    for name in fields:
        optional = NoneType in get_args(model.model_fields[name].annotation)
        drawn[name] = data.draw(st.none() | DECIMALS if optional else DECIMALS, label=name)
        values[name] = drawn[name]
    shown = json.loads(model.model_validate(values).model_dump_json())
    for name, places in fields.items():
        value, text = drawn[name], shown[name]
        if value is None:
            assert text is None, name
            continue
        assert isinstance(text, str), (name, text)
        assert re.fullmatch(rf"-?\d+\.\d{{{places}}}", text), (name, value, text)
        assert re.fullmatch(schema_pattern(model, name), text), "the schema documents it"
        assert Decimal(text) == expected_text(value, places), (name, value, text)
        assert not (text.startswith("-") and Decimal(text) == 0), f"negative zero: {text}"


# ------------------------------------------------------------------ through the API


def documents(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from documents(item)
    elif isinstance(value, list):
        for item in value:
            yield from documents(item)


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def check_format(body: Any) -> None:
    """Every decimal string is plain; each named field has its one scale everywhere."""
    numbers = [s for s in strings(body) if is_number(s)]
    assert numbers, "nothing to check"
    assert [s for s in numbers if not PLAIN.fullmatch(s)] == []
    for doc in documents(body):
        if "stats" in doc and "sharpe_ratio" in doc.get("stats", {}):
            doc = {k: v for k, v in doc.items() if k != "stats"}  # float measurements
        for key, places in SCALES.items():
            value = doc.get(key)
            if isinstance(value, str):
                assert re.fullmatch(rf"-?\d+\.\d{{{places}}}", value), (key, value)


def test_the_api_answers_one_format(api: Api) -> None:
    _, h = api.user()
    c = api.client

    def ok(response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    account = ok(
        c.post(
            f"{V1}/accounts",
            headers=h,
            json={"account_name": "Format", "initial_balance": "25000.5", "is_default": False},
        ),
        201,
    )
    acct = account["id"]
    assert account["balance"] == "25000.50000000" and account["reserved_balance"] == "0.00000000"
    order = {"account_id": acct, "symbol": "BTC"}
    bought = ok(
        c.post(f"{V1}/orders", headers=h, json=order | {"side": "buy", "amount": "0.02"}), 201
    )
    assert bought["amount"] == "0.02000000" and len(bought["execution_price"].split(".")[1]) == 10
    resting = ok(
        c.post(
            f"{V1}/orders",
            headers=h,
            json=order
            | {"side": "sell", "amount": "0.015", "order_type": "limit", "limit_price": "999999"},
        ),
        201,
    )
    assert resting["status"] == "pending" and resting["execution_price"] is None  # not known yet
    assert resting["price"] == "999999.0000000000" and resting["reserved_amount"] == "0.01500000"
    reserved = ok(c.get(f"{V1}/accounts/{acct}/positions", headers=h))
    [position] = [d for d in documents(reserved) if d.get("symbol") == "BTC"]
    assert position["reserved_quantity"] == "0.01500000"
    ok(c.post(f"{V1}/orders/{resting['id']}/cancel", headers=h))
    released = ok(c.get(f"{V1}/accounts/{acct}/positions", headers=h))
    [position] = [d for d in documents(released) if d.get("symbol") == "BTC"]
    assert (position["quantity"], position["reserved_quantity"]) == ("0.02000000", "0.00000000")

    portfolio = ok(c.post(f"{V1}/portfolios", headers=h, json={"name": "Format"}), 201)
    ok(c.post(f"{V1}/portfolios/{portfolio['id']}/accounts", headers=h, json={"account_id": acct}))
    empty = ok(c.post(f"{V1}/portfolios", headers=h, json={"name": "Empty"}), 201)
    assert empty["total_value"] == "0.00000000"  # a sum of nothing: still 8 decimals

    pending = ok(c.post(f"{V1}/backtests", headers=h, json=BACKTEST), 202)
    for unknown in ("final_capital", "sharpe_ratio", "total_trades", "win_rate", "max_drawdown"):
        assert pending[unknown] is None, unknown  # not 0: the run has not happened
    assert (pending["initial_capital"], pending["progress"]) == ("5000.00000000", "0.00000000")

    audit = ok(c.get(f"{V1}/accounts/{acct}/audit", headers=h))
    [fill] = [d for d in documents(audit) if d.get("action") == "trade_buy"]
    meta = fill["metadata"]
    assert meta["quantity"] == "0.02000000" and meta["price"] == bought["execution_price"]
    assert meta["fee"] == bought["fee"]

    read = [
        account,
        bought,
        resting,
        reserved,
        released,
        audit,
        ok(c.get(f"{V1}/accounts", headers=h)),
        ok(c.get(f"{V1}/accounts/{acct}", headers=h)),
        ok(c.get(f"{V1}/trades", headers=h)),
        ok(c.get(f"{V1}/orders/{resting['id']}", headers=h)),
        ok(c.get(f"{V1}/portfolios", headers=h)),
        ok(c.get(f"{V1}/portfolios/{portfolio['id']}", headers=h)),
        ok(c.get(f"{V1}/backtests", headers=h)),
        ok(c.get(f"{V1}/backtests/{pending['id']}", headers=h)),
        ok(c.get(f"{V1}/market/prices")),
        ok(c.get(f"{V1}/market/prices/BTC")),
        ok(c.get(f"{V1}/account-templates", headers=h)),
        ok(c.get(f"{V1}/me", headers=h)),
    ]
    check_format(read)
    csv = c.get(f"{V1}/trades.csv", headers=h)
    assert csv.status_code == 200 and "0.02000000" in csv.text and "E-" not in csv.text


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_audit_metadata_numbers_are_shown_exactly(api: Api) -> None:
    """The engine writes a fill's quantity, price and fee into the metadata as JSON numbers;
    the API shows their exact digits at the trade fields' scales (never through a float),
    and the stored row is left as it was written (the trail is append-only)."""
    uid, h = api.user()
    metadata = (
        '{"quantity": 0.123456789012345678, "price": 1234567.8912345678, "fee": 0,'
        ' "epoch": 3, "symbol": "BTC"}'
    )
    with api.db.owner() as conn:
        acct = conn.execute(
            "SELECT id FROM paper_trading_accounts WHERE user_id = %s", [uid]
        ).fetchone()
        assert acct is not None
        conn.execute(
            "INSERT INTO paper_account_audit (user_id, account_id, action, old_balance,"
            " new_balance, amount_changed, metadata) VALUES (%s, %s, 'trade_buy', 1, 1, 0, %s)",
            [uid, acct["id"], metadata],
        )
    shown = api.client.get(f"{V1}/accounts/{acct['id']}/audit", headers=h).json()
    [row] = [d for d in documents(shown) if d.get("action") == "trade_buy"]
    assert row["metadata"] == {
        "quantity": "0.12345679",
        "price": "1234567.8912345678",  # 17 significant digits: a float would lose some
        "fee": "0.00000000",
        "epoch": 3,  # counts stay numbers
        "symbol": "BTC",
    }
    with api.db.owner() as conn:
        stored = conn.execute(
            "SELECT jsonb_typeof(metadata -> 'price') AS t FROM paper_account_audit"
            " WHERE account_id = %s AND action = 'trade_buy'",
            [acct["id"]],
        ).fetchone()
    assert stored == {"t": "number"}


def test_both_engine_paths_audit_decimals_are_shown_as_their_trades(api: Api) -> None:
    """A market fill (book_fill) and a limit order filled by a tick (process_market_tick's
    batch): the audit trail shows each fill's quantity, price and fee exactly as the trade
    itself shows them."""
    uid, h = api.user()
    with api.db.owner() as conn:
        account = conn.execute(
            "SELECT id FROM paper_trading_accounts WHERE user_id = %s", [uid]
        ).fetchone()
    assert account is not None
    acct = str(account["id"])
    order = {"account_id": acct, "symbol": "BTC", "side": "buy", "amount": "0.01"}
    _ok(api.client.post(f"{V1}/orders", headers=h, json=order), 201)
    limit = order | {"order_type": "limit", "limit_price": "1000"}
    _ok(api.client.post(f"{V1}/orders", headers=h, json=limit), 201)
    with api.db.owner() as owner:
        owner.execute("SELECT public.process_market_tick('BTC', 999)")
    trades = {t["id"]: t for t in _ok(api.client.get(f"{V1}/trades", headers=h))["items"]}
    audit = _ok(api.client.get(f"{V1}/accounts/{acct}/audit", headers=h))
    fills = [d for d in documents(audit) if d.get("action") == "trade_buy"]
    assert len(fills) == 2
    for fill in fills:
        meta, trade = fill["metadata"], trades[fill["metadata"]["trade_id"]]
        assert (meta["quantity"], meta["price"], meta["fee"]) == (
            trade["amount"],
            trade["execution_price"],
            trade["fee"],
        )


# ------------------------------------------------------------------ the stream


def test_the_stream_writes_decimals_and_times_like_rest(db: TestDatabase) -> None:
    user, account = trader(db)
    with live_server(db, stream_heartbeat_interval=0.2) as live:
        with connect(f"{live.url}?token={token_for(user)}", open_timeout=5) as raw:
            ready = recv(raw)
        assert ready["type"] == "ready"
        expires = datetime.fromisoformat(ready["expires_at"])
        assert ready["expires_at"].endswith("Z") and expires.tzinfo is not None
        assert 0 < (expires - datetime.now(UTC)).total_seconds() <= 15 * 60 + 5
        with stream_client(live, user, channels=["orders", "prices"]) as ws:
            buy(db, user, account)
            event = next_of(ws, "order")
            assert event["amount"] == "0.01000000"
            assert re.fullmatch(r"\d+\.\d{10}", event["execution_price"]), event
            notify_prices(db, {"BTC": ["1E-7", "-0"], "ETH": ["3000", "x"]})
            assert next_of(ws, "prices")["prices"] == {
                "BTC": ["0.0000001000", "0.0000000000"],
                "ETH": ["3000.0000000000", "x"],  # not a number: passed on as it came
            }
            with db.as_user(user) as conn:
                conn.execute(
                    "SELECT public.execute_paper_trade(%s, 'BTC', 'buy', 0.01, 'limit', 1000)",
                    [account],
                )
                conn.commit()
            resting = next_of(ws, "order")
            assert resting["status"] == "pending" and resting["execution_price"] is None
            assert next_of(ws, "heartbeat")["at"].endswith("Z")


# ------------------------------------------------------------------ request bodies


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def open_objects(
    schema: dict[str, Any], components: dict[str, Any], where: str, seen: set[str]
) -> Iterator[str]:
    """Where a request schema takes keys nobody checks: an object with properties that
    does not say ``additionalProperties: false``, or a map whose values have no schema."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return
        seen = seen | {name}
        schema = _resolve(schema, components)
        where = f"{where} -> {name}"
    extra = schema.get("additionalProperties")
    if "properties" in schema:
        if extra is not False:
            yield where
        for key, prop in schema["properties"].items():
            yield from open_objects(prop, components, f"{where}.{key}", seen)
    elif schema.get("type") == "object" and not isinstance(extra, dict):
        yield f"{where} (a map of anything)"
    if isinstance(extra, dict):
        yield from open_objects(extra, components, f"{where}{{*}}", seen)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for i, branch in enumerate(schema.get(key, [])):
            yield from open_objects(branch, components, f"{where}|{i}", seen)
    if isinstance(schema.get("items"), dict):
        yield from open_objects(schema["items"], components, f"{where}[]", seen)


def test_every_request_body_forbids_unknown_fields() -> None:
    document = APP.openapi()
    components = document["components"]["schemas"]
    bodies, open_ones = 0, []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                bodies += 1
                where = f"{method.upper()} {path} ({media})"
                open_ones += open_objects(content["schema"], components, where, set())
    assert bodies >= 20  # the walk sees the API's bodies
    assert open_ones == []


def test_an_unknown_field_is_refused_not_obeyed(api: Api) -> None:
    _, h = api.user()
    account = api.client.post(
        f"{V1}/accounts", headers=h, json={"account_name": "Reset me", "is_default": False}
    ).json()
    r = api.client.post(
        f"{V1}/accounts/{account['id']}/reset", headers=h, json={"reason": "x", "balance": "1e9"}
    )
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == "validation_error"
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("body.balance", "extra_forbidden")
    ]
    after = api.client.get(f"{V1}/accounts/{account['id']}", headers=h).json()
    assert (after["balance"], after["epoch"]) == (account["balance"], 0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount", "0.000000001"), ("limit_price", "95000.00000000001")],
)
def test_an_order_with_more_decimals_than_it_is_shown_with_is_refused(
    api: Api, field: str, value: str
) -> None:
    """A quantity is shown with 8 decimals, a price with 10: more could not be shown back."""
    _, h = api.user()
    account = api.client.post(
        f"{V1}/accounts", headers=h, json={"account_name": "Decimals", "is_default": False}
    ).json()
    body = {"account_id": account["id"], "symbol": "BTC", "side": "buy", "amount": "0.01"}
    body |= {"order_type": "limit", field: value} if field == "limit_price" else {field: value}
    r = api.client.post(f"{V1}/orders", headers=h, json=body)
    assert r.status_code == 422, r.text
    assert [(e["field"], e["type"]) for e in r.json()["errors"]] == [
        (f"body.{field}", "decimal_max_places")
    ]
