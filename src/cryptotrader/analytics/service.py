"""Account analytics: the daily ``account_analytics`` rows, written by a periodic job.

Today each row is the engine's ``calculate_account_metrics()`` (migration 0007) for the
UTC day; the formulas are in docs/analytics.md. Both functions run in the caller's unit of
work: the job's (service role) or a signed-in user's (RLS limits the rows to theirs).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from cryptotrader.db.calls import fetch_all, fetch_one
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn

Q = load_queries("cryptotrader.analytics")


def previous_utc_day(at: datetime | None = None) -> date:
    """The UTC day that ended last before ``at`` (default now): the day a daily run covers."""
    moment = at or datetime.now(UTC)
    return (moment.astimezone(UTC) - timedelta(days=1)).date()


async def run_daily_accounts(conn: Conn, day: date) -> int:
    """Write (or rewrite) every account's row for ``day``; returns how many accounts."""
    row = await fetch_one(conn, Q["daily_account_metrics"], {"day": day})
    return int(row["accounts"]) if row else 0


async def account_rows(conn: Conn, account_id: UUID, limit: int = 90) -> list[dict[str, Any]]:
    """One account's daily analytics rows, newest first (RLS: only the caller's own)."""
    return await fetch_all(
        conn, Q["account_analytics_rows"], {"account_id": account_id, "limit": limit}
    )
