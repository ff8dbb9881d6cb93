"""``cryptotrader accounts``: a user's paper accounts; reset, pause, resume, archive. The
changes act as the system (the service role) on behalf of the operator, through the same
service functions the API calls, each of which records its ``audit_logs`` row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer
from psycopg_pool import AsyncConnectionPool

from cryptotrader.audit.schemas import SYSTEM
from cryptotrader.cli import render
from cryptotrader.cli.common import (
    bad_input_exits_2,
    friendly_errors,
    run_service,
    user_id_of,
    with_pool,
)
from cryptotrader.cli.render import console
from cryptotrader.config import get_settings
from cryptotrader.db.runtime import migrate_target
from cryptotrader.db.session import Conn, as_service, as_user, user_claims

if TYPE_CHECKING:
    from cryptotrader.accounts.schemas import Account, AccountStatus

app = typer.Typer(
    help="Paper accounts: list a user's; reset, pause, resume, archive one.", no_args_is_help=True
)

AccountArg = Annotated[UUID, typer.Argument(help="The account's id (see `accounts list`).")]
YesOpt = Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")]


@app.command("list")
@friendly_errors
@bad_input_exits_2
def accounts_list(
    user: Annotated[str, typer.Option(help="The owner's email.")],
    archived: Annotated[bool, typer.Option("--archived", help="Include archived ones.")] = False,
) -> None:
    """A user's accounts at current prices, the default one first.

    Read as that user (row level security applies), so exactly what they see."""
    from cryptotrader.accounts import service as accounts

    settings = get_settings()
    migrate_target(settings)

    async def read(pool: AsyncConnectionPool[Conn]) -> list[Account]:
        async with as_service(pool) as conn:
            user_id = await user_id_of(conn, user)
        async with as_user(pool, user_claims(user_id, email=user)) as conn:
            return await accounts.list_accounts(conn, include_archived=archived)

    found = with_pool(settings, read)
    if not found:
        console.print(f"{user} has no accounts")
        return
    render.accounts(found)


@app.command("reset")
@friendly_errors
@bad_input_exits_2
def accounts_reset(
    account_id: AccountArg,
    reason: Annotated[
        str | None, typer.Option(help="Why (kept in the account's balance history).")
    ] = None,
    yes: YesOpt = False,
) -> None:
    """Reset an account to its initial balance; its history is kept.

    Pending orders are cancelled, positions cleared and a new epoch begun; trades and
    balance changes stay. Audited as account.reset."""
    from cryptotrader.accounts import service as accounts

    if not yes:
        typer.confirm(
            f"reset account {account_id} to its initial balance? Its pending orders are"
            " cancelled and its positions cleared; its history is kept.",
            abort=True,
        )
    done = run_service(lambda conn: accounts.reset_account(conn, SYSTEM, account_id, reason))
    console.print(
        f"account {account_id} ({done.account_name}) reset to {render.money(done.balance)};"
        f" epoch {done.epoch} begins, the history is kept",
        markup=False,
    )


def _set_status(account_id: UUID, status: AccountStatus, done: str) -> None:
    from cryptotrader.accounts import service as accounts

    account = run_service(lambda conn: accounts.set_status(conn, SYSTEM, account_id, status))
    console.print(f"account {account_id} ({account.account_name}) {done}", markup=False)


@app.command("pause")
@friendly_errors
@bad_input_exits_2
def accounts_pause(account_id: AccountArg) -> None:
    """Pause an account: no new orders until resumed. Audited as account.paused."""
    _set_status(account_id, "paused", "paused")


@app.command("resume")
@friendly_errors
@bad_input_exits_2
def accounts_resume(account_id: AccountArg) -> None:
    """Make a paused account active again. Audited as account.active."""
    _set_status(account_id, "active", "is active again")


@app.command("archive")
@friendly_errors
@bad_input_exits_2
def accounts_archive(account_id: AccountArg, yes: YesOpt = False) -> None:
    """Archive an account: final for its owner. Audited as account.archived."""
    if not yes:
        typer.confirm(
            f"archive account {account_id}? Its owner can never use or change it again.",
            abort=True,
        )
    _set_status(account_id, "archived", "archived")
