"""The daily account analytics job: run by a worker, one row per account for the day,
and a rerun for the same day rewrites the same rows (no second row, same figures)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cryptotrader.analytics.service import previous_utc_day
from cryptotrader.jobs.app import build_app, periodic_tasks
from cryptotrader.jobs.runtime import task_pool
from tests.jobs.conftest import defer, job, running_worker, until
from tests.support import Row, TestDatabase, create_user

pytestmark = pytest.mark.anyio
ANALYTICS = "cryptotrader.analytics.tasks"
COLUMNS = "account_id, analytics_date, daily_return, max_drawdown, total_trades, cash_percentage"


def _rows(db: TestDatabase, day: date) -> list[Row]:
    with db.owner() as conn:
        return conn.execute(
            f"SELECT {COLUMNS} FROM account_analytics WHERE analytics_date = %s ORDER BY 1",
            [day],
        ).fetchall()


def test_the_day_a_run_covers_is_the_utc_day_before_it() -> None:
    assert previous_utc_day(datetime(2026, 3, 1, 0, 5, tzinfo=UTC)) == date(2026, 2, 28)
    assert [(p.task, p.cron) for p in periodic_tasks([ANALYTICS])] == [
        ("analytics.daily", "5 0 * * *")
    ]


async def test_the_daily_job_writes_each_accounts_row_once(db: TestDatabase) -> None:
    with db.owner() as conn:
        users = [create_user(conn) for _ in range(2)]
        accounts = conn.execute(
            "SELECT id FROM paper_trading_accounts WHERE user_id = ANY(%s)", [users]
        ).fetchall()
    assert accounts
    scheduled = datetime.now(UTC) + timedelta(days=1)  # a run tomorrow covers today
    day = previous_utc_day(scheduled)
    app = build_app(db.app_conninfo, [ANALYTICS])
    async with app.open_async(), task_pool(db.app_conninfo), running_worker(app):
        first = await defer(app, "analytics.daily", timestamp=int(scheduled.timestamp()))
        await until(lambda: job(db, first)["status"] == "succeeded")
        once = _rows(db, day)
        second = await defer(app, "analytics.daily", timestamp=int(scheduled.timestamp()))
        await until(lambda: job(db, second)["status"] == "succeeded")
    assert {r["account_id"] for r in once} >= {a["id"] for a in accounts}
    assert len(once) == len({r["account_id"] for r in once})
    assert _rows(db, day) == once
    tomorrow = _rows(db, day + timedelta(days=1))
    assert tomorrow == []  # nothing written for a day that has not been run
