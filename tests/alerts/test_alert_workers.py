"""Exactly once: three ``cryptotrader worker --only alerts`` processes on the same ticks;
every firing is recorded once and notified once, in the ticks' order."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.alerts import service
from cryptotrader.alerts.schemas import PriceAlertCreate
from cryptotrader.db.session import Conn, as_service, as_user, user_claims
from tests.support import TestDatabase, create_user, default_account, wait_for

pytestmark = pytest.mark.anyio
USERS = 20
TICKS = 30


def counts(db: TestDatabase) -> dict[str, int]:
    with db.owner() as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM alert_firings) AS firings,"
            " (SELECT count(DISTINCT (alert_id, fire_key)) FROM alert_firings) AS keys,"
            " (SELECT count(*) FROM account_notifications"
            "   WHERE notification_type = 'alert.triggered') AS notices,"
            " (SELECT count(DISTINCT metadata->>'firing_id') FROM account_notifications"
            "   WHERE notification_type = 'alert.triggered') AS noticed,"
            " (SELECT count(*) FROM private.alert_ticks WHERE done_at IS NULL) AS open"
        ).fetchone()
    assert row is not None
    return {k: int(v) for k, v in row.items()}


def start_workers(env: dict[str, str], cwd: Path) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "cryptotrader", "worker", "--only", "alerts"],
            env=env | {"CRYPTOTRADER_ALERT_POLL": "0.01"},
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(3)
    ]


async def test_three_workers_fire_each_alert_once(
    db: TestDatabase, pool: AsyncConnectionPool[Conn], cli_env: dict[str, str], tmp_path: Path
) -> None:
    for _ in range(USERS):
        with db.owner() as conn:
            user = create_user(conn)
            default_account(conn, user)
        async with as_user(pool, user_claims(user)) as conn:
            for fields in (
                {"condition": "crosses_above", "value": "100", "frequency": "every_time"},
                {"condition": "crosses_below", "value": "100", "frequency": "every_time"},
                {"condition": "above", "value": "105", "frequency": "once"},
            ):
                alert = PriceAlertCreate.model_validate({"symbol": "BTC"} | fields)
                await service.create_price_alert(conn, alert)
    workers = start_workers(cli_env, tmp_path)
    try:
        # BTC swings 95, 110, 95, 110, ...: every tick after the first is a cross
        previous: Decimal | None = None
        for i in range(TICKS):
            price = Decimal(95 if i % 2 == 0 else 110)
            async with as_service(pool) as conn:
                at = datetime.now(UTC) + timedelta(seconds=i)
                await service.record_tick(conn, {"BTC": (previous, price, None)}, as_of=at)
            previous = price
        wait_for(lambda: counts(db)["open"] == 0, 60)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
    found = counts(db)
    crosses = TICKS - 1  # each user: one cross a tick after the first, plus "above" once
    expected = USERS * (crosses + 1)
    assert found == {
        "firings": expected, "keys": expected, "notices": expected, "noticed": expected, "open": 0,
    }  # fmt: skip
