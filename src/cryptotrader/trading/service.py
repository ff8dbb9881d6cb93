"""Orders: place, cancel, list. Every fill goes through the database's execute_paper_trade();
this module validates shapes and maps rejections, never re-implements the rules."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from cryptotrader.db.calls import fetch_all, fetch_one, require
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.errors import OrderNotFound
from cryptotrader.trading.schemas import OrderRequest, Trade, TradeStatus

# execute_paper_trade()'s arguments, by name, from OrderRequest.model_dump()
_ORDER_ARGS = """
  p_account_id => %(account_id)s, p_symbol => %(symbol)s, p_side => %(side)s,
  p_amount => %(amount)s,
  p_order_type => %(order_type)s, p_limit_price => %(limit_price)s, p_stop_price => %(stop_price)s,
  p_time_in_force => %(time_in_force)s, p_expires_at => %(expires_at)s,
  p_stop_loss => %(stop_loss)s, p_take_profit => %(take_profit)s, p_bot_id => %(bot_id)s,
  p_reasoning => %(reasoning)s, p_confidence_level => %(confidence_level)s,
  p_trade_category => %(trade_category)s, p_tags => %(tags)s, p_notes => %(notes)s)
"""
_PLACE = "SELECT * FROM execute_paper_trade(" + _ORDER_ARGS
# The same call through gateway.place_order(), which switches to the caller's role and claims
# itself and writes the audit row: one statement, one round trip (migration 0016).
_PLACE_AS_CALLER = (
    "SELECT * FROM gateway.place_order(p_claims => %(claims)s, p_ip => %(ip)s::inet,"
    " p_user_agent => %(user_agent)s," + _ORDER_ARGS
)

MAX_PAGE = 500
Q = load_queries("cryptotrader.trading")


async def place_order(conn: Conn, order: OrderRequest) -> Trade:
    """Place an order as the connection's caller.

    Raises the trading engine's typed rejections (AccountNotFound, AccountNotActive,
    UnknownSymbol, StalePrice, InvalidAmount, InvalidPrice, InvalidOrder, InsufficientFunds,
    InsufficientPosition, MaxPositionSize, MaxDailyLoss, OrderWouldTrigger, BotNotFound);
    nothing is written then.
    """
    row = await fetch_one(conn, _PLACE, order.model_dump())
    return Trade.model_validate(require(row, OrderNotFound()))


async def place_order_as_caller(
    conn: Conn, claims: str, order: OrderRequest, *, ip: str | None, user_agent: str | None
) -> Trade:
    """:func:`place_order` and its ``order.place`` audit row in one statement, on an
    autocommit connection (:func:`cryptotrader.db.session.single_statement`): the database
    switches to the caller given by ``claims`` (JSON) itself. Same rejections."""
    params = order.model_dump() | {"claims": claims, "ip": ip, "user_agent": user_agent}
    row = await fetch_one(conn, _PLACE_AS_CALLER, params)
    return Trade.model_validate(require(row, OrderNotFound()))


async def cancel_order(conn: Conn, order_id: UUID) -> Trade:
    """Cancel a pending order (and its one-cancels-other sibling), releasing its reservation.

    Raises OrderNotFound (also for another user's order) and OrderNotCancellable.
    """
    row = await fetch_one(conn, "SELECT * FROM cancel_order(%s)", [order_id])
    return Trade.model_validate(require(row, OrderNotFound()))


async def get_order(conn: Conn, order_id: UUID) -> Trade:
    row = await fetch_one(conn, "SELECT * FROM paper_trades WHERE id = %s", [order_id])
    return Trade.model_validate(require(row, OrderNotFound()))


async def list_orders(
    conn: Conn,
    *,
    account_id: UUID | None = None,
    status: TradeStatus | None = None,
    symbol: str | None = None,
    side: str | None = None,
    bot_id: UUID | None = None,
    category: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[datetime, UUID] | None = None,
    limit: int = 100,
) -> list[Trade]:
    """The caller's orders and trades, newest first (RLS keeps them to the caller's).
    ``after`` is the (created_at, id) of the last row of the previous page."""
    rows = await fetch_all(
        conn,
        Q["list_orders"],
        {
            "account_id": account_id,
            "status": status,
            "symbol": symbol,
            "side": side,
            "bot_id": bot_id,
            "category": category,
            "since": since,
            "until": until,
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": max(1, min(limit, MAX_PAGE)),
        },
    )
    return [Trade.model_validate(r) for r in rows]


async def process_tick(conn: Conn, symbol: str, price: Decimal) -> int:
    """Fill, trigger and expire the pending orders that ``price`` crosses (service role)."""
    row = await fetch_one(conn, "SELECT process_market_tick(%s, %s::numeric) AS n", [symbol, price])
    return int(row["n"]) if row else 0
