"""Parameter sweeps: ranges, grids, ranking, parallel runs and the rows a sweep stores."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.audit.schemas import Actor
from cryptotrader.backtest import service, sweep, tasks
from cryptotrader.backtest.errors import InvalidSweep
from cryptotrader.backtest.schemas import SessionRequest
from cryptotrader.backtest.sweep import (
    SweepRow,
    grid,
    parse_range,
    parse_sweep,
    rank,
    run_sweep,
)
from cryptotrader.backtest.types import BacktestConfig
from cryptotrader.db.session import Conn, as_user, service_connection, user_claims
from cryptotrader.market.candle_import import import_candles_csv
from cryptotrader.strategies.base import Bars
from cryptotrader.strategies.errors import UnknownStrategy
from tests.support import TestDatabase, create_user

Pool = AsyncConnectionPool[Conn]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "ohlcv"


# ------------------------------------------------------------------ ranges


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("5:50:5", [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]),
        ("20:200:20", list(range(20, 201, 20))),
        ("1:10:4", [1, 5, 9]),  # the stop is included only when a step lands on it
        ("3:6", [3, 4, 5, 6]),
        ("7:7:1", [7]),
        ("0.5:2:0.5", [0.5, 1.0, 1.5, 2.0]),
        ("0.1:0.3:0.1", [0.1, 0.2, 0.3]),  # no float drift: 0.30000000000000004 is not 0.3
        ("1:2:0.25", [1.0, 1.25, 1.5, 1.75, 2.0]),
        ("5,10,20", [5, 10, 20]),
        ("1.5, 2", [1.5, 2]),
        ("sma, ema", ["sma", "ema"]),
        ("42", [42]),
    ],
)
def test_parse_range(text: str, values: list[Any]) -> None:
    parsed = parse_range(text)
    assert parsed == values
    assert [type(v) for v in parsed] == [type(v) for v in values]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty range"),
        ("5:1:1", "stop is below start"),
        ("1:5:0", "the step must be positive"),
        ("1:5:-1", "the step must be positive"),
        ("a:5:1", "must be numbers"),
        ("1:2:3:4", "is not start:stop"),
        ("1:nan:1", "must be finite"),
        ("5,,6", "empty value"),
        ("0:1000000:1", "at most 10,000"),
    ],
)
def test_parse_range_refuses(text: str, message: str) -> None:
    with pytest.raises(InvalidSweep, match=message):
        parse_range(text)


def test_parse_sweep() -> None:
    assert parse_sweep(["fast=5:15:5", " slow = 20,40 "]) == {"fast": [5, 10, 15], "slow": [20, 40]}
    for bad, message in [
        (["fast"], "is not name="),
        (["=1:2"], "is not name="),
        (["fast=1", "fast=2"], "swept twice"),
        ([], "at least one"),
    ]:
        with pytest.raises(InvalidSweep, match=message):
            parse_sweep(bad)


# ------------------------------------------------------------------ grids


def test_grid_is_the_product_without_refused_combinations() -> None:
    ranges = {"fast": parse_range("5:50:5"), "slow": parse_range("20:200:10")}
    plain = grid(ranges)
    assert len(plain) == 10 * 19 and plain.skipped == 0
    assert plain.combinations[:2] == [{"fast": 5, "slow": 20}, {"fast": 5, "slow": 30}]
    checked = grid(ranges, strategy="sma_crossover")
    expected = [c for c in plain.combinations if c["fast"] < c["slow"]]
    assert checked.combinations == expected
    assert checked.skipped == len(plain) - len(expected) == 16
    assert checked.first_refusal is not None and "fast (20) must be below slow (20)" in (
        checked.first_refusal
    )
    # the base parameters take part in the check
    assert len(grid({"fast": [5, 25]}, strategy="sma_crossover", base_params={"slow": 20})) == 1


def test_grid_refuses_what_cannot_run() -> None:
    with pytest.raises(InvalidSweep, match="no valid combination"):
        grid({"fast": [50], "slow": [10, 20]}, strategy="sma_crossover")
    with pytest.raises(InvalidSweep, match=r"no valid combination.*fats"):
        grid({"fats": [5]}, strategy="sma_crossover")
    with pytest.raises(UnknownStrategy, match="'nope'"):
        grid({"fast": [5]}, strategy="nope")
    with pytest.raises(InvalidSweep, match="at most 10,000"):
        grid({"a": list(range(200)), "b": list(range(200))})


# ------------------------------------------------------------------ ranking


def row(index: int, **stats: Any) -> SweepRow:
    return SweepRow(index, {"i": index}, Decimal(10000 + index), Decimal(0), stats, trades=1)


def test_rank_orders_by_the_metric_with_undefined_last() -> None:
    rows = [
        row(0, sharpe_ratio=0.5, max_drawdown=0.3),
        row(1, sharpe_ratio=None, max_drawdown=0.1),
        row(2, sharpe_ratio=1.5, max_drawdown=0.2),
        row(3, sharpe_ratio=0.5, max_drawdown=float("nan")),
    ]
    by_sharpe = rank(rows)
    assert [r.index for r in by_sharpe] == [2, 0, 3, 1]  # ties in grid order, None last
    assert [r.rank for r in by_sharpe] == [1, 2, 3, 4]
    assert [r.index for r in rank(rows, "max_drawdown")] == [1, 2, 0, 3]  # smaller is better
    assert [r.index for r in rank(rows, "final_capital")] == [3, 2, 1, 0]
    with pytest.raises(InvalidSweep, match="cannot rank by 'luck'"):
        rank(rows, "luck")


# ------------------------------------------------------------------ running


@pytest.fixture(scope="module")
def bars() -> Bars:
    """Six months of real BTC 1h bars."""
    import gzip
    import tempfile

    from cryptotrader.backtest.data import load_csv

    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "btc.csv"
        plain.write_bytes(gzip.decompress((FIXTURES / "BTC-USDT_1h.csv.gz").read_bytes()))
        return service.bars_between(
            load_csv(plain), datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 7, 1, tzinfo=UTC)
        )


def test_parallel_and_sequential_sweeps_agree(bars: Bars) -> None:
    combos = grid({"fast": [5, 10, 20], "slow": [30, 60]}, strategy="sma_crossover").combinations
    config = BacktestConfig()
    seen: list[tuple[int, int]] = []
    one = run_sweep(bars, "sma_crossover", {}, combos, config, processes=1)
    two = run_sweep(
        bars,
        "sma_crossover",
        {},
        combos,
        config,
        processes=2,
        progress=lambda done, total: seen.append((done, total)),
    )
    # same rows in the same order; statistics up to float rounding (the worker processes
    # use one BLAS thread, so their dot products may sum in another order)
    assert [(r.parameters, r.final_capital, r.trades) for r in one] == [
        (r.parameters, r.final_capital, r.trades) for r in two
    ]
    for a, b in zip(one, two, strict=True):
        assert a.stats == pytest.approx(b.stats, rel=1e-9, abs=1e-12)
    assert [r.rank for r in two] == list(range(1, 7))
    assert seen[-1] == (6, 6) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    sharpe = [r.stats["sharpe_ratio"] for r in two]
    assert sharpe == sorted(sharpe, reverse=True)
    # a summary, not the equity: small enough to send back from a process
    assert not any(isinstance(v, np.ndarray) for r in two for v in r.stats.values())
    best = two[0]
    assert best.total_return == (best.final_capital - config.initial_capital) / Decimal(10000)


def test_a_progress_callback_that_raises_stops_the_sweep(bars: Bars) -> None:
    combos = grid({"fast": list(range(2, 30)), "slow": [40]}).combinations
    done: list[int] = []

    def stop_after_two(n: int, total: int) -> None:
        done.append(n)
        if n >= 2:
            raise KeyboardInterrupt

    for processes in (1, 2):
        done.clear()
        with pytest.raises(KeyboardInterrupt):
            run_sweep(
                bars,
                "sma_crossover",
                {},
                combos,
                BacktestConfig(),
                processes=processes,
                progress=stop_after_two,
            )
        assert done[-1] < len(combos)


def test_the_bars_go_to_each_process_once(bars: Bars) -> None:
    """Tasks carry an index and parameters only; the bars come from the initializer."""
    sweep._init_worker(bars, "sma_crossover", {"slow": 40}, BacktestConfig())
    try:
        result = sweep._run_task(3, {"fast": 10})
    finally:
        sweep._SHARED.clear()
    assert result.index == 3 and result.parameters == {"fast": 10, "slow": 40}


# ------------------------------------------------------------------ a sweep session


@pytest.mark.anyio
async def test_a_sweep_session_stores_one_ranked_row_per_combination(
    db: TestDatabase, pool: Pool
) -> None:
    import_candles_csv(db.app_conninfo, FIXTURES / "BTC-USDT_1h.csv.gz", "BTC", "1h")
    with db.owner() as conn:
        alice = create_user(conn)
    req = SessionRequest(
        symbol="BTC",
        start=datetime(2021, 1, 1, tzinfo=UTC),
        end=datetime(2021, 7, 1, tzinfo=UTC),
        strategy="sma_crossover",
        sweep={"fast": "5:25:5", "slow": "20:60:20"},  # 15 combinations, 1 refused (20/20)
        rank_by="sortino_ratio",
    )
    async with as_user(pool, user_claims(alice)) as conn:
        made = await service.create_backtest(conn, Actor(claims=user_claims(alice)), alice, req)
    assert made["backtest_config"]["sweep"] == {"fast": [5, 10, 15, 20, 25], "slow": [20, 40, 60]}
    async with service_connection(db.app_conninfo) as conn:
        report = await tasks.BacktestWorker(db.app_conninfo, processes=2).run_next(conn)
    assert report is not None and report.status == "completed", report

    with db.owner() as conn:
        results = conn.execute(
            "SELECT * FROM backtest_results WHERE session_id = %s ORDER BY rank", [made["id"]]
        ).fetchall()
        session = conn.execute(
            "SELECT * FROM backtest_sessions WHERE id = %s", [made["id"]]
        ).fetchone()
    assert session is not None
    combos = {(c["fast"], c["slow"]) for c in (r["parameters"] for r in results)}
    assert len(results) == len(combos) == 13  # 15 minus (20, 20) and (25, 20)
    assert [r["rank"] for r in results] == list(range(1, 14))
    assert all(r["user_id"] == alice for r in results)
    sortino = [r["sortino_ratio"] for r in results]
    assert sortino == sorted(sortino, reverse=True)
    assert results[0]["stats"]["sortino_ratio"] == float(sortino[0])
    # the best combination's full result is the session's
    best = results[0]
    data = session["results_data"]
    assert data["parameters"] == best["parameters"]
    assert session["final_capital"] == best["final_capital"]
    assert session["sortino_ratio"] == best["sortino_ratio"]
    assert data["sweep"] == {
        "ranges": {"fast": [5, 10, 15, 20, 25], "slow": [20, 40, 60]},
        "combinations": 13,
        "skipped": 2,
        "rank_by": "sortino_ratio",
    }
    assert len(session["trade_history"]) > 0 and len(session["equity_curve"]) <= 2000
