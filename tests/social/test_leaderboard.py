"""The leaderboard on a real database (tracks made by the daily analytics step, tests/social
/tracks.py): a lucky trader with 200 trials ranks below a steadier one with two under the
Deflated Sharpe Ratio though return and raw Sharpe rank it first; the figures are the
track's; the minimum track record; the track starts at the listing and is flow-adjusted
across accounts; an unlisted trader never appears, also in SQL as the `authenticated`
role with another user's claims; the routes answer 200, and 422 for a bad period."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import numpy as np
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.analytics import deflated, metrics
from cryptotrader.db.session import Conn, as_user, open_pool, user_claims
from cryptotrader.social import leaderboard as lb
from cryptotrader.social.errors import TraderNotFound
from tests.api.conftest import Api, api, app
from tests.social import tracks
from tests.social.tracks import LUCKY, LUCKY_TRIALS, STEADY, STEADY_TRIALS, Trader
from tests.support import TestDatabase, create_user

__all__ = ["api", "app"]  # the API's fixtures
pytestmark = pytest.mark.anyio
Pool = AsyncConnectionPool[Conn]
V1 = "/api/v1"


@dataclass
class World:
    lucky: Trader
    steady: Trader
    short: Trader  # 3 days, 1 round trip: below the minimum track record
    hidden: Trader  # a long, good track, but not listed
    viewer: UUID


@pytest.fixture(scope="module")
def world(module_db: TestDatabase) -> World:
    lucky = tracks.make_trader(module_db, "Lucky", LUCKY, trip_days=tracks.LUCKY_TRIPS)
    steady = tracks.make_trader(module_db, "Steady", STEADY, trip_days=tracks.STEADY_TRIPS)
    short = tracks.make_trader(module_db, "Short", [0.02, 0.01, 0.03], trip_days=[1])
    hidden = tracks.make_trader(
        module_db, "Hidden", STEADY, trip_days=[5, 10, 15, 20, 25, 30], listed=False
    )
    with module_db.owner() as conn:
        tracks.add_trials(conn, lucky.user_id, sweep=LUCKY_TRIALS)
        tracks.add_trials(conn, steady.user_id, singles=STEADY_TRIALS)
        tracks.add_trials(conn, hidden.user_id, singles=[0.5])
        viewer = create_user(conn)
        conn.execute(
            "INSERT INTO trader_follows (user_id, follower_id, followed_id, trader_name)"
            " VALUES (%s, %s, %s, 'x')",
            [viewer, viewer, steady.user_id],
        )
    tracks.run_daily_job(module_db, [lucky, steady, short, hidden])
    return World(lucky, steady, short, hidden, viewer)


@pytest.fixture
async def viewer_pool(module_db: TestDatabase) -> AsyncIterator[Pool]:
    p = open_pool(module_db.app_conninfo, min_size=1, max_size=2)
    await p.open()
    yield p
    await p.close()


async def board(pool: Pool, user: UUID, **kw: Any) -> list[Any]:
    params: dict[str, Any] = {"period": "all", "min_days": 7, "min_trades": 5} | kw
    async with as_user(pool, user_claims(user)) as conn:
        return await lb.leaderboard(conn, **params)


def names(entries: list[Any]) -> list[str]:
    return [e.display_name for e in entries]


def expected_dsr(t: Trader, trials: list[float]) -> float | None:
    found = deflated.moments(t.returns)
    assert found is not None
    variance = (
        float(sum((x - sum(trials) / len(trials)) ** 2 for x in trials) / (len(trials) - 1)) / 365
    )
    threshold = deflated.expected_max_sharpe(len(trials), variance)
    return deflated.probabilistic_sharpe_ratio(
        found.sharpe, threshold, found.observations, found.skewness, found.kurtosis
    )


async def test_a_lucky_trader_with_many_trials_ranks_below_a_steady_one(
    world: World, viewer_pool: Pool
) -> None:
    by_dsr = await board(viewer_pool, world.viewer)
    assert names(by_dsr) == ["Steady", "Lucky"]
    assert [e.rank for e in by_dsr] == [1, 2]
    steady, lucky = by_dsr
    assert (lucky.trials, steady.trials) == (200, 2)
    assert lucky.deflated_sharpe is not None and steady.deflated_sharpe is not None
    assert lucky.deflated_sharpe < steady.deflated_sharpe
    # raw return and raw Sharpe put the lucky one first
    assert names(await board(viewer_pool, world.viewer, sort="return")) == ["Lucky", "Steady"]
    assert names(await board(viewer_pool, world.viewer, sort="sharpe")) == ["Lucky", "Steady"]
    assert lucky.total_return is not None and steady.total_return is not None
    assert lucky.total_return > steady.total_return
    assert (lucky.sharpe_ratio or 0) > (steady.sharpe_ratio or 0)
    # the trials are what sink it: with one trial its PSR beats the steady one's DSR
    found = deflated.moments(world.lucky.returns)
    assert found is not None
    alone = deflated.probabilistic_sharpe_ratio(
        found.sharpe, 0.0, found.observations, found.skewness, found.kurtosis
    )
    assert alone is not None and alone > float(steady.deflated_sharpe)
    # the smallest drawdown first
    by_drawdown = await board(viewer_pool, world.viewer, sort="drawdown")
    assert [e.max_drawdown for e in by_drawdown] == sorted(e.max_drawdown for e in by_dsr)


async def test_the_figures_are_the_tracks(world: World, viewer_pool: Pool) -> None:
    entries = {e.display_name: e for e in await board(viewer_pool, world.viewer)}
    for t, trials, followers in (
        (world.lucky, LUCKY_TRIALS, 0),
        (world.steady, STEADY_TRIALS, 1),
    ):
        e = entries[t.name]
        r = t.returns
        equity = [1.0]
        for x in r:
            equity.append(equity[-1] * (1 + x))
        assert e.trader_id == t.user_id and e.category == "Swing"
        assert e.track_start == t.first - timedelta(days=1)  # listed at that midnight
        assert e.days_active == len(r)
        assert float(e.total_return) == pytest.approx(equity[-1] - 1, rel=1e-9)
        assert float(e.max_drawdown) == pytest.approx(
            metrics.drawdown(equity).max_drawdown, rel=1e-9
        )
        sharpe = sum(r) / len(r) / np.std(r, ddof=1) * math.sqrt(365)
        assert float(e.sharpe_ratio) == pytest.approx(sharpe, rel=1e-9)
        assert e.trades == len(t.trips) and 0 < t.wins < len(t.trips)
        assert float(e.win_rate) == pytest.approx(t.wins / len(t.trips))
        assert e.followers == followers
        assert e.copiers_pnl == 0  # no copier yet
        assert float(e.deflated_sharpe) == pytest.approx(expected_dsr(t, trials), rel=1e-9)
        assert 0 < e.deflated_sharpe < 1


async def test_the_minimum_track_record(world: World, viewer_pool: Pool) -> None:
    assert "Short" not in names(await board(viewer_pool, world.viewer))  # 3 days, 1 trip
    assert "Short" not in names(await board(viewer_pool, world.viewer, min_days=3))
    relaxed = await board(viewer_pool, world.viewer, min_days=3, min_trades=1)
    assert "Short" in names(relaxed)
    short = next(e for e in relaxed if e.display_name == "Short")
    assert (short.days_active, short.trades, short.trials) == (3, 1, 1)  # no backtest: 1 trial
    # one trial: nothing deflated (the PSR against 0)
    found = deflated.moments(world.short.returns)
    assert found is not None
    psr = deflated.probabilistic_sharpe_ratio(
        found.sharpe, 0.0, found.observations, found.skewness, found.kurtosis
    )
    assert psr is not None and float(short.deflated_sharpe) == pytest.approx(psr, rel=1e-9)
    assert float(short.expected_max_sharpe) == 0
    # more days than the steady track has: nobody
    assert await board(viewer_pool, world.viewer, min_days=46) == []
    # the 7-day period: 7 daily returns each, the short one still too short
    week = await board(viewer_pool, world.viewer, period="7d", min_days=7, min_trades=0)
    assert names(week) and all(e.days_active == 7 for e in week)
    assert "Short" not in names(week)
    # pages by rank
    first = await board(viewer_pool, world.viewer, limit=1)
    second = await board(viewer_pool, world.viewer, limit=1, after_rank=1)
    assert names(first + second) == ["Steady", "Lucky"] and second[0].rank == 2


async def test_an_unlisted_trader_never_appears(world: World, viewer_pool: Pool) -> None:
    for period in ("7d", "30d", "90d", "all"):
        for sort in ("dsr", "return", "sharpe", "drawdown"):
            everyone = await board(
                viewer_pool, world.viewer, period=period, sort=sort, min_days=0, min_trades=0
            )
            assert world.hidden.user_id not in {e.trader_id for e in everyone}
            assert world.steady.user_id in {e.trader_id for e in everyone}
    async with as_user(viewer_pool, user_claims(world.viewer)) as conn:
        with pytest.raises(TraderNotFound):
            await lb.trader_performance(conn, world.hidden.user_id, "all")
        with pytest.raises(TraderNotFound):
            await lb.trader_performance(conn, UUID(int=7), "all")
    # not even to themselves: the leaderboard is of listed traders only
    mine = await board(viewer_pool, world.hidden.user_id, min_days=0, min_trades=0)
    assert world.hidden.user_id not in {e.trader_id for e in mine}


def test_rls_in_sql_the_function_reveals_nothing_of_an_unlisted_trader(
    world: World, module_db: TestDatabase
) -> None:
    with module_db.as_user(world.viewer) as conn:
        rows = conn.execute("SELECT * FROM leaderboard_tracks()").fetchall()
        assert {r["trader_id"] for r in rows} == {
            world.lucky.user_id,
            world.steady.user_id,
            world.short.user_id,
        }
        hidden = world.hidden.user_id
        assert conn.execute("SELECT * FROM leaderboard_tracks(NULL, %s)", [hidden]).fetchall() == []
        # published figures only: no money column, no account
        assert set(rows[0]) == {
            "trader_id",
            "display_name",
            "category",
            "listed_at",
            "track_start",
            "days",
            "returns",
            "closed_trades",
            "winning_trades",
            "trials",
            "trials_sharpe_variance",
            "followers",
        }
        # and the tables behind it stay their owners', listed or not
        for table in ("account_analytics", "account_round_trips", "backtest_results"):
            for trader in (world.steady.user_id, hidden):
                found = conn.execute(
                    f"SELECT count(*) AS n FROM {table} WHERE user_id = %s",  # type: ignore[arg-type]
                    [trader],
                ).fetchone()
                assert found == {"n": 0}, table
    with module_db.as_user(world.hidden.user_id) as conn:  # unlisted: not even their own
        assert conn.execute("SELECT * FROM leaderboard_tracks(NULL, %s)", [hidden]).fetchall() == []
    with module_db.as_anon() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM leaderboard_tracks()")


async def test_the_public_curve(world: World, viewer_pool: Pool) -> None:
    async with as_user(viewer_pool, user_claims(world.viewer)) as conn:
        shown = await lb.trader_performance(conn, world.steady.user_id, "all")
        week = await lb.trader_performance(conn, world.steady.user_id, "7d")
    t = world.steady
    assert shown.figures.days_active == len(t.returns) and shown.figures.followers == 1
    assert len(shown.points) == len(t.returns) + 1
    assert shown.points[0].at == tracks.midnight(t.first - timedelta(days=1))
    assert shown.points[0].index == 1 and shown.points[-1].at == tracks.midnight(tracks.YESTERDAY)
    for point, close in zip(shown.points, t.closes, strict=True):
        assert float(point.index) == pytest.approx(float(close / tracks.START_PRICE), rel=1e-9)
        assert point.drawdown <= 0
    deepest = min(float(p.drawdown) for p in shown.points)
    assert deepest == pytest.approx(-float(shown.figures.max_drawdown or 0), rel=1e-9)
    # the week: its base is the close 8 days ago, its points the last 7 closes rebased
    assert len(week.points) == 8 and week.figures.days_active == 7
    assert week.figures.track_start == tracks.TODAY - timedelta(days=7)
    base = t.closes[-8]
    for point, close in zip(week.points, t.closes[-8:], strict=True):
        assert float(point.index) == pytest.approx(float(close / base), rel=1e-9)


async def test_the_track_starts_at_the_listing_and_counts_accounts_as_flows(
    db: TestDatabase, pool: Pool
) -> None:
    """Listed on day 10 at noon: the track starts on day 11. A second account opened on
    day 20 holding its cash is a flow, not a return: the combined return that day is the
    first account's PnL over both bases."""
    returns = [0.01, -0.02, 0.03, 0.01, 0.02] * 6
    t = tracks.make_trader(db, "Late", returns, listed_at=None)
    listed = tracks.midnight(t.first + timedelta(days=10)) + timedelta(hours=12)
    with db.owner() as conn:
        conn.execute("DELETE FROM trader_profiles WHERE user_id = %s", [t.user_id])
        tracks.list_trader(conn, t.user_id, "Late", listed)
        second = conn.execute(
            "INSERT INTO paper_trading_accounts (user_id, account_name, initial_balance,"
            " created_at) VALUES (%s, 'Cash', 50000, %s) RETURNING id",
            [t.user_id, tracks.midnight(t.first + timedelta(days=20)) + timedelta(hours=2)],
        ).fetchone()
        assert second is not None
        viewer = create_user(conn)
    tracks.run_daily_job(db, [t, Trader(t.user_id, second["id"], "", t.first, [])])
    async with as_user(pool, user_claims(viewer)) as conn:
        shown = await lb.trader_performance(conn, t.user_id, "all")
    figures = shown.figures
    assert figures.track_start == t.first + timedelta(days=11)
    assert figures.days_active == len(returns) - 11
    equity = [float(c) * 1000 for c in t.closes]  # the first account: 1,000 units
    expected = []
    for i in range(12, len(t.closes)):  # day first + i - 1
        cash = 50_000.0 if i - 1 >= 20 else 0.0
        expected.append((equity[i] - equity[i - 1]) / (equity[i - 1] + cash))
    got = [
        float(b.index / a.index - 1) for a, b in zip(shown.points, shown.points[1:], strict=False)
    ]
    assert got == pytest.approx(expected, rel=1e-6)


