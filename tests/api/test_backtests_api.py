"""/backtests and /strategies over HTTP: a session is queued, a worker runs it, the API
shows its status, progress and results; bad requests are refused before anything is
stored; another user's sessions are not found."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from cryptotrader.backtest import tasks
from cryptotrader.db.session import service_connection
from cryptotrader.market.candle_import import import_candles_csv
from cryptotrader.strategies import registry
from tests.api.conftest import Api
from tests.support import TestDatabase

V1 = "/api/v1"
PROBLEM = "application/problem+json"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "ohlcv"
REQUEST: dict[str, Any] = {
    "symbol": "BTC",
    "timeframe": "1h",
    "start": "2021-01-01T00:00:00Z",
    "end": "2021-04-01T00:00:00Z",
    "strategy": "sma_crossover",
    "parameters": {"fast": 10, "slow": 30},
    "config": {"initial_capital": "5000"},
}


@pytest.fixture
def candles(db: TestDatabase) -> None:
    """The real BTC 1h bars (2020-12-01 to 2021-07-17) in market_candles."""
    import_candles_csv(db.app_conninfo, FIXTURES / "BTC-USDT_1h.csv.gz", "BTC", "1h")


def run_worker_once(db: TestDatabase) -> tasks.RunReport | None:
    """What a backtest worker does with the oldest pending session."""

    async def once() -> tasks.RunReport | None:
        async with service_connection(db.app_conninfo) as conn:
            return await tasks.BacktestWorker(db.app_conninfo).run_next(conn)

    return asyncio.run(once())


def counts(db: TestDatabase) -> tuple[int, int, int]:
    """Sessions, results and backtest audit records."""
    with db.owner() as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM backtest_sessions) AS s,"
            " (SELECT count(*) FROM backtest_results) AS r,"
            " (SELECT count(*) FROM audit_logs WHERE action LIKE 'backtest.%%') AS a"
        ).fetchone()
    assert row is not None
    return row["s"], row["r"], row["a"]


def create(api: Api, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    r = api.client.post(f"{V1}/backtests", headers=headers, json=REQUEST | changes)
    assert r.status_code == 202, r.text
    return dict(r.json())


# ------------------------------------------------------------------ strategies


def test_strategies_are_listed_publicly(api: Api) -> None:
    listed = api.client.get(f"{V1}/strategies")
    assert listed.status_code == 200
    assert [s["name"] for s in listed.json()["items"]] == list(registry.STRATEGIES)
    assert listed.json()["next_cursor"] is None
    one = api.client.get(f"{V1}/strategies/sma_crossover").json()
    assert one == next(s for s in listed.json()["items"] if s["name"] == "sma_crossover")
    assert set(one["parameters"]["properties"]) == {"fast", "slow"}
    assert {"version", "api_version", "signal_only", "description"} <= set(one)


def test_an_unknown_strategy_is_not_found(api: Api) -> None:
    r = api.client.get(f"{V1}/strategies/sma_cross")
    assert r.status_code == 404
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "strategy_not_found"


# ------------------------------------------------------------------ lifecycle


def test_a_backtest_is_queued_run_and_read_back(api: Api, candles: None) -> None:
    _, h = api.user()
    made = create(api, h, session_name="H1")
    assert (made["status"], made["progress"], made["strategy"]) == (
        "pending",
        "0.00000000",
        "sma_crossover",
    )
    assert made["initial_capital"] == "5000.00000000"
    assert made["equity_curve"] == [] and made["trade_history"] == []
    pending = api.client.get(f"{V1}/backtests/{made['id']}", headers=h).json()
    assert (pending["status"], pending["progress"]) == ("pending", "0.00000000")

    report = run_worker_once(api.db)
    assert report is not None and report.status == "completed"

    done = api.client.get(f"{V1}/backtests/{made['id']}", headers=h)
    assert done.status_code == 200
    body = done.json()
    assert (body["status"], body["progress"], body["error"]) == ("completed", "1.00000000", None)
    assert body["completed_at"].endswith("Z") and body["start_date"] == REQUEST["start"]
    assert body["total_trades"] > 0 and isinstance(body["final_capital"], str)
    assert body["results_data"]["stats"]["total_trades"] == body["total_trades"]
    assert body["equity_curve"][0] == ["2021-01-01T00:00:00Z", 5000.0]
    assert len(body["trade_history"]) >= body["total_trades"]
    assert {"entry_time", "exit_price", "pnl", "exit_reason"} <= set(body["trade_history"][0])

    [result] = api.client.get(f"{V1}/backtests/{made['id']}/results", headers=h).json()["items"]
    assert (result["rank"], result["parameters"]) == (1, {"fast": 10, "slow": 30})
    assert result["final_capital"] == body["final_capital"]

    listed = api.client.get(f"{V1}/backtests", headers=h).json()
    assert [s["id"] for s in listed["items"]] == [made["id"]]
    assert "equity_curve" not in listed["items"][0]
    assert listed["items"][0]["status"] == "completed"


def test_the_list_is_newest_first_and_paginated(api: Api) -> None:
    _, h = api.user()
    ids = [create(api, h, session_name=f"run {i}")["id"] for i in range(3)]
    first = api.client.get(f"{V1}/backtests", headers=h, params={"limit": 2}).json()
    assert [s["id"] for s in first["items"]] == ids[::-1][:2]
    second = api.client.get(
        f"{V1}/backtests", headers=h, params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [s["id"] for s in second["items"]] == ids[:1]
    assert second["next_cursor"] is None
    bad = api.client.get(f"{V1}/backtests", headers=h, params={"cursor": "nope"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_cursor")


def test_a_sweep_ranks_its_results(api: Api, candles: None) -> None:
    _, h = api.user()
    made = create(
        api,
        h,
        sweep={"fast": "5:15:5", "slow": [30, 50]},
        rank_by="total_return",
    )
    assert made["backtest_config"]["sweep"] == {"fast": [5, 10, 15], "slow": [30, 50]}
    assert run_worker_once(api.db) is not None
    results = api.client.get(f"{V1}/backtests/{made['id']}/results", headers=h).json()["items"]
    assert [r["rank"] for r in results] == [1, 2, 3, 4, 5, 6]
    returns = [float(r["total_return"]) for r in results]
    assert returns == sorted(returns, reverse=True)
    session = api.client.get(f"{V1}/backtests/{made['id']}", headers=h).json()
    assert session["results_data"]["parameters"] == results[0]["parameters"]


def test_every_audit_record_is_written(api: Api) -> None:
    uid, h = api.user()
    made = create(api, h)
    api.client.post(f"{V1}/backtests/{made['id']}/cancel", headers=h)
    api.client.delete(f"{V1}/backtests/{made['id']}", headers=h)
    with api.db.owner() as conn:
        actions = conn.execute(
            "SELECT action, resource_id FROM audit_logs WHERE user_id = %s ORDER BY timestamp",
            [uid],
        ).fetchall()
    assert [(a["action"], a["resource_id"]) for a in actions if "backtest" in a["action"]] == [
        ("backtest.create", made["id"]),
        ("backtest.cancel", made["id"]),
        ("backtest.delete", made["id"]),
    ]


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"strategy": "sma_cross"}, "unknown_strategy"),
        ({"parameters": {"fast": 30, "slow": 10}}, "invalid_strategy_parameters"),
        ({"parameters": {"speed": 3}}, "invalid_strategy_parameters"),
        ({"sweep": {"period": [1, 2]}}, "invalid_sweep"),
        ({"sweep": {"fast": "9:1:1"}}, "validation_error"),
        ({"rank_by": "luck"}, "validation_error"),
        ({"end": "2020-12-31T00:00:00Z"}, "validation_error"),
        ({"end": REQUEST["start"]}, "validation_error"),
        ({"strategy": None}, "validation_error"),
        ({"config": {"initial_capital": "0"}}, "validation_error"),
        ({"source": {"kind": "csv", "path": "/etc/passwd"}}, "validation_error"),
        ({"strategy": None, "strategy_id": "5e1c7a2b-93d4-4f0e-b6a8-2c9d1f3e7b40"}, None),
    ],
)
def test_bad_requests_are_refused_and_nothing_is_written(
    api: Api, changes: dict[str, Any], code: str | None
) -> None:
    _, h = api.user()
    before = counts(api.db)
    r = api.client.post(f"{V1}/backtests", headers=h, json=REQUEST | changes)
    expected = (404, "strategy_not_found") if code is None else (422, code)
    assert (r.status_code, r.json()["code"]) == expected, r.text
    assert r.headers["content-type"] == PROBLEM
    assert counts(api.db) == before


def test_signing_in_is_required(api: Api) -> None:
    for r in (api.client.post(f"{V1}/backtests", json=REQUEST), api.client.get(f"{V1}/backtests")):
        assert (r.status_code, r.json()["code"]) == (401, "not_authenticated")


# ------------------------------------------------------------------ cancel and delete


def test_cancel_then_a_second_cancel_conflicts(api: Api, candles: None) -> None:
    _, h = api.user()
    made = create(api, h)
    cancelled = api.client.post(f"{V1}/backtests/{made['id']}/cancel", headers=h)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert run_worker_once(api.db) is None  # the workers skip it
    again = api.client.post(f"{V1}/backtests/{made['id']}/cancel", headers=h)
    assert (again.status_code, again.json()["code"]) == (409, "backtest_not_cancellable")
    assert "cancelled" in again.json()["detail"]

    done = create(api, h)
    run_worker_once(api.db)
    late = api.client.post(f"{V1}/backtests/{done['id']}/cancel", headers=h)
    assert (late.status_code, late.json()["code"]) == (409, "backtest_not_cancellable")
    assert api.client.get(f"{V1}/backtests/{done['id']}", headers=h).json()["status"] == (
        "completed"
    )


def test_delete_removes_the_session_and_its_results(api: Api, candles: None) -> None:
    _, h = api.user()
    made = create(api, h)
    run_worker_once(api.db)
    assert counts(api.db)[:2] == (1, 1)
    gone = api.client.delete(f"{V1}/backtests/{made['id']}", headers=h)
    assert gone.status_code == 204 and gone.content == b""
    assert counts(api.db)[:2] == (0, 0)
    for method, suffix in [("GET", ""), ("GET", "/results"), ("DELETE", ""), ("POST", "/cancel")]:
        r = api.client.request(method, f"{V1}/backtests/{made['id']}{suffix}", headers=h)
        assert (r.status_code, r.json()["code"]) == (404, "backtest_session_not_found")


# ------------------------------------------------------------------ other users


def test_another_users_session_is_not_found_and_unchanged(api: Api, candles: None) -> None:
    _, alice = api.user()
    _, bob = api.user()
    made = create(api, alice)
    run_worker_once(api.db)
    pending = create(api, alice)
    before = counts(api.db)
    for sid in (made["id"], pending["id"]):
        for method, suffix in [
            ("GET", ""),
            ("GET", "/results"),
            ("POST", "/cancel"),
            ("DELETE", ""),
        ]:
            r = api.client.request(method, f"{V1}/backtests/{sid}{suffix}", headers=bob)
            assert (r.status_code, r.json()["code"]) == (404, "backtest_session_not_found")
    assert api.client.get(f"{V1}/backtests", headers=bob).json()["items"] == []
    assert counts(api.db) == before
    still = api.client.get(f"{V1}/backtests/{pending['id']}", headers=alice).json()
    assert still["status"] == "pending"
