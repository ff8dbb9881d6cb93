"""Fill notification latency: from an order's fill in the database to its ``notification``
event at a websocket client (issue 16: p99 under 200 ms).

Setup (not measured): a fresh migrated database, one user with raised limits, the API
served by ``cryptotrader serve`` (uvicorn, the workers off) in its own process, as in
production (stream_latency.py's ``serve``); a websocket client (the ``websockets``
library, in a thread of its own that only reads and stamps) signed in with the user's
token and subscribed to ``orders`` and ``notifications``.

Measured: ``--orders`` market buys of 0.001 BTC (after ``--warmup`` more) placed through
``POST /api/v1/orders`` at a steady ``--rate`` per second, each on its schedule whatever
the previous one took. The engine writes each fill's ``order.filled`` notification in
the order's transaction (migration 0039); its outbox event carries ``at``, the database's
``clock_timestamp()`` when the row was written, before the COMMIT. Per order, the
latency is the client's ``time.time()`` on reading the event minus that ``at``: the
same clock (client and server are one machine), and the COMMIT is included, so it is
an upper bound of commit to client. Each notification is matched to its order by its
``metadata.order_id`` (read from the database afterwards); every order must have
exactly one, after its order's event.

Reference, in the same run, for the same orders: the ``order`` event of each order (the
stream's existing path: the trade row's trigger writes it, also stamped ``at``), timed
the same way. Both events ride the same outbox, listener and socket; ratio = our p99 /
its p99, so about 1 says a notification costs the client no more wait than the order
event it follows. Also printed: both from the moment the HTTP call returned (after the
COMMIT; an event can beat the response, so these can be below zero).

The last line printed is one JSON object with the result.

    .venv/bin/python benchmarks/notify_latency.py [--orders 500] [--rate 20] [--warmup 20]
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2
import psycopg
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

import _harness as h
from cryptotrader.auth.tokens import issue_access_token
from stream_latency import free_port, serve

TARGET_P99_MS = 200


@dataclass
class Seen:
    """One event as the client read it: when (wall clock and monotonic) and what."""

    wall: float
    mono: float
    message: dict[str, Any]


@dataclass
class Reader:
    """The websocket's reader thread: every order and notification event, stamped."""

    ws: ClientConnection
    events: list[Seen] = field(default_factory=list)
    notes: int = 0

    def run(self) -> None:
        try:
            while True:
                raw = self.ws.recv()
                wall, mono = time.time(), time.perf_counter()
                message = json.loads(raw)
                if message["type"] in ("order", "notification"):
                    self.events.append(Seen(wall, mono, message))
                    self.notes += message["type"] == "notification"
        except ConnectionClosed:
            return


def subscribe(ws: ClientConnection) -> None:
    if json.loads(ws.recv(timeout=10))["type"] != "ready":
        raise SystemExit("the stream did not say ready")
    ws.send(json.dumps({"type": "subscribe", "channels": ["orders", "notifications"]}))
    while json.loads(ws.recv(timeout=10))["type"] != "subscribed":
        pass


def place(http: httpx2.Client, account_id: str, count: int, rate: float) -> dict[str, float]:
    """``count`` market buys on a steady schedule; each order id -> when its call returned
    (perf_counter)."""
    body = {"account_id": account_id, "symbol": "BTC", "side": "buy", "amount": "0.001"}
    returned: dict[str, float] = {}
    start = time.perf_counter()
    for i in range(count):
        pause = start + i / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        r = http.post("/api/v1/orders", json=body)
        if r.status_code != 201 or r.json()["status"] != "completed":
            raise SystemExit(f"order {i} was not filled: {r.status_code} {r.text}")
        returned[str(r.json()["id"])] = time.perf_counter()
    late = time.perf_counter() - start - (count - 1) / rate
    if late > 1:
        print(f"warning: placing fell {late:.1f} s behind the {rate}/s schedule")
    return returned


def notified_orders(owner: str, user_id: str) -> dict[str, tuple[str, str]]:
    """The user's notifications: id -> (type, metadata's order_id)."""
    with psycopg.connect(owner) as conn:
        rows = conn.execute(
            "SELECT id::text, notification_type, metadata->>'order_id'"
            "  FROM account_notifications WHERE user_id = %s",
            [user_id],
        ).fetchall()
    return {r[0]: (r[1], str(r[2])) for r in rows}


def at(seen: Seen) -> float:
    """The event's database stamp as epoch seconds."""
    return datetime.fromisoformat(str(seen.message["at"])).timestamp()


