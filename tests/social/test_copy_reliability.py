"""Copies survive the copy worker's death: a `cryptotrader worker --only copies` process is
killed (SIGKILL) while it fans 500 copies out; after a restart every copy exists exactly
once and each follower's copies are in the trader's order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.db.session import Conn
from tests.social.test_copying import copy, list_as_leader, member, trade
from tests.support import TestDatabase, wait_for
from tests.trading.helpers import set_price

D = Decimal

pytestmark = pytest.mark.anyio
Pool = AsyncConnectionPool[Conn]
FOLLOWERS = 100
TRADES = 5  # 500 copies


def start_worker(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cryptotrader", "worker", "--only", "copies"],
        env=env
        | {
            "CRYPTOTRADER_COPY_LEASE": "2",
            "CRYPTOTRADER_COPY_CONCURRENCY": "1",  # slow enough to be caught mid-way
            "CRYPTOTRADER_COPY_POLL": "0.05",
        },
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def counts(db: TestDatabase) -> dict[str, int]:
    with db.owner() as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM paper_trades WHERE trade_category = 'copy') AS trades,"
            " (SELECT count(*) FROM copy_trades WHERE status <> 'planned') AS recorded,"
            " (SELECT count(*) FROM private.copy_events WHERE done_at IS NULL) AS pending"
        ).fetchone()
    assert row is not None
    return {k: int(v) for k, v in row.items()}


async def test_a_killed_worker_loses_and_doubles_no_copy(
    db: TestDatabase, pool: Pool, cli_env: dict[str, str], tmp_path: Path
) -> None:
    with db.owner() as conn:
        set_price(conn, "BTC", "50000")
    leader, leader_acct = member(db, "10000000")
    await list_as_leader(pool, leader, "Leader")
    followers = [member(db) for _ in range(FOLLOWERS)]
    for user, account in followers:
        await copy(pool, user, leader, account, allocation_pct="10")
    # buy, buy, sell a third, buy, sell all: each copy depends on the ones before it
    for side, amount in (("buy", "2"), ("buy", "1"), ("sell", "1"), ("buy", "1"), ("sell", "3")):
        await trade(pool, leader, leader_acct, side, amount)

    first = start_worker(cli_env, tmp_path)
    try:
        wait_for(lambda: counts(db)["trades"] >= 150, timeout=120)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    killed_at = counts(db)
    assert killed_at["trades"] < FOLLOWERS * TRADES, "the worker finished before it was killed"
    assert killed_at["pending"] > 0

    second = start_worker(cli_env, tmp_path)
    try:
        wait_for(lambda: counts(db)["pending"] == 0, timeout=180)
    finally:
        second.terminate()
        second.wait(timeout=30)
    done = counts(db)
    assert done == {"trades": FOLLOWERS * TRADES, "recorded": FOLLOWERS * TRADES, "pending": 0}
    with db.owner() as conn:
        rows = conn.execute(
            "SELECT c.user_id, c.side, c.status, c.filled_quantity, t.filled_at, c.event_id"
            " FROM copy_trades c JOIN paper_trades t ON t.id = c.trade_id"
            " ORDER BY c.user_id, c.event_id"
        ).fetchall()
        doubles = conn.execute(
            "SELECT count(*) AS n FROM (SELECT trade_id FROM copy_trades"
            " GROUP BY trade_id HAVING count(*) > 1) d"
        ).fetchone()
    assert doubles == {"n": 0}
    by_user: dict[object, list[dict[str, object]]] = {}
    for r in rows:
        by_user.setdefault(r["user_id"], []).append(r)
    assert len(by_user) == FOLLOWERS
    for user_rows in by_user.values():
        assert [r["side"] for r in user_rows] == ["buy", "buy", "sell", "buy", "sell"]
        assert all(r["status"] == "filled" for r in user_rows)
        fills = [r["filled_at"] for r in user_rows]
        assert fills == sorted(fills)  # in the trader's order
        bought = sum(D(str(r["filled_quantity"])) for r in user_rows if r["side"] == "buy")
        sold = sum(D(str(r["filled_quantity"])) for r in user_rows if r["side"] == "sell")
        assert bought == sold  # the trader closed out, so every copy did
