"""Deliveries end to end: an event enqueued in SQL, its procrastinate job, the attempts to
a loopback receiver that verifies the signatures with the Standard Webhooks library, the
retries, 410 Gone, the SSRF guard, rotation, and a rolled-back event that sends nothing."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from standardwebhooks.webhooks import Webhook

from cryptotrader.config import get_settings
from cryptotrader.db.session import Conn
from cryptotrader.jobs.app import build_app
from cryptotrader.jobs.runtime import task_pool
from cryptotrader.webhooks import sender
from cryptotrader.webhooks.delivery import MAX_ATTEMPTS, GuardSettings
from tests.jobs.conftest import running_worker, until
from tests.support import TestDatabase, create_user
from tests.webhooks.helpers import (
    LOOPBACK,
    Reply,
    attempts,
    deliveries,
    endpoint,
    enqueue,
    receiving,
    rotate,
    waiting_jobs,
)

pytestmark = pytest.mark.anyio
FILLED = {"order_id": "5b1e8c3a-7d2f-4a69-9e04-c8f1a2b3d4e5", "symbol": "BTC"}


async def run_next(
    db: TestDatabase, pool: AsyncConnectionPool[Conn], delivery_id: object
) -> str | None:
    """Run the delivery's waiting job (there is exactly one), ignoring its schedule."""
    jobs = waiting_jobs(db, delivery_id)
    assert len(jobs) == 1, jobs
    args = jobs[0]["args"]
    with db.owner() as conn:  # the worker would mark it done
        conn.execute("SET search_path = procrastinate, public")
        conn.execute(
            "UPDATE procrastinate.procrastinate_jobs SET status = 'succeeded' WHERE id = %s",
            [jobs[0]["id"]],
        )
    return await sender.send(
        pool, uuid.UUID(args["delivery_id"]), args["attempt"], guard=LOOPBACK, rng=random.Random(7)
    )


async def test_fails_twice_then_delivered_once_with_one_webhook_id(
    db: TestDatabase, pool: AsyncConnectionPool[Conn]
) -> None:
    with db.owner() as conn:
        user = create_user(conn)
    with receiving() as receiver:
        hook, secret = endpoint(db, user, receiver.url)
        receiver.secrets = [secret]
        receiver.replies = [Reply(500), Reply(500), Reply(204)]
        assert enqueue(db, user, "order.filled", FILLED) == 1
        [delivery] = deliveries(db, hook)
        statuses = []
        for _ in range(3):
            before = datetime.now(UTC)
            statuses.append(await run_next(db, pool, delivery["id"]))
            if statuses[-1] == "pending":  # the retry waits its backoff
                [retry] = waiting_jobs(db, delivery["id"])
                assert retry["scheduled_at"] > before
        assert waiting_jobs(db, delivery["id"]) == []
    assert statuses == ["pending", "pending", "delivered"]
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert ids == {delivery["msg_id"]} and len(receiver.requests) == 3
    assert list(receiver.accepted) == [delivery["msg_id"]]
    event = receiver.accepted[delivery["msg_id"]]
    assert event == delivery["payload"] and event["data"] == FILLED
    assert event["type"] == "order.filled"
    for request in receiver.requests:  # the body is the stored one on every attempt
        assert json.loads(request.body) == delivery["payload"]
        Webhook(secret).verify(request.body, request.headers)
    [done] = deliveries(db, hook)
    assert (done["status"], done["attempts"], done["last_status_code"]) == ("delivered", 3, 204)
    assert done["delivered_at"] is not None and done["next_attempt_at"] is None
    log = attempts(db, delivery["id"])
    assert [(a["attempt"], a["outcome"], a["status_code"]) for a in log] == [
        (1, "retry", 500),
        (2, "retry", 500),
        (3, "delivered", 204),
    ]
    # a job that runs again for an attempt already made sends nothing
    assert await sender.send(pool, delivery["id"], 3, guard=LOOPBACK) is None
    assert len(receiver.requests) == 3


