"""``cryptotrader users``: create, list, promote (each change audited as the system)."""

from __future__ import annotations

from typing import Annotated

import typer

from cryptotrader.auth import service as users_service
from cryptotrader.cli import render
from cryptotrader.cli.common import friendly_errors, run_service
from cryptotrader.cli.render import console
from cryptotrader.db.session import Conn

app = typer.Typer(help="Users: create, list, promote to admin.", no_args_is_help=True)


@app.command("create")
@friendly_errors
def users_create(
    email: str,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Password.")
    ],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    admin: Annotated[bool, typer.Option(help="Give the user admin rights.")] = False,
) -> None:
    """Create a user (with their default portfolio and paper account)."""
    user_id = run_service(
        lambda conn: users_service.create_user(
            conn, email, password, display_name=name, admin=admin
        )
    )
    console.print(f"created user {email} ({user_id})")


@app.command("list")
@friendly_errors
def users_list() -> None:
    """List users."""
    render.users(run_service(users_service.list_users))


@app.command("promote")
@friendly_errors
def users_promote(
    email: str,
    revoke: Annotated[bool, typer.Option("--revoke", help="Remove admin rights instead.")] = False,
) -> None:
    """Give (or with --revoke take away) admin rights."""

    async def promote(conn: Conn) -> bool:
        user_id = await users_service.find_user_id(conn, email)
        if user_id is None:
            return False
        await users_service.set_admin(conn, user_id, not revoke)
        return True

    if not run_service(promote):
        render.error(f"no user with email {email}")
        raise typer.Exit(1)
    console.print(f"{email} is {'no longer ' if revoke else ''}an admin")
