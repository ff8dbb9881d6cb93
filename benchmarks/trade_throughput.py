"""Market-order throughput of execute_paper_trade() against pgbench's TPC-B-like mix.

Eight users (by default) each trade on their own account from their own connection,
as the app does: the app's login role switched to ``authenticated`` with the user's
JWT claims, autocommit, so every call is one transaction. Orders alternate buy and
sell of a small BTC amount. After a warm-up, completed calls are counted for a fixed
time, with each call's latency. Then, on the same server, ``pgbench -b tpcb-like``
runs with as many clients on a scratch database: the reference figure.

Target: our orders/s at least 0.8 of pgbench's tps. The last line printed is one JSON
object with the result.

    .venv/bin/python benchmarks/trade_throughput.py [--seconds 15] [--clients 8]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

import psycopg

import _harness as h

SYMBOL = "BTC"
TRADE = "SELECT * FROM execute_paper_trade(%s, 'BTC', %s, %s)"
TARGET = 0.8
_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)


@dataclass
class ClientResult:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _client(
    app: str,
    user_id: str,
    account_id: str,
    amount: Decimal,
    ready: threading.Barrier,
    window: list[float],
    out: ClientResult,
) -> None:
    """One user's loop: buy, sell, buy, ... until the window closes."""
    try:
        conn = h.connect_as_user(app, user_id)
    except psycopg.Error as exc:
        out.errors.append(f"connect: {exc}")
        ready.abort()
        return
    with conn:
        side = "buy"
        try:
            ready.wait()
        except threading.BrokenBarrierError:
            out.errors.append("another client failed to connect")
            return
        measure_from, end = window
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                break
            try:
                conn.execute(TRADE, [account_id, side, amount], prepare=True).fetchall()
            except psycopg.Error as exc:
                out.errors.append(f"{side}: {exc}")
                return
            t1 = time.perf_counter()
            if t0 >= measure_from and t1 <= end:
                out.latencies.append(t1 - t0)
            side = "sell" if side == "buy" else "buy"


def run_ours(
    srv: h.Server, clients: int, seconds: float, warmup: float, amount: Decimal
) -> tuple[float, list[float]]:
    """Orders/s over the measured window, and the sorted latencies (s)."""
    with h.app_database(srv, "ctbench_trades") as db:
        accounts = h.create_accounts(db.owner, clients, SYMBOL)
        h.checkpoint(db.owner)
        results = [ClientResult() for _ in accounts]
        window = [0.0, 0.0]

        def start_clock() -> None:  # runs once, when every client has connected
            now = time.perf_counter()
            window[0] = now + warmup
            window[1] = now + warmup + seconds

        ready = threading.Barrier(clients, action=start_clock)
        threads = [
            threading.Thread(
                target=_client,
                args=(db.app, user_id, account_id, amount, ready, window, res),
                name=f"client-{i}",
            )
            for i, ((user_id, account_id), res) in enumerate(zip(accounts, results, strict=True))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        errors = [e for r in results for e in r.errors]
        if errors:
            raise SystemExit(f"{len(errors)} client(s) failed, first: {errors[0]}")
        with psycopg.connect(db.owner) as conn:
            row = conn.execute(
                "SELECT count(*) FROM paper_trades WHERE status = 'completed'"
            ).fetchone()
        print(f"  trades recorded in total (incl. warm-up): {row[0] if row else '?'}")
    latencies = sorted(x for r in results for x in r.latencies)
    return len(latencies) / seconds, latencies


def run_pgbench(srv: h.Server, clients: int, jobs: int, seconds: int, scale: int) -> float:
    """pgbench's TPC-B-like tps on a scratch database of the same server."""
    pgbench = str(srv.bin_dir / "pgbench")
    args, env = srv.client_args()
    with h.scratch_database(srv, "ctbench_pgbench") as name:
        subprocess.run(
            [pgbench, "-i", "-q", "-s", str(scale), *args, name],
            env=env,
            check=True,
            capture_output=True,
        )
        h.checkpoint(srv.admin)
        cmd = [pgbench, "-b", "tpcb-like", "-c", str(clients), "-j", str(jobs)]
        cmd += ["-T", str(seconds), "-n", *args, name]
        print(f"  $ {' '.join(cmd)}")
        proc = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    match = _TPS.search(proc.stdout)
    if match is None:
        raise SystemExit(f"no 'tps = ' line in pgbench's output:\n{proc.stdout}\n{proc.stderr}")
    return float(match[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15, help="measured seconds (each side)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections")
    parser.add_argument("--jobs", type=int, default=2, help="pgbench threads (-j)")
    parser.add_argument("--scale", type=int, default=8, help="pgbench scale (-s)")
    parser.add_argument("--amount", type=Decimal, default=Decimal("0.001"), help="BTC per order")
    opts = parser.parse_args()
    if opts.seconds < 1 or opts.clients < 1:
        parser.error("--seconds and --clients must be at least 1")
    jobs = max(1, min(opts.jobs, opts.clients))

    print(f"machine: {h.machine()}")
    with h.server() as srv:
        print(f"server: {srv.describe()}")
        print(f"ours: {opts.clients} clients, {opts.warmup:g} s warm-up + {opts.seconds} s")
        ours, lat = run_ours(srv, opts.clients, opts.seconds, opts.warmup, opts.amount)
        print(f"pgbench: -i -s {opts.scale}, tpcb-like -c {opts.clients} -j {jobs}")
        ref = run_pgbench(srv, opts.clients, jobs, opts.seconds, opts.scale)

    p50 = h.percentile(lat, 0.50) * 1000
    p99 = h.percentile(lat, 0.99) * 1000
    ratio = ours / ref if ref > 0 else 0.0
    print(f"execute_paper_trade: {ours:.1f} orders/s ({len(lat)} in {opts.seconds} s)")
    print(f"  latency p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    print(f"pgbench tpcb-like:   {ref:.1f} tps")
    print(f"ratio ours/pgbench:  {ratio:.3f} (target >= {TARGET})")
    h.emit(
        {
            "benchmark": "trade_throughput",
            "value": round(ours, 1),
            "unit": "orders/s",
            "reference": round(ref, 1),
            "ratio": round(ratio, 4),
            "target": TARGET,
            "pass": ratio >= TARGET,
            "p50_ms": round(p50, 3),
            "p99_ms": round(p99, 3),
        }
    )


if __name__ == "__main__":
    main()