async def test_the_routes(api: Api) -> None:
    t = tracks.make_trader(api.db, "Routed", STEADY[:10], trip_days=[2, 4, 6, 8])
    tracks.run_daily_job(api.db, [t])
    _, h = api.user()
    got = api.client.get(f"{V1}/traders/leaderboard", headers=h)  # the settings: 7 days, 5 trips
    assert got.status_code == 200, got.text
    assert got.json() == {"items": [], "next_cursor": None}
    found = api.client.get(
        f"{V1}/traders/leaderboard", headers=h, params={"min_trades": 4, "period": "all"}
    )
    assert found.status_code == 200, found.text
    [entry] = found.json()["items"]
    assert entry["trader_id"] == str(t.user_id) and entry["rank"] == 1
    assert entry["trials"] == 1 and entry["copiers_pnl"] == "0.00000000"
    assert set(entry) >= {"deflated_sharpe", "total_return", "max_drawdown", "win_rate"}
    paged = api.client.get(
        f"{V1}/traders/leaderboard", headers=h, params={"min_trades": 4, "limit": 1}
    ).json()
    assert paged["next_cursor"] is not None
    rest = api.client.get(
        f"{V1}/traders/leaderboard",
        headers=h,
        params={"min_trades": 4, "limit": 1, "cursor": paged["next_cursor"]},
    ).json()
    assert rest == {"items": [], "next_cursor": None}
    curve = api.client.get(f"{V1}/traders/{t.user_id}/performance", headers=h)
    assert curve.status_code == 200, curve.text
    assert len(curve.json()["points"]) == 11 and curve.json()["period"] == "30d"
    for bad in ({"period": "1y"}, {"sort": "luck"}, {"min_days": "-1"}):
        refused = api.client.get(f"{V1}/traders/leaderboard", headers=h, params=bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["code"] == "validation_error"
        assert refused.headers["content-type"].startswith("application/problem+json")
    wrong = api.client.get(
        f"{V1}/traders/{t.user_id}/performance", headers=h, params={"period": "x"}
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "validation_error"
    missing = api.client.get(f"{V1}/traders/{UUID(int=9)}/performance", headers=h)
    assert missing.status_code == 404 and missing.json()["code"] == "trader_not_found"
    assert api.client.get(f"{V1}/traders/leaderboard").status_code == 401
    # the profile route still answers a trader's id
    assert api.client.get(f"{V1}/traders/{t.user_id}", headers=h).status_code == 200
