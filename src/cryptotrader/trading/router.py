"""/orders and /trades: thin HTTP over the trading service."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cryptotrader.api.deps import Caller, SignedIn, caller_from
from cryptotrader.api.pagination import (
    Cursor,
    InvalidCursor,
    Limit,
    Page,
    decode_cursor,
    page_of,
)
from cryptotrader.api.problems import responses
from cryptotrader.db.calls import fetch_one
from cryptotrader.errors import (
    AccountNotActive,
    AccountNotFound,
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
from cryptotrader.trading.schemas import OrderRequest, Side, Trade, TradeStatus

router = APIRouter(tags=["orders"])

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


class IdempotencyKeyReused(InvalidRequest):
    code = "idempotency_key_reused"
    title = "Idempotency key reused with a different request"


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


class _OrderRoute(APIRoute):
    """POST /orders, the API's hottest route, without FastAPI's per-request dependency
    resolution in the common case: a JSON body that validates, a bearer token and no
    Idempotency-Key. Resolving the four parameters cost more CPU than the rest of
    FastAPI's handling together. Anything else (a missing token, a body that does not
    parse or validate, an Idempotency-Key) goes through the standard handler, so every
    error is produced, documented and rendered exactly as on any other route."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        standard = super().get_route_handler()

        async def handler(request: Request) -> Response:
            headers = request.headers
            auth = headers.get("authorization", "")
            if (
                auth[:7].lower() == "bearer "
                and "idempotency-key" not in headers
                and headers.get("content-type", "").startswith("application/json")
            ):
                try:
                    body = OrderRequest.model_validate(json.loads(await request.body()))
                except (ValueError, ValidationError):  # let the standard path say why
                    body = None
                if body is not None:
                    caller = caller_from(
                        request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=auth[7:])
                    )
                    return await _place(request, caller, body)
            return await standard(request)

        return handler


async def place_order(
    request: Request, caller: SignedIn, body: OrderRequest, key: IdempotencyKey = None
) -> Response:
    if key is None:
        return await _place(request, caller, body)
    metrics = request.app.state.metrics
    try:
        replayed = await _place_once(caller, body, key)
    except DomainError as exc:
        metrics.rejections.labels(exc.code).inc()
        raise
    if isinstance(replayed, Response):
        return replayed
    metrics.orders.labels(replayed.order_type, replayed.status).inc()
    return _created(replayed)


router.add_api_route(
    "/orders",
    place_order,
    methods=["POST"],
    status_code=status.HTTP_201_CREATED,
    response_model=Trade,
    responses=responses(PLACE_ERRORS, IdempotencyKeyReused),
    summary="Place a market, limit or stop order",
    description="Market orders fill at once; limit and stop orders rest until the market "
    "crosses them. A buy may carry stop_loss and take_profit, which become a "
    "one-cancels-other pair of sells once it fills.",
    route_class_override=_OrderRoute,
)


async def _place(request: Request, caller: Caller, body: OrderRequest) -> Response:
    """The hot path: one statement that runs as the caller and writes the audit row."""
    metrics = request.app.state.metrics
    try:
        async with caller.gateway() as conn:
            trade = await service.place_order_as_caller(
                conn, caller.claims_json, body, ip=caller.ip, user_agent=caller.user_agent
            )
    except DomainError as exc:
        metrics.rejections.labels(exc.code).inc()
        raise
    metrics.orders.labels(trade.order_type, trade.status).inc()
    return _created(trade)


def _created(trade: Trade) -> Response:
    # already a validated Trade: serialise it once, without FastAPI's re-validation
    return Response(
        trade.model_dump_json(), status_code=status.HTTP_201_CREATED, media_type="application/json"
    )


async def _place_once(caller: SignedIn, body: OrderRequest, key: str) -> Trade | Response:
    """An order under an Idempotency-Key: the first use places it and stores the response;
    a repeat with the same body replays it, with a different body is refused."""
    request_hash = hashlib.sha256(
        json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()
    async with caller.unit() as conn:
        claimed = await fetch_one(
            conn, service.Q["claim_idempotency_key"], {"key": key, "request_hash": request_hash}
        )
        if claimed is None:  # used before (a concurrent first use has committed by now)
            seen = await fetch_one(conn, service.Q["read_idempotency_key"], {"key": key})
            if seen is None or seen["request_hash"] != request_hash or seen["response"] is None:
                raise IdempotencyKeyReused("this Idempotency-Key was used for a different order")
            return JSONResponse(
                seen["response"],
                status_code=seen["status_code"],
                headers={"Idempotent-Replayed": "true"},
            )
        trade = await service.place_order(conn, body)
        await conn.execute(
            service.Q["store_idempotent_response"],
            {"key": key, "status_code": 201, "response": Jsonb(trade.model_dump(mode="json"))},
        )
        await caller.audit(
            conn,
            "order.place",
            "order",
            trade.id,
            {
                "symbol": trade.symbol,
                "side": trade.side,
                "type": trade.order_type,
                "status": trade.status,
            },
        )
        return trade


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
            account_id=account_id,
            status=status_,
            symbol=symbol,
            after=decode_cursor(cursor),
            limit=limit,
        )
    return page_of(items, limit)


@router.get("/orders/{order_id}", responses=responses(NotAuthenticated, OrderNotFound))
async def get_order(caller: SignedIn, order_id: UUID) -> Trade:
    async with caller.unit() as conn:
        return await service.get_order(conn, order_id)


@router.post(
    "/orders/{order_id}/cancel",
    responses=responses(NotAuthenticated, OrderNotFound, OrderNotCancellable),
    summary="Cancel a pending order (and its one-cancels-other sibling)",
)
async def cancel_order(caller: SignedIn, order_id: UUID) -> Trade:
    async with caller.unit() as conn:
        trade = await service.cancel_order(conn, order_id)
        await caller.audit(conn, "order.cancel", "order", order_id)
        return trade


class TradeFilter(BaseModel):
    """The filters of /trades and /trades.csv (unknown query parameters are ignored: the
    model shares the query string with cursor and limit)."""

    model_config = ConfigDict(populate_by_name=True)

    account_id: UUID | None = None
    symbol: str | None = Field(default=None, max_length=15)
    side: Side | None = None
    bot_id: UUID | None = None
    category: str | None = Field(default=None, max_length=50)
    since: datetime | None = Field(default=None, alias="from")
    until: datetime | None = Field(default=None, alias="to")


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
            status="completed",
            **filters.model_dump(),
            after=decode_cursor(cursor),
            limit=limit,
        )
    return page_of(items, limit)


@router.get(
    "/trades.csv",
    responses=responses(NotAuthenticated, InvalidRequest, {200: {"content": {"text/csv": {}}}}),
    summary="Your fills as CSV (same filters as /trades)",
    response_class=StreamingResponse,
)
async def export_trades(
    caller: SignedIn, filters: Annotated[TradeFilter, Query()]
) -> StreamingResponse:
    rows: list[Trade] = []
    async with caller.unit() as conn:
        after = None
        while True:
            page = await service.list_orders(
                conn,
                status="completed",
                **filters.model_dump(),
                after=after,
                limit=service.MAX_PAGE,
            )
            rows.extend(page)
            if len(page) < service.MAX_PAGE:
                break
            after = (page[-1].created_at, page[-1].id)

    async def body() -> AsyncIterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for trade in rows:
            data = trade.model_dump(mode="json")
            writer.writerow(["" if data[c] is None else data[c] for c in CSV_COLUMNS])
            if out.tell() > 64_000:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()

    return StreamingResponse(
        body(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="trades.csv"'},
    )