@dataclass
class Latencies:
    """Per measured order (ms): notification and order event, from ``at`` and from the
    HTTP call's return."""

    note_at: list[float] = field(default_factory=list)
    order_at: list[float] = field(default_factory=list)
    note_ret: list[float] = field(default_factory=list)
    order_ret: list[float] = field(default_factory=list)


def match(
    events: list[Seen], notes: dict[str, tuple[str, str]], returned: dict[str, float]
) -> dict[str, tuple[Seen, Seen]]:
    """Each order's (order event, notification), checked: exactly one each, the
    notification after its order's event, in the order they were placed."""
    order_seen: dict[str, tuple[int, Seen]] = {}
    note_seen: dict[str, tuple[int, Seen]] = {}
    for i, seen in enumerate(events):
        kind, event_id = seen.message["type"], str(seen.message["id"])
        if kind == "order":
            target, key = order_seen, event_id
        else:
            note_type, key = notes.get(event_id, ("?", "?"))
            if note_type != "order.filled":
                raise SystemExit(f"unexpected notification {event_id}: {note_type}")
            target = note_seen
        if key in target:
            raise SystemExit(f"a second {kind} event for order {key}")
        target[key] = (i, seen)
    placed = list(returned)
    if list(order_seen) != placed or list(note_seen) != placed:
        raise SystemExit("the events are not those of the orders placed, once each, in order")
    for order in placed:
        if note_seen[order][0] < order_seen[order][0]:
            raise SystemExit(f"the notification of order {order} came before its order event")
    return {o: (order_seen[o][1], note_seen[o][1]) for o in placed}


def measure(opts: argparse.Namespace, db: h.AppDatabase, port: int, secret: str) -> Latencies:
    user_id, account_id = h.create_accounts(db.owner, 1)[0]
    token, _ = issue_access_token(secret, uuid.UUID(user_id), email="bench@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    total = opts.warmup + opts.orders
    url = f"ws://127.0.0.1:{port}/api/v1/stream?token={token}"
    with (
        connect(url, open_timeout=10) as ws,
        httpx2.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as http,
    ):
        subscribe(ws)
        reader = Reader(ws)
        thread = threading.Thread(target=reader.run, daemon=True)
        thread.start()
        returned = place(http, account_id, total, opts.rate)
        deadline = time.monotonic() + 30
        while reader.notes < total and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # anything more (a repeat) would come now
    thread.join(10)
    pairs = match(reader.events, notified_orders(db.owner, user_id), returned)
    out = Latencies()
    for order in list(returned)[opts.warmup :]:
        order_event, note = pairs[order]
        out.note_at.append((note.wall - at(note)) * 1000)
        out.order_at.append((order_event.wall - at(order_event)) * 1000)
        out.note_ret.append((note.mono - returned[order]) * 1000)
        out.order_ret.append((order_event.mono - returned[order]) * 1000)
    return out


def summary(name: str, values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p50, p95, p99 = (h.percentile(ordered, q) for q in (0.5, 0.95, 0.99))
    print(
        f"{name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms,"
        f" min {ordered[0]:.1f} ms, max {ordered[-1]:.1f} ms"
    )
    return p50, p95, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0, help="orders per second")
    parser.add_argument("--warmup", type=int, default=20)
    opts = parser.parse_args()
    print(f"machine: {h.machine()}")
    secret = secrets.token_urlsafe(32)
    port = free_port()
    with (
        h.server() as srv,
        h.app_database(srv, "ctbench_notify") as db,
        tempfile.TemporaryDirectory(prefix="ctbench-notify-") as tmp,
    ):
        print(f"server: {srv.describe()}")
        api = serve(db, secret, port, Path(tmp))
        try:
            lat = measure(opts, db, port, secret)
        finally:
            api.terminate()
            api.wait(timeout=30)
    print(f"{len(lat.note_at)} orders at {opts.rate:g}/s through POST /api/v1/orders")
    p50, p95, p99 = summary("notification, row written to client", lat.note_at)
    _, _, ref = summary("order event (reference), row written to client", lat.order_at)
    summary("notification, HTTP response to client", lat.note_ret)
    summary("order event, HTTP response to client", lat.order_ret)
    h.emit(
        {
            "benchmark": "notify_latency",
            "value": round(p99, 1),
            "unit": "ms",
            "reference": round(ref, 1),
            "ratio": round(p99 / ref, 3),
            "target": TARGET_P99_MS,
            "pass": p99 < TARGET_P99_MS,
            "p50": round(p50, 1),
            "p95": round(p95, 1),
            "orders": len(lat.note_at),
            "rate": opts.rate,
        }
    )


if __name__ == "__main__":
    main()
