"""The bell's unread count and the first page of notifications for a heavy user.

One user with 100,000 notifications (one per fill is what a bot's account collects; 2 %
unread) among 200,000 rows. Measured in the same run, as that user under RLS, median of 30:
  * ours: notifications/queries.sql's ``unread_count`` and ``list_notifications`` (the
    first page of 50), over migration 0040's indexes;
  * the reference: the same two queries as they were before 0040, which read ``is_read``
    through coalesce() (so no partial unread index can serve the count).
Target: the bell's count under 5 ms (it is read on every page). The last line printed is
one JSON object.

    .venv/bin/python benchmarks/notification_reads.py
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import psycopg

import _harness as h
from cryptotrader.db.queries import load_queries

Q = load_queries("cryptotrader.notifications")
OLD_COUNT = Q["unread_count"].replace("is_read IS NOT TRUE", "NOT coalesce(is_read, false)")
OLD_LIST = Q["list_notifications"].replace(
    "OR is_read IS NOT TRUE", "OR NOT coalesce(is_read, false)"
)
PARAMS = {"unread": False, "account_id": None, "type": None, "after_at": None, "after_id": None,
          "limit": 50}  # fmt: skip
TARGET_MS = 5.0


def setup(owner: str) -> str:
    [(user, account)] = h.create_accounts(owner, 1)
    with psycopg.connect(owner) as conn:
        conn.execute(
            "INSERT INTO account_notifications (account_id, user_id, notification_type, title,"
            "   message, is_read, created_at)"
            " SELECT %s, %s, 'order.filled', 'Filled', 'm', g %% 50 <> 0,"
            "   now() - g * interval '1 second' FROM generate_series(1, 100000) g",
            [account, user],
        )
        for other, other_account in h.create_accounts(owner, 20):
            conn.execute(
                "INSERT INTO account_notifications (account_id, user_id, notification_type,"
                "   title, message, is_read)"
                " SELECT %s, %s, 'order.filled', 'Filled', 'm', true"
                " FROM generate_series(1, 5000)",
                [other_account, other],
            )
        conn.execute("ANALYZE account_notifications")
    return user


def median_ms(conn: psycopg.Connection[Any], query: str) -> float:
    took = []
    for _ in range(30):
        started = time.perf_counter()
        conn.execute(query, PARAMS).fetchall()
        took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took)


def main() -> None:
    print(f"machine: {h.machine()}")
    with h.server() as srv, h.app_database(srv, "ctbench_notes") as db:
        user = setup(db.owner)
        conn = h.connect_as_user(db.app, user)
        count, old_count = median_ms(conn, Q["unread_count"]), median_ms(conn, OLD_COUNT)
        page, old_page = median_ms(conn, Q["list_notifications"]), median_ms(conn, OLD_LIST)
        conn.close()
    print(f"unread count: {count:.2f} ms (before 0040's query: {old_count:.2f} ms)")
    print(f"first page:   {page:.2f} ms (before: {old_page:.2f} ms)")
    h.emit(
        {
            "benchmark": "notification_reads",
            "value": round(count, 2),
            "unit": "ms for the unread count of a user with 100,000 notifications (median of 30)",
            "reference": round(old_count, 2),
            "ratio": round(old_count / count, 1),
            "target": TARGET_MS,
            "first_page_ms": round(page, 2),
            "first_page_reference_ms": round(old_page, 2),
            "pass": count < TARGET_MS,
        }
    )


if __name__ == "__main__":
    main()