async def test_gives_up_after_the_last_attempt(
    db: TestDatabase, pool: AsyncConnectionPool[Conn]
) -> None:
    with db.owner() as conn:
        user = create_user(conn)
    with receiving() as receiver:
        hook, receiver.secrets = endpoint(db, user, receiver.url)[0], []
        receiver.replies = [Reply(503, {"Retry-After": "120"})]
        enqueue(db, user, "order.filled", FILLED)
        [delivery] = deliveries(db, hook)
        statuses = [await run_next(db, pool, delivery["id"]) for _ in range(MAX_ATTEMPTS)]
    assert statuses == ["pending"] * (MAX_ATTEMPTS - 1) + ["failed"]
    assert len(receiver.requests) == MAX_ATTEMPTS and waiting_jobs(db, delivery["id"]) == []
    [failed] = deliveries(db, hook)
    assert (failed["status"], failed["last_error"]) == ("failed", "HTTP 503")


async def test_gone_disables_the_endpoint(
    db: TestDatabase, pool: AsyncConnectionPool[Conn]
) -> None:
    with db.owner() as conn:
        user = create_user(conn)
    with receiving() as receiver:
        hook, _ = endpoint(db, user, receiver.url)
        receiver.replies = [Reply(410)]
        enqueue(db, user, "order.filled", FILLED)
        [delivery] = deliveries(db, hook)
        assert await run_next(db, pool, delivery["id"]) == "gone"
        assert waiting_jobs(db, delivery["id"]) == []
        with db.owner() as conn:
            row = conn.execute(
                "SELECT enabled, disabled_reason FROM webhook_endpoints WHERE id = %s", [hook]
            ).fetchone()
        assert row == {"enabled": False, "disabled_reason": "gone"}
        assert enqueue(db, user, "order.filled", FILLED) == 0  # a disabled endpoint gets none
    assert len(receiver.requests) == 1


async def test_a_redirect_to_a_private_address_is_refused(
    db: TestDatabase, pool: AsyncConnectionPool[Conn]
) -> None:
    with db.owner() as conn:
        user = create_user(conn)
    with receiving() as receiver:
        hook, _ = endpoint(db, user, receiver.url)
        receiver.replies = [Reply(302, {"Location": "http://10.0.0.1/internal"})]
        enqueue(db, user, "order.filled", FILLED)
        [delivery] = deliveries(db, hook)
        assert await run_next(db, pool, delivery["id"]) == "refused"
    assert waiting_jobs(db, delivery["id"]) == []  # refused is final, never retried
    [log] = attempts(db, delivery["id"])
    assert (log["outcome"], log["url"]) == ("refused", "http://10.0.0.1/internal")
    assert "private address" in log["error"]
    assert len(receiver.requests) == 1


async def test_loopback_is_refused_unless_the_operator_allows_it(
    db: TestDatabase, pool: AsyncConnectionPool[Conn]
) -> None:
    with db.owner() as conn:
        user = create_user(conn)
    with receiving() as receiver:
        hook, _ = endpoint(db, user, receiver.url)
        enqueue(db, user, "order.filled", FILLED)
        [delivery] = deliveries(db, hook)
        assert await sender.send(pool, delivery["id"], 1, guard=GuardSettings()) == "refused"
    assert receiver.requests == []


async def test_during_a_rotation_both_secrets_sign(
    db: TestDatabase, pool: AsyncConnectionPool[Conn]
) -> None:
    with db.owner() as conn:
        user = create_user(conn)
    with receiving() as receiver:
        hook, old = endpoint(db, user, receiver.url)
        new = rotate(db, user, hook)
        receiver.secrets = [old, new]  # every one of them must verify
        enqueue(db, user, "alert.triggered", {"alert_id": "a1"})
        [delivery] = deliveries(db, hook)
        assert await run_next(db, pool, delivery["id"]) == "delivered"
        assert len(receiver.requests[0].headers["webhook-signature"].split()) == 2
        with db.owner() as conn:  # after the grace period only the new one signs
            conn.execute("UPDATE private.webhook_secrets SET previous_expires_at = now()")
        enqueue(db, user, "alert.triggered", {"alert_id": "a2"})
        later = deliveries(db, hook)[1]
        receiver.secrets = [new]
        assert await run_next(db, pool, later["id"]) == "delivered"
    assert len(receiver.requests[1].headers["webhook-signature"].split()) == 1
    with pytest.raises(Exception, match="signature"):
        Webhook(old).verify(receiver.requests[1].body, receiver.requests[1].headers)


