"""Lists of one shape (issue 10): every list answers ``{items, next_cursor}`` and takes
``limit`` and ``cursor``, and following the cursors walks the whole list once, in order;
a query parameter the route does not take is refused as ``unknown_parameter``, naming it;
candles of a timeframe with no stored bars are built from a finer stored one, or refused
as ``no_candles`` when there is none."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api
from tests.api.test_openapi_examples import COMPONENTS, OPERATIONS

PROBLEM = "application/problem+json"
V1 = "/api/v1"
LISTS = {
    "GET /api/v1/accounts",
    "GET /api/v1/accounts/{account_id}/positions",
    "GET /api/v1/accounts/{account_id}/trades",
    "GET /api/v1/accounts/{account_id}/audit",
    "GET /api/v1/orders",
    "GET /api/v1/trades",
    "GET /api/v1/market/prices",
    "GET /api/v1/market/candles",
    "GET /api/v1/me/settings",
    "GET /api/v1/account-templates",
    "GET /api/v1/watchlists",
    "GET /api/v1/notifications",
    "GET /api/v1/webhooks",
    "GET /api/v1/webhooks/{endpoint_id}/deliveries",
    "GET /api/v1/alerts",
    "GET /api/v1/alerts/{alert_id}/firings",
    "GET /api/v1/portfolios",
    "GET /api/v1/strategies",
    "GET /api/v1/backtests",
    "GET /api/v1/backtests/{session_id}/results",
    "GET /api/v1/ai-strategies",
    "GET /api/v1/bots",
    "GET /api/v1/bots/{bot_id}/decisions",
    "GET /api/v1/traders",
    "GET /api/v1/traders/leaderboard",
    "GET /api/v1/follows",
    "GET /api/v1/follows/{follow_id}/copies",
    "GET /api/v1/admin/users",
    "GET /api/v1/admin/accounts",
    "GET /api/v1/admin/templates",
}


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert (r.status_code, r.json().get("code")) == (status, code), r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    return body


def answer_schema(operation: dict[str, Any]) -> dict[str, Any]:
    content = operation["responses"].get("200", {}).get("content", {})
    schema: dict[str, Any] = content.get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = COMPONENTS["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


# ------------------------------------------------------------------ the document


def test_every_list_answers_a_page_and_takes_limit_and_cursor() -> None:
    pages = set()
    for name, operation in OPERATIONS.items():
        schema = answer_schema(operation)
        assert schema.get("type") != "array", f"{name} answers a bare list"
        properties = schema.get("properties", {})
        if "items" in properties:
            assert properties["items"]["type"] == "array", name
            assert "next_cursor" in properties and "items" in schema["required"], name
            parameters = {p["name"] for p in operation.get("parameters", ())}
            assert {"limit", "cursor"} <= parameters, name
            pages.add(name)
    assert pages == LISTS


# ------------------------------------------------------------------ walking the cursors


def walk(api: Api, path: str, headers: dict[str, str], **params: Any) -> list[list[Any]]:
    """Every page of a list, following next_cursor until there is none."""
    pages: list[list[Any]] = []
    cursor = None
    while True:
        r = api.client.get(
            path, headers=headers, params=params | ({"cursor": cursor} if cursor else {})
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) >= {"items", "next_cursor"}
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursors go round in circles"


def everything(api: Api, path: str, headers: dict[str, str], **params: Any) -> list[Any]:
    body = api.client.get(path, headers=headers, params=params).json()
    assert body["next_cursor"] is None, "more than one page"
    items: list[Any] = body["items"]
    return items


def assert_walks(
    api: Api, path: str, headers: dict[str, str], size: int, *, key: str = "", **params: Any
) -> None:
    """Pages of ``size`` hold the whole list, once each and in order (compared by ``key``
    when the items change between two requests, as prices' ages do)."""
    whole = everything(api, path, headers, **params)
    pages = walk(api, path, headers, limit=size, **params)
    assert all(len(page) == size for page in pages[:-1])
    walked = [item for page in pages for item in page]
    if key:
        walked, whole = [i[key] for i in walked], [i[key] for i in whole]
    assert walked == whole
    assert len(whole) > size, "the list fits in one page: nothing walked"


def signed_in_with_lists(api: Api) -> tuple[dict[str, str], str]:
    """A user with four accounts (one paused), two positions, an audit trail, three
    watchlists and three portfolios; their headers and default account."""
    _, h = api.user()
    main = everything(api, f"{V1}/accounts", h)[0]["id"]
    for n in range(3):  # one request each: created_at is a transaction's time
        made = api.client.post(f"{V1}/accounts", headers=h, json={"account_name": f"Side {n}"})
        assert made.status_code == 201, made.text
    api.client.post(f"{V1}/accounts/{made.json()['id']}/pause", headers=h)
    for symbol, amount in [("BTC", "0.01"), ("ETH", "0.5"), ("BTC", "0.01")]:
        order = {"account_id": main, "symbol": symbol, "side": "buy", "amount": amount}
        assert api.client.post(f"{V1}/orders", headers=h, json=order).status_code == 201
    for n in range(2):
        api.client.post(f"{V1}/watchlists", headers=h, json={"name": f"W{n}", "symbols": ["BTC"]})
        api.client.post(f"{V1}/portfolios", headers=h, json={"name": f"P{n}"})
    api.client.post(f"{V1}/watchlists", headers=h, json={"name": "Default", "is_default": True})
    return h, main


def test_the_cursors_walk_every_list_once_in_order(api: Api) -> None:
    h, main = signed_in_with_lists(api)
    accounts = everything(api, f"{V1}/accounts", h)
    assert [a["is_default"] for a in accounts] == [True, False, False, False]
    assert_walks(api, f"{V1}/accounts", h, 1)
    assert_walks(api, f"{V1}/accounts", h, 3)
    assert_walks(api, f"{V1}/accounts/{main}/audit", h, 2)
    assert_walks(api, f"{V1}/accounts/{main}/positions", h, 1)
    positions = everything(api, f"{V1}/accounts/{main}/positions", h)
    values = [float(p["market_value"]) for p in positions]
    assert values == sorted(values, reverse=True) and len(values) == 2  # the largest first
    watchlists = everything(api, f"{V1}/watchlists", h)
    assert watchlists[0]["name"] == "Default"
    assert_walks(api, f"{V1}/watchlists", h, 1)
    assert_walks(api, f"{V1}/portfolios", h, 2)
    assert_walks(api, f"{V1}/me/settings", h, 2)
    assert_walks(api, f"{V1}/strategies", {}, 3)
    assert_walks(api, f"{V1}/market/prices", {}, 1, key="symbol", symbols="BTC,ETH,SOL")
    assert_walks(api, f"{V1}/market/prices", {}, 4, key="symbol")


def test_an_archived_account_is_listed_only_when_asked_for(api: Api) -> None:
    h, _ = signed_in_with_lists(api)
    side = everything(api, f"{V1}/accounts", h)[1]["id"]
    assert api.client.post(f"{V1}/accounts/{side}/archive", headers=h).status_code == 200
    assert side not in [a["id"] for a in everything(api, f"{V1}/accounts", h)]
    with_archived = everything(api, f"{V1}/accounts", h, include_archived="true")
    assert side in [a["id"] for a in with_archived]
    assert_walks(api, f"{V1}/accounts", h, 1, include_archived="true")


def test_a_cursor_of_another_list_is_refused(api: Api) -> None:
    h, main = signed_in_with_lists(api)
    cursor = api.client.get(f"{V1}/accounts", headers=h, params={"limit": 1}).json()
    for path in ("/me/settings", "/strategies", "/market/prices", "/accounts/{main}/audit"):
        url = f"{V1}{path}".format(main=main)
        r = api.client.get(url, headers=h, params={"cursor": cursor["next_cursor"]})
        problem(r, 422, "invalid_cursor")


# ------------------------------------------------------------------ unknown parameters


def test_an_unknown_query_parameter_is_refused_naming_it(api: Api) -> None:
    _, h = api.user()
    account = everything(api, f"{V1}/accounts", h)[0]["id"]
    order = {"account_id": account, "symbol": "BTC", "side": "buy", "amount": "0.01"}
    assert api.client.post(f"{V1}/orders", headers=h, json=order).status_code == 201
    # `start` is not `from`: refused, not ignored (which returned every trade)
    wrong = problem(
        api.client.get(f"{V1}/trades", headers=h, params={"start": "2030-01-01T00:00:00Z"}),
        422,
        "unknown_parameter",
    )
    assert wrong["detail"] == (
        "unknown query parameter start (this operation takes: account_id, symbol, side,"
        " bot_id, category, from, to, cursor, limit)"
    )
    assert wrong["instance"] == f"{V1}/trades"
    future = api.client.get(f"{V1}/trades", headers=h, params={"from": "2030-01-01T00:00:00Z"})
    assert future.status_code == 200 and future.json()["items"] == []
    assert len(everything(api, f"{V1}/trades", h)) == 1
    # the documented name only (the filter model also reads its field's own name)
    problem(
        api.client.get(f"{V1}/trades", headers=h, params={"since": "x"}), 422, "unknown_parameter"
    )
    two = problem(
        api.client.get(f"{V1}/accounts", headers=h, params={"colour": "red", "page": "2"}),
        422,
        "unknown_parameter",
    )
    assert two["detail"].startswith("unknown query parameters colour, page (this operation")


def test_an_unknown_parameter_refuses_a_write_before_it_happens(api: Api) -> None:
    _, h = api.user()
    account = everything(api, f"{V1}/accounts", h)[0]["id"]
    order = {"account_id": account, "symbol": "BTC", "side": "buy", "amount": "0.01"}
    r = api.client.post(f"{V1}/orders", headers=h, json=order, params={"dry_run": "true"})
    assert problem(r, 422, "unknown_parameter")["detail"] == (
        "unknown query parameter dry_run (this operation takes: none)"
    )
    assert everything(api, f"{V1}/trades", h) == []
    paused = api.client.post(f"{V1}/accounts/{account}/pause", headers=h, params={"why": "x"})
    problem(paused, 422, "unknown_parameter")
    assert everything(api, f"{V1}/accounts", h)[0]["status"] == "active"


def test_routes_without_parameters_and_public_ones_refuse_them_too(api: Api) -> None:
    for path in ("/health", f"{V1}/strategies/sma_crossover", f"{V1}/market/feed"):
        problem(api.client.get(path, params={"verbose": "1"}), 422, "unknown_parameter")
    assert api.client.get(f"{V1}/strategies/sma_crossover").status_code == 200


# ------------------------------------------------------------------ candles


def store_bars(api: Api, timeframe: str, minutes: int, count: int, symbol: str = "BTC") -> None:
    with api.db.owner() as conn:
        conn.execute(
            "INSERT INTO market_candles"
            " (symbol, timeframe, open_time, open, high, low, close, volume)"
            " SELECT %s, %s, timestamptz '2021-05-01 00:00+00' + g * %s * interval '1 minute',"
            " 100 + g, 101 + g, 99 + g, 100.5 + g, 1 FROM generate_series(0, %s - 1) g",
            [symbol, timeframe, minutes, count],
        )


def candles(api: Api, **params: Any) -> Any:
    return api.client.get(f"{V1}/market/candles", params={"symbol": "BTC"} | params)


def test_a_timeframe_without_stored_bars_is_built_from_a_finer_one(api: Api) -> None:
    store_bars(api, "1m", 1, 120)
    hourly = candles(api, timeframe="1h")
    assert hourly.status_code == 200, hourly.text
    body = hourly.json()
    assert body["source_timeframe"] == "1m" and body["next_cursor"] is None
    assert [(c["open_time"], c["bars"], c["complete"]) for c in body["items"]] == [
        ("2021-05-01T00:00:00Z", 60, True),
        ("2021-05-01T01:00:00Z", 60, True),
    ]
    assert [c["close"] for c in body["items"]] == ["159.5000000000", "219.5000000000"]
    # the same bars as asking for them by name
    asked = candles(api, timeframe="1h", source_timeframe="1m").json()
    assert asked == body
    # stored bars of the timeframe itself are read as they are
    stored = candles(api, timeframe="1m", limit=2).json()
    assert stored["source_timeframe"] == "1m"
    assert [c["bars"] for c in stored["items"]] == [None, None]


def test_the_coarsest_finer_stored_timeframe_builds_them(api: Api) -> None:
    store_bars(api, "1m", 1, 120)
    store_bars(api, "5m", 5, 24)
    body = candles(api, timeframe="1h").json()
    assert body["source_timeframe"] == "5m"
    assert [c["bars"] for c in body["items"]] == [12, 12]
    assert candles(api, timeframe="5m").json()["source_timeframe"] == "5m"  # stored
    assert candles(api, timeframe="15m").json()["source_timeframe"] == "5m"


def test_no_candles_to_read_or_build_from_says_so(api: Api) -> None:
    store_bars(api, "1d", 1440, 3)
    none = problem(candles(api, timeframe="1h"), 422, "no_candles")
    assert none["detail"] == (
        "no stored BTC bars of 1h, nor of a finer timeframe to build them from (stored: 1d)"
    )
    unknown = problem(candles(api, timeframe="1h", symbol="NOPE"), 422, "no_candles")
    assert unknown["detail"].endswith("(stored: none)")
    asked = problem(candles(api, timeframe="1d", source_timeframe="1h"), 422, "no_candles")
    assert asked["detail"] == "no stored BTC bars of 1h to build 1d bars from"
    # a stored series with nothing in the range is an empty page, not an error
    later = candles(api, timeframe="1d", **{"from": "2030-01-01T00:00:00Z"})
    assert later.status_code == 200 and later.json()["items"] == []


def test_candle_cursors_go_forward_from_from_and_back_without_it(api: Api) -> None:
    store_bars(api, "1m", 1, 130)
    start = {"from": "2021-05-01T00:00:00Z"}
    forward = walk(api, f"{V1}/market/candles", {}, symbol="BTC", timeframe="1m", limit=50, **start)
    assert [len(p) for p in forward] == [50, 50, 30]
    times = [c["open_time"] for page in forward for c in page]
    assert times == sorted(times) and len(set(times)) == 130
    back = walk(api, f"{V1}/market/candles", {}, symbol="BTC", timeframe="1m", limit=50)
    assert [len(p) for p in back] == [50, 50, 30]  # the newest first, going back in time
    assert [c for page in reversed(back) for c in page] == [c for page in forward for c in page]
    built = walk(api, f"{V1}/market/candles", {}, symbol="BTC", timeframe="5m", limit=10, **start)
    assert [len(p) for p in built] == [10, 10, 6]
    assert [c["bars"] for page in built for c in page][-1] == 5
