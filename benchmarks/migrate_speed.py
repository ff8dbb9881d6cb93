"""Migrating an empty database: ``migrate()`` of every migration, wall-clock seconds.

Setup (not measured): the embedded server (or DATABASE_URL) and a fresh empty scratch
database for each run. Measured: ``cryptotrader.db.migrate.migrate`` from nothing to the
newest migration (each in its transaction, with the checksums recorded), the median of
``--runs``; every migration must be applied.

Target: under 5 s (the bound tests/db/test_migrate.py once asserted; ``make run`` and
every test session pay it once). The last line printed is one JSON object.

    .venv/bin/python benchmarks/migrate_speed.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from psycopg.conninfo import make_conninfo

import _harness as h
from cryptotrader.db import migrate

TARGET_S = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    print(f"machine: {h.machine()}")
    expected = [m.version for m in migrate.discover()]
    runs = []
    with h.server() as srv:
        print(f"server: {srv.describe()}")
        for _ in range(opts.runs):
            with h.scratch_database(srv, "ctbench_migrate") as name:
                owner = make_conninfo(srv.admin, dbname=name)
                started = time.perf_counter()
                applied = migrate.migrate(owner)
                runs.append(time.perf_counter() - started)
            if [m.version for m in applied] != expected:
                raise SystemExit("not every migration was applied")
    median = statistics.median(runs)
    print(f"migrate: {len(expected)} migrations in {median:.2f} s (median of {opts.runs})")
    h.emit(
        {
            "benchmark": "migrate_speed",
            "value": round(median, 4),
            "unit": "s",
            "reference": TARGET_S,
            "ratio": round(median / TARGET_S, 4),
            "target": TARGET_S,
            "pass": median < TARGET_S,
            "migrations": len(expected),
        }
    )


if __name__ == "__main__":
    main()
