"""The caller's portfolios: named groups of their accounts, valued at current prices.

A portfolio's value is the sum of its members' equity (balance + reserved balance + open
positions at price) and its PnL is measured against the sum of their initial balances.
Another user's portfolio or account is not visible (RLS; and a membership's composite
foreign key refuses another user's account): 404, exactly like a missing one.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.calls import fetch_all, fetch_one, require
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.errors import InvalidRequest
from cryptotrader.portfolios.errors import PortfolioIsDefault, PortfolioNotFound
from cryptotrader.portfolios.schemas import (
    Portfolio,
    PortfolioCreate,
    PortfolioMember,
    PortfolioSnapshot,
    PortfolioUpdate,
)

Q = load_queries("cryptotrader.portfolios")
MEMBER_ACCOUNT_FK = "portfolio_accounts_account_id_user_id_fkey"
PERCENT = Decimal("0.0001")


def _valued(row: dict[str, Any], members: list[dict[str, Any]]) -> Portfolio:
    accounts = [
        PortfolioMember.model_validate(m | {"total_pnl": m["equity"] - m["initial_balance"]})
        for m in members
    ]
    value = sum((a.equity for a in accounts), Decimal(0))
    initial = sum((a.initial_balance for a in accounts), Decimal(0))
    pnl = value - initial
    percentage = (pnl / initial * 100).quantize(PERCENT) if initial else Decimal(0)
    return Portfolio.model_validate(
        row
        | {
            "accounts": accounts,
            "total_value": value,
            "initial_balance": initial,
            "total_pnl": pnl,
            "total_pnl_percentage": percentage,
        }
    )


async def _value(conn: Conn, rows: list[dict[str, Any]]) -> list[Portfolio]:
    members = await fetch_all(conn, Q["list_members"], {"ids": [r["id"] for r in rows]})
    return [_valued(r, [m for m in members if m["portfolio_id"] == r["id"]]) for r in rows]


async def list_portfolios(
    conn: Conn, *, after: tuple[int, datetime, UUID] | None = None, limit: int | None = None
) -> list[Portfolio]:
    """The caller's portfolios with their members and value, the default one first, then
    the oldest first. ``after`` is the (0 for the default else 1, created_at, id) of the
    previous page's last portfolio; ``limit`` None: all."""
    rank, at, row_id = after if after is not None else (None, None, None)
    rows = await fetch_all(
        conn,
        Q["list_portfolios"],
        {"after_rank": rank, "after_at": at, "after_id": row_id, "limit": limit},
    )
    return await _value(conn, rows)


async def get_portfolio(conn: Conn, portfolio_id: UUID) -> Portfolio:
    """One portfolio with its members and value. Raises PortfolioNotFound."""
    row = await fetch_one(conn, Q["get_portfolio"], {"id": portfolio_id})
    return (await _value(conn, [require(row, PortfolioNotFound())]))[0]


async def list_snapshots(
    conn: Conn, portfolio_id: UUID, *, limit: int = 90
) -> list[PortfolioSnapshot]:
    """A portfolio's daily snapshots, newest first (another user's: none, by RLS; callers
    check the portfolio first)."""
    rows = await fetch_all(
        conn, Q["list_snapshots"], {"portfolio_id": portfolio_id, "limit": limit}
    )
    return [PortfolioSnapshot.model_validate(r) for r in rows]


async def _lock(conn: Conn, portfolio_id: UUID) -> dict[str, Any]:
    row = await fetch_one(conn, Q["lock_portfolio"], {"id": portfolio_id})
    return require(row, PortfolioNotFound())


async def create_portfolio(conn: Conn, actor: Actor, data: PortfolioCreate) -> Portfolio:
    """A new, empty portfolio (not the default one). Audited ``portfolio.create``."""
    row = await fetch_one(conn, Q["insert_portfolio"], data.model_dump())
    portfolio = await get_portfolio(conn, require(row, PortfolioNotFound())["id"])
    details = data.model_dump(mode="json")
    await audit.record(conn, actor, "portfolio.create", "portfolio", portfolio.id, details)
    return portfolio


async def update_portfolio(
    conn: Conn, actor: Actor, portfolio_id: UUID, changes: PortfolioUpdate
) -> Portfolio:
    """Rename, change mode, or make it the default. Raises PortfolioNotFound,
    InvalidRequest when nothing is given. Audited ``portfolio.update`` with the changes."""
    fields = changes.model_dump(exclude_unset=True)
    await _lock(conn, portfolio_id)
    if not fields:
        raise InvalidRequest("no field to change")
    params = {
        "id": portfolio_id,
        "set_name": "name" in fields,
        "name": fields.get("name"),
        "set_mode": "mode" in fields,
        "mode": fields.get("mode"),
        "set_is_default": "is_default" in fields,
    }
    row = await fetch_one(conn, Q["update_portfolio"], params)
    portfolio = await get_portfolio(conn, require(row, PortfolioNotFound())["id"])
    details = changes.model_dump(mode="json", exclude_unset=True)
    await audit.record(conn, actor, "portfolio.update", "portfolio", portfolio_id, details)
    return portfolio


async def delete_portfolio(conn: Conn, actor: Actor, portfolio_id: UUID) -> None:
    """Delete a portfolio (its accounts stay). Raises PortfolioNotFound, PortfolioIsDefault.
    Audited ``portfolio.delete``."""
    if (await _lock(conn, portfolio_id))["is_default"]:
        raise PortfolioIsDefault("make another portfolio the default one first")
    require(await fetch_one(conn, Q["delete_portfolio"], {"id": portfolio_id}), PortfolioNotFound())
    await audit.record(conn, actor, "portfolio.delete", "portfolio", portfolio_id)


async def add_account(conn: Conn, actor: Actor, portfolio_id: UUID, account_id: UUID) -> Portfolio:
    """Add one of the caller's accounts (already a member: nothing changes). Raises
    PortfolioNotFound, AccountNotFound. Audited ``portfolio.add_account`` with the account
    and whether the portfolio changed."""
    await _lock(conn, portfolio_id)
    params = {"portfolio_id": portfolio_id, "account_id": account_id}
    try:
        added = await fetch_one(conn, Q["add_member"], params)
    except psycopg.errors.ForeignKeyViolation as exc:
        if exc.diag.constraint_name == MEMBER_ACCOUNT_FK:
            raise AccountNotFound() from exc
        raise
    portfolio = await get_portfolio(conn, portfolio_id)
    details = {"account_id": str(account_id), "changed": added is not None}
    await audit.record(conn, actor, "portfolio.add_account", "portfolio", portfolio_id, details)
    return portfolio


async def remove_account(
    conn: Conn, actor: Actor, portfolio_id: UUID, account_id: UUID
) -> Portfolio:
    """Take an account out of the portfolio (the account itself stays). Raises
    PortfolioNotFound, AccountNotFound (not a member). Audited ``portfolio.remove_account``."""
    await _lock(conn, portfolio_id)
    params = {"portfolio_id": portfolio_id, "account_id": account_id}
    require(await fetch_one(conn, Q["remove_member"], params), AccountNotFound())
    portfolio = await get_portfolio(conn, portfolio_id)
    details = {"account_id": str(account_id)}
    await audit.record(conn, actor, "portfolio.remove_account", "portfolio", portfolio_id, details)
    return portfolio
