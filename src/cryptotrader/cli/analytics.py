"""``cryptotrader analytics``: the daily account and portfolio analytics, now for a day,
rebuilt from history, or shown for one account. The commands act as the system (the
service role) through the analytics service the daily job calls: the same step, the same
rows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer
from psycopg_pool import AsyncConnectionPool

from cryptotrader.cli import render
from cryptotrader.cli.common import bad_input_exits_2, friendly_errors, run_service, with_pool
from cryptotrader.cli.render import console
from cryptotrader.config import get_settings
from cryptotrader.db.runtime import migrate_target
from cryptotrader.db.session import Conn

if TYPE_CHECKING:
    from cryptotrader.analytics.schemas import Performance

app = typer.Typer(
    help="Daily analytics: compute a day, backfill from history, show an account's.",
    no_args_is_help=True,
)


class PeriodOption(StrEnum):
    """The tear sheet's periods (analytics.schemas.PERIODS) as a choice."""

    d30 = "30d"
    d90 = "90d"
    ytd = "ytd"
    y1 = "1y"
    all = "all"


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {value!r}", param_hint=option) from None


def _not_future(day: date, option: str) -> date:
    if day > datetime.now(UTC).date():
        raise typer.BadParameter(f"{day} has not begun yet", param_hint=option)
    return day


@app.command("run")
@friendly_errors
@bad_input_exits_2
def analytics_run(
    day: Annotated[
        str | None,
        typer.Option(
            "--date", help="The UTC day (YYYY-MM-DD); default yesterday, the daily job's."
        ),
    ] = None,
) -> None:
    """Write every account's and portfolio's rows for a day (what the daily job does; a
    rerun rewrites the same rows; a gap before the day is caught up first)."""
    from cryptotrader.analytics import service as analytics

    when = _not_future(_day(day, "--date") or analytics.previous_utc_day(), "--date")
    settings = get_settings()
    migrate_target(settings)

    async def work(pool: AsyncConnectionPool[Conn]) -> int:
        return await analytics.run_day(pool, when, shards=settings.analytics_shards)

    count = with_pool(settings, work)
    console.print(f"{when}: {count} accounts", markup=False)


@app.command("backfill")
@friendly_errors
@bad_input_exits_2
def analytics_backfill(
    account: Annotated[
        list[UUID] | None, typer.Option("--account", help="Only this account; repeatable.")
    ] = None,
    from_day: Annotated[
        str | None,
        typer.Option(
            "--from", help="Rebuild from this UTC day on (default: each account's first)."
        ),
    ] = None,
    to_day: Annotated[
        str | None, typer.Option("--to", help="The last day to write (default: yesterday).")
    ] = None,
) -> None:
    """Rebuild the daily rows from trades and closes alone: the series from --from on are
    forgotten, then the daily step runs day by day (one transaction per day)."""
    from cryptotrader.analytics import service as analytics

    settings = get_settings()
    migrate_target(settings)
    last = _not_future(_day(to_day, "--to") or analytics.previous_utc_day(), "--to")
    first = _day(from_day, "--from")
    if first is not None and first > last:
        raise typer.BadParameter(f"--from {first} is after --to {last}", param_hint="--from")
    bar, tell = render.progress_bar("backfill")

    async def work(pool: AsyncConnectionPool[Conn]) -> int:
        return await analytics.backfill(
            pool,
            last,
            account,
            first,
            lambda _d, done, total: tell(done / total),
            shards=settings.analytics_shards,
        )

    with bar:
        days = with_pool(settings, work)
    who = "all accounts" if not account else ", ".join(str(a) for a in account)
    console.print(f"backfilled {days} days through {last} for {who}", markup=False)


@app.command("show")
@friendly_errors
@bad_input_exits_2
def analytics_show(
    account: Annotated[UUID, typer.Argument(help="The account's id (see `accounts list`).")],
    period: Annotated[
        PeriodOption, typer.Option("--period", help="The span the drawdowns and the curve cover.")
    ] = PeriodOption.all,
) -> None:
    """An account's tear sheet: the stats over MTD, 3M, YTD, 1Y and all (per-trade figures
    over closed round trips) and its deepest drawdowns, from its daily rows."""
    from cryptotrader.analytics import performance

    async def work(conn: Conn) -> Performance:
        return await performance.account_performance(conn, account, period.value)

    sheet = run_service(work)
    render.tear_sheet(sheet)
