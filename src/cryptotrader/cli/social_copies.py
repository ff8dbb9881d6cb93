"""``cryptotrader social copy|copies|gap|what-if``: copy trading from the terminal.

``copy`` starts, changes or stops copying a followed trader (an option not given keeps
the follow's current setting, or the default when it never copied); ``copies`` is the
copy log; ``gap`` the copied return beside the trader's and what the difference is made
of; ``what-if`` replays a listed trader's last days under copy settings. Every command
acts as the user ``--user`` names, through the social service the API calls (row level
security applies; ``copy`` is audited as theirs). Registered into ``social`` by
:func:`register`."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

import typer
from rich.table import Table

from cryptotrader.cli.common import (
    as_owner,
    bad_input_exits_2,
    friendly_errors,
    print_json,
    with_owner,
)
from cryptotrader.cli.render import console, money

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from cryptotrader.audit.schemas import Actor
    from cryptotrader.db.session import Conn
    from cryptotrader.social.schemas import CopyGap, CopyTrade, Follow, WhatIf

UserOpt = Annotated[str, typer.Option("--user", help="The user's email: the command acts as them.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print it as one JSON document.")]
FollowArg = Annotated[UUID, typer.Argument(help="The follow's id (see `social follows`).")]
CLEAR = "none"  # --stop-loss none, --max-per-trade none: no limit
GapName = Literal["skipped", "slippage", "fees", "timing"]
GAP_PARTS: tuple[GapName, ...] = ("skipped", "slippage", "fees", "timing")


class ModeOption(StrEnum):
    """How copies are sized (social.schemas.CopyMode)."""

    ratio = "ratio"
    fixed = "fixed"


class StatusOption(StrEnum):
    """A copy's status in the log (social.schemas.CopyStatus)."""

    planned = "planned"
    filled = "filled"
    reduced = "reduced"
    skipped = "skipped"


ModeOpt = Annotated[
    ModeOption | None,
    typer.Option(help="ratio: the trader's share of their equity; fixed: --fixed-amount a buy."),
]
AllocationOpt = Annotated[
    str | None, typer.Option("--allocation", help="Percent of the account's equity (0-100).")
]
FixedOpt = Annotated[str | None, typer.Option("--fixed-amount", help="USD per buy (fixed mode).")]
MinOrderOpt = Annotated[
    str | None, typer.Option("--min-order", help="Copies worth less (USD) are skipped.")
]
MaxTradeOpt = Annotated[
    str | None,
    typer.Option("--max-per-trade", help=f"A copied buy is cut to this (USD); {CLEAR}: no cap."),
]
SlippageOpt = Annotated[
    str | None,
    typer.Option("--slippage", help="Percent a buy may fill above the trader's price."),
]
StopLossOpt = Annotated[
    str | None,
    typer.Option(
        "--stop-loss", help=f"Stop at this percent lost of what was allocated; {CLEAR}: none."
    ),
]
SETTING_NAMES = (
    "account_id",
    "mode",
    "allocation_pct",
    "fixed_amount",
    "min_order",
    "max_per_trade",
    "slippage_pct",
    "stop_loss_pct",
    "stop_closes",
)


def _given(options: dict[str, Any]) -> dict[str, Any]:
    """The settings the command line named (``none`` clears a limit)."""
    given = {k: v for k, v in options.items() if v is not None}
    return {k: None if isinstance(v, str) and v.lower() == CLEAR else v for k, v in given.items()}


def merged_settings(follow: Follow, given: dict[str, Any]) -> dict[str, Any]:
    """The follow's current settings (none yet: the defaults) with the given ones over
    them, as the body of CopySettings."""
    current = follow.copying.model_dump(include=set(SETTING_NAMES)) if follow.copying else {}
    return {k: v for k, v in current.items() if v is not None} | given


def _said(follow: Follow) -> str:
    state = follow.copying
    if not follow.copy_trading_enabled or state is None:
        return f"{follow.trader_name}: not copying"
    size = (
        f"fixed {money(state.fixed_amount)} USD a buy"
        if state.mode == "fixed"
        else f"ratio, {state.allocation_pct.normalize():f}% allocated"
    )
    allocated = f" ({money(state.allocated_usd)} USD)" if state.allocated_usd is not None else ""
    return f"{follow.trader_name}: copying into account {state.account_id}, {size}{allocated}"


