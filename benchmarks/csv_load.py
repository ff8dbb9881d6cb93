"""Backtest CSV loading: ``load_csv`` of 1,000,000 one-minute bars (epoch-ms timestamps).

Setup (not measured): a seeded random walk of ``--rows`` bars written to a temporary CSV
in the backtest format (``timestamp,open,high,low,close,volume``). Measured: ``load_csv``
(parse every column, check every bar), the best of ``--runs``; every row must come back.

Target: under 5 s, the bound tests/backtest/test_data.py once asserted (docs/backtesting.md
says about 0.5 s; on the reference machine, loaded, it measured 2.0 s of CPU, 4.1 s of wall
clock in December 2026). The last line printed is one JSON object with the result.

    .venv/bin/python benchmarks/csv_load.py [--rows 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import _harness as h
from cryptotrader.backtest import load_csv

TARGET_S = 5.0


def write(path: Path, rows: int) -> None:
    rng = np.random.default_rng(1)
    stamps = (1_609_459_200_000 + 60_000 * np.arange(rows)).tolist()
    closes = np.round(30_000 + np.cumsum(rng.normal(0, 5, rows)), 2).astype(str).tolist()
    with path.open("w") as f:
        f.write("timestamp,open,high,low,close,volume\n")
        f.writelines(f"{t},{c},{c},{c},{c},1.5\n" for t, c in zip(stamps, closes, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    print(f"machine: {h.machine()}")
    with tempfile.TemporaryDirectory(prefix="ctbench-csv-") as tmp:
        path = Path(tmp) / "bars.csv"
        write(path, opts.rows)
        runs = []
        for _ in range(opts.runs):
            started = time.perf_counter()
            bars = load_csv(path)
            runs.append(time.perf_counter() - started)
            if len(bars) != opts.rows:
                raise SystemExit(f"expected {opts.rows} bars, got {len(bars)}")
    best = min(runs)
    print(f"load_csv: {opts.rows:,} bars in {best:.3f} s (best of {opts.runs})")
    h.emit(
        {
            "benchmark": "csv_load",
            "value": round(best, 4),
            "unit": "s",
            "reference": TARGET_S,
            "ratio": round(best / TARGET_S, 4),
            "target": TARGET_S,
            "pass": best < TARGET_S,
            "rows": opts.rows,
        }
    )


if __name__ == "__main__":
    main()
