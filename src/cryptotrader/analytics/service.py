"""Account and portfolio analytics: the daily ``account_analytics``, ``portfolio_snapshots``
and ``portfolio_analytics`` rows, written by a periodic job, the CLI or a backfill.

All of them run the one set-based step of migrations 0030 and 0031
(``private.analytics_run``): a day for many accounts at once (for all of them, in shards by
user that run at once), from their fills and the day's closes, folded into a
running state of exact sums, so a day costs O(accounts). The formulas are
``analytics/metrics.py``'s (docs/analytics.md). A backfill forgets the series from a day on
and runs the same step day by day, one unit of work per day, so it writes the rows the
daily job would have written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.db.calls import fetch_all, fetch_one
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn, as_service

Q = load_queries("cryptotrader.analytics")


def previous_utc_day(at: datetime | None = None) -> date:
    """The UTC day that ended last before ``at`` (default now): the day a daily run covers."""
    moment = at or datetime.now(UTC)
    return (moment.astimezone(UTC) - timedelta(days=1)).date()


async def run_day(
    pool: AsyncConnectionPool[Conn],
    day: date,
    accounts: Sequence[UUID] | None = None,
    *,
    shards: int = 1,
) -> int:
    """Write (or rewrite) the rows of ``day`` for the accounts (all when None) and their
    portfolios, catching up any gap first; returns how many accounts got a row.

    Given accounts are one unit of work. All accounts are split by user into ``shards``
    parts (``private.analytics_run_shard``), each its own unit of work on its own
    connection, run at once: together they write the rows one unit over everything would
    (a portfolio holds only its owner's accounts), in about 1/shards of the time on a
    server with the cores for it. A part that fails leaves the others written; the day is
    idempotent, so running it again completes it."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1, not {shards}")
    if accounts is not None:
        async with as_service(pool) as conn:
            row = await fetch_one(conn, Q["run_day"], {"day": day, "accounts": list(accounts)})
        return int(row["accounts"]) if row else 0

    async def part(shard: int) -> int:
        async with as_service(pool) as conn:
            row = await fetch_one(
                conn, Q["run_shard"], {"day": day, "shard": shard, "shards": shards}
            )
        return int(row["accounts"]) if row else 0

    async with as_service(pool) as conn:  # the state's months, made before the parts write
        await conn.execute(Q["prepare"], {"day": day})
    return sum(await asyncio.gather(*(part(k) for k in range(shards))))


async def check_accounts(conn: Conn, accounts: Sequence[UUID]) -> None:
    """Raise AccountNotFound for an id that names no account."""
    missing = await fetch_all(conn, Q["missing_accounts"], {"accounts": list(accounts)})
    if missing:
        raise AccountNotFound(f"no account {missing[0]['id']}")


async def backfill(
    pool: AsyncConnectionPool[Conn],
    last_day: date,
    accounts: Sequence[UUID] | None = None,
    from_day: date | None = None,
    on_day: Callable[[date, int, int], None] | None = None,
    *,
    shards: int = 1,
) -> int:
    """Rebuild the series of the accounts (all when None) from ``from_day`` (their first
    day when None) through ``last_day``: one unit of work to forget, then each day as
    :func:`run_day` writes it (all accounts: in ``shards`` parts at once).
    ``on_day(day, done, total)`` reports progress. Returns the number of days computed."""
    ids = None if accounts is None else list(accounts)
    async with as_service(pool) as conn:
        if ids is not None:
            await check_accounts(conn, ids)
        row = await fetch_one(conn, Q["forget"], {"accounts": ids, "from_day": from_day})
    first: date | None = row["first_day"] if row else None
    if first is None or first > last_day:
        return 0
    total = (last_day - first).days + 1
    for done in range(total):
        day = first + timedelta(days=done)
        await run_day(pool, day, ids, shards=shards)
        if on_day is not None:
            on_day(day, done + 1, total)
    return total
