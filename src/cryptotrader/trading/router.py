"""/orders and /trades: thin HTTP over the trading service."""

from __future__ import annotations

import csv
import io
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.api.deps import SignedIn
from cryptotrader.api.pagination import (
    Cursor,
    InvalidCursor,
    Limit,
    Page,
    decode_cursor,
    page_of,
)
from cryptotrader.api.problems import responses
from cryptotrader.api.streaming import streamed_csv
from cryptotrader.errors import (
    AccountNotActive,
    BotNotFound,
    DomainError,
    InsufficientFunds,
    InsufficientPosition,
    InvalidAmount,
    InvalidOrder,
    InvalidPrice,
    InvalidRequest,
    MaxDailyLoss,
    MaxPositionSize,
    NotAuthenticated,
    OrderNotCancellable,
    OrderNotFound,
    OrderWouldTrigger,
    StalePrice,
    UnknownSymbol,
)
from cryptotrader.trading import service
from cryptotrader.trading.errors import IdempotencyKeyReused
from cryptotrader.trading.schemas import (
    EXAMPLE_ORDER_ID,
    OrderFilter,
    OrderPreview,
    OrderRequest,
    Trade,
    TradeFilter,
    TradeStatus,
)

router = APIRouter(tags=["orders"])


def _csv_example() -> str:
    """The export's header and one row (the Trade model's example), as the export writes
    them."""
    trade: dict[str, object] = Trade.model_json_schema()["examples"][0]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(service.CSV_COLUMNS)
    writer.writerow(["" if trade.get(c) is None else trade[c] for c in service.CSV_COLUMNS])
    return out.getvalue()


CSV_EXAMPLE = _csv_example()
OrderId = Annotated[UUID, Path(examples=[EXAMPLE_ORDER_ID])]

PLACE_ERRORS = responses(
    NotAuthenticated,
    AccountNotFound,
    BotNotFound,
    AccountNotActive,
    StalePrice,
    InsufficientFunds,
    InsufficientPosition,
    MaxPositionSize,
    MaxDailyLoss,
    UnknownSymbol,
    InvalidAmount,
    InvalidPrice,
    InvalidOrder,
    OrderWouldTrigger,
    InvalidRequest,  # a text the database refuses (one with a NUL, say)
)


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retry safely: the same key and body give the same result,"
        " never a second trade.",
    ),
]


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    responses=responses(PLACE_ERRORS, IdempotencyKeyReused),
    summary="Place a market, limit or stop order",
    description="Market orders fill at once; limit and stop orders rest until the market "
    "crosses them. A buy may carry stop_loss and take_profit, which become a "
    "one-cancels-other pair of sells once it fills. With an Idempotency-Key, a repeat of the "
    "same order within 24 hours answers the first one's trade (header "
    "`Idempotent-Replayed: true`) instead of trading again.",
)
async def place_order(
    request: Request,
    response: Response,
    caller: SignedIn,
    body: OrderRequest,
    key: IdempotencyKey = None,
) -> Trade:
    metrics = request.app.state.metrics
    try:
        placed = await service.place_order(caller.pool, caller.actor, body, idempotency_key=key)
    except DomainError as exc:
        metrics.rejections.labels(exc.code).inc()
        raise
    if placed.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        metrics.orders.labels(placed.trade.order_type, placed.trade.status).inc()
    return placed.trade


# Declared before the /orders/{order_id} routes, so "preview" is never read as an order id.
@router.post(
    "/orders/preview",
    responses=responses(NotAuthenticated, AccountNotFound, BotNotFound, InvalidRequest),
    summary="Preview an order: its estimated fill, fee and resulting cash, or its refusal",
    description="The same order as POST /orders, priced by the account's fill model and fees "
    "and checked by the engine's own rules, without placing it: nothing is written. A limit "
    "or stop order shows the reserve it would hold and the price it would fill at. An order "
    "the engine would refuse answers 200 with status `rejected` and the engine's "
    "`refusal_code` and `refusal_message`; another user's account is 404 as for POST /orders.",
)
async def preview_order(caller: SignedIn, body: OrderRequest) -> OrderPreview:
    async with caller.unit() as conn:
        return await service.preview_order(conn, body)


@router.get(
    "/orders",
    responses=responses(NotAuthenticated, InvalidCursor, InvalidRequest),
    summary="Your orders, newest first",
)
async def list_orders(
    caller: SignedIn,
    account_id: UUID | None = None,
    status_: Annotated[TradeStatus | None, Query(alias="status")] = None,
    symbol: Annotated[str | None, Query(max_length=15)] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[Trade]:
    async with caller.unit() as conn:
        items = await service.list_orders(
            conn,
            OrderFilter(account_id=account_id, status=status_, symbol=symbol),
            after=decode_cursor(cursor),
            limit=limit,
        )
    return page_of(items, limit)


@router.get("/orders/{order_id}", responses=responses(NotAuthenticated, OrderNotFound))
async def get_order(caller: SignedIn, order_id: OrderId) -> Trade:
    async with caller.unit() as conn:
        return await service.get_order(conn, order_id)


@router.post(
    "/orders/{order_id}/cancel",
    responses=responses(NotAuthenticated, OrderNotFound, OrderNotCancellable),
    summary="Cancel a pending order (and its one-cancels-other sibling)",
)
async def cancel_order(caller: SignedIn, order_id: OrderId) -> Trade:
    async with caller.unit() as conn:
        return await service.cancel_order(conn, caller.actor, order_id)


@router.get(
    "/trades",
    responses=responses(NotAuthenticated, InvalidCursor, InvalidRequest),
    summary="Your fills, newest first",
)
async def list_trades(
    caller: SignedIn,
    filters: Annotated[TradeFilter, Query()],
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[Trade]:
    async with caller.unit() as conn:
        items = await service.list_orders(
            conn,
            OrderFilter(status="completed", **filters.model_dump()),
            after=decode_cursor(cursor),
            limit=limit,
        )
    return page_of(items, limit)


@router.get(
    "/trades.csv",
    responses=responses(
        NotAuthenticated, InvalidRequest, {200: {"content": {"text/csv": {"example": CSV_EXAMPLE}}}}
    ),
    summary="Your fills as CSV (same filters as /trades)",
    response_class=StreamingResponse,
)
async def export_trades(
    caller: SignedIn, filters: Annotated[TradeFilter, Query()]
) -> StreamingResponse:
    return await streamed_csv(
        caller.unit(), lambda conn: service.export_trades_csv(conn, filters), "trades.csv"
    )