@friendly_errors
@bad_input_exits_2
def copy(
    follow_id: FollowArg,
    user: UserOpt,
    account: Annotated[
        UUID | None, typer.Option("--account", help="Your account the copies trade in.")
    ] = None,
    mode: ModeOpt = None,
    allocation: AllocationOpt = None,
    fixed_amount: FixedOpt = None,
    min_order: MinOrderOpt = None,
    max_per_trade: MaxTradeOpt = None,
    slippage: SlippageOpt = None,
    stop_loss: StopLossOpt = None,
    stop_closes: Annotated[
        bool | None,
        typer.Option("--stop-closes/--stop-keeps", help="At the stop-loss, close the copies."),
    ] = None,
    open_positions: Annotated[
        bool, typer.Option("--open-positions", help="On starting, open the trader's positions.")
    ] = False,
    stop: Annotated[bool, typer.Option("--stop", help="Stop copying (the follow stays).")] = False,
    json_: JsonOpt = False,
) -> None:
    """Start, change or stop (--stop) copying a followed trader.

    An option not given keeps the follow's current setting (the default when it never
    copied); --stop-loss none and --max-per-trade none remove the limit."""
    from cryptotrader.social import service
    from cryptotrader.social.schemas import CopySettings

    given = _given(
        {
            "account_id": account,
            "mode": mode.value if mode else None,
            "allocation_pct": allocation,
            "fixed_amount": fixed_amount,
            "min_order": min_order,
            "max_per_trade": max_per_trade,
            "slippage_pct": slippage,
            "stop_loss_pct": stop_loss,
            "stop_closes": stop_closes,
        }
    )

    async def work(conn: Conn, actor: Actor) -> Follow:
        body = merged_settings(await service.get_follow(conn, follow_id), given)
        settings = CopySettings.model_validate(
            body | {"enabled": not stop, "open_positions": open_positions and not stop}
        )
        return await service.set_copy(conn, actor, follow_id, settings)

    changed = as_owner(user, work)
    if json_:
        print_json(changed)
        return
    console.print(_said(changed), markup=False, highlight=False)


def _quantity(c: CopyTrade) -> str:
    shown = c.quantity if c.status == "planned" else c.filled_quantity
    return f"{shown.normalize():f}"


def copies_table(found: list[CopyTrade], names: dict[UUID, str]) -> Table:
    """The copy log as Rich draws it, newest first."""
    table = Table("time", "trader", "symbol", "side", "status", "reason", "qty", "price", "fee")
    for c in found:
        table.add_row(
            f"{c.created_at:%Y-%m-%d %H:%M:%S}",
            names.get(c.trader_id, str(c.trader_id)[:8]),
            c.symbol,
            c.side + (f" ({c.kind.replace('_', ' ')})" if c.kind != "trade" else ""),
            c.status,
            c.reason or "",
            _quantity(c),
            money(c.execution_price) if c.execution_price is not None else "—",
            money(c.fee),
        )
    return table


@friendly_errors
@bad_input_exits_2
def copies(
    user: UserOpt,
    follow: Annotated[UUID | None, typer.Option("--follow", help="One follow's copies.")] = None,
    status: Annotated[StatusOption | None, typer.Option(help="Only copies with it.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Copies shown.")] = 50,
    json_: JsonOpt = False,
) -> None:
    """The copy log, newest first: filled, reduced and skipped copies, and why.

    One line for each fill of a followed trader and what its copy did."""
    from cryptotrader.social import service

    async def work(conn: Conn, _: Actor) -> tuple[list[CopyTrade], dict[UUID, str]]:
        found = await service.list_copies(
            conn, follow_id=follow, status=status.value if status else None, limit=limit
        )
        follows = await service.list_follows(conn, limit=500)
        return found, {f.trader_id: f.trader_name for f in follows}

    found, names = as_owner(user, work)
    if json_:
        print_json(found)
        return
    console.print(copies_table(found, names) if found else "no copy yet")


