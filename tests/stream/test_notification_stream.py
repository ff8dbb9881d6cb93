"""Fill notifications over the live stream (issue 16): the engine writes an
``account_notifications`` row in the transaction of each fill (migration 0039:
``order.filled`` for a market order, ``order.triggered`` for a resting order the market
filled, metadata ``order_id``), and the stream carries it to its owner after the order's
own event. Orders go through ``POST /api/v1/orders`` of a real server, as a client places
them; the stream's event names the notification, whose ``metadata.order_id`` the client
reads back through ``GET /api/v1/notifications``.

How fast is benchmarks/notify_latency.py's business; this is what arrives, once, in order.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
from websockets.sync.client import ClientConnection

from tests.stream.test_stream import (
    Live,
    Message,
    buy,
    live_server,
    recv,
    stream_client,
    token_for,
    trader,
)
from tests.support import TestDatabase

ORDERS = 30
EVENTS = ("order", "notification")


@contextmanager
def api_client(live: Live, user_id: uuid.UUID) -> Iterator[httpx2.Client]:
    """The user's HTTP client of the live server."""
    headers = {"Authorization": f"Bearer {token_for(user_id)}"}
    with httpx2.Client(
        base_url=f"http://{live.host}:{live.port}/api/v1", headers=headers, timeout=30
    ) as http:
        yield http


