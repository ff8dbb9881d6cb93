"""Parameter sweep: 100 combinations of an SMA crossover over 100,000 one-minute candles,
wall-clock seconds, on every CPU this process may use.

Setup (not measured): 100,000 one-minute candles bootstrapped from the real Binance
candles of ``data/ohlcv/BTC-USDT_1m.csv`` with ``backtest_speed.bootstrap`` (seeded
60-bar blocks of real bars, chained; see that script). The grid is ``fast=5:50:5`` x
``slow=60:240:20``: 10 x 10 = 100 combinations, all valid (fast < slow). The broker is
the default ``BacktestConfig`` (10,000 USD, fixed 5 bps slippage, 0.10 % taker fee).

Measured, alternately, ``--runs`` times each (the median is reported):
  * ours: what ``cryptotrader backtest --sweep ...`` does once it has the bars:
    ``make_plan`` (every combination validated) and ``execute_plan`` with one process per
    CPU: start the pool (forked from a forkserver that has imported the engine; the
    first run also starts that server, later ones reuse it, as a long-lived worker
    does), send the bars to each process once (its initializer), run the 100 backtests,
    rank them by Sharpe, then run the best one again in full (trades, equity);
  * reference: the same plan with ``processes=1``, every combination one after another
    in this process (no pool). ``ratio`` is reference / ours: the speed-up.
Both must rank the same combinations in the same order with the same capital and trades,
and statistics equal up to float rounding.

Target: under 10 s (issue #6: "a 100-combination sweep over 100,000 candles in under
10 s on 2 cores"). The last line printed is one JSON object.

    .venv/bin/python benchmarks/backtest_sweep.py [--rows 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

from cryptotrader.backtest import BacktestConfig, load_csv
from cryptotrader.backtest.service import Outcome, execute_plan, make_plan
from cryptotrader.backtest.sweep import available_cpus, parse_sweep
from cryptotrader.strategies.base import Bars

TARGET_S = 10.0
RANGES = ["fast=5:50:5", "slow=60:240:20"]


def run(bars: Bars, processes: int) -> tuple[float, Outcome]:
    t0 = time.perf_counter()
    plan = make_plan(
        "sma_crossover", {}, BacktestConfig(), ranges=parse_sweep(RANGES), processes=processes
    )
    outcome = execute_plan(bars, plan)
    return time.perf_counter() - t0, outcome


def same_rows(a: Outcome, b: Outcome) -> bool:
    """Same ranking, capital and trades; statistics equal up to float rounding (the worker
    processes use one BLAS thread, this one may use several: dot products then sum in
    another order, about 1e-14 apart)."""
    for x, y in zip(a.rows, b.rows, strict=True):
        if (x.parameters, x.final_capital, x.trades) != (y.parameters, y.final_capital, y.trades):
            return False
        for key, value in x.stats.items():
            other = y.stats[key]
            if (value is None) != (other is None):
                return False
            if value is not None and not math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-12):
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="one-minute candles")
    parser.add_argument("--runs", type=int, default=3, help="measured runs of each")
    parser.add_argument("--seed", type=int, default=11)
    opts = parser.parse_args()
    if opts.rows < 1000 or opts.runs < 1:
        parser.error("--rows must be at least 1000 and --runs at least 1")

    # imported here, not at the top: the sweep's worker processes import this script again
    # as __mp_main__, and backtest_speed brings pandas and backtesting.py along
    import _harness as h
    from backtest_speed import SOURCE, bootstrap

    cpus = available_cpus()
    print(f"machine: {h.machine()}")
    t0 = time.perf_counter()
    bars = bootstrap(load_csv(SOURCE), opts.rows, opts.seed)
    print(f"  setup: {len(bars):,} candles in {time.perf_counter() - t0:.1f} s (not measured)")

    ours_s, reference_s = [], []
    for i in range(opts.runs):
        seconds, parallel = run(bars, cpus)
        ours_s.append(seconds)
        seconds, sequential = run(bars, 1)
        reference_s.append(seconds)
        if len(parallel.rows) != 100 or not same_rows(parallel, sequential):
            raise SystemExit("the parallel and sequential sweeps differ")
        print(
            f"  run {i + 1}: {cpus} processes {ours_s[-1]:.2f} s,"
            f" one process {reference_s[-1]:.2f} s"
        )

    best = parallel.rows[0]
    print(
        f"  best of {len(parallel.rows)}: {best.parameters}, sharpe"
        f" {best.stats['sharpe_ratio']:.3f}, {best.trades} trades,"
        f" final capital {best.final_capital:,.2f}"
    )
    ours, reference = statistics.median(ours_s), statistics.median(reference_s)
    print(
        f"backtest sweep: 100 combinations x {len(bars):,} candles in {ours:.2f} s on {cpus}"
        f" processes (median of {opts.runs}); one process {reference:.2f} s;"
        f" speed-up {reference / ours:.2f}; target < {TARGET_S:.0f} s"
    )
    h.emit(
        {
            "benchmark": "backtest_sweep",
            "value": round(ours, 3),
            "unit": "s",
            "reference": round(reference, 3),
            "ratio": round(reference / ours, 3),
            "target": TARGET_S,
            "pass": ours < TARGET_S,
            "combinations": len(parallel.rows),
            "candles": len(bars),
            "processes": cpus,
        }
    )


if __name__ == "__main__":
    main()
