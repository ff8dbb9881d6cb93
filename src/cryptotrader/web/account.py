"""One account's page: equity chart, positions, open orders, trades (filters, pages, CSV),
the audit trail, its limits and fill model, and pause/resume/archive/reset. Each table is
also a fragment that htmx reloads when an order event arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from cryptotrader.accounts import service as accounts
from cryptotrader.accounts.schemas import Account, AccountStatus, EquityCurve
from cryptotrader.api.pagination import decode_cursor, encode_cursor
from cryptotrader.api.streaming import streamed_csv
from cryptotrader.db.session import Conn
from cryptotrader.market import service as market
from cryptotrader.trading import service as trading
from cryptotrader.trading.schemas import OrderFilter, Side, TradeFilter
from cryptotrader.web.display import display_of
from cryptotrader.web.forms import FieldRefusal, go
from cryptotrader.web.render import page
from cryptotrader.web.session import SignedInForm, SignedInPage

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
CURVE_POINTS = 1000
STATUS_OF: dict[str, AccountStatus] = {"pause": "paused", "resume": "active", "archive": "archived"}


def _cursor(rows: list[Any], limit: int) -> str | None:
    """The cursor of the page after ``rows`` (keyed on created_at, id), if there is one."""
    if len(rows) < limit:
        return None
    last = rows[-1]
    return encode_cursor(last.created_at, last.id)


@dataclass(frozen=True)
class TradesQuery:
    """The trades table's filters and page, from the query string (empty: no filter)."""

    symbol: str
    side: str
    cursor: str | None

    @property
    def context(self) -> dict[str, str]:
        return {"symbol": self.symbol, "side": self.side}


