"""Orders: place, preview, cancel, list. Every fill goes through the database's
execute_paper_trade(); this module validates shapes and maps rejections, never re-implements
the rules."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.calls import domain_errors, execute, fetch_all, fetch_one, require
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn, single_statement
from cryptotrader.errors import DomainError, OrderNotFound, rejection
from cryptotrader.trading.schemas import (
    ALL_ORDERS,
    OrderFilter,
    OrderPreview,
    OrderRequest,
    Trade,
    TradeFilter,
)

MAX_PAGE = 500
CSV_COLUMNS = (
    "id",
    "created_at",
    "filled_at",
    "account_id",
    "symbol",
    "side",
    "order_type",
    "status",
    "amount",
    "price",
    "execution_price",
    "total_value",
    "fee",
    "realized_pnl",
    "trade_category",
    "bot_id",
)
Q = load_queries("cryptotrader.trading")


@dataclass(frozen=True, kw_only=True)
class PlacedOrder:
    trade: Trade
    replayed: bool  # a repeat of an Idempotency-Key: the first request's trade, not a new one


def request_hash(order: OrderRequest) -> str:
    """What a repeat of an Idempotency-Key must match: the order as it was validated."""
    canonical = json.dumps(order.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class OrderItem:
    """One order of a batch: who places it, what, and its Idempotency-Key if any."""

    actor: Actor
    order: OrderRequest
    idempotency_key: str | None = None

    def wire(self) -> dict[str, object]:
        return self.order.model_dump(mode="json") | {
            "claims": self.actor.claims_json,
            "ip": self.actor.ip,
            "user_agent": self.actor.user_agent,
            "idempotency_key": self.idempotency_key,
            "request_hash": request_hash(self.order) if self.idempotency_key else None,
        }


BATCH = 50  # orders per statement: under the 64 subtransactions a transaction caches


async def place_orders(
    pool: AsyncConnectionPool[Conn], items: Sequence[OrderItem]
) -> list[PlacedOrder | DomainError]:
    """Place each order as its actor and record its ``order.place`` audit row: the one
    order path of the API, the CLI and the workers, for one order or many (the copy
    worker's fan-out). Returns, in the order given, each order's placement or the typed
    rejection of the engine (see :func:`place_order`); a refused order wrote nothing, not
    even its key. Up to :data:`BATCH` orders go in one statement on an autocommit connection
    of its own (the database switches to each order's caller for that order only), so the
    orders of one batch commit together; anything but a rejection (the database going
    away) raises and leaves none of that batch placed.
    """
    results: list[PlacedOrder | DomainError] = []
    for start in range(0, len(items), BATCH):
        part = [item.wire() for item in items[start : start + BATCH]]
        async with single_statement(pool) as conn:
            rows = await fetch_all(conn, Q["place_orders"], {"orders": json.dumps(part)})
        results.extend(_placed(row) for row in rows)
    return results


def _placed(row: dict[str, Any]) -> PlacedOrder | DomainError:
    row.pop("idx")
    state, code, message = row.pop("error_state"), row.pop("error_code"), row.pop("error_message")
    replayed = bool(row.pop("replayed"))
    if state is not None:
        return rejection(state, code, message)
    return PlacedOrder(trade=Trade.model_validate(row), replayed=replayed)


async def place_order(
    pool: AsyncConnectionPool[Conn],
    actor: Actor,
    order: OrderRequest,
    *,
    idempotency_key: str | None = None,
) -> PlacedOrder:
    """Place an order as ``actor`` and record its ``order.place`` audit row (one order
    through :func:`place_orders`). With ``idempotency_key``, the first use places the order
    and stores it; a repeat of the same order within 24 hours replays it (``replayed``),
    never a second trade; a concurrent repeat waits for the first.

    Raises the trading engine's typed rejections (AccountNotFound, AccountNotActive,
    UnknownSymbol, StalePrice, InvalidAmount, InvalidPrice, InvalidOrder, InsufficientFunds,
    InsufficientPosition, MaxPositionSize, MaxDailyLoss, OrderWouldTrigger, BotNotFound) and
    IdempotencyKeyReused; nothing is written then, not even the key.
    """
    item = OrderItem(actor=actor, order=order, idempotency_key=idempotency_key)
    [placed] = await place_orders(pool, [item])
    if isinstance(placed, DomainError):
        raise placed
    return placed


async def preview_order(conn: Conn, order: OrderRequest) -> OrderPreview:
    """What placing ``order`` would do now, by the engine's own maths and checks
    (``preview_paper_trade``): the estimated fill price, fee and resulting cash and
    position, the reserve a resting order would hold, or, as status ``rejected``, the code
    and message the engine would refuse it with. Writes nothing, so it records no audit row.

    Raises AccountNotFound (also for another user's account) and BotNotFound.
    """
    row = await fetch_one(conn, Q["preview_order"], order.model_dump())
    return OrderPreview.model_validate(require(row, AccountNotFound()))


async def cancel_order(conn: Conn, actor: Actor, order_id: UUID) -> Trade:
    """Cancel a pending order (and its one-cancels-other sibling), releasing its reservation.

    Raises OrderNotFound (also for another user's order) and OrderNotCancellable. Audited
    ``order.cancel``.
    """
    row = await fetch_one(conn, Q["cancel_order"], {"order_id": order_id})
    trade = Trade.model_validate(require(row, OrderNotFound()))
    await audit.record(conn, actor, "order.cancel", "order", order_id)
    return trade


async def get_order(conn: Conn, order_id: UUID) -> Trade:
    row = await fetch_one(conn, Q["get_order"], {"order_id": order_id})
    return Trade.model_validate(require(row, OrderNotFound()))


def _params(
    filters: OrderFilter, after: tuple[datetime, UUID] | None, limit: int | None
) -> dict[str, object]:
    return filters.model_dump() | {
        "after_at": after[0] if after else None,
        "after_id": after[1] if after else None,
        "limit": None if limit is None else max(1, min(limit, MAX_PAGE)),
    }


async def list_orders(
    conn: Conn,
    filters: OrderFilter = ALL_ORDERS,
    *,
    after: tuple[datetime, UUID] | None = None,
    limit: int = 100,
) -> list[Trade]:
    """The caller's orders and trades, newest first (RLS keeps them to the caller's).
    ``after`` is the (created_at, id) of the last row of the previous page."""
    rows = await fetch_all(conn, Q["list_orders"], _params(filters, after, limit))
    return [Trade.model_validate(r) for r in rows]


async def export_trades_csv(conn: Conn, filters: TradeFilter = ALL_ORDERS) -> AsyncIterator[str]:
    """The caller's fills (completed orders) matching ``filters`` as CSV
    (:data:`CSV_COLUMNS`), newest first, in chunks of about 64 kB. Rows come through a
    server-side cursor, so an export of any size holds one batch in memory; ``conn`` must
    stay in its transaction until the last chunk."""
    fills = OrderFilter(**filters.model_dump(exclude={"status"}), status="completed")
    params = _params(fills, None, None)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    async with conn.cursor(name="export_trades_csv") as cur:
        cur.itersize = 1000
        async with domain_errors():
            await cur.execute(Q["list_orders"], params)
        async for row in cur:
            data = Trade.model_validate(row).model_dump(mode="json")
            writer.writerow(["" if data[c] is None else data[c] for c in CSV_COLUMNS])
            if out.tell() > 64_000:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
    yield out.getvalue()


async def process_tick(conn: Conn, symbol: str, price: Decimal) -> int:
    """Fill, trigger and expire the pending orders that ``price`` crosses (service role)."""
    row = await fetch_one(conn, Q["process_tick"], {"symbol": symbol, "price": price})
    return int(row["n"]) if row else 0


async def prune_expired(conn: Conn) -> int:
    """Delete the Idempotency-Keys past their one-day window (service role); returns how
    many. A request with such a key is a new request already, so nothing changes for it."""
    return await execute(conn, Q["prune_expired_idempotency_keys"])
