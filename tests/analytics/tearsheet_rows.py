"""Daily analytics rows as migration 0030 writes them, inserted directly (as the owner) so
the tear sheet tests choose the curve: account_analytics, portfolio_analytics and
account_round_trips."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from tests.support import TestDatabase

DAY = timedelta(days=1)
START_EQUITY = 10_000.0
START_BENCHMARK = 40_000.0


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def curve(days: int, start: float, step: float) -> list[float]:
    """A wavy curve: up ``step`` most days, down 3 * ``step`` every fifth."""
    out, value = [], start
    for i in range(days):
        value *= 1 - 3 * step if i % 5 == 4 else 1 + step
        out.append(round(value, 2))
    return out


def custom_metrics(equity: float, bench: float | None, epoch: int, **extra: float) -> str:
    return json.dumps(
        {
            "equity": equity,
            "benchmark_close": bench,
            "epoch": epoch,
            "start_equity": START_EQUITY,
            "start_benchmark": START_BENCHMARK,
        }
        | extra
    )


def insert_account_rows(
    db: TestDatabase, account: UUID, user: UUID, first: date, equity: list[float], epoch: int
) -> list[float | None]:
    """One row per day from ``first``; BTC's close is unknown every seventh day. Returns
    the benchmark closes."""
    bench = [START_BENCHMARK + 100 * i if i % 7 else None for i in range(len(equity))]
    with db.owner() as conn:
        for i, value in enumerate(equity):
            conn.execute(
                "INSERT INTO account_analytics (account_id, user_id, analytics_date,"
                " custom_metrics) VALUES (%s, %s, %s, %s)",
                [account, user, first + i * DAY, custom_metrics(value, bench[i], epoch)],
            )
    return bench


def insert_portfolio_rows(
    db: TestDatabase, portfolio: UUID, user: UUID, first: date, index: list[float]
) -> list[float | None]:
    """The portfolio's equity index, one row per day from ``first`` (its total value three
    times the index: members were added). Returns the benchmark closes."""
    bench: list[float | None] = [START_BENCHMARK + 50 * i for i in range(len(index))]
    with db.owner() as conn:
        for i, value in enumerate(index):
            metrics = custom_metrics(value, bench[i], 0, total_value=value * 3)
            conn.execute(
                "INSERT INTO portfolio_analytics (portfolio_id, user_id, analytics_date,"
                " custom_metrics) VALUES (%s, %s, %s, %s)",
                [portfolio, user, first + i * DAY, metrics],
            )
    return bench


def insert_trip(
    db: TestDatabase, account: UUID, user: UUID, epoch: int, closed: datetime, pnl: float
) -> None:
    with db.owner() as conn:
        conn.execute(
            "INSERT INTO account_round_trips (account_id, user_id, epoch, symbol, opened_at,"
            " closed_at, pnl, fills) VALUES (%s, %s, %s, 'BTC', %s, %s, %s, 2)",
            [account, user, epoch, closed - timedelta(hours=5), closed, pnl],
        )


def owner_of(db: TestDatabase, account: UUID | str) -> UUID:
    with db.owner() as conn:
        row = conn.execute(
            "SELECT user_id FROM paper_trading_accounts WHERE id = %s", [account]
        ).fetchone()
    assert row is not None
    return UUID(str(row["user_id"]))


def default_portfolio(db: TestDatabase, user: UUID) -> UUID:
    with db.owner() as conn:
        row = conn.execute(
            "SELECT id FROM portfolios WHERE user_id = %s AND is_default", [user]
        ).fetchone()
    assert row is not None
    return UUID(str(row["id"]))
