"""Parameter sweeps: a grid over parameter ranges, run in parallel processes, ranked.

The bars go to each worker process **once**, through the pool's initializer; a task is
one parameter set and returns only a small :class:`SweepRow` (statistics, final capital,
trade count), never equity arrays or trades. Worker processes come from a forkserver (a
fresh single-threaded process that has imported this module once), not from ``fork`` of
the caller: a sweep started from a thread of an asyncio program (the backtest worker)
never forks a process that holds locks, and a worker starts in milliseconds instead of
the half-second of importing numpy, TA-Lib and the engine again (``spawn``). Each worker
process uses one BLAS thread.

Ranking: by one metric (default ``sharpe_ratio``), best first, a combination whose
metric is undefined (None) last, ties in grid order; ranks are 1..N.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from multiprocessing import forkserver
from typing import Any, Literal

from cryptotrader.backtest.engine import run_backtest
from cryptotrader.backtest.errors import InvalidSweep
from cryptotrader.backtest.types import BacktestConfig, BacktestResult
from cryptotrader.strategies import registry
from cryptotrader.strategies.base import Bars
from cryptotrader.strategies.errors import InvalidStrategyParameters

ParamValue = int | float | str
Ranges = Mapping[str, Sequence[ParamValue]]
SweepProgress = Callable[[int, int], None]
"""``progress(done_combinations, total)``; it may raise to stop the sweep."""

MAX_COMBINATIONS = 10_000
# Below this many bar-evaluations (bars x combinations, about 0.2 s of work) a sweep runs
# in this process: starting a worker process costs more (about 0.4 s each).
PARALLEL_MIN_WORK = 2_000_000
Direction = Literal["max", "min"]
RANK_METRICS: dict[str, Direction] = {
    "sharpe_ratio": "max",
    "sortino_ratio": "max",
    "calmar_ratio": "max",
    "total_return": "max",
    "annual_return": "max",
    "final_capital": "max",
    "profit_factor": "max",
    "win_rate": "max",
    "expectancy": "max",
    "max_drawdown": "min",  # a positive fraction: smaller is better
    "volatility": "min",
}


# ------------------------------------------------------------------ ranges and grids


def _number(token: str) -> int | float | None:
    try:
        return int(token)
    except ValueError:
        pass
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_range(text: str) -> list[ParamValue]:
    """Values of one parameter: ``start:stop:step`` (``stop`` included when a step lands on
    it, like ``numpy.arange(start, stop + step, step)`` without its float drift; the step
    defaults to 1), a comma list ``5,10,20`` (numbers or words), or one value. Integers
    stay integers when every bound is one. Raises InvalidSweep."""
    text = text.strip()
    if not text:
        raise InvalidSweep("empty range")
    if ":" not in text:
        items = [t.strip() for t in text.split(",")]
        if any(not t for t in items):
            raise InvalidSweep(f"empty value in list {text!r}")
        values: list[ParamValue] = []
        for t in items:
            n = _number(t)
            values.append(t if n is None else n)
        return values
    parts = [p.strip() for p in text.split(":")]
    if len(parts) not in (2, 3):
        raise InvalidSweep(f"range {text!r} is not start:stop[:step]")
    try:
        start, stop, step = (Decimal(p) for p in [*parts, "1"][:3])
    except InvalidOperation:
        raise InvalidSweep(f"range {text!r}: bounds and step must be numbers") from None
    if not all(d.is_finite() for d in (start, stop, step)):
        raise InvalidSweep(f"range {text!r}: bounds and step must be finite")
    if step <= 0:
        raise InvalidSweep(f"range {text!r}: the step must be positive")
    if stop < start:
        raise InvalidSweep(f"range {text!r}: stop is below start")
    count = int((stop - start) / step) + 1
    if count > MAX_COMBINATIONS:
        raise InvalidSweep(f"range {text!r} has {count:,} values (at most {MAX_COMBINATIONS:,})")
    exact = [start + i * step for i in range(count)]
    if all(d == d.to_integral_value() for d in (start, step)) and all(
        "." not in p and "e" not in p.lower() for p in parts
    ):
        return [int(d) for d in exact]
    return [float(d) for d in exact]


def parse_sweep(specs: Iterable[str]) -> dict[str, list[ParamValue]]:
    """``["fast=5:50:5", "slow=20,40"]`` as ranges by name. Raises InvalidSweep."""
    ranges: dict[str, list[ParamValue]] = {}
    for spec in specs:
        name, sep, text = spec.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidSweep(f"sweep {spec!r} is not name=start:stop:step or name=a,b,c")
        if name in ranges:
            raise InvalidSweep(f"parameter {name!r} is swept twice")
        ranges[name] = parse_range(text)
    if not ranges:
        raise InvalidSweep("a sweep needs at least one parameter range")
    return ranges


@dataclass(frozen=True)
class Grid:
    """The valid combinations of a sweep, and how many the strategy refused."""

    combinations: list[dict[str, ParamValue]]
    skipped: int = 0
    first_refusal: str | None = None

    def __len__(self) -> int:
        return len(self.combinations)


def grid(
    ranges: Ranges,
    *,
    strategy: str | None = None,
    base_params: Mapping[str, Any] | None = None,
) -> Grid:
    """The cartesian product of ``ranges`` in order (the last name varies fastest). With
    ``strategy``, each combination (over ``base_params``) is validated by its parameter
    model and the refused ones (``fast >= slow``, say) are skipped and counted. Raises
    InvalidSweep when there are too many combinations or none is valid, and the
    registry's ``unknown_strategy`` error."""
    names = list(ranges)
    total = math.prod(len(ranges[n]) for n in names) if names else 0
    if not names or total == 0:
        raise InvalidSweep("a sweep needs at least one value for every parameter")
    if total > MAX_COMBINATIONS:
        raise InvalidSweep(f"{total:,} combinations; at most {MAX_COMBINATIONS:,}")
    combos = [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(ranges[n] for n in names))
    ]
    if strategy is None:
        return Grid(combos)
    valid: list[dict[str, ParamValue]] = []
    first: str | None = None
    for combo in combos:
        try:
            registry.build_strategy(strategy, {**(base_params or {}), **combo})
        except InvalidStrategyParameters as exc:
            first = first or exc.detail
            continue
        valid.append(combo)
    if not valid:
        raise InvalidSweep(f"no valid combination in the sweep (e.g. {first})")
    return Grid(valid, skipped=len(combos) - len(valid), first_refusal=first)


