"""Helpers for the trading-engine tests: sessions, engine calls, snapshots and invariants.

Everything here talks SQL directly (no Python service layer), so the tests exercise
``execute_paper_trade``, ``cancel_order``, ``process_market_tick`` and
``reset_paper_account`` exactly as the API's login role reaches them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from cryptotrader.db.session import user_claims
from tests.support import Row, TestDatabase

Conn = psycopg.Connection[Row]

# Tables a rejected call must not write to (counted over the whole database).
WRITTEN_TABLES = (
    "paper_trades",
    "account_positions",
    "paper_account_audit",
    "risk_alerts",
    "account_notifications",
)

# execute_paper_trade's parameters (without the p_ prefix) and their SQL types.
TRADE_PARAMS = {
    "account_id": "uuid",
    "symbol": "text",
    "side": "text",
    "amount": "numeric",
    "order_type": "text",
    "limit_price": "numeric",
    "stop_price": "numeric",
    "time_in_force": "text",
    "expires_at": "timestamptz",
    "stop_loss": "numeric",
    "take_profit": "numeric",
    "bot_id": "uuid",
    "reasoning": "text",
    "confidence_level": "numeric",
    "trade_category": "text",
    "tags": "text[]",
    "notes": "text",
}


# ------------------------------------------------------------------ sessions


@contextmanager
def session(db: TestDatabase, role: str, claims: dict[str, Any]) -> Iterator[Conn]:
    """An autocommit connection of the app's login role switched to ``role`` for the whole
    session: every statement is a transaction of its own, as the API runs engine calls."""
    with psycopg.connect(db.app_conninfo, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(
            "SELECT set_config('role', %s, false), set_config('request.jwt.claims', %s, false)",
            [role, json.dumps(claims)],
        )
        conn.execute("SET statement_timeout = '60s'")
        yield conn


def user_session(db: TestDatabase, user_id: uuid.UUID) -> Any:
    return session(db, "authenticated", user_claims(user_id))


def service_session(db: TestDatabase) -> Any:
    return session(db, "service_role", {"role": "service_role"})


# ------------------------------------------------------------------ engine calls


def place(
    conn: Conn, account_id: uuid.UUID, symbol: str, side: str, amount: Any, **kwargs: Any
) -> Row:
    """execute_paper_trade with named arguments; the ones not given keep their defaults.
    Values are cast explicitly, so strings such as 'NaN' or 'Infinity' reach the engine."""
    args: dict[str, Any] = {
        "account_id": account_id,
        "symbol": symbol,
        "side": side,
        "amount": amount,
        **kwargs,
    }
    unknown = set(args) - set(TRADE_PARAMS)
    assert not unknown, f"not parameters of execute_paper_trade: {unknown}"
    call = sql.SQL("SELECT * FROM public.execute_paper_trade({})").format(
        sql.SQL(", ").join(
            sql.SQL("{} => {}::{}").format(
                sql.Identifier(f"p_{name}"), sql.Placeholder(name), sql.SQL(TRADE_PARAMS[name])
            )
            for name in args
        )
    )
    row = conn.execute(call, {k: str(v) if isinstance(v, Decimal) else v for k, v in args.items()})
    result = row.fetchone()
    assert result is not None
    return result


def cancel(conn: Conn, order_id: uuid.UUID, reason: str | None = None) -> Row:
    if reason is None:
        row = conn.execute("SELECT * FROM public.cancel_order(%s::uuid)", [order_id]).fetchone()
    else:
        row = conn.execute(
            "SELECT * FROM public.cancel_order(%s::uuid, %s)", [order_id, reason]
        ).fetchone()
    assert row is not None
    return row


def tick(conn: Conn, symbol: str, price: Any, at: Any = None) -> int:
    """process_market_tick; ``at`` is a timestamptz (or SQL-castable text), now() if None."""
    if at is None:
        row = conn.execute(
            "SELECT public.process_market_tick(%s, %s::numeric) AS n", [symbol, str(price)]
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT public.process_market_tick(%s, %s::numeric, %s::timestamptz) AS n",
            [symbol, str(price), at],
        ).fetchone()
    assert row is not None
    return int(row["n"])


def reset(conn: Conn, account_id: uuid.UUID, reason: str | None = None) -> Row:
    row = conn.execute(
        "SELECT * FROM public.reset_paper_account(%s::uuid, %s)", [account_id, reason]
    ).fetchone()
    assert row is not None
    return row


# ------------------------------------------------------------------ market data


def set_price(owner: Conn, symbol: str, price: Any, **fields: Any) -> None:
    """Sets a symbol's cached USD price (fresh, unless last_updated is given) and any other
    market_data_cache columns."""
    values: dict[str, Any] = {"price_usd": Decimal(str(price)), **fields}
    sets = [sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in values]
    if "last_updated" not in values:
        sets.append(sql.SQL("last_updated = now()"))
    stmt = sql.SQL("UPDATE market_data_cache SET {} WHERE symbol = {}").format(
        sql.SQL(", ").join(sets), sql.Placeholder("symbol")
    )
    assert owner.execute(stmt, {**values, "symbol": symbol}).rowcount == 1


def fresh_prices(owner: Conn) -> None:
    owner.execute("UPDATE market_data_cache SET last_updated = now()")


def update_account(owner: Conn, account_id: uuid.UUID, **fields: Any) -> None:
    sets = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in fields
    )
    stmt = sql.SQL("UPDATE paper_trading_accounts SET {} WHERE id = {}").format(
        sets, sql.Placeholder("account_id")
    )
    assert owner.execute(stmt, {**fields, "account_id": account_id}).rowcount == 1


def account(owner: Conn, account_id: uuid.UUID) -> Row:
    row = owner.execute(
        "SELECT * FROM paper_trading_accounts WHERE id = %s", [account_id]
    ).fetchone()
    assert row is not None
    return row


def position(owner: Conn, account_id: uuid.UUID, symbol: str) -> Row | None:
    return owner.execute(
        "SELECT * FROM account_positions WHERE account_id = %s AND symbol = %s",
        [account_id, symbol],
    ).fetchone()


def order(owner: Conn, order_id: uuid.UUID) -> Row:
    row = owner.execute("SELECT * FROM paper_trades WHERE id = %s", [order_id]).fetchone()
    assert row is not None
    return row


# ------------------------------------------------------------------ snapshots


@dataclass(frozen=True)
class Snapshot:
    """What a rejected call must leave as it was: row counts of the tables the engine
    writes (whole database), the account row, its positions and its orders."""

    counts: dict[str, int]
    account: Row | None
    positions: list[Row]
    orders: list[Row]


def snapshot(owner: Conn, account_id: uuid.UUID) -> Snapshot:
    counts_query = sql.SQL("SELECT {}").format(
        sql.SQL(", ").join(
            sql.SQL("(SELECT count(*) FROM {}) AS {}").format(sql.Identifier(t), sql.Identifier(t))
            for t in WRITTEN_TABLES
        )
    )
    counts = owner.execute(counts_query).fetchone()
    assert counts is not None
    acct = owner.execute(
        "SELECT * FROM paper_trading_accounts WHERE id = %s", [account_id]
    ).fetchone()
    positions = owner.execute(
        "SELECT * FROM account_positions WHERE account_id = %s ORDER BY symbol", [account_id]
    ).fetchall()
    orders = owner.execute(
        "SELECT * FROM paper_trades WHERE account_id = %s ORDER BY created_at, id", [account_id]
    ).fetchall()
    return Snapshot(dict(counts), acct, positions, orders)


@dataclass(frozen=True)
class Rejection:
    sqlstate: str
    code: str | None
    message: str | None


def rejection_of(error: psycopg.Error) -> Rejection:
    diag = error.diag
    assert diag.sqlstate is not None and diag.sqlstate.startswith("CT"), (
        f"not an engine rejection: {diag.sqlstate} {diag.message_primary}"
    )
    return Rejection(diag.sqlstate, diag.message_hint, diag.message_primary)


def rejected(call: Callable[[], object]) -> Rejection:
    """Runs ``call``, which must fail with an engine rejection (SQLSTATE CTxxx)."""
    with pytest.raises(psycopg.Error) as info:
        call()
    return rejection_of(info.value)


def expect_rejection(
    owner: Conn,
    account_id: uuid.UUID,
    code: str,
    call: Callable[[], object],
    *,
    sqlstate: str | None = None,
) -> Rejection:
    """``call`` is refused with ``code`` (and ``sqlstate`` if given) and wrote nothing."""
    before = snapshot(owner, account_id)
    got = rejected(call)
    assert got.code == code, got
    if sqlstate is not None:
        assert got.sqlstate == sqlstate, got
    assert snapshot(owner, account_id) == before
    return got


# ------------------------------------------------------------------ invariants


LEDGER_QUERY = """
SELECT a.balance, a.reserved_balance, a.initial_balance, a.fees_paid,
       coalesce(p.cost_basis, 0) AS cost_basis,
       coalesce(p.realized, 0) AS realized,
       a.balance + a.reserved_balance + coalesce(p.cost_basis, 0) + a.fees_paid
         - coalesce(p.realized, 0) - a.initial_balance AS ledger_gap,
       (SELECT coalesce(sum(amount_changed), 0) FROM paper_account_audit au
         WHERE au.account_id = a.id) AS audit_sum,
       (SELECT coalesce(sum(reserved_amount), 0) FROM paper_trades t
         WHERE t.account_id = a.id AND t.status = 'pending' AND t.side = 'buy') AS buy_reserved,
       (SELECT coalesce(sum(reserved_amount), 0) FROM paper_trades t
         WHERE t.account_id = a.id AND t.status <> 'pending') AS ended_reserved,
       (SELECT coalesce(sum(reserved_amount), 0) FROM paper_trades t
         WHERE t.account_id = a.id AND t.status = 'pending' AND t.side = 'sell'
           AND NOT EXISTS (SELECT 1 FROM account_positions q
                            WHERE q.account_id = a.id AND q.symbol = t.symbol))
         AS orphan_sell_reserved
  FROM paper_trading_accounts a
  LEFT JOIN LATERAL (SELECT sum(cost_basis) AS cost_basis, sum(realized_pnl) AS realized
                       FROM account_positions WHERE account_id = a.id) p ON true
 WHERE a.id = %s
