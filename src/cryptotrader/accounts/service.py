"""Paper accounts of the calling user: create, change, pause, archive, reset, value.

Every call runs on a connection that is already the caller (RLS applies), so another
user's account is simply not there: AccountNotFound, exactly like a missing one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg import sql

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.accounts.schemas import (
    Account,
    AccountCreate,
    AccountFromTemplate,
    AccountStatus,
    AccountTotals,
    AccountUpdate,
    AuditEntry,
    EquityCurve,
    EquityPoint,
    Position,
)
from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.calls import fetch_all, fetch_one, require
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.errors import InvalidRequest
from cryptotrader.trading import service as trading
from cryptotrader.trading.schemas import OrderFilter, Trade

Q = load_queries("cryptotrader.accounts")
MAX_PAGE = 500


def _after(key: tuple[object, ...] | None, *names: str) -> dict[str, object]:
    """The keyset parameters ``after_<name>`` of a page (all None for the first page)."""
    values = key if key is not None else (None,) * len(names)
    return {f"after_{name}": value for name, value in zip(names, values, strict=True)}


async def list_accounts(
    conn: Conn,
    *,
    include_archived: bool = False,
    after: tuple[int, datetime, UUID] | None = None,
    limit: int | None = None,
) -> list[Account]:
    """The caller's accounts valued at current prices, the default one first, then the
    oldest first. ``after`` is the key of the previous page's last account
    (:func:`cryptotrader.api.pagination.default_first_key`); ``limit`` None: all."""
    rows = await fetch_all(
        conn,
        Q["list_accounts"],
        {"include_archived": include_archived, "limit": limit} | _after(after, "rank", "at", "id"),
    )
    return [Account.model_validate(r) for r in rows]


async def get_account(conn: Conn, account_id: UUID, *, record_access: bool = True) -> Account:
    """One account at current prices; records the access (last_accessed, access_count)
    unless ``record_access`` is false (a re-read of a part of an account already shown)."""
    params = {"id": account_id, "record_access": record_access}
    row = await fetch_one(conn, Q["get_account"], params)
    return Account.model_validate(require(row, AccountNotFound()))


async def create_account(conn: Conn, actor: Actor, data: AccountCreate) -> Account:
    """A new account; its opening balance is its initial balance. Audited
    ``account.create``."""
    row = await fetch_one(conn, Q["insert_account"], data.model_dump())
    account = await get_account(conn, require(row, AccountNotFound())["id"])
    await audit.record(
        conn, actor, "account.create", "account", account.id, {"name": account.account_name}
    )
    return account


async def create_from_template(conn: Conn, actor: Actor, data: AccountFromTemplate) -> Account:
    """A new account with a template's settings. Raises TemplateNotFound. Audited
    ``account.create`` with the template's id."""
    row = await fetch_one(conn, Q["from_template"], data.model_dump())
    account = await get_account(conn, require(row, AccountNotFound())["id"])
    details = {"template_id": str(data.template_id)}
    await audit.record(conn, actor, "account.create", "account", account.id, details)
    return account


async def update_account(
    conn: Conn, actor: Actor, account_id: UUID, changes: AccountUpdate
) -> Account:
    """Change the given fields. Raises AccountNotFound, InvalidRequest when nothing is given.
    Audited ``account.update`` with the changes."""
    fields: dict[str, Any] = changes.model_dump(exclude_unset=True)
    if not fields:
        raise InvalidRequest("no field to change")
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name)) for name in fields
    )
    query = sql.SQL(Q["update_account"]).format(assignments, sql.Placeholder("account_id"))
    row = await fetch_one(conn, query, {**fields, "account_id": account_id})
    account = await get_account(conn, require(row, AccountNotFound())["id"])
    details = changes.model_dump(mode="json", exclude_unset=True)
    await audit.record(conn, actor, "account.update", "account", account_id, details)
    return account


async def set_status(conn: Conn, actor: Actor, account_id: UUID, status: AccountStatus) -> Account:
    """Pause, resume or archive. Archiving is final (AccountArchived for any later change)
    and hands the default on (see migration 0023). Raises AccountNotFound,
    AccountSuspensionForbidden, AccountArchived. Audited ``account.<status>``."""
    row = await fetch_one(conn, Q["set_status"], {"id": account_id, "status": status})
    account = await get_account(conn, require(row, AccountNotFound())["id"])
    await audit.record(conn, actor, f"account.{status}", "account", account_id)
    return account


async def set_default(conn: Conn, actor: Actor, account_id: UUID) -> Account:
    """Make this the caller's default account (the previous default stops being one).
    Raises AccountNotFound, AccountArchived. Audited ``account.set_default``."""
    row = await fetch_one(conn, Q["set_default"], {"id": account_id})
    account = await get_account(conn, require(row, AccountNotFound())["id"])
    await audit.record(conn, actor, "account.set_default", "account", account_id)
    return account


