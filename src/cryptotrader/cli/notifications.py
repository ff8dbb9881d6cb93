"""``cryptotrader notifications``: a user's in-app notifications.

Every command acts as the user ``--user`` names, in one unit of work as that user with
their :class:`Actor` (row level security applies: another user's notification is not
found), through the same notifications service the API calls, so each change leaves the
``audit_logs`` row the API would, as theirs."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import typer

from cryptotrader.cli.common import as_owner, bad_input_exits_2, friendly_errors, print_json
from cryptotrader.cli.render import console

app = typer.Typer(
    help="In-app notifications: list, count, read, read-all, delete.", no_args_is_help=True
)

UserOpt = Annotated[
    str, typer.Option("--user", help="The owner's email: the command acts as them.")
]
NotificationArg = Annotated[
    UUID, typer.Argument(help="The notification's id (see `notifications list`).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print it as one JSON document.")]


@app.command("list")
@friendly_errors
@bad_input_exits_2
def notifications_list(
    user: UserOpt,
    unread: Annotated[bool, typer.Option("--unread", help="Only the unread ones.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most N, newest first.")] = 100,
    json_: JsonOpt = False,
) -> None:
    """A user's unexpired notifications, newest first."""
    from cryptotrader.notifications import service

    found = as_owner(
        user, lambda conn, _: service.list_notifications(conn, unread=unread, limit=limit)
    )
    if json_:
        print_json(found)
    elif not found:
        console.print(f"{user} has no notifications", markup=False)
    else:
        for n in found:  # * marks the unread ones
            mark = " " if n.is_read else "*"
            line = f"{mark} {n.id}  {n.created_at:%Y-%m-%d %H:%M}  {n.severity:<8} {n.title}"
            console.print(line, markup=False)


@app.command("count")
@friendly_errors
@bad_input_exits_2
def notifications_count(user: UserOpt) -> None:
    """How many unread, unexpired notifications the user has."""
    from cryptotrader.notifications import service

    console.print(str(as_owner(user, lambda conn, _: service.unread_count(conn))), markup=False)


@app.command("read")
@friendly_errors
@bad_input_exits_2
def notifications_read(notification_id: NotificationArg, user: UserOpt) -> None:
    """Mark a notification read. Audited as notification.read."""
    from cryptotrader.notifications import service

    as_owner(user, lambda conn, actor: service.set_read(conn, actor, notification_id, True))
    console.print(f"read {notification_id}", markup=False)


@app.command("read-all")
@friendly_errors
@bad_input_exits_2
def notifications_read_all(
    user: UserOpt,
    account: Annotated[UUID | None, typer.Option(help="Only this account's.")] = None,
) -> None:
    """Mark every unread notification read. Audited as notification.read_all."""
    from cryptotrader.notifications import service

    changed = as_owner(user, lambda conn, actor: service.read_all(conn, actor, account))
    console.print(f"marked {changed} read", markup=False)


@app.command("delete")
@friendly_errors
@bad_input_exits_2
def notifications_delete(notification_id: NotificationArg, user: UserOpt) -> None:
    """Delete a notification. Audited as notification.delete."""
    from cryptotrader.notifications import service

    as_owner(user, lambda conn, actor: service.delete_notification(conn, actor, notification_id))
    console.print(f"deleted {notification_id}", markup=False)
