"""``cryptotrader social``: a user's trader profile, the listed traders, follows.

Every command acts as the user ``--user`` names, in one unit of work as that user (row
level security applies), through the social service the API calls; changes are audited
as theirs."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer
from rich.table import Table

from cryptotrader.cli.common import as_owner, bad_input_exits_2, friendly_errors, print_json
from cryptotrader.cli.render import console
from cryptotrader.cli.social_copies import register as register_copies

if TYPE_CHECKING:
    from cryptotrader.audit.schemas import Actor
    from cryptotrader.db.session import Conn
    from cryptotrader.social.schemas import Follow, LeaderboardEntry, PublicTrader, TraderProfile

app = typer.Typer(
    help="Social trading: your trader profile (list it to be followed), the listed traders,"
    " follows.",
    no_args_is_help=True,
)
UserOpt = Annotated[str, typer.Option("--user", help="The user's email: the command acts as them.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print it as one JSON document.")]
register_copies(app)  # social copy, copies, gap, what-if (cli/social_copies.py)


@app.command("profile")
@friendly_errors
@bad_input_exits_2
def profile(
    user: UserOpt,
    name: Annotated[str | None, typer.Option(help="The name shown (sets the profile).")] = None,
    category: Annotated[str, typer.Option(help="Your trading category.")] = "Other",
    bio: Annotated[str | None, typer.Option(help="A short bio (500 characters).")] = None,
    listed: Annotated[bool, typer.Option("--listed/--private", help="Publish it or not.")] = False,
    trades: Annotated[
        bool, typer.Option("--with-trades/--statistics-only", help="What a listing shows.")
    ] = False,
    delay: Annotated[int, typer.Option(min=0, max=10080, help="Minutes before trades show.")] = 0,
    json_: JsonOpt = False,
) -> None:
    """Show your trader profile, or set it with --name (private unless --listed)."""
    from cryptotrader.social import service
    from cryptotrader.social.schemas import TraderProfileUpdate

    async def work(conn: Conn, actor: Actor) -> TraderProfile:
        if name is None:
            return await service.get_own_profile(conn)
        data = TraderProfileUpdate(
            is_listed=listed,
            display_name=name,
            category=category,
            bio=bio,
            shows="statistics_and_trades" if trades else "statistics",
            trade_delay_minutes=delay,
        )
        return await service.put_own_profile(conn, actor, data)

    found = as_owner(user, work)
    if json_:
        print_json(found)
        return
    state = f"listed since {found.listed_at:%Y-%m-%d %H:%M} UTC" if found.listed_at else "private"
    console.print(
        f"{found.display_name} ({found.category}), {state}; shows {found.shows.replace('_', ' ')}"
        + (f", trades after {found.trade_delay_minutes} min" if found.trade_delay_minutes else ""),
        markup=False,
        highlight=False,
    )


@app.command("traders")
@friendly_errors
@bad_input_exits_2
def traders(user: UserOpt, json_: JsonOpt = False) -> None:
    """The listed traders, the longest listed first."""
    from cryptotrader.social import service

    async def work(conn: Conn, _: Actor) -> list[PublicTrader]:
        return await service.list_traders(conn, limit=500)

    found = as_owner(user, work)
    if json_:
        print_json(found)
        return
    table = Table("id", "name", "category", "shows", "listed since", "followers")
    for t in found:
        shows = t.shows.replace("_", " ")
        table.add_row(
            str(t.id),
            t.display_name,
            t.category,
            shows,
            f"{t.listed_at:%Y-%m-%d}",
            str(t.followers),
        )
    console.print(table if found else "no listed trader yet")


@app.command("follow")
@friendly_errors
@bad_input_exits_2
def follow(
    trader_id: Annotated[UUID, typer.Argument(help="A listed trader's id (see `social traders`).")],
    user: UserOpt,
) -> None:
    """Follow a listed trader."""
    from cryptotrader.social import service

    async def work(conn: Conn, actor: Actor) -> Follow:
        return await service.follow(conn, actor, trader_id)

    made = as_owner(user, work)
    console.print(f"following {made.trader_name}: follow {made.id}", markup=False, highlight=False)


@app.command("follows")
@friendly_errors
@bad_input_exits_2
def follows(user: UserOpt, json_: JsonOpt = False) -> None:
    """The traders you follow."""
    from cryptotrader.social import service

    async def work(conn: Conn, _: Actor) -> list[Follow]:
        return await service.list_follows(conn, limit=500)

    found = as_owner(user, work)
    if json_:
        print_json(found)
        return
    table = Table("follow", "trader", "category", "status", "since")
    for f in found:
        status = "active" if f.is_active else "paused"
        table.add_row(
            str(f.id), f.trader_name, f.trader_category, status, f"{f.followed_at:%Y-%m-%d}"
        )
    console.print(table if found else "you follow nobody yet")


def _step(follow_id: UUID, user: str, step: str) -> None:
    from cryptotrader.social import service

    async def work(conn: Conn, actor: Actor) -> str:
        if step == "unfollow":
            await service.unfollow(conn, actor, follow_id)
            return "unfollowed"
        done = await service.set_active(conn, actor, follow_id, active=step == "resume")
        return f"{done.trader_name}: {'active' if done.is_active else 'paused'}"

    console.print(as_owner(user, work), markup=False, highlight=False)


FollowArg = Annotated[UUID, typer.Argument(help="The follow's id (see `social follows`).")]


@app.command("unfollow")
@friendly_errors
@bad_input_exits_2
def unfollow(follow_id: FollowArg, user: UserOpt) -> None:
    """Unfollow."""
    _step(follow_id, user, "unfollow")


@app.command("pause")
@friendly_errors
@bad_input_exits_2
def pause(follow_id: FollowArg, user: UserOpt) -> None:
    """Pause a follow without unfollowing."""
    _step(follow_id, user, "pause")


@app.command("resume")
@friendly_errors
@bad_input_exits_2
def resume(follow_id: FollowArg, user: UserOpt) -> None:
    """Resume a paused follow."""
    _step(follow_id, user, "resume")


class PeriodOption(StrEnum):
    """The leaderboard's periods (social.schemas.LEADERBOARD_PERIODS) as a choice."""

    d7 = "7d"
    d30 = "30d"
    d90 = "90d"
    all = "all"


