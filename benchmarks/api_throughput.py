"""HTTP throughput: POST /api/v1/orders and GET /api/v1/market/prices, each beside a reference.

Set-up: a fresh database, 32 users with an account each; the API served by
`cryptotrader serve --workers W` (uvicorn, the workers off), and, as the framework's
ceiling, a bare FastAPI app returning a constant, served by uvicorn the same way.
Load: 32 concurrent keep-alive clients (httpx2, asyncio) for a fixed time after a
warm-up, recording every latency:

- orders: each client places market orders (buy/sell 0.001 BTC) on its own account with
  its own bearer token; reference: execute_paper_trade called directly, measured in the
  same run by benchmarks/trade_throughput.py's client (8 connections, one per user).
  Target: API orders/s >= 0.5 x direct.
- prices: each client GETs /api/v1/market/prices (every tracked coin, USD and AUD, with
  staleness); reference: the bare endpoint. Target: >= 0.5 x bare.

    .venv/bin/python benchmarks/api_throughput.py [--seconds 10] [--clients 32] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx2

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


def serve_api(owner: str, workers: int, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOTRADER_")}
    env.update(
        DATABASE_URL=owner,
        CRYPTOTRADER_APP_PASSWORD=h.APP_PASSWORD,
        CRYPTOTRADER_JWT_SECRET=SECRET,
        CRYPTOTRADER_RUN_WORKERS="false",
        CRYPTOTRADER_DATA_DIR=str(data_dir),
        CRYPTOTRADER_LOG_LEVEL="WARNING",
        CRYPTOTRADER_POOL_MAX_SIZE="20",
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


def report(name: str, rps: float, lat: list[float], failures: int) -> None:
    p50, p99 = h.percentile(lat, 0.5) * 1000, h.percentile(lat, 0.99) * 1000
    print(f"{name}: {rps:,.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, non-2xx {failures}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    opts = parser.parse_args()
    print(f"machine: {h.machine()}")
    with h.server() as srv, tempfile.TemporaryDirectory() as tmp:
        print("direct execute_paper_trade (8 connections):")
        direct, _ = trade_throughput.run_ours(
            srv, 8, int(opts.seconds), opts.warmup, Decimal("0.001")
        )
        print(f"  {direct:,.0f} orders/s")
        with h.app_database(srv, "ctbench_api") as db:
            accounts = h.create_accounts(db.owner, opts.clients)
            api_port, bare_port = free_port(), free_port()
            api = serve_api(db.owner, opts.workers, api_port, Path(tmp))
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
                # a starting position per account so sells never fail
                asyncio.run(
                    load(base, [(m, p, hd, b | {"amount": "1"}) for m, p, hd, b in orders], 0.5, 0)
                )
                o_rps, o_lat, o_fail = asyncio.run(load(base, orders, opts.seconds, opts.warmup))
                prices = [("GET", "/api/v1/market/prices", {}, None)] * opts.clients
                p_rps, p_lat, p_fail = asyncio.run(load(base, prices, opts.seconds, opts.warmup))
                bare_reqs = [("GET", "/bare", {}, None)] * opts.clients
                b_rps, b_lat, b_fail = asyncio.run(
                    load(f"http://127.0.0.1:{bare_port}", bare_reqs, opts.seconds, opts.warmup)
                )
            finally:
                for proc in (api, bare):
                    proc.terminate()
                    proc.wait(30)
    report("POST /api/v1/orders", o_rps, o_lat, o_fail)
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
