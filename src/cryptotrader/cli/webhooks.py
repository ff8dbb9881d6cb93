"""``cryptotrader webhooks``: a user's webhook endpoints and their delivery log.

Every command acts as the user ``--user`` names, in one unit of work as that user with
their :class:`Actor` (row level security applies: another user's endpoint is not found),
through the same webhooks service the API calls, so each change leaves the ``audit_logs``
row the API would, as theirs. A secret is printed once, by ``create`` and ``rotate``.
The deliveries themselves are the ``jobs`` worker's (``cryptotrader worker jobs``)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import typer

from cryptotrader.cli.common import as_owner, bad_input_exits_2, friendly_errors, print_json
from cryptotrader.cli.render import console

app = typer.Typer(
    help="Webhook endpoints: list, create, delete, rotate, deliveries, test.",
    no_args_is_help=True,
)

UserOpt = Annotated[
    str, typer.Option("--user", help="The owner's email: the command acts as them.")
]
EndpointArg = Annotated[UUID, typer.Argument(help="The endpoint's id (see `webhooks list`).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print it as one JSON document.")]


@app.command("list")
@friendly_errors
@bad_input_exits_2
def webhooks_list(user: UserOpt, json_: JsonOpt = False) -> None:
    """A user's endpoints, newest first (never their secrets)."""
    from cryptotrader.webhooks import service

    found = as_owner(user, lambda conn, _: service.list_endpoints(conn))
    if json_:
        print_json(found)
    elif not found:
        console.print(f"{user} has no webhook endpoints", markup=False)
    else:
        for e in found:
            events = ",".join(e.event_types) or "*"
            state = "on " if e.enabled else f"off ({e.disabled_reason})"
            console.print(f"{e.id}  {state:<12} {e.url}  {events}", markup=False)


@app.command("create")
@friendly_errors
@bad_input_exits_2
def webhooks_create(
    url: Annotated[str, typer.Argument(help="Where to POST the events (http or https).")],
    user: UserOpt,
    event: Annotated[
        list[str] | None,
        typer.Option("--event", help="An event type or family (order.*); repeat; none: all."),
    ] = None,
    description: Annotated[str, typer.Option(help="What it is for.")] = "",
    json_: JsonOpt = False,
) -> None:
    """Register an endpoint; prints its signing secret, this once. Audited webhook.create."""
    from cryptotrader.config import get_settings
    from cryptotrader.webhooks import service
    from cryptotrader.webhooks.schemas import EndpointCreate
    from cryptotrader.webhooks.sender import guard_of

    body = EndpointCreate(url=url, description=description, event_types=event or [])
    guard = guard_of(get_settings())
    made = as_owner(user, lambda conn, actor: service.create_endpoint(conn, actor, body, guard))
    if json_:
        print_json(made)
    else:
        console.print(f"created {made.id}\nsecret {made.secret}  (shown once)", markup=False)


@app.command("delete")
@friendly_errors
@bad_input_exits_2
def webhooks_delete(endpoint_id: EndpointArg, user: UserOpt) -> None:
    """Delete an endpoint and its delivery log. Audited webhook.delete."""
    from cryptotrader.webhooks import service

    as_owner(user, lambda conn, actor: service.delete_endpoint(conn, actor, endpoint_id))
    console.print(f"deleted {endpoint_id}", markup=False)


@app.command("rotate")
@friendly_errors
@bad_input_exits_2
def webhooks_rotate(endpoint_id: EndpointArg, user: UserOpt, json_: JsonOpt = False) -> None:
    """A new signing secret (printed once); the old one signs too for 24 hours. Audited
    webhook.rotate_secret."""
    from cryptotrader.webhooks import service

    rotated = as_owner(user, lambda conn, actor: service.rotate_secret(conn, actor, endpoint_id))
    if json_:
        print_json(rotated)
    else:
        until = f"{rotated.previous_expires_at:%Y-%m-%d %H:%M} UTC"
        console.print(
            f"secret {rotated.secret}  (shown once; the old one until {until})", markup=False
        )


@app.command("deliveries")
@friendly_errors
@bad_input_exits_2
def webhooks_deliveries(
    endpoint_id: EndpointArg,
    user: UserOpt,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most N, newest first.")] = 50,
    json_: JsonOpt = False,
) -> None:
    """The endpoint's delivery log: status, attempts, last status code and latency."""
    from cryptotrader.webhooks import service

    found = as_owner(user, lambda conn, _: service.list_deliveries(conn, endpoint_id, limit=limit))
    if json_:
        print_json(found)
        return
    for d in found:
        code = d.last_status_code if d.last_status_code is not None else "-"
        latency = f"{d.last_latency_ms} ms" if d.last_latency_ms is not None else "-"
        line = (
            f"{d.id}  {d.created_at:%Y-%m-%d %H:%M:%S}  {d.event_type:<20} {d.status:<9}"
            f" attempts {d.attempts}  last {code} {latency}"
        )
        console.print(line, markup=False)


@app.command("test")
@friendly_errors
@bad_input_exits_2
def webhooks_test(endpoint_id: EndpointArg, user: UserOpt) -> None:
    """Queue a webhook.test event to the endpoint. Audited webhook.test."""
    from cryptotrader.webhooks import service

    sent = as_owner(user, lambda conn, actor: service.send_test(conn, actor, endpoint_id))
    console.print(f"queued {sent.id} ({sent.msg_id})", markup=False)
