"""Live stream latency: from an order's COMMIT to its ``order`` event at a websocket client.

Setup (not measured): a fresh migrated database, one user with raised limits, and the API
served by ``cryptotrader serve`` (uvicorn, the workers off) in its own process, as in
production; a websocket client (the ``websockets`` library) signed in with the user's
token and subscribed to ``orders``.

Measured, ``--orders`` times after ``--warmup`` orders: a market buy of 0.001 BTC placed
as the user through ``execute_paper_trade`` on a connection of the app role, then the
clock runs from the start of its COMMIT to the moment the client has read the matching
``order`` event (outbox row, NOTIFY, the stream's listener, the user's queue, the
socket). One order at a time, so each latency is that of one event alone. Each event
must be the order just placed (exactly once, in order).

Target: p99 under 200 ms (the figure tests/api/test_stream.py once asserted). The last
line printed is one JSON object with the result.

    .venv/bin/python benchmarks/stream_latency.py [--orders 200] [--warmup 20]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from websockets.sync.client import connect

import _harness as h
from cryptotrader.auth.tokens import issue_access_token

TARGET_P99_S = 0.2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def serve(db: h.AppDatabase, secret: str, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOTRADER_")}
    env.update(
        DATABASE_URL=db.owner,
        CRYPTOTRADER_APP_ROLE=h.APP_ROLE,
        CRYPTOTRADER_APP_PASSWORD=h.APP_PASSWORD,
        CRYPTOTRADER_JWT_SECRET=secret,
        CRYPTOTRADER_RUN_WORKERS="false",
        CRYPTOTRADER_LOG_LEVEL="WARNING",
        CRYPTOTRADER_DATA_DIR=str(data_dir),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "cryptotrader", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=data_dir,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"cryptotrader serve exited with {proc.returncode}")
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("cryptotrader serve did not answer /health within 60 s")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.1)


def measure(db: h.AppDatabase, url: str, secret: str, orders: int, warmup: int) -> list[float]:
    user_id, account_id = h.create_accounts(db.owner, 1)[0]
    token, _ = issue_access_token(secret, uuid.UUID(user_id), email="bench@example.com")
    latencies = []
    with (
        connect(f"{url}?token={token}", open_timeout=10) as ws,
        h.connect_as_user(db.app, user_id) as conn,
    ):
        ready = json.loads(ws.recv(timeout=10))
        assert ready["type"] == "ready", ready
        ws.send(json.dumps({"type": "subscribe", "channels": ["orders"]}))
        while json.loads(ws.recv(timeout=10))["type"] != "subscribed":
            pass
        conn.autocommit = False
        for i in range(warmup + orders):
            row = conn.execute(
                "SELECT id FROM execute_paper_trade(%s, 'BTC', 'buy', 0.001)", [account_id]
            ).fetchone()
            assert row is not None
            started = time.perf_counter()
            conn.commit()
            while True:
                event = json.loads(ws.recv(timeout=10))
                if event["type"] == "order":
                    break
            elapsed = time.perf_counter() - started
            if event["id"] != str(row[0]):
                raise SystemExit(f"expected the event of order {row[0]}, got {event['id']}")
            if i >= warmup:
                latencies.append(elapsed)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    opts = parser.parse_args()
    print(f"machine: {h.machine()}")
    secret = secrets.token_urlsafe(32)
    port = free_port()
    with (
        h.server() as srv,
        h.app_database(srv, "ctbench_stream") as db,
        tempfile.TemporaryDirectory(prefix="ctbench-stream-") as tmp,
    ):
        print(f"server: {srv.describe()}")
        api = serve(db, secret, port, Path(tmp))
        try:
            latencies = measure(
                db, f"ws://127.0.0.1:{port}/api/v1/stream", secret, opts.orders, opts.warmup
            )
        finally:
            api.terminate()
            api.wait(timeout=30)
    latencies.sort()
    p50, p99 = h.percentile(latencies, 0.5), h.percentile(latencies, 0.99)
    print(
        f"commit to client, {len(latencies)} orders: p50 {p50 * 1000:.1f} ms,"
        f" p99 {p99 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    h.emit(
        {
            "benchmark": "stream_latency",
            "value": round(p99, 4),
            "unit": "s (p99)",
            "reference": TARGET_P99_S,
            "ratio": round(p99 / TARGET_P99_S, 4),
            "target": TARGET_P99_S,
            "pass": p99 < TARGET_P99_S,
            "p50": round(p50, 4),
            "max": round(latencies[-1], 4),
            "orders": len(latencies),
        }
    )


if __name__ == "__main__":
    main()