def market_buy(http: httpx2.Client, account_id: uuid.UUID, amount: str = "0.001") -> str:
    """A market buy through the API; the order's id."""
    r = http.post(
        "/orders",
        json={"account_id": str(account_id), "symbol": "BTC", "side": "buy", "amount": amount},
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "completed"
    return str(r.json()["id"])


def notification_orders(http: httpx2.Client) -> dict[str, tuple[str, str]]:
    """The caller's notifications: id -> (notification_type, metadata's order_id)."""
    r = http.get("/notifications", params={"limit": 500})
    assert r.status_code == 200, r.text
    return {
        n["id"]: (n["notification_type"], str(n["metadata"].get("order_id")))
        for n in r.json()["items"]
    }


def events_until(
    ws: ClientConnection, done: Callable[[list[Message]], bool], timeout: float = 10.0
) -> list[Message]:
    """The order and notification events read until ``done(events)`` holds."""
    events: list[Message] = []
    deadline = time.monotonic() + timeout
    while not done(events):
        try:
            message = recv(ws, max(deadline - time.monotonic(), 0.001))
        except TimeoutError:
            pytest.fail(f"after {timeout} s, only these events: {described(events)}")
        if message["type"] in EVENTS:
            events.append(message)
    return events


def described(events: list[Message]) -> list[tuple[str, str | None, str | None]]:
    return [(e["type"], e.get("status"), e.get("notification_type")) for e in events]


def events_until_quiet(ws: ClientConnection, settle: float = 0.3) -> list[Message]:
    """The order and notification events that arrive before the first heartbeat sent at
    least ``settle`` seconds from now: what was still on its way (the outbox is read every
    50 ms; the servers here beat every 0.2 s)."""
    events: list[Message] = []
    after = datetime.now(UTC) + timedelta(seconds=settle)
    while True:
        message = recv(ws)
        if message["type"] in EVENTS:
            events.append(message)
        elif message["type"] == "heartbeat" and datetime.fromisoformat(message["at"]) > after:
            return events


def test_each_fill_notifies_its_owner_once_after_its_order_in_order(db: TestDatabase) -> None:
    alice, alice_account = trader(db)
    bob, bob_account = trader(db)
    with (
        live_server(db, stream_heartbeat_interval=0.2) as live,
        stream_client(live, alice, channels=["orders", "notifications"]) as alice_ws,
        stream_client(live, bob, channels=["orders", "notifications"]) as bob_ws,
        api_client(live, alice) as alice_http,
        api_client(live, bob) as bob_http,
    ):
        bob_order = market_buy(bob_http, bob_account)  # first: a leak would come before
        placed, rolled_back = [], ""
        for i in range(ORDERS):
            if i == ORDERS // 2:
                # between the others: a rolled back trade and an order the engine refuses
                rolled_back = buy(db, alice, alice_account, commit=False)
                r = alice_http.post(
                    "/orders",
                    json={"account_id": str(alice_account), "symbol": "BTC", "side": "buy"}
                    | {"amount": "1"},
                )
                assert r.json()["code"] == "max_position_size", r.text
            placed.append(market_buy(alice_http, alice_account))

        def complete(events: list[Message]) -> bool:
            return [e["type"] for e in events].count("notification") == ORDERS

        events = events_until(alice_ws, complete, timeout=20)
        events += events_until_quiet(alice_ws)  # nothing more: no repeat, no other
        notes = notification_orders(alice_http)

        # every fill's notification once, each after its order's event, in placing order
        kinds = [e["type"] for e in events]
        assert kinds.count("order") == kinds.count("notification") == ORDERS
        orders = [e["id"] for e in events if e["type"] == "order"]
        assert orders == placed
        assert all(e["status"] == "completed" for e in events if e["type"] == "order")
        noted = [notes[e["id"]] for e in events if e["type"] == "notification"]
        assert noted == [("order.filled", order) for order in placed]
        for order in placed:
            order_at = next(i for i, e in enumerate(events) if e.get("id") == order)
            note_at = next(
                i for i, e in enumerate(events) if notes.get(e["id"]) == ("order.filled", order)
            )
            assert order_at < note_at, f"the notification of {order} came before its order"
        note = next(e for e in events if e["type"] == "notification")
        assert note["user_id"] == str(alice) and note["account_id"] == str(alice_account)

        # the rolled back trade and the refused order wrote no notification
        assert sorted(order for _, order in notes.values()) == sorted(placed)
        assert rolled_back not in {order for _, order in notes.values()}

        # bob got his own fill and its notification, nothing of alice's
        bob_events = events_until(bob_ws, lambda e: len(e) == 2)
        bob_events += events_until_quiet(bob_ws)
        [bob_note] = notification_orders(bob_http)
        assert [(e["type"], e["id"]) for e in bob_events] == [
            ("order", bob_order),
            ("notification", bob_note),
        ]
        assert bob_note not in {e["id"] for e in events}


def test_a_resting_order_the_market_fills_notifies_once_after_its_fill(db: TestDatabase) -> None:
    """A limit buy below the market rests; the tick that crosses it fills it and writes
    ``order.triggered``, which follows the order's ``completed`` event."""
    alice, alice_account = trader(db)
    with (
        live_server(db, stream_heartbeat_interval=0.2) as live,
        stream_client(live, alice, channels=["orders", "notifications"]) as ws,
        api_client(live, alice) as http,
    ):
        r = http.post(
            "/orders",
            json={"account_id": str(alice_account), "symbol": "BTC", "side": "buy"}
            | {"amount": "0.001", "order_type": "limit", "limit_price": "1000"},
        )
        assert r.status_code == 201 and r.json()["status"] == "pending", r.text
        order = str(r.json()["id"])
        assert events_until(ws, lambda e: len(e) == 1)[0]["status"] == "pending"
        assert events_until_quiet(ws) == []  # resting: no notification yet

        with db.as_service() as conn:
            conn.execute("SELECT public.process_market_tick('BTC', 999)")
            conn.commit()
        events = events_until(ws, lambda e: any(m["type"] == "notification" for m in e))
        events += events_until_quiet(ws)
        notes = notification_orders(http)
        assert [(e["type"], e.get("status")) for e in events] == [
            ("order", "completed"),
            ("notification", None),
        ]
        assert events[0]["id"] == order
        assert notes[events[1]["id"]] == ("order.triggered", order)
        assert len(notes) == 1
