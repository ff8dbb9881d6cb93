"""``cryptotrader admin``: users and bans, every user's accounts and their suspension, the
platform's templates, the platform's state. The commands act as the system (the service
role) on behalf of the operator, through the same admin service functions the API calls,
each of which records its ``admin.*`` audit row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from uuid import UUID

import typer
from rich.markup import escape
from rich.table import Table

from cryptotrader.audit.schemas import SYSTEM
from cryptotrader.cli import render
from cryptotrader.cli.common import bad_input_exits_2, friendly_errors, run_service, user_id_of, utc
from cryptotrader.cli.render import console
from cryptotrader.db.session import Conn

if TYPE_CHECKING:
    from cryptotrader.accounts.schemas import AccountStatus
    from cryptotrader.admin.schemas import AdminAccount, AdminUser, PlatformStatus
    from cryptotrader.templates.schemas import Template

app = typer.Typer(
    help="Administration: users and bans, accounts and suspensions, the platform's"
    " templates, the platform's state.",
    no_args_is_help=True,
)
templates_app = typer.Typer(
    help="The platform's templates: list, create, edit, retire.", no_args_is_help=True
)
app.add_typer(templates_app, name="templates")


class StatusOption(StrEnum):
    active = "active"
    paused = "paused"
    archived = "archived"
    suspended = "suspended"


class AccountTypeOption(StrEnum):
    conservative = "conservative"
    balanced = "balanced"
    aggressive = "aggressive"
    day_trading = "day_trading"
    swing_trading = "swing_trading"


class RiskOption(StrEnum):
    very_low = "very_low"
    low = "low"
    medium = "medium"
    high = "high"
    very_high = "very_high"
    aggressive = "aggressive"


EmailArg = Annotated[str, typer.Argument(help="The user's email.")]
AccountArg = Annotated[UUID, typer.Argument(help="The account's id (see `admin accounts`).")]
TemplateArg = Annotated[
    UUID, typer.Argument(help="The template's id (see `admin templates list`).")
]
ReasonOpt = Annotated[str, typer.Option(help="Why (kept in the audit trail).")]
LimitOpt = Annotated[int, typer.Option(min=1, max=500, help="How many to show, newest first.")]
T = TypeVar("T")


def _when(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")


def _table(found: Sequence[T], row: Callable[[T], dict[str, str]], nothing: str) -> None:
    """A table of ``found``, one ``row`` (its cells by column) each; ``nothing`` when there
    are none."""
    if not found:
        console.print(nothing)
        return
    rows = [row(item) for item in found]
    table = Table(*rows[0])
    for cells in rows:
        table.add_row(*cells.values())
    console.print(table)


# ------------------------------------------------------------------ users


def _user_row(u: AdminUser) -> dict[str, str]:
    ban = ("until " + _when(u.banned_until)) if u.banned_until else "for good"
    return {
        "id": str(u.id),
        "email": escape(u.email),
        "name": escape(u.display_name or ""),
        "admin": "yes" if u.is_admin else "",
        "banned": ban if u.is_banned else "",
        "created": _when(u.created_at),
        "last sign-in": _when(u.last_sign_in_at),
        "accounts": str(u.account_count),
    }


@app.command("users")
@friendly_errors
@bad_input_exits_2
def admin_users(
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="A part of the email or name.")
    ] = None,
    banned: Annotated[
        bool | None, typer.Option("--banned/--not-banned", help="Only the banned, or the others.")
    ] = None,
    limit: LimitOpt = 100,
) -> None:
    """Users, newest first, with their ban state, last sign-in and number of accounts."""
    from cryptotrader.admin import service

    found = run_service(
        lambda conn: service.list_users(conn, SYSTEM, search=search, banned=banned, limit=limit)
    )
    _table(found, _user_row, "no user matches")


@app.command("ban")
@friendly_errors
@bad_input_exits_2
def admin_ban(
    email: EmailArg,
    reason: ReasonOpt,
    until: Annotated[
        str | None, typer.Option(help="When the ban ends, ISO-8601 (UTC without an offset).")
    ] = None,
) -> None:
    """Ban a user (for good unless --until) and revoke their sessions. Audited as
    admin.user_banned."""
    from cryptotrader.admin import service
    from cryptotrader.admin.schemas import BanRequest

    ban = BanRequest(reason=reason, until=utc(until, "--until"))

    async def work(conn: Conn) -> AdminUser:
        return await service.ban_user(conn, SYSTEM, await user_id_of(conn, email), ban)

    user = run_service(work)
    end = f"until {_when(user.banned_until)}" if user.banned_until else "for good"
    console.print(f"{email} is banned {end}; their sessions are revoked", markup=False)


@app.command("unban")
@friendly_errors
@bad_input_exits_2
def admin_unban(email: EmailArg) -> None:
    """Lift a user's ban. Audited as admin.user_unbanned."""
    from cryptotrader.admin import service

    async def work(conn: Conn) -> AdminUser:
        return await service.unban_user(conn, SYSTEM, await user_id_of(conn, email))

    run_service(work)
    console.print(f"{email} is no longer banned", markup=False)


