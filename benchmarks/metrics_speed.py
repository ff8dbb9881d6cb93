"""Backtest statistics: ``summarize`` over an equity curve of 1,000,000 points, CPU time.

Setup (not measured): seeded random equity and benchmark curves of ``--points`` points
(one-minute returns, 525,600 periods a year) and 10,000 trade PnLs. Measured: the CPU
time (``time.process_time``) of one ``summarize`` with the benchmark, the best of
``--runs``.

Target: under 0.5 s of CPU (the bound tests/analytics/test_metrics.py once asserted).
The last line printed is one JSON object with the result.

    .venv/bin/python benchmarks/metrics_speed.py [--points 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import _harness as h
from cryptotrader.analytics.metrics import summarize

TARGET_S = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    print(f"machine: {h.machine()}")
    rng = np.random.default_rng(1)
    equity = 1e4 * np.cumprod(1 + rng.normal(0.0, 0.001, opts.points))
    bench = 3e4 * np.cumprod(1 + rng.normal(0.0, 0.001, opts.points))
    pnls = rng.normal(1, 10, 10_000)
    best = math.inf
    for _ in range(opts.runs):
        start = time.process_time()
        summary = summarize(equity, periods_per_year=525_600, trade_pnls=pnls, benchmark=bench)
        best = min(best, time.process_time() - start)
    if any(isinstance(v, float) and not math.isfinite(v) for v in summary.values()):
        raise SystemExit(f"a statistic is not finite: {summary}")
    print(f"summarize: {opts.points:,} points in {best:.3f} s of CPU (best of {opts.runs})")
    h.emit(
        {
            "benchmark": "metrics_speed",
            "value": round(best, 4),
            "unit": "s (CPU)",
            "reference": TARGET_S,
            "ratio": round(best / TARGET_S, 4),
            "target": TARGET_S,
            "pass": best < TARGET_S,
            "points": opts.points,
        }
    )


if __name__ == "__main__":
    main()
