"""``cryptotrader alerts``: a user's alerts (price, account, portfolio and bot alerts).

Every command acts as the user ``--user`` names, in one unit of work as that user with
their :class:`Actor` (row level security applies: another user's alert, account,
portfolio or bot is not found), through the same alerts service the API calls, so each
change leaves the ``audit_logs`` row the API would, as theirs."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer
from rich.markup import escape
from rich.table import Table

from cryptotrader.cli.common import as_owner, bad_input_exits_2, friendly_errors, print_json, utc
from cryptotrader.cli.render import console

if TYPE_CHECKING:
    from cryptotrader.alerts.schemas import Alert, AlertFiring

app = typer.Typer(
    help="Alerts: list, create, enable, disable, delete, history.", no_args_is_help=True
)


class TypeOption(StrEnum):
    price = "price"
    account = "account"
    portfolio = "portfolio"
    bot = "bot"


class StatusOption(StrEnum):
    active = "active"
    triggered = "triggered"
    acknowledged = "acknowledged"
    expired = "expired"
    disabled = "disabled"


class FrequencyOption(StrEnum):
    once = "once"
    once_per_bar = "once_per_bar"
    every_time = "every_time"


UserOpt = Annotated[
    str, typer.Option("--user", help="The owner's email: the command acts as them.")
]
AlertArg = Annotated[UUID, typer.Argument(help="The alert's id (see `alerts list`).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print it as one JSON document.")]
LimitOpt = Annotated[int, typer.Option(min=1, max=500, help="At most N, newest first.")]


def _number(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}"


def _when(value: Any) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _alerts_table(found: Sequence[Alert]) -> None:
    table = Table("id", "type", "on", "condition", "value", "status", "fired", "last fired")
    for a in found:
        target = a.symbol or a.account_id or a.portfolio_id or a.bot_id
        table.add_row(
            str(a.id),
            a.type,
            escape(str(target or "")),
            a.condition,
            _number(a.value),
            a.status,
            str(a.fire_count),
            _when(a.last_fired_at),
        )
    console.print(table)


def _firings_table(found: Sequence[AlertFiring]) -> None:
    table = Table("fired at", "symbol", "value", "alert value")
    for f in found:
        table.add_row(_when(f.fired_at), f.symbol or "", _number(f.value), _number(f.trigger_value))
    console.print(table)


@app.command("list")
@friendly_errors
@bad_input_exits_2
def alerts_list(
    user: UserOpt,
    status: Annotated[StatusOption | None, typer.Option(help="Only alerts in this state.")] = None,
    alert_type: Annotated[TypeOption | None, typer.Option("--type", help="Only this type.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Only this symbol's.")] = None,
    limit: LimitOpt = 100,
    json_: JsonOpt = False,
) -> None:
    """A user's alerts, newest first."""
    from cryptotrader.alerts import service

    found = as_owner(
        user,
        lambda conn, _: service.list_alerts(
            conn,
            status=status.value if status else None,
            alert_type=alert_type.value if alert_type else None,
            symbol=symbol,
            limit=limit,
        ),
    )
    if json_:
        print_json(found)
    elif not found:
        console.print(f"{user} has no alerts", markup=False)
    else:
        _alerts_table(found)


def _body(**given: Any) -> Any:
    """The service's alert from the options (a shape it cannot have: a ValidationError)."""
    from cryptotrader.alerts.schemas import ALERT_CREATE

    fields = {k: v for k, v in given.items() if v is not None}
    return ALERT_CREATE.validate_python(fields)


@app.command("create")
@friendly_errors
@bad_input_exits_2
def alerts_create(
    user: UserOpt,
    condition: Annotated[str, typer.Option(help="e.g. crosses_above, drawdown_pct.")],
    alert_type: Annotated[TypeOption, typer.Option("--type", help="What it watches.")] = (
        TypeOption.price
    ),
    symbol: Annotated[str | None, typer.Option(help="A price alert's symbol.")] = None,
    value: Annotated[str | None, typer.Option(help="Price, percent or USD.")] = None,
    account: Annotated[UUID | None, typer.Option(help="The account (notices go there).")] = None,
    portfolio: Annotated[UUID | None, typer.Option(help="A portfolio alert's.")] = None,
    bot: Annotated[UUID | None, typer.Option(help="A bot alert's.")] = None,
    frequency: Annotated[FrequencyOption, typer.Option()] = FrequencyOption.once,
    window: Annotated[int | None, typer.Option(help="moves_pct: the window (s).")] = None,
    expires: Annotated[str | None, typer.Option(help="ISO-8601 expiry (UTC if no offset).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Create an alert. Audited as alert.create."""
    from cryptotrader.alerts import service

    body = _body(
        type=alert_type.value,
        symbol=symbol,
        condition=condition,
        value=value,
        account_id=account,
        portfolio_id=portfolio,
        bot_id=bot,
        frequency=frequency.value,
        window_seconds=window,
        expires_at=utc(expires, "--expires"),
    )
    made = as_owner(user, lambda conn, actor: service.create_alert(conn, actor, body))
    if json_:
        print_json(made)
    else:
        console.print(f"created alert {made.id}", markup=False)


@app.command("enable")
@friendly_errors
@bad_input_exits_2
def alerts_enable(
    alert_id: AlertArg,
    user: UserOpt,
    expires: Annotated[str | None, typer.Option(help="A new expiry (an expired alert).")] = None,
    never: Annotated[bool, typer.Option("--no-expiry", help="It never expires.")] = False,
) -> None:
    """Enable it again, re-armed. Audited as alert.enable."""
    from cryptotrader.alerts import service
    from cryptotrader.alerts.schemas import AlertEnable

    body = None
    if never or expires:
        body = AlertEnable(expires_at=None if never else utc(expires, "--expires"))
    as_owner(user, lambda conn, actor: service.enable_alert(conn, actor, alert_id, body))
    console.print(f"enabled {alert_id}", markup=False)


@app.command("disable")
@friendly_errors
@bad_input_exits_2
def alerts_disable(alert_id: AlertArg, user: UserOpt) -> None:
    """Disable it: it fires nothing. Audited as alert.disable."""
    from cryptotrader.alerts import service

    as_owner(user, lambda conn, actor: service.disable_alert(conn, actor, alert_id))
    console.print(f"disabled {alert_id}", markup=False)


@app.command("delete")
@friendly_errors
@bad_input_exits_2
def alerts_delete(alert_id: AlertArg, user: UserOpt) -> None:
    """Delete an alert and its history. Audited as alert.delete."""
    from cryptotrader.alerts import service

    as_owner(user, lambda conn, actor: service.delete_alert(conn, actor, alert_id))
    console.print(f"deleted {alert_id}", markup=False)


@app.command("history")
@friendly_errors
@bad_input_exits_2
def alerts_history(
    alert_id: AlertArg, user: UserOpt, limit: LimitOpt = 100, json_: JsonOpt = False
) -> None:
    """When the alert fired, newest first."""
    from cryptotrader.alerts import service

    found = as_owner(user, lambda conn, _: service.list_firings(conn, alert_id, limit=limit))
    if json_:
        print_json(found)
    elif not found:
        console.print(f"alert {alert_id} has not fired", markup=False)
    else:
        _firings_table(found)
