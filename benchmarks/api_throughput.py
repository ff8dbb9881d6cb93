"""HTTP throughput: POST /api/v1/orders and GET /api/v1/market/prices, each beside a reference.

Set-up: a fresh database, 32 users with an account each; the API served by
`cryptotrader serve --workers W` (uvicorn, the workers off), and, as the framework's
ceiling, a bare FastAPI app returning a constant, served by uvicorn the same way.
Load: 32 concurrent keep-alive clients for a fixed time after a warm-up. The load comes from
wrk (C, `apt install wrk`) when it is on PATH, so the generator takes little of the two
cores the server shares; otherwise (or with --python-client) from httpx2 on asyncio:

- orders: each client places market orders (buy/sell 0.001 BTC) on its own account with
  its own bearer token; reference: execute_paper_trade called directly, measured in the
  same run by benchmarks/trade_throughput.py's client (8 connections, one per user).
  Target: API orders/s >= 0.5 x direct.
- prices: each client GETs /api/v1/market/prices (every tracked coin, USD and AUD, with
  staleness); reference: the bare endpoint. Target: >= 0.5 x bare.

    .venv/bin/python benchmarks/api_throughput.py [--seconds 10] [--clients 32] [--workers 2]
        [--python-client]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx2
import psycopg

import _harness as h
import trade_throughput
from cryptotrader.auth.tokens import issue_access_token

SECRET = "bench-secret-" + "x" * 32
BARE_APP = """
from fastapi import FastAPI
app = FastAPI()

