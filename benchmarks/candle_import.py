"""Bulk candle import: import_candles_csv() of 1,000,000 1-minute candles, in rows/s.

Setup (not measured): a random walk of 1,000,000 valid 1m candles (seeded) written to a
temporary CSV in the import format (``timestamp,open,high,low,close,volume``), and the
same rows with ``symbol,timeframe`` in front for the reference; a fresh migrated
database on the embedded server (or DATABASE_URL), empty ``market_candles``, a
checkpoint before each measured run.

Measured, alternately, ``--runs`` times each (the median is reported):
  * ours: ``import_candles_csv(<app conninfo>, file, 'BTC', '1m')``: connect, switch to
    service_role, COPY into the staging table, check every row, write, commit;
  * reference (the raw ceiling): a plain ``COPY market_candles (...) FROM STDIN (FORMAT
    csv)`` of the same rows through psycopg as the owner (service_role cannot COPY into
    the table at all: COPY FROM is refused under row level security), then commit.
Afterwards (printed, not in the result): importing the file again (nothing changes),
and the careful path (one bad row, ``skip_bad``).

Target: at least 200,000 rows/s. The last line printed is one JSON object.

    .venv/bin/python benchmarks/candle_import.py [--rows 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

import _harness as h
from cryptotrader.market.candle_import import import_candles_csv

TARGET = 200_000
START = datetime(2022, 1, 1, tzinfo=UTC)
RAW_COPY = (
    "COPY market_candles (symbol, timeframe, open_time, open, high, low, close, volume)"
    " FROM STDIN (FORMAT csv)"
)


def generate(rows: int, ours: Path, raw: Path, seed: int) -> None:
    """A random walk of valid candles: low <= open, close <= high, low > 0."""
    rng = random.Random(seed)
    minutes = [f"T{m // 60:02d}:{m % 60:02d}:00Z" for m in range(1440)]
    price = 40000.0
    with ours.open("w") as f, raw.open("w") as g:
        f.write("timestamp,open,high,low,close,volume\n")
        for day in range(rows // 1440 + 1):
            date = (START + timedelta(days=day)).strftime("%Y-%m-%d")
            lines = []
            for m in range(min(1440, rows - day * 1440)):
                o = price
                c = max(1.0, o * (1 + rng.gauss(0, 0.001)))
                hi = max(o, c) * (1 + abs(rng.gauss(0, 0.0005)))
                lo = min(o, c) * (1 - abs(rng.gauss(0, 0.0005)))
                vol = abs(rng.gauss(20, 10))
                lines.append(f"{date}{minutes[m]},{o:.2f},{hi:.2f},{lo:.2f},{c:.2f},{vol:.6f}\n")
                price = float(f"{c:.2f}")
            f.writelines(lines)
            g.writelines("BTC,1m," + line for line in lines)


def reset(owner: str, admin: str) -> None:
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute("TRUNCATE market_candles")
    h.checkpoint(admin)


def stored(owner: str) -> int:
    with psycopg.connect(owner) as conn:
        row = conn.execute("SELECT count(*) FROM market_candles").fetchone()
    return int(row[0]) if row else -1


def run_ours(app: str, path: Path, rows: int) -> float:
    t0 = time.perf_counter()
    report = import_candles_csv(app, path, "BTC", "1m")
    seconds = time.perf_counter() - t0
    if report.rows_written != rows or report.bad_rows or report.raw_path:
        raise SystemExit(f"unexpected import report: {report}")
    return seconds


def run_raw(owner: str, path: Path) -> float:
    with psycopg.connect(owner) as conn, path.open("rb") as f:
        cur = conn.cursor()
        t0 = time.perf_counter()
        with cur.copy(RAW_COPY) as copy:
            while block := f.read(1 << 20):
                copy.write(block)
        conn.commit()
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="candles to import")
    parser.add_argument("--runs", type=int, default=3, help="measured runs of each")
    parser.add_argument("--seed", type=int, default=7)
    opts = parser.parse_args()
    if opts.rows < 1 or opts.runs < 1:
        parser.error("--rows and --runs must be at least 1")

    print(f"machine: {h.machine()}")
    with tempfile.TemporaryDirectory(prefix="ctbench-candles-") as tmp:
        ours_csv, raw_csv = Path(tmp) / "candles.csv", Path(tmp) / "raw.csv"
        t0 = time.perf_counter()
        generate(opts.rows, ours_csv, raw_csv, opts.seed)
        size = ours_csv.stat().st_size
        print(
            f"  setup: {opts.rows:,} candles, {size / 1e6:.1f} MB CSV,"
            f" in {time.perf_counter() - t0:.1f} s (not measured)"
        )
        with h.server() as srv, h.app_database(srv, "ctbench_candles") as db:
            print(f"server: {srv.describe()}")
            ours_s, raw_s = [], []
            for i in range(opts.runs):
                reset(db.owner, srv.admin)
                ours_s.append(run_ours(db.app, ours_csv, opts.rows))
                reset(db.owner, srv.admin)
                raw_s.append(run_raw(db.owner, raw_csv))
                if stored(db.owner) != opts.rows:
                    raise SystemExit("the reference COPY did not store every row")
                print(
                    f"  run {i + 1}: ours {ours_s[-1]:.2f} s"
                    f" ({opts.rows / ours_s[-1]:,.0f} rows/s),"
                    f" raw COPY {raw_s[-1]:.2f} s ({opts.rows / raw_s[-1]:,.0f} rows/s)"
                )

            # not part of the result: the other paths through the import
            reset(db.owner, srv.admin)
            run_ours(db.app, ours_csv, opts.rows)
            t0 = time.perf_counter()
            again = import_candles_csv(db.app, ours_csv, "BTC", "1m")
            seconds = time.perf_counter() - t0
            print(
                f"  again (upsert, {again.rows_unchanged:,} unchanged):"
                f" {seconds:.2f} s ({opts.rows / seconds:,.0f} rows/s)"
            )
            bad_csv = Path(tmp) / "one-bad.csv"
            data = ours_csv.read_bytes()
            comma = data.index(b",", data.index(b"\n")) + 1
            bad_csv.write_bytes(data[:comma] + b"-" + data[comma:])  # line 2: open < 0
            reset(db.owner, srv.admin)
            t0 = time.perf_counter()
            careful = import_candles_csv(db.app, bad_csv, "BTC", "1m", skip_bad=True)
            seconds = time.perf_counter() - t0
            print(
                f"  careful path (1 bad row skipped, {careful.rows_written:,} written):"
                f" {seconds:.2f} s ({opts.rows / seconds:,.0f} rows/s)"
            )

    ours = opts.rows / statistics.median(ours_s)
    raw = opts.rows / statistics.median(raw_s)
    print(
        f"candle import: {ours:,.0f} rows/s (median of {opts.runs}); raw COPY {raw:,.0f}"
        f" rows/s; ratio {ours / raw:.2f}; target >= {TARGET:,} rows/s"
    )
    h.emit(
        {
            "benchmark": "candle_import",
            "value": round(ours),
            "unit": "rows/s",
            "reference": round(raw),
            "ratio": round(ours / raw, 4),
            "target": TARGET,
            "pass": ours >= TARGET,
            "rows": opts.rows,
        }
    )


if __name__ == "__main__":
    main()
