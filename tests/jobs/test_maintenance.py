"""The maintenance jobs: their schedule, and each does what it says once however often it
runs (pruning only what has expired, creating only the partitions that are missing)."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from cryptotrader.jobs import tasks
from cryptotrader.jobs.app import build_app, periodic_tasks
from cryptotrader.jobs.runtime import task_pool
from tests.support import Row, TestDatabase, create_user

pytestmark = pytest.mark.anyio
MAINTENANCE = "cryptotrader.jobs.tasks"


def test_the_maintenance_schedule() -> None:
    assert [(p.task, p.cron, p.periodic_id) for p in periodic_tasks([MAINTENANCE])] == [
        ("maintenance.create_partitions", "0 3 1 * *", "monthly"),
        ("maintenance.prune", "30 3 * * *", "daily"),
        ("maintenance.retry_stalled", "* * * * *", "every_minute"),
    ]
    app = build_app("", [MAINTENANCE])  # never opened: only its registry is read
    assert {key[0] for key in app.periodic_registry.periodic_tasks} == set(app.tasks) - {
        name for name in app.tasks if name.startswith(("builtin:", "procrastinate."))
    }
    # at most one of each waiting, so workers that were down do not pile them up
    assert {t.queueing_lock for name, t in app.tasks.items() if name.startswith("maint")} == {
        "maintenance.create_partitions",
        "maintenance.prune",
        "maintenance.retry_stalled",
    }


def _ids(conn: psycopg.Connection[Row], query: str, *params: Any) -> list[Any]:
    return [next(iter(r.values())) for r in conn.execute(query, list(params)).fetchall()]  # type: ignore[arg-type]


def _refresh_token(
    conn: psycopg.Connection[Row], user: uuid.UUID, expired_days: int, **extra: Any
) -> Any:
    row = conn.execute(
        "INSERT INTO auth.refresh_tokens (user_id, family_id, token_hash, created_at, expires_at,"
        " revoked_at, parent_id) VALUES (%s, gen_random_uuid(), %s, now() - interval '60 days',"
        " now() - make_interval(days => %s), %s, %s) RETURNING id",
        [user, uuid.uuid4().hex * 2, expired_days, extra.get("revoked_at"), extra.get("parent")],
    ).fetchone()
    assert row is not None
    return row["id"]


def _finished_job(conn: psycopg.Connection[Row], status: str, days_ago: int) -> int:
    row = conn.execute(
        "INSERT INTO procrastinate_jobs (queue_name, task_name) VALUES ('default', 'x')"
        " RETURNING id"
    ).fetchone()
    assert row is not None
    conn.execute("UPDATE procrastinate_jobs SET status = %s WHERE id = %s", [status, row["id"]])
    conn.execute(
        "UPDATE procrastinate_events SET at = now() - make_interval(days => %s) WHERE job_id = %s",
        [days_ago, row["id"]],
    )
    return int(row["id"])


def expiring_rows(db: TestDatabase) -> dict[str, tuple[list[Any], list[Any]]]:
    """Rows of each kind the prune deletes: (those past their retention, those within)."""
    with db.owner() as conn:
        user = create_user(conn)
        keys = {}
        for key, hours in (("old", 25), ("fresh", 23)):
            conn.execute(
                "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at)"
                " VALUES (%s, %s, 'h', now() - make_interval(hours => %s))",
                [user, key, hours],
            )
            keys[key] = key
        expired = _refresh_token(conn, user, 8)
        revoked = _refresh_token(conn, user, 10, revoked_at="2020-01-01")
        recent = _refresh_token(conn, user, 6)
        child = _refresh_token(conn, user, -20, parent=expired)  # valid, its parent is not
        events = _ids(
            conn,
            "INSERT INTO private.stream_events (channel, user_id, payload, created_at)"
            " VALUES ('orders', %s, %s, now() - interval '11 minutes'),"
            " ('orders', %s, %s, now() - interval '9 minutes') RETURNING id",
            user, Jsonb({}), user, Jsonb({}),
        )  # fmt: skip
        conn.execute("SET search_path = procrastinate, public")
        old_jobs = [_finished_job(conn, "succeeded", 8), _finished_job(conn, "failed", 31)]
        kept_jobs = [
            _finished_job(conn, "succeeded", 6),
            _finished_job(conn, "failed", 29),
            _finished_job(conn, "todo", 60),
        ]
    return {
        "idempotency_keys": (["old"], ["fresh"]),
        "refresh_tokens": ([expired, revoked], [recent, child]),
        "stream_events": ([events[0]], [events[1]]),
        "jobs": (old_jobs, kept_jobs),
    }


LEFT = {
    "idempotency_keys": "SELECT key FROM idempotency_keys",
    "refresh_tokens": "SELECT id FROM auth.refresh_tokens",
    "stream_events": "SELECT id FROM private.stream_events",
    "jobs": "SELECT id FROM procrastinate.procrastinate_jobs",
}


async def test_prune_deletes_what_expired_only_and_twice_is_once(db: TestDatabase) -> None:
    rows = expiring_rows(db)
    async with task_pool(db.app_conninfo):
        first = await tasks.prune(timestamp=0)
        again = await tasks.prune(timestamp=0)
    assert first == {kind: len(gone) for kind, (gone, _) in rows.items()}
    assert again == dict.fromkeys(rows, 0)
    with db.owner() as conn:
        for kind, (gone, kept) in rows.items():
            left = set(_ids(conn, LEFT[kind]))
            assert not left & set(gone), kind
            assert set(kept) <= left, kind
        [child] = conn.execute(
            "SELECT parent_id FROM auth.refresh_tokens WHERE id = %s",
            [rows["refresh_tokens"][1][1]],
        ).fetchall()
    assert child == {"parent_id": None}


async def test_create_partitions_makes_the_missing_ones_only(db: TestDatabase) -> None:
    with db.owner() as conn:
        row = conn.execute(
            "SELECT 'paper_trades_' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC')"
            " + interval '3 months', 'YYYY_MM') AS name"
        ).fetchone()
        assert row is not None
        conn.execute(f"DROP TABLE {row['name']}")  # type: ignore[arg-type]
    async with task_pool(db.app_conninfo):
        first = await tasks.create_partitions(timestamp=0)
        again = await tasks.create_partitions(timestamp=0)
    assert (first, again) == (1, 0)
    with db.owner() as conn:
        back = conn.execute("SELECT to_regclass(%s) IS NOT NULL AS ok", [row["name"]]).fetchone()
    assert back == {"ok": True}