async def reset_account(
    conn: Conn, actor: Actor, account_id: UUID, reason: str | None = None
) -> Account:
    """Back to the initial balance; pending orders cancelled, positions cleared, history
    kept, a new epoch begun. Audited ``account.reset`` with the new epoch."""
    row = await fetch_one(conn, Q["reset_account"], {"id": account_id, "reason": reason})
    account = await get_account(conn, require(row, AccountNotFound())["id"])
    await audit.record(
        conn, actor, "account.reset", "account", account_id, {"epoch": account.epoch}
    )
    return account


async def require_account(conn: Conn, account_id: UUID) -> None:
    """Raise AccountNotFound unless the caller can see this account."""
    require(await fetch_one(conn, Q["account_exists"], {"id": account_id}), AccountNotFound())


def position_key(position: Position) -> tuple[Decimal, str]:
    """The sort key of positions: value at the current price (0 without one), symbol."""
    return (position.market_value or Decimal(0), position.symbol)


async def list_positions(
    conn: Conn,
    account_id: UUID,
    *,
    after: tuple[Decimal, str] | None = None,
    limit: int | None = None,
) -> list[Position]:
    """Open positions at current prices, the largest first. ``after`` is the
    :func:`position_key` of the previous page's last one. Raises AccountNotFound."""
    await require_account(conn, account_id)
    rows = await fetch_all(
        conn,
        Q["list_positions"],
        {"id": account_id, "limit": limit} | _after(after, "value", "symbol"),
    )
    return [Position.model_validate(r) for r in rows]


async def list_trades(
    conn: Conn,
    account_id: UUID,
    *,
    after: tuple[datetime, UUID] | None = None,
    limit: int = 100,
) -> list[Trade]:
    """This account's fills, newest first, after the (created_at, id) of the previous page's
    last one. Raises AccountNotFound."""
    await require_account(conn, account_id)
    return await trading.list_orders(
        conn, OrderFilter(status="completed", account_id=account_id), after=after, limit=limit
    )


async def list_audit(
    conn: Conn,
    account_id: UUID,
    *,
    after: tuple[datetime, UUID] | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Balance history, newest first, after the (created_at, id) of the previous page's
    last entry. Raises AccountNotFound."""
    await require_account(conn, account_id)
    rows = await fetch_all(
        conn,
        Q["list_audit"],
        {"id": account_id, "limit": max(1, min(limit, MAX_PAGE))} | _after(after, "at", "id"),
    )
    return [AuditEntry.model_validate(r) for r in rows]


MAX_CURVE_POINTS = 5000


def _with_drawdown(account_id: UUID, points: list[tuple[datetime, Decimal]]) -> EquityCurve:
    peak = Decimal(0)
    deepest = Decimal(0)
    out = []
    for at, equity in points:
        peak = max(peak, equity)
        fall = (equity / peak - 1).quantize(Decimal("0.000001")) if peak > 0 else Decimal(0)
        deepest = min(deepest, fall)
        out.append(EquityPoint(at=at, equity=equity, drawdown=fall))
    return EquityCurve(account_id=account_id, points=out, max_drawdown=deepest)


async def equity_curves(
    conn: Conn, accounts: list[Account], *, points: int = 500, now: datetime | None = None
) -> dict[UUID, EquityCurve]:
    """The equity curve of each of these accounts (read by the caller: RLS applies): one
    point after every fill of the current epoch, positions at their last fill's price,
    thinned to about ``points``; then the account's equity now, at current prices."""
    points = max(2, min(points, MAX_CURVE_POINTS))
    rows = await fetch_all(
        conn, Q["equity_curves"], {"ids": [a.id for a in accounts], "points": points}
    )
    series: dict[UUID, list[tuple[datetime, Decimal]]] = {a.id: [] for a in accounts}
    for row in rows:
        series[row["account_id"]].append((row["at"], row["equity"]))
    at_now = now or datetime.now(UTC)
    for account in accounts:
        if not series[account.id]:  # no fill yet: the opening balance
            series[account.id].append((account.created_at, account.initial_balance))
        series[account.id].append((max(at_now, series[account.id][-1][0]), account.equity))
    return {a.id: _with_drawdown(a.id, series[a.id]) for a in accounts}


async def equity_curve(conn: Conn, account_id: UUID, *, points: int = 1000) -> EquityCurve:
    """One account's equity curve (:func:`equity_curves`); not counted as an access of the
    account. Raises AccountNotFound."""
    account = await get_account(conn, account_id, record_access=False)
    return (await equity_curves(conn, [account], points=points))[account_id]


def totals(accounts: list[Account]) -> AccountTotals:
    """What a list of accounts adds up to (the overview's header): equity, free cash (the
    accounts' ``balance``, without what open orders reserve), PnL, and the PnL as a
    percentage of the initial balances."""
    equity = sum((a.equity for a in accounts), Decimal(0))
    initial = sum((a.initial_balance for a in accounts), Decimal(0))
    pnl = sum((a.total_pnl for a in accounts), Decimal(0))
    cash = sum((a.balance for a in accounts), Decimal(0))
    share = (pnl / initial * 100).quantize(Decimal("0.000001")) if initial else Decimal(0)
    return AccountTotals(
        accounts=len(accounts), equity=equity, cash=cash, total_pnl=pnl, total_pnl_percentage=share
    )