def _points(value: Decimal) -> str:
    return f"{value:,.2f} %"


def gap_table(gap: CopyGap) -> Table:
    """The copied return, the trader's, and the four parts of the difference."""
    table = Table("", "USD", "of allocated")
    table.add_row("copied", money(gap.copied_pnl), _points(gap.copied_return_pct))
    table.add_row("trader", money(gap.trader_pnl), _points(gap.trader_return_pct))
    for name in GAP_PARTS:
        part = gap.gap.get(name)
        if part is not None:
            table.add_row(f"gap: {name}", money(part.usd), _points(part.pct))
    return table


@friendly_errors
@bad_input_exits_2
def gap(follow_id: FollowArg, user: UserOpt, json_: JsonOpt = False) -> None:
    """A copy's return beside its trader's, and what the gap is made of.

    Since copying began; the gap split into skipped copies, slippage, fees and timing."""
    from cryptotrader.social import service

    async def work(conn: Conn, _: Actor) -> CopyGap:
        return await service.copy_gap(conn, follow_id)

    found = as_owner(user, work)
    if json_:
        print_json(found)
        return
    since = f"since {found.since:%Y-%m-%d %H:%M} UTC" if found.since else "not started"
    console.print(
        f"{since}: {found.copies} copies ({found.skipped} skipped),"
        f" {money(found.allocated_usd)} USD allocated",
        markup=False,
        highlight=False,
    )
    console.print(gap_table(found))


def what_if_table(result: WhatIf) -> Table:
    table = Table("", "")
    rows = [
        ("since", f"{result.since:%Y-%m-%d %H:%M} UTC ({result.days} days)"),
        ("capital", f"{money(result.capital)} USD"),
        ("final equity", f"{money(result.final_equity)} USD"),
        ("PnL", f"{money(result.pnl)} USD ({_points(result.return_pct)})"),
        ("fees", f"{money(result.fees)} USD"),
        ("trader's fills", str(result.fills)),
        ("copied / reduced / skipped", f"{result.copied} / {result.reduced} / {result.skipped}"),
    ]
    rows += [(f"skipped: {k}", str(n)) for k, n in sorted(result.skipped_by_reason.items())]
    for name, value in rows:
        table.add_row(name, value)
    return table


@friendly_errors
@bad_input_exits_2
def what_if(
    trader_id: Annotated[UUID, typer.Argument(help="A listed trader's id (see `social traders`).")],
    user: UserOpt,
    days: Annotated[int, typer.Option(min=1, max=365, help="The window: the last N days.")] = 30,
    capital: Annotated[str, typer.Option(help="The account's equity at the start (USD).")] = (
        "10000"
    ),
    mode: ModeOpt = None,
    allocation: AllocationOpt = None,
    fixed_amount: FixedOpt = None,
    min_order: MinOrderOpt = None,
    max_per_trade: MaxTradeOpt = None,
    slippage: SlippageOpt = None,
    stop_loss: StopLossOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Replay a listed trader's last days under copy settings, before copying.

    The copies it would have placed, reduced and skipped, and the result at today's
    prices."""
    from cryptotrader.social import service
    from cryptotrader.social.schemas import WhatIfRequest

    settings = _given(
        {
            "mode": mode.value if mode else None,
            "allocation_pct": allocation,
            "fixed_amount": fixed_amount,
            "min_order": min_order,
            "max_per_trade": max_per_trade,
            "slippage_pct": slippage,
            "stop_loss_pct": stop_loss,
        }
    )
    request = WhatIfRequest.model_validate(
        {
            "trader_id": trader_id,
            "days": days,
            "capital": capital,
            "settings": settings | {"enabled": False},
        }
    )

    async def work(pool: AsyncConnectionPool[Conn], _: Actor) -> WhatIf:
        return await service.what_if(pool, request)

    result = with_owner(user, work)
    if json_:
        print_json(result)
        return
    console.print(what_if_table(result))


def register(app: typer.Typer) -> None:
    """Add the copy-trading commands to the ``social`` group."""
    for name, command in (("copy", copy), ("copies", copies), ("gap", gap), ("what-if", what_if)):
        app.command(name, rich_help_panel="Copy trading")(command)