def test_subscriptions_choose_the_endpoints(db: TestDatabase) -> None:
    with db.owner() as conn:
        user, other = create_user(conn), create_user(conn)
    url = "https://hooks.example.test/x"
    filled, _ = endpoint(db, user, url, events=["order.filled"])
    every, _ = endpoint(db, user, url)
    alerts, _ = endpoint(db, user, url, events=["alert.*"])
    endpoint(db, user, url, enabled=False)
    endpoint(db, other, url)
    assert enqueue(db, user, "order.filled", {}) == 2
    assert enqueue(db, user, "alert.price", {"alert_id": "x"}) == 2
    assert enqueue(db, user, "bot.error", {}) == 1
    counts = {h: len(deliveries(db, h)) for h in (filled, every, alerts)}
    assert counts == {filled: 1, every: 3, alerts: 1}
    for bad_type, data in [("Order", {}), ("order", {}), ("order.filled", [])]:
        with pytest.raises(psycopg.Error) as refused:
            enqueue(db, user, bad_type, data)  # type: ignore[arg-type]
        assert refused.value.sqlstate == "CT422"


def test_a_rolled_back_event_sends_nothing(db: TestDatabase) -> None:
    with db.owner() as conn:
        user = create_user(conn)
    hook, _ = endpoint(db, user, "https://hooks.example.test/x")
    with db.owner() as conn, conn.transaction(force_rollback=True):
        n = conn.execute(
            "SELECT private.enqueue_webhook_event(%s, 'order.filled', '{}') AS n", [user]
        ).fetchone()
        assert n == {"n": 1}
    assert deliveries(db, hook) == []
    with db.owner() as conn:
        jobs = conn.execute(
            "SELECT count(*) AS n FROM procrastinate.procrastinate_jobs"
            " WHERE task_name = 'webhooks.deliver'"
        ).fetchone()
    assert jobs == {"n": 0}


async def test_a_worker_delivers_the_event_it_was_given_in_sql(
    db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRYPTOTRADER_WEBHOOK_ALLOW_LOOPBACK", "true")
    get_settings.cache_clear()
    with db.owner() as conn:
        user = create_user(conn)
    app = build_app(db.app_conninfo, ["cryptotrader.webhooks.tasks"])
    try:
        with receiving() as receiver:
            hook, receiver.secrets = endpoint(db, user, receiver.url)[0], []
            async with app.open_async(), task_pool(db.app_conninfo), running_worker(app):
                enqueue(db, user, "order.filled", FILLED)
                await until(lambda: bool(receiver.accepted), within=10)
                await until(lambda: deliveries(db, hook)[0]["status"] == "delivered", within=10)
    finally:
        get_settings.cache_clear()
    assert [e["data"] for e in receiver.accepted.values()] == [FILLED]


def test_the_sweep_gives_a_lost_delivery_a_job_again(db: TestDatabase) -> None:
    with db.owner() as conn:
        user = create_user(conn)
    hook, _ = endpoint(db, user, "https://hooks.example.test/x")
    enqueue(db, user, "order.filled", {})
    [delivery] = deliveries(db, hook)
    with db.owner() as conn:
        conn.execute("SET search_path = procrastinate, public")
        conn.execute("DELETE FROM procrastinate.procrastinate_jobs")
        conn.execute("UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 hour'")
    with db.as_service() as conn:
        swept = conn.execute("SELECT private.sweep_webhook_deliveries('10 minutes') AS n")
        assert swept.fetchone() == {"n": 1}
        again = conn.execute("SELECT private.sweep_webhook_deliveries('10 minutes') AS n")
        assert again.fetchone() == {"n": 0}  # it has its job now
        conn.commit()
    [job] = waiting_jobs(db, delivery["id"])
    assert job["args"] == {"delivery_id": str(delivery["id"]), "attempt": 1}