# ------------------------------------------------------------------ accounts


def _account_row(a: AdminAccount) -> dict[str, str]:
    return {
        "id": str(a.id),
        "owner": escape(a.owner_email),
        "name": escape(a.account_name),
        "type": a.account_type,
        "status": a.status,
        "balance": render.money(a.balance),
        "created": _when(a.created_at),
    }


@app.command("accounts")
@friendly_errors
@bad_input_exits_2
def admin_accounts(
    status: Annotated[StatusOption | None, typer.Option(help="Only this status.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner's (email).")] = None,
    limit: LimitOpt = 100,
) -> None:
    """Every user's accounts, newest first."""
    from cryptotrader.admin import service

    chosen: AccountStatus | None = None if status is None else status.value
    found = run_service(
        lambda conn: service.list_accounts(
            conn, SYSTEM, status=chosen, owner_email=owner, limit=limit
        )
    )
    _table(found, _account_row, "no account matches")


@app.command("suspend")
@friendly_errors
@bad_input_exits_2
def admin_suspend(account_id: AccountArg, reason: ReasonOpt) -> None:
    """Suspend an account: its owner can place no order and cannot lift it. Audited as
    admin.account_suspended."""
    from cryptotrader.admin import service

    done = run_service(lambda conn: service.suspend_account(conn, SYSTEM, account_id, reason))
    console.print(f"account {account_id} ({done.account_name}) is suspended", markup=False)


@app.command("unsuspend")
@friendly_errors
@bad_input_exits_2
def admin_unsuspend(account_id: AccountArg) -> None:
    """Lift a suspension: the account is active again. Audited as admin.account_unsuspended."""
    from cryptotrader.admin import service

    done = run_service(lambda conn: service.unsuspend_account(conn, SYSTEM, account_id))
    console.print(f"account {account_id} ({done.account_name}) is active again", markup=False)


# ------------------------------------------------------------------ templates


def _template_row(t: Template) -> dict[str, str]:
    return {
        "id": str(t.id),
        "name": escape(t.name),
        "type": t.account_type,
        "risk": t.risk_level,
        "balance": render.money(t.initial_balance),
        "offered": "yes" if t.is_public else "retired",
        "platform's": "yes" if t.is_builtin else "",
        "used": str(t.usage_count),
    }


