"""Notifications: the header's bell (the unread count, re-read when the stream says a
notification arrived) and the notifications page (filters, read / unread, read all,
delete), all through the notifications service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from cryptotrader.accounts import service as accounts
from cryptotrader.api.pagination import decode_cursor, encode_cursor
from cryptotrader.db.session import Conn
from cryptotrader.notifications import service
from cryptotrader.notifications.schemas import Notification
from cryptotrader.web.forms import FieldRefusal, go, is_htmx
from cryptotrader.web.render import page
from cryptotrader.web.session import SignedInForm, SignedInPage, Viewer, finish

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
# htmx event on the body after a change here: the bell (and other lists) re-read
CHANGED = "ct-notifications-changed"


@dataclass(frozen=True)
class Filters:
    """The list's filters, from the query string or a form (empty: no filter)."""

    unread: bool
    account_id: UUID | None

    @property
    def query(self) -> str:
        parts = ["unread=1"] if self.unread else []
        if self.account_id:
            parts.append(f"account_id={self.account_id}")
        return "&".join(parts)


def _filters(unread: str, account_id: str) -> Filters:
    try:
        account = UUID(account_id) if account_id.strip() else None
    except ValueError as exc:
        raise FieldRefusal(
            422, "validation_error", "Invalid value", "Account: not an account id", "account_id"
        ) from exc
    return Filters(unread=unread.lower() in {"1", "on", "true", "yes"}, account_id=account)


def query_filters(
    unread: Annotated[str, Query(max_length=5)] = "",
    account_id: Annotated[str, Query(max_length=36)] = "",
) -> Filters:
    return _filters(unread, account_id)


def form_filters(
    unread: Annotated[str, Form(max_length=5)] = "",
    account_id: Annotated[str, Form(max_length=36)] = "",
) -> Filters:
    return _filters(unread, account_id)


QueryFilters = Annotated[Filters, Depends(query_filters)]
FormFilters = Annotated[Filters, Depends(form_filters)]


def links_of(notification: Notification) -> list[tuple[str, str]]:
    """The pages of the objects its metadata names (label, URL): the order's account, the
    alert, the bot, the backtest, the market."""
    meta = notification.metadata
    links: list[tuple[str, str]] = []
    if meta.get("order_id") or meta.get("trade_id"):
        links.append(("Order", f"/accounts/{notification.account_id}"))
    if meta.get("alert_id"):
        links.append(("Alert", "/alerts"))
    if meta.get("bot_id"):
        links.append(("Bot", f"/bots/{meta['bot_id']}"))
    if meta.get("session_id") or meta.get("backtest_id"):
        links.append(("Backtest", f"/backtests/{meta.get('session_id') or meta['backtest_id']}"))
    symbol = meta.get("symbol")
    if isinstance(symbol, str) and symbol.isalnum():
        links.append((symbol.upper(), f"/markets/{symbol.upper()}"))
    if not links or links[0][0] != "Order":
        links.append(("Account", f"/accounts/{notification.account_id}"))
    return links


async def _listing(conn: Conn, filters: Filters, cursor: str | None = None) -> dict[str, Any]:
    rows = await service.list_notifications(
        conn,
        unread=filters.unread,
        account_id=filters.account_id,
        after=decode_cursor(cursor),
        limit=PAGE_SIZE + 1,
    )
    shown = rows[:PAGE_SIZE]
    more = len(rows) > PAGE_SIZE
    return {
        "notifications": [(n, links_of(n)) for n in shown],
        "next_cursor": encode_cursor(shown[-1].created_at, shown[-1].id) if more else None,
        "filters": filters,
        "unread_count": await service.unread_count(conn),
    }


def _changed(request: Request, response: Response) -> Response:
    response.headers["HX-Trigger"] = CHANGED
    return finish(request, response)


@router.get("/notifications", response_class=HTMLResponse)
async def notifications_page(
    request: Request, viewer: SignedInPage, filters: QueryFilters
) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        listing = await _listing(conn, filters)
        mine = await accounts.list_accounts(conn)
    return page(request, "notifications.html", listing | {"accounts": mine}, viewer=viewer)


@router.get("/notifications/items", response_class=HTMLResponse)
async def notification_items(
    request: Request,
    viewer: SignedInPage,
    filters: QueryFilters,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """The list alone: re-read when one arrives (ct-notification) or the filters change."""
    async with viewer.caller.unit() as conn:
        listing = await _listing(conn, filters, cursor)
    name = "_notification_rows.html" if cursor else "_notification_list.html"
    return page(request, name, listing, viewer=viewer)


@router.get("/notifications/bell", response_class=HTMLResponse)
async def bell(request: Request, viewer: SignedInPage) -> HTMLResponse:
    """The bell's link with the unread count (htmx swaps it into #bell)."""
    async with viewer.caller.unit() as conn:
        unread = await service.unread_count(conn)
    return page(request, "_bell_link.html", {"unread_count": unread}, viewer=viewer)


async def _set_read(
    request: Request, viewer: Viewer, notification_id: UUID, is_read: bool
) -> Response:
    async with viewer.caller.unit() as conn:
        changed = await service.set_read(conn, viewer.caller.actor, notification_id, is_read)
    if not is_htmx(request):
        return go(request, "/notifications")
    context = {"n": changed, "links": links_of(changed)}
    return _changed(request, page(request, "_notification_row.html", context, viewer=viewer))


@router.post("/notifications/{notification_id}/read")
async def mark_read(request: Request, viewer: SignedInForm, notification_id: UUID) -> Response:
    return await _set_read(request, viewer, notification_id, True)


@router.post("/notifications/{notification_id}/unread")
async def mark_unread(request: Request, viewer: SignedInForm, notification_id: UUID) -> Response:
    return await _set_read(request, viewer, notification_id, False)


@router.post("/notifications/{notification_id}/delete")
async def delete(request: Request, viewer: SignedInForm, notification_id: UUID) -> Response:
    async with viewer.caller.unit() as conn:
        await service.delete_notification(conn, viewer.caller.actor, notification_id)
    if not is_htmx(request):
        return go(request, "/notifications")
    return _changed(request, HTMLResponse(""))  # htmx swaps the row out for nothing


@router.post("/notifications/read-all")
async def read_all(request: Request, viewer: SignedInForm, filters: FormFilters) -> Response:
    """Every unread one read (of the filter's account, when one is chosen); the list again."""
    async with viewer.caller.unit() as conn:
        await service.read_all(conn, viewer.caller.actor, filters.account_id)
        listing = await _listing(conn, filters)
    if not is_htmx(request):
        return go(request, "/notifications" + (f"?{filters.query}" if filters.query else ""))
    return _changed(request, page(request, "_notification_list.html", listing, viewer=viewer))