"""

POSITIONS_QUERY = """
SELECT p.symbol, p.quantity, p.reserved_quantity, p.cost_basis,
       (SELECT coalesce(sum(t.reserved_amount), 0) FROM paper_trades t
         WHERE t.account_id = p.account_id AND t.symbol = p.symbol
           AND t.status = 'pending' AND t.side = 'sell') AS sell_reserved
  FROM account_positions p WHERE p.account_id = %s ORDER BY p.symbol
"""

OCO_QUERY = """
SELECT t.oco_group_id, count(*) AS legs, count(*) FILTER (WHERE t.status = 'pending') AS pending,
       sum(t.reserved_amount) FILTER (WHERE t.status = 'pending') AS reserved,
       max(t.amount) AS amount, count(*) FILTER (WHERE t.status = 'completed') AS completed
  FROM paper_trades t
 WHERE t.account_id = %s AND t.oco_group_id IS NOT NULL
 GROUP BY t.oco_group_id
"""


def check_invariants(owner: Conn, account_id: uuid.UUID) -> Row:
    """The engine's accounting invariants for one account; returns the ledger row."""
    ledger = owner.execute(LEDGER_QUERY, [account_id]).fetchone()
    assert ledger is not None
    assert ledger["balance"] >= 0, ledger
    assert ledger["reserved_balance"] >= 0, ledger
    # initial = balance + reserved + Σ cost_basis + fees_paid - Σ realized_pnl, exactly
    assert ledger["ledger_gap"] == 0, ledger
    assert ledger["audit_sum"] == ledger["balance"], ledger
    assert ledger["reserved_balance"] == ledger["buy_reserved"], ledger
    assert ledger["ended_reserved"] == 0, ledger
    assert ledger["orphan_sell_reserved"] == 0, ledger
    for pos in owner.execute(POSITIONS_QUERY, [account_id]).fetchall():
        assert pos["quantity"] >= 0, pos
        assert 0 <= pos["reserved_quantity"] <= pos["quantity"], pos
        assert pos["cost_basis"] >= 0, pos
        assert pos["reserved_quantity"] == pos["sell_reserved"], pos
    for group in owner.execute(OCO_QUERY, [account_id]).fetchall():
        # the legs of a group end together; while pending, the group reserves its amount once
        assert group["pending"] in (0, group["legs"]), group
        assert group["completed"] <= 1, group
        if group["pending"]:
            assert group["reserved"] == group["amount"], group
    return ledger
