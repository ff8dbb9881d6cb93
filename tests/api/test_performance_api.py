"""GET /accounts|portfolios|backtests/{id}/performance: one tear sheet shape for the three,
its figures the builder's over the rows migration 0030 writes (the current epoch only, a
portfolio's flow-adjusted index, a backtest's bars), every period, 422 for another one and
404 for another user's subject."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from cryptotrader.analytics.schemas import PERIODS, WINDOWS, Performance
from cryptotrader.analytics.tearsheet import build_tearsheet
from tests.analytics.tearsheet_rows import (
    DAY,
    curve,
    insert_account_rows,
    insert_portfolio_rows,
    insert_trip,
    midnight,
)
from tests.api.conftest import Api
from tests.api.test_backtests_api import REQUEST, candles, create, run_worker_once
from tests.support import default_account

V1 = "/api/v1"
PROBLEM = "application/problem+json"
TODAY = datetime.now(UTC).date()
__all__ = ["candles"]  # the fixture, shared with the backtests' tests


def expected(
    first: date, equity: list[float], bench: list[float | None], trips: list[Any], period: Any
) -> dict[str, Any]:
    times = [midnight(first - DAY), *(midnight(first + i * DAY) for i in range(len(equity)))]
    sheet = build_tearsheet(
        times,
        [10_000.0, *equity],
        [40_000.0, *bench],
        trips,
        periods_per_year=365,
        period=period,
        today=TODAY,
    )
    return dict(json.loads(sheet.model_dump_json()))


def without_subject(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "subject"}


# ------------------------------------------------------------------ accounts


@pytest.fixture
def account_with_history(api: Api) -> dict[str, Any]:
    """A user whose default account is in its second epoch: 30 days of the first, 400 of
    the current, and round trips in both."""
    user, headers = api.user()
    with api.db.owner() as conn:
        account = default_account(conn, user)
        conn.execute("UPDATE paper_trading_accounts SET epoch = 1 WHERE id = %s", [account])
    old_first = TODAY - 460 * DAY
    insert_account_rows(api.db, account, user, old_first, curve(30, 10_000, 0.02), 0)
    first = TODAY - 400 * DAY
    equity = curve(400, 10_000, 0.004)
    bench = insert_account_rows(api.db, account, user, first, equity, 1)
    insert_trip(api.db, account, user, 0, midnight(old_first) + timedelta(hours=9), 999.0)
    trips = []
    for offset, pnl in ((-300, 120.0), (-80, -40.0), (-20, 75.5), (-2, -10.0)):
        closed = midnight(TODAY + offset * DAY) + timedelta(hours=13)
        insert_trip(api.db, account, user, 1, closed, pnl)
        trips.append((closed, pnl))
    return {
        "user": user,
        "headers": headers,
        "account": account,
        "first": first,
        "equity": equity,
        "bench": bench,
        "trips": trips,
    }


@pytest.mark.parametrize("period", PERIODS)
def test_an_accounts_tear_sheet_is_its_current_epochs(
    api: Api, account_with_history: dict[str, Any], period: str
) -> None:
    h = account_with_history
    r = api.client.get(
        f"{V1}/accounts/{h['account']}/performance", params={"period": period}, headers=h["headers"]
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["subject"]["kind"] == "account" and body["subject"]["id"] == str(h["account"])
    assert body["period"] == period
    assert without_subject(body) == expected(
        h["first"], h["equity"], h["bench"], h["trips"], period
    )
    whole = body["stats"][-1]
    assert [s["window"] for s in body["stats"]] == list(WINDOWS)
    assert whole["total_trades"] == 4  # the first epoch's trip is not in it
    assert whole["start"] == (midnight(h["first"] - DAY)).isoformat().replace("+00:00", "Z")
    assert len(body["drawdowns"]) <= 5 and body["monthly_returns"]
    Performance.model_validate(body)


def test_the_default_period_is_all(api: Api, account_with_history: dict[str, Any]) -> None:
    h = account_with_history
    url = f"{V1}/accounts/{h['account']}/performance"
    default = api.client.get(url, headers=h["headers"]).json()
    assert default == api.client.get(url, params={"period": "all"}, headers=h["headers"]).json()
    assert len(default["series"]) == 401


@pytest.mark.parametrize("period", ["7d", "ALL", "", "1Y"])
def test_another_period_is_a_validation_error(
    api: Api, account_with_history: dict[str, Any], period: str
) -> None:
    h = account_with_history
    r = api.client.get(
        f"{V1}/accounts/{h['account']}/performance", params={"period": period}, headers=h["headers"]
    )
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "validation_error"
    assert [e["field"] for e in r.json()["errors"]] == ["query.period"]


def test_an_account_without_rows_has_an_empty_sheet(api: Api) -> None:
    user, headers = api.user()
    with api.db.owner() as conn:
        account = default_account(conn, user)
    r = api.client.get(f"{V1}/accounts/{account}/performance", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["as_of"] is None and body["series"] == []
    assert all(s["points"] == 0 and s["total_trades"] == 0 for s in body["stats"])


def test_the_daily_step_rows_are_read(api: Api) -> None:
    """Rows as migration 0030's step writes them (today's, for a new account)."""
    user, headers = api.user()
    with api.db.owner() as conn:
        account = default_account(conn, user)
        conn.execute("SELECT private.analytics_run(%s, %s)", [TODAY, [account]])
    body = api.client.get(f"{V1}/accounts/{account}/performance", headers=headers).json()
    series = body["series"]
    assert len(series) >= 2
    assert series[0]["equity"] == series[-1]["equity"]  # no trade: flat
    assert body["stats"][-1]["total_return"] == "0.00000000"


# ------------------------------------------------------------------ portfolios


def test_a_portfolios_tear_sheet_is_its_equity_index(api: Api) -> None:
    user, headers = api.user()
    with api.db.owner() as conn:
        account = default_account(conn, user)
        portfolio = conn.execute(
            "SELECT portfolio_id FROM portfolio_accounts WHERE account_id = %s", [account]
        ).fetchone()
        assert portfolio is not None
        portfolio_id = portfolio["portfolio_id"]
        conn.execute(
            "UPDATE portfolio_accounts SET added_at = %s WHERE account_id = %s",
            [midnight(TODAY - 100 * DAY) + timedelta(hours=12), account],
        )
    first = TODAY - 120 * DAY
    index = curve(120, 10_000, 0.003)
    bench = insert_portfolio_rows(api.db, portfolio_id, user, first, index)
    before = midnight(TODAY - 101 * DAY) + timedelta(hours=1)  # before it joined
    joined = midnight(TODAY - 100 * DAY) + timedelta(hours=1)  # the day it joined
    insert_trip(api.db, account, user, 0, before, 50.0)
    insert_trip(api.db, account, user, 0, joined, 20.0)
    insert_trip(api.db, account, user, 0, midnight(TODAY - 3 * DAY), -5.0)
    r = api.client.get(f"{V1}/portfolios/{portfolio_id}/performance", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["subject"]["kind"], body["subject"]["id"]) == ("portfolio", str(portfolio_id))
    trips = [(joined, 20.0), (midnight(TODAY - 3 * DAY), -5.0)]
    assert without_subject(body) == expected(first, index, bench, trips, "all")
    assert body["stats"][-1]["total_trades"] == 2
    recent = api.client.get(
        f"{V1}/portfolios/{portfolio_id}/performance", params={"period": "90d"}, headers=headers
    ).json()
    assert recent["series"][0]["at"] == midnight(TODAY - 90 * DAY).isoformat().replace(
        "+00:00", "Z"
    )


# ------------------------------------------------------------------ backtests


def test_a_backtests_tear_sheet_is_over_its_bars(api: Api, candles: None) -> None:
    _, headers = api.user()
    made = create(api, headers, start="2021-01-01T00:00:00Z", end="2021-01-31T00:00:00Z")
    pending = api.client.get(f"{V1}/backtests/{made['id']}/performance", headers=headers)
    assert pending.status_code == 200 and pending.json()["series"] == []
    assert run_worker_once(api.db) is not None
    body = api.client.get(f"{V1}/backtests/{made['id']}/performance", headers=headers).json()
    session = api.client.get(f"{V1}/backtests/{made['id']}", headers=headers).json()
    assert body["subject"]["kind"] == "backtest" and body["periods_per_year"] == 8760
    assert len(body["series"]) == len(session["equity_curve"])
    assert [p["at"] for p in body["series"]] == [t for t, _ in session["equity_curve"]]
    assert None not in [p["benchmark"] for p in body["series"]]  # BTC's own 1h bars
    whole = body["stats"][-1]
    closed = [t for t in session["trade_history"] if t["closed"]]
    assert whole["total_trades"] == len(closed)
    assert whole["alpha"] is not None and whole["beta"] is not None
    # the stored curve is every bar: the All window is the run's own statistics
    assert float(whole["sharpe_ratio"]) == pytest.approx(
        session["results_data"]["stats"]["sharpe_ratio"], rel=1e-6
    )
    assert body["as_of"] == session["equity_curve"][-1][0]


def test_a_thinned_backtest_curve_is_taken_at_days(api: Api, candles: None) -> None:
    _, headers = api.user()
    made = create(api, headers)  # three months of hourly bars: over 2,000, stored thinned
    assert run_worker_once(api.db) is not None
    body = api.client.get(f"{V1}/backtests/{made['id']}/performance", headers=headers).json()
    assert body["periods_per_year"] == 365
    times = [p["at"] for p in body["series"]]
    assert all(t.endswith("T00:00:00Z") for t in times) and len(times) == len(set(times))
    assert 85 <= len(times) <= 92
    assert REQUEST["timeframe"] == "1h"


# ------------------------------------------------------------------ not found


def test_another_users_subjects_are_not_found(
    api: Api, account_with_history: dict[str, Any]
) -> None:
    h = account_with_history
    _, stranger = api.user()
    with api.db.owner() as conn:
        portfolio = conn.execute(
            "SELECT id FROM portfolios WHERE user_id = %s", [h["user"]]
        ).fetchone()
    assert portfolio is not None
    made = create(api, h["headers"])
    for url, code in (
        (f"/accounts/{h['account']}", "account_not_found"),
        (f"/portfolios/{portfolio['id']}", "portfolio_not_found"),
        (f"/backtests/{made['id']}", "backtest_session_not_found"),
        (f"/accounts/{uuid4()}", "account_not_found"),
    ):
        r = api.client.get(f"{V1}{url}/performance", headers=stranger)
        assert (r.status_code, r.json()["code"]) == (404, code), url
        assert r.headers["content-type"] == PROBLEM
    r = api.client.get(f"{V1}/accounts/{h['account']}/performance")
    assert (r.status_code, r.json()["code"]) == (401, "not_authenticated")