def trades_query(
    symbol: Annotated[str, Query(max_length=15)] = "",
    side: Annotated[Literal["buy", "sell", ""], Query()] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> TradesQuery:
    return TradesQuery(symbol=symbol, side=side, cursor=cursor)


Trades = Annotated[TradesQuery, Depends(trades_query)]


async def _trades(conn: Conn, account_id: UUID, query: TradesQuery) -> dict[str, Any]:
    """A page of the account's fills, and the table's context."""
    filters = OrderFilter.model_validate(
        {
            "status": "completed",
            "account_id": account_id,
            "symbol": query.symbol or None,
            "side": query.side or None,
        }
    )
    after = decode_cursor(query.cursor)
    rows = await trading.list_orders(conn, filters, after=after, limit=PAGE_SIZE)
    return {
        "account_id": account_id,
        "trades": rows,
        "next_cursor": _cursor(rows, PAGE_SIZE),
        "filters": query.context,
    }


async def _tables(conn: Conn, account: Account) -> dict[str, Any]:
    """The account page's live parts: positions and open orders."""
    return {
        "positions": await accounts.list_positions(conn, account.id),
        "open_orders": await trading.list_orders(
            conn, OrderFilter(status="pending", account_id=account.id), limit=100
        ),
    }


def _chart(curve: EquityCurve) -> dict[str, Any]:
    return {
        "points": [[p.at.isoformat(), str(p.equity)] for p in curve.points],
        "drawdown": [[p.at.isoformat(), str(p.drawdown)] for p in curve.points],
    }


@router.get("/accounts/{account_id}", response_class=HTMLResponse)
async def account_page(
    request: Request,
    viewer: SignedInPage,
    account_id: UUID,
    query: Trades,
) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        account = await accounts.get_account(conn, account_id)
        tables = await _tables(conn, account)
        trades = await _trades(conn, account_id, query)
        audit = await accounts.list_audit(conn, account_id, limit=PAGE_SIZE)
        prices = await market.list_prices(conn)
        display = await display_of(conn, prices)
    symbols = sorted({p.symbol for p in prices})
    context = {
        "account": account,
        "audit": audit,
        "audit_cursor": _cursor(audit, PAGE_SIZE),
        "symbols": symbols,
        "ticket_symbols": [p.symbol for p in prices],
        "stream_symbols": ",".join(symbols[:20]),
    }
    context |= trades | tables | display.context()
    return page(request, "account.html", context, viewer=viewer)


@router.get("/accounts/{account_id}/equity.json")
async def equity_json(viewer: SignedInPage, account_id: UUID) -> JSONResponse:
    """The equity chart's data, fetched by the page once it is shown (the curve is the
    slowest part of an account with a long history; the page does not wait for it)."""
    async with viewer.caller.unit() as conn:
        curve = await accounts.equity_curve(conn, account_id, points=CURVE_POINTS)
    return JSONResponse(_chart(curve))


@router.get("/accounts/{account_id}/live", response_class=HTMLResponse)
async def live_parts(request: Request, viewer: SignedInPage, account_id: UUID) -> HTMLResponse:
    """The summary, positions and open orders, re-read after an order event (not counted
    as a view of the account)."""
    async with viewer.caller.unit() as conn:
        account = await accounts.get_account(conn, account_id, record_access=False)
        tables = await _tables(conn, account)
        display = await display_of(conn)
    context = {"account": account} | tables | display.context()
    return page(request, "account_live.html", context, viewer=viewer)


@router.get("/accounts/{account_id}/trades", response_class=HTMLResponse)
async def trades_fragment(
    request: Request,
    viewer: SignedInPage,
    account_id: UUID,
    query: Trades,
) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        await accounts.require_account(conn, account_id)
        trades = await _trades(conn, account_id, query)
        display = await display_of(conn)
    return page(request, "account_trades.html", trades | display.context(), viewer=viewer)


@router.get("/accounts/{account_id}/audit", response_class=HTMLResponse)
async def audit_fragment(
    request: Request,
    viewer: SignedInPage,
    account_id: UUID,
    before: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        entries = await accounts.list_audit(
            conn, account_id, after=decode_cursor(before), limit=PAGE_SIZE
        )
        display = await display_of(conn)
    context = {
        "audit": entries,
        "audit_cursor": _cursor(entries, PAGE_SIZE),
        "account_id": account_id,
    }
    return page(request, "account_audit.html", context | display.context(), viewer=viewer)


@router.get("/accounts/{account_id}/trades.csv")
async def trades_csv(
    viewer: SignedInPage,
    account_id: UUID,
    symbol: Annotated[str | None, Query(max_length=15)] = None,
    side: Side | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> StreamingResponse:
    """The account's fills as CSV, streamed by the trading service (the API's export)."""
    filters = TradeFilter.model_validate(
        {"account_id": account_id, "symbol": symbol, "side": side, "from": since, "to": until}
    )

    async def rows(conn: Conn) -> AsyncIterator[str]:
        await accounts.require_account(conn, account_id)  # another user's: 404, not empty
        async for chunk in trading.export_trades_csv(conn, filters):
            yield chunk

    return await streamed_csv(viewer.caller.unit(), rows, f"trades-{account_id}.csv")


@router.post("/accounts/{account_id}/status")
async def change_status(
    request: Request,
    viewer: SignedInForm,
    account_id: UUID,
    action: Annotated[Literal["pause", "resume", "archive"], Form()],
) -> Response:
    target: AccountStatus = STATUS_OF[action]
    async with viewer.caller.unit() as conn:
        await accounts.set_status(conn, viewer.caller.actor, account_id, target)
    return go(request, f"/accounts/{account_id}")


@router.post("/accounts/{account_id}/reset")
async def reset(
    request: Request,
    viewer: SignedInForm,
    account_id: UUID,
    confirm: Annotated[str, Form(max_length=10)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Reset to the initial balance (history is kept); only with the box ticked."""
    if confirm != "yes":
        raise FieldRefusal(
            422, "confirmation_required", "Confirm the reset", "Tick the box to confirm.", "confirm"
        )
    async with viewer.caller.unit() as conn:
        await accounts.reset_account(conn, viewer.caller.actor, account_id, reason or None)
    return go(request, f"/accounts/{account_id}")