@app.get("/bare")
async def bare() -> dict[str, bool]:
    return {"ok": True}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx2.get(url, timeout=1).status_code < 500:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def serve_api(
    owner: str, workers: int, port: int, data_dir: Path, pool_size: int = 4
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOTRADER_")}
    env.update(
        DATABASE_URL=owner,
        CRYPTOTRADER_APP_PASSWORD=h.APP_PASSWORD,
        CRYPTOTRADER_JWT_SECRET=SECRET,
        CRYPTOTRADER_RUN_WORKERS="false",
        CRYPTOTRADER_DATA_DIR=str(data_dir),
        CRYPTOTRADER_LOG_LEVEL="WARNING",
        CRYPTOTRADER_POOL_MIN_SIZE=str(pool_size),
        CRYPTOTRADER_POOL_MAX_SIZE=str(pool_size),
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cryptotrader",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def serve_bare(workers: int, port: int, where: Path) -> subprocess.Popen[bytes]:
    (where / "bare_app.py").write_text(BARE_APP)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=where,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def load(
    base: str,
    requests: list[tuple[str, str, dict[str, str], dict[str, str] | None]],
    seconds: float,
    warmup: float,
) -> tuple[float, list[float], int]:
    """Each (method, path, headers, body) is one client looping; returns req/s, latencies,
    non-2xx count."""
    latencies: list[float] = []
    failures = 0
    start = time.perf_counter() + warmup
    end = start + seconds
    limits = httpx2.Limits(max_connections=len(requests), max_keepalive_connections=len(requests))

    async def client(
        method: str, path: str, headers: dict[str, str], body: dict[str, str] | None
    ) -> None:
        nonlocal failures
        flip = False
        async with httpx2.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
            while (t0 := time.perf_counter()) < end:
                payload = None
                if body is not None:
                    flip = not flip
                    payload = body | {"side": "buy" if flip else "sell"}
                r = await http.request(method, path, headers=headers, json=payload)
                t1 = time.perf_counter()
                if r.status_code >= 300:
                    failures += 1
                if t0 >= start and t1 <= end:
                    latencies.append(t1 - t0)

    await asyncio.gather(*(client(*spec) for spec in requests))
    latencies.sort()
    return len(latencies) / seconds, latencies, failures


WRK_SCRIPT = r"""
-- Each wrk thread owns its share of the users; each request goes to the thread's next user,
-- alternating buy and sell per user. done() prints one JSON line with the figures.
local specs = {}
local counter = 1
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local total, nthreads = tonumber(args[2]), tonumber(args[3])
  local lines = {}
  for line in io.lines(args[1]) do table.insert(lines, line) end
  local per = math.floor(total / nthreads)
  for k = id * per + 1, (id + 1) * per do
    local method, path, auth, body = lines[k]:match("^(%S+) (%S+) (%S*) ?(.*)$")
    table.insert(specs, {method = method, path = path, auth = auth, body = body, flip = false})
  end
end

function request()
  local spec = specs[counter]
  counter = counter % #specs + 1
  local headers = {}
  if spec.auth ~= "-" then headers["Authorization"] = "Bearer " .. spec.auth end
  if spec.body ~= "" then
    spec.flip = not spec.flip
    headers["Content-Type"] = "application/json"
    local body = spec.body:gsub("SIDE", spec.flip and "buy" or "sell")
    return wrk.format(spec.method, spec.path, headers, body)
  end
  return wrk.format(spec.method, spec.path, headers)
end

function done(summary, latency, requests)
  local failures = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "failures": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    failures))
end
"""


def load_wrk(
    base: str,
    requests: list[tuple[str, str, dict[str, str], dict[str, str] | None]],
    seconds: float,
    warmup: float,
    where: Path,
) -> tuple[float, list[float], int]:
    """The same load as :func:`load`, generated by wrk (2 threads): req/s, the p50 and p99
    latencies (as a two-point list), non-2xx and socket errors."""
    threads = 2 if len(requests) % 2 == 0 else 1
    specs = where / "specs.txt"
    lines = []
    for method, path, headers, body in requests:
        auth = headers.get("Authorization", "- ").removeprefix("Bearer ")
        text = json.dumps(body | {"side": "SIDE"}) if body is not None else ""
        lines.append(f"{method} {path} {auth or '-'} {text}".rstrip())
    specs.write_text("\n".join(lines) + "\n")
    script = where / "load.lua"
    script.write_text(WRK_SCRIPT)

    def wrk(duration: float) -> dict[str, int]:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{len(requests)}",
                f"-d{max(1, round(duration))}s",
                "--timeout",
                "30s",
                "-s",
                str(script),
                base,
                "--",
                str(specs),
                str(len(requests)),
                str(threads),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return dict(json.loads(out.strip().splitlines()[-1]))

    if warmup > 0:
        wrk(warmup)
    figures = wrk(seconds)
    rps = figures["requests"] / (figures["duration_us"] / 1e6)
    return rps, [figures["p50_us"] / 1e6, figures["p99_us"] / 1e6], figures["failures"]


def report(name: str, rps: float, lat: list[float], failures: int) -> None:
    p50, p99 = h.percentile(lat, 0.5) * 1000, h.percentile(lat, 0.99) * 1000
    print(f"{name}: {rps:,.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, non-2xx {failures}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating direct/API orders runs (medians)"
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=4,
        help="database connections per API worker (default 4: with 2 workers, the 8 the"
        " direct reference uses)",
    )
    parser.add_argument(
        "--python-client",
        action="store_true",
        help="generate the load with httpx2 even if wrk is here",
    )
    opts = parser.parse_args()
    print(f"machine: {h.machine()}")
    use_wrk = shutil.which("wrk") is not None and not opts.python_client
    print(f"load generator: {'wrk' if use_wrk else 'httpx2 (asyncio)'}, {opts.clients} connections")
    with (
        h.server() as srv,
        tempfile.TemporaryDirectory() as tmp,
        h.app_database(srv, "ctbench_api") as db,
    ):
        accounts = h.create_accounts(db.owner, opts.clients)
        api_port, bare_port = free_port(), free_port()
        api = serve_api(db.owner, opts.workers, api_port, Path(tmp), opts.pool_size)
        bare = serve_bare(opts.workers, bare_port, Path(tmp))
        try:
            base = f"http://127.0.0.1:{api_port}"
            wait_up(f"{base}/health")
            wait_up(f"http://127.0.0.1:{bare_port}/bare")
            orders = []
            for user_id, account_id in accounts:
                token, _ = issue_access_token(SECRET, user_id, email=f"{user_id}@bench")  # type: ignore[arg-type]
                orders.append(
                    (
                        "POST",
                        "/api/v1/orders",
                        {"Authorization": f"Bearer {token}"},
                        {"account_id": account_id, "symbol": "BTC", "amount": "0.001"},
                    )
                )
            # a starting position per account (1 BTC), so that a sell overtaking its
            # user's previous buy still finds something to sell
            for _, path, headers, body in orders:
                assert body is not None
                r = httpx2.post(
                    base + path,
                    headers=headers,
                    json=body | {"side": "buy", "amount": "1"},
                    timeout=30,
                )
                r.raise_for_status()
            # start from a clean checkpoint, as the direct run does (its WAL would
            # otherwise be checkpointed during this run)
            h.checkpoint(db.owner)

            def run(
                url: str, reqs: list[tuple[str, str, dict[str, str], dict[str, str] | None]]
            ) -> tuple[float, list[float], int]:
                if use_wrk:
                    return load_wrk(url, reqs, opts.seconds, opts.warmup, Path(tmp))
                return asyncio.run(load(url, reqs, opts.seconds, opts.warmup))

            # The orders figure and its reference alternate, round after round, and each
            # side's median is taken: this machine's speed drifts by a fifth from one
            # minute to the next, and a single run of each would mostly measure that.
            directs, rounds = [], []
            for i in range(opts.rounds):
                print(f"round {i + 1}/{opts.rounds}: direct execute_paper_trade (8 connections)")
                direct_i, _ = trade_throughput.run_ours(
                    srv, 8, int(opts.seconds), opts.warmup, Decimal("0.001")
                )
                # each direct round gets a fresh database; the API's is reused, so clear
                # the previous round's dead rows (32 hot account rows updated thousands
                # of times) and its WAL first
                with psycopg.connect(db.owner, autocommit=True) as conn:
                    conn.execute("VACUUM (ANALYZE)")
                h.checkpoint(db.owner)
                rounds.append(run(base, orders))
                directs.append(direct_i)
                print(f"  direct {direct_i:,.0f} orders/s, API {rounds[-1][0]:,.0f} orders/s")
            direct = statistics.median(directs)
            o_rps, o_lat, o_fail = sorted(rounds, key=lambda r: r[0])[len(rounds) // 2]
            o_fail = sum(r[2] for r in rounds)
            prices = [("GET", "/api/v1/market/prices", {}, None)] * opts.clients
            p_rps, p_lat, p_fail = run(base, prices)
            bare_reqs = [("GET", "/bare", {}, None)] * opts.clients
            b_rps, b_lat, b_fail = run(f"http://127.0.0.1:{bare_port}", bare_reqs)
        finally:
            for proc in (api, bare):
                proc.terminate()
                proc.wait(30)
    print(f"direct execute_paper_trade, median of {opts.rounds}: {direct:,.0f} orders/s")
    report("POST /api/v1/orders (median round)", o_rps, o_lat, o_fail)
    report("GET /api/v1/market/prices", p_rps, p_lat, p_fail)
    report("GET /bare (FastAPI constant)", b_rps, b_lat, b_fail)
    orders_ratio, prices_ratio = o_rps / direct, p_rps / b_rps
    print(f"orders: {orders_ratio:.2f} of direct (target >= 0.5)")
    print(f"prices: {prices_ratio:.2f} of bare (target >= 0.5)")
    h.emit(
        {
            "benchmark": "api_throughput",
            "value": round(o_rps, 1),
            "unit": "orders/s",
            "reference": round(direct, 1),
            "ratio": round(orders_ratio, 4),
            "target": 0.5,
            "load_generator": "wrk" if use_wrk else "httpx2",
            "pass": orders_ratio >= 0.5 and prices_ratio >= 0.5 and not (o_fail or p_fail),
            "orders_p50_ms": round(h.percentile(o_lat, 0.5) * 1000, 3),
            "orders_p99_ms": round(h.percentile(o_lat, 0.99) * 1000, 3),
            "prices_rps": round(p_rps, 1),
            "bare_rps": round(b_rps, 1),
            "prices_ratio": round(prices_ratio, 4),
            "prices_p50_ms": round(h.percentile(p_lat, 0.5) * 1000, 3),
            "prices_p99_ms": round(h.percentile(p_lat, 0.99) * 1000, 3),
        }
    )


if __name__ == "__main__":
    main()