DescriptionOpt = Annotated[str | None, typer.Option(help="What the template is for.")]
TypeOpt = Annotated[AccountTypeOption | None, typer.Option(help="Account type.")]
RiskOpt = Annotated[RiskOption | None, typer.Option(help="Risk level.")]
BalanceOpt = Annotated[str | None, typer.Option(help="Initial balance (USD).")]
DailyLossOpt = Annotated[str | None, typer.Option(help="Daily loss limit (USD).")]
PositionOpt = Annotated[str | None, typer.Option(help="Position size limit (USD).")]
StrategyOpt = Annotated[str | None, typer.Option(help="Trading strategy (a label).")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", help="A tag; repeatable.")]


def _given(**fields: Any) -> dict[str, Any]:
    """The options given on the command line (enums as their values)."""
    return {
        name: value.value if isinstance(value, StrEnum) else value
        for name, value in fields.items()
        if value is not None
    }


@templates_app.command("list")
@friendly_errors
@bad_input_exits_2
def templates_list(
    retired: Annotated[
        bool | None, typer.Option("--retired/--offered", help="Only the retired, or the offered.")
    ] = None,
    limit: LimitOpt = 100,
) -> None:
    """The platform's templates and users' shared ones, newest first."""
    from cryptotrader.admin import service

    found = run_service(
        lambda conn: service.list_templates(conn, SYSTEM, retired=retired, limit=limit)
    )
    _table(found, _template_row, "no template matches")


@templates_app.command("create")
@friendly_errors
@bad_input_exits_2
def templates_create(
    name: Annotated[str, typer.Argument(help="The template's name.")],
    description: DescriptionOpt = None,
    account_type: TypeOpt = None,
    risk_level: RiskOpt = None,
    initial_balance: BalanceOpt = None,
    max_daily_loss: DailyLossOpt = None,
    max_position_size: PositionOpt = None,
    strategy: StrategyOpt = None,
    tag: TagOpt = None,
    retired: Annotated[bool, typer.Option("--retired", help="Create it not offered.")] = False,
) -> None:
    """Create a template of the platform's, offered to every user. Audited as
    admin.template_created."""
    from cryptotrader.admin import service
    from cryptotrader.admin.schemas import AdminTemplateCreate

    data = AdminTemplateCreate.model_validate(
        _given(
            name=name,
            description=description,
            account_type=account_type,
            risk_level=risk_level,
            initial_balance=initial_balance,
            max_daily_loss=max_daily_loss,
            max_position_size=max_position_size,
            trading_strategy=strategy,
            tags=tag,
        )
        | {"is_public": not retired}
    )
    made = run_service(lambda conn: service.create_template(conn, SYSTEM, data))
    console.print(f"created template {made.id} ({made.name})", markup=False)


@templates_app.command("edit")
@friendly_errors
@bad_input_exits_2
def templates_edit(
    template_id: TemplateArg,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    description: DescriptionOpt = None,
    account_type: TypeOpt = None,
    risk_level: RiskOpt = None,
    initial_balance: BalanceOpt = None,
    max_daily_loss: DailyLossOpt = None,
    max_position_size: PositionOpt = None,
    strategy: StrategyOpt = None,
    tag: TagOpt = None,
    offer: Annotated[bool, typer.Option("--offer", help="Offer a retired one again.")] = False,
) -> None:
    """Edit one of the platform's templates (the options given). Audited as
    admin.template_updated."""
    from cryptotrader.admin import service
    from cryptotrader.admin.schemas import TemplateUpdate

    changes = TemplateUpdate.model_validate(
        _given(
            name=name,
            description=description,
            account_type=account_type,
            risk_level=risk_level,
            initial_balance=initial_balance,
            max_daily_loss=max_daily_loss,
            max_position_size=max_position_size,
            trading_strategy=strategy,
            tags=tag,
            is_public=True if offer else None,
        )
    )
    done = run_service(lambda conn: service.update_template(conn, SYSTEM, template_id, changes))
    console.print(f"template {template_id} ({done.name}) updated", markup=False)


@templates_app.command("retire")
@friendly_errors
@bad_input_exits_2
def templates_retire(template_id: TemplateArg) -> None:
    """Stop offering a template; accounts opened from it stay. Audited as
    admin.template_retired."""
    from cryptotrader.admin import service

    done = run_service(lambda conn: service.retire_template(conn, SYSTEM, template_id))
    console.print(f"template {template_id} ({done.name}) is retired", markup=False)


# ------------------------------------------------------------------ the platform


def _status_lines(state: PlatformStatus) -> list[str]:
    feed, queue, db = state.feed, state.backtests, state.database
    last = feed.status
    lag = "" if last is None or last.lag_seconds is None else f", {last.lag_seconds:.1f} s ago"
    led = f"led by {last.leader}" if feed.leading and last else "no process leads it"
    oldest = queue.oldest_pending_seconds
    return [
        f"market feed: {led}{lag}" + (f", {last.error_count} errors" if last else ""),
        f"backtests: {queue.backtest_workers} workers; {queue.pending} pending"
        + ("" if oldest is None else f" (oldest {oldest:.0f} s)")
        + f", {queue.running} running, {queue.completed} completed, {queue.failed} failed,"
        f" {queue.cancelled} cancelled",
        f"database: PostgreSQL {db.version}, {db.size_bytes / 1_048_576:,.1f} MiB,"
        f" {db.connections} connections (server limit {db.max_connections})",
    ]


@app.command("status")
@friendly_errors
@bad_input_exits_2
def admin_status() -> None:
    """The platform's state: market feed, backtest queue, database (read-only)."""
    from cryptotrader.admin import service

    state = run_service(lambda conn: service.platform_status(conn, SYSTEM))
    for line in _status_lines(state):
        console.print(line, markup=False)