class SortOption(StrEnum):
    """What the leaderboard ranks by (social.schemas.LEADERBOARD_SORTS)."""

    dsr = "dsr"
    ret = "return"
    sharpe = "sharpe"
    drawdown = "drawdown"


def _pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def _num(value: Decimal | None, places: int = 2) -> str:
    return "—" if value is None else f"{value:.{places}f}"


def leaderboard_table(entries: list[LeaderboardEntry]) -> Table:
    """The ranking as Rich draws it: the DSR with the trial count beside it."""
    table = Table("#", "trader", "days", "return", "max dd", "sharpe", "DSR (trials)", "win rate")
    for column in ("trades", "followers", "copiers' PnL"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            str(e.rank),
            e.display_name,
            str(e.days_active),
            _pct(e.total_return),
            _pct(e.max_drawdown),
            _num(e.sharpe_ratio),
            f"{_num(e.deflated_sharpe, 3)} ({e.trials})",
            _pct(e.win_rate),
            str(e.trades),
            str(e.followers),
            _num(e.copiers_pnl),
        )
    return table


@app.command("leaderboard")
@friendly_errors
@bad_input_exits_2
def leaderboard(
    period: Annotated[PeriodOption, typer.Option(help="The track: last 7, 30, 90 days or all.")] = (
        PeriodOption.d30
    ),
    min_days: Annotated[
        int | None, typer.Option(min=0, help="Daily returns needed (default: the setting).")
    ] = None,
    min_trades: Annotated[
        int | None, typer.Option(min=0, help="Closed round trips needed (default: the setting).")
    ] = None,
    sort: Annotated[SortOption, typer.Option(help="What ranks: dsr, return, sharpe, drawdown.")] = (
        SortOption.dsr
    ),
    limit: Annotated[int, typer.Option(min=1, max=500, help="Places shown.")] = 100,
    json_: JsonOpt = False,
) -> None:
    """The listed traders ranked by the Deflated Sharpe Ratio (published figures only)."""
    from cryptotrader.cli.common import run_service
    from cryptotrader.config import get_settings
    from cryptotrader.social import leaderboard as leaderboards

    settings = get_settings()

    async def work(conn: Conn) -> list[LeaderboardEntry]:
        return await leaderboards.leaderboard(
            conn,
            period=period.value,
            min_days=settings.leaderboard_min_days if min_days is None else min_days,
            min_trades=settings.leaderboard_min_trades if min_trades is None else min_trades,
            sort=sort.value,
            limit=limit,
        )

    found = run_service(work)
    if json_:
        print_json(found)
        return
    console.print(leaderboard_table(found) if found else "no listed trader has the track yet")