# ------------------------------------------------------------------ running


@dataclass(frozen=True)
class SweepRow:
    """One combination's outcome (what a worker process sends back)."""

    index: int
    parameters: dict[str, Any]
    final_capital: Decimal
    total_return: Decimal
    stats: dict[str, Any]
    trades: int
    rank: int | None = field(default=None, compare=False)


def summarize_result(index: int, result: BacktestResult) -> SweepRow:
    initial = result.initial_capital
    return SweepRow(
        index=index,
        parameters=dict(result.parameters),
        final_capital=result.final_capital,
        total_return=(result.final_capital - initial) / initial,
        stats=dict(result.stats),
        trades=len(result.trades),  # the position open at the end included
    )


def run_one(
    bars: Bars,
    strategy: str,
    params: Mapping[str, Any],
    config: BacktestConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    """One full backtest of a built-in strategy (raises the registry's errors)."""
    return run_backtest(bars, registry.build_strategy(strategy, params), config, progress=progress)


# Set in each worker process by _init_worker, once.
_SHARED: dict[str, Any] = {}


def _init_worker(bars: Bars, strategy: str, base: dict[str, Any], config: BacktestConfig) -> None:
    _SHARED.update(bars=bars, strategy=strategy, base=base, config=config)


def _run_task(index: int, params: dict[str, Any]) -> SweepRow:
    s = _SHARED
    result = run_one(s["bars"], s["strategy"], {**s["base"], **params}, s["config"])
    return summarize_result(index, result)


def run_sweep(
    bars: Bars,
    strategy_name: str,
    base_params: Mapping[str, Any],
    combinations: Sequence[Mapping[str, Any]],
    config: BacktestConfig,
    *,
    processes: int | None = None,
    progress: SweepProgress | None = None,
    rank_by: str = "sharpe_ratio",
) -> list[SweepRow]:
    """Run every combination (over ``base_params``) and return them ranked, best first.

    ``processes`` defaults to the CPUs this process may use (or 1 for a small sweep, see
    ``PARALLEL_MIN_WORK``); 1 runs them here, one after another. If ``progress`` raises,
    pending combinations are cancelled and the exception propagates (running ones finish
    in their process and are dropped)."""
    check_metric(rank_by)
    jobs = [(i, dict(c)) for i, c in enumerate(combinations)]
    if processes is None:
        small = len(bars) * len(jobs) < PARALLEL_MIN_WORK
        processes = 1 if small else available_cpus()
    workers = min(processes, len(jobs))
    base = dict(base_params)
    rows: list[SweepRow] = []
    if workers <= 1:
        for i, params in jobs:
            result = run_one(bars, strategy_name, {**base, **params}, config)
            rows.append(summarize_result(i, result))
            if progress is not None:
                progress(len(rows), len(jobs))
        return rank(rows, rank_by)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_pool_context(),
        initializer=_init_worker,
        initargs=(bars, strategy_name, base, config),
    )
    try:
        pending: set[Future[SweepRow]] = {pool.submit(_run_task, i, p) for i, p in jobs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            rows.extend(f.result() for f in done)
            if progress is not None:
                progress(len(rows), len(jobs))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return rank(rows, rank_by)


# Each worker process runs one backtest at a time: BLAS threads inside it (numpy's dot
# products in the metrics) would only fight the sibling processes for the same cores
# (4 x slower per task under load, measured), so workers get one each, as joblib does.
_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_SERVER_LOCK = threading.Lock()


def _pool_context() -> multiprocessing.context.BaseContext:
    """Worker processes forked from a forkserver that has imported this module (numpy,
    TA-Lib, the engine) once, with one BLAS thread each; ``spawn`` where there is no
    forkserver (Windows)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with _SERVER_LOCK:  # the server inherits the environment it is started with
        unset = [name for name in _ONE_THREAD if name not in os.environ]
        os.environ.update(dict.fromkeys(unset, "1"))
        try:
            forkserver.ensure_running()
        finally:
            for name in unset:
                os.environ.pop(name, None)
    return context


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_metric(name: str) -> Direction:
    if name not in RANK_METRICS:
        known = ", ".join(RANK_METRICS)
        raise InvalidSweep(f"cannot rank by {name!r} (one of {known})")
    return RANK_METRICS[name]


def metric_value(row: SweepRow, name: str) -> float | None:
    raw: Any = row.final_capital if name == "final_capital" else row.stats.get(name)
    if raw is None:
        return None
    value = float(raw)
    return value if math.isfinite(value) else None


def rank(rows: Iterable[SweepRow], by: str = "sharpe_ratio") -> list[SweepRow]:
    """Best first by ``by`` (None last, ties in grid order), with ranks 1..N set."""
    sign = 1.0 if check_metric(by) == "min" else -1.0

    def key(row: SweepRow) -> tuple[bool, float, int]:
        value = metric_value(row, by)
        return (value is None, 0.0 if value is None else sign * value, row.index)

    ordered = sorted(rows, key=key)
    return [
        SweepRow(
            index=r.index,
            parameters=r.parameters,
            final_capital=r.final_capital,
            total_return=r.total_return,
            stats=r.stats,
            trades=r.trades,
            rank=n,
        )
        for n, r in enumerate(ordered, start=1)
    ]


def heatmap(rows: Sequence[Mapping[str, Any]], x: str, y: str, metric: str) -> dict[str, Any]:
    """A sweep's results as a grid over two of its parameters: ``cells[i][j]`` is the best
    ``metric`` among the results with ``y = ys[i]`` and ``x = xs[j]`` (the best, when
    other swept parameters vary too), None where none is defined."""

    def order(v: Any) -> tuple[bool, Any]:
        return (v is None, v)

    xs = sorted({r["parameters"].get(x) for r in rows}, key=order)
    ys = sorted({r["parameters"].get(y) for r in rows}, key=order)
    cells: list[list[float | None]] = [[None] * len(xs) for _ in ys]
    for r in rows:
        value = r.get(metric)
        i, j = ys.index(r["parameters"].get(y)), xs.index(r["parameters"].get(x))
        best = cells[i][j]
        if value is not None and (best is None or float(value) > best):
            cells[i][j] = float(value)
    return {
        "x": {"name": x, "values": xs},
        "y": {"name": y, "values": ys},
        "metric": metric,
        "cells": cells,
    }
