"""The order ticket: place (through ``trading.service.place_order``, the one order path),
preview (the engine's own maths, ``trading.service.preview_order``) and cancel. A refusal
comes back with the engine's code, a sentence the trader understands and the field it
concerns, so the ticket shows it there."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic import ValidationError

from cryptotrader.errors import DomainError
from cryptotrader.trading import service as trading
from cryptotrader.trading.schemas import OrderRequest, Trade
from cryptotrader.web.display import display_of
from cryptotrader.web.forms import FieldRefusal, invalid_form
from cryptotrader.web.render import money, page, price, quantity
from cryptotrader.web.session import CSRF_FIELD, SignedInForm, finish

router = APIRouter(include_in_schema=False)

# the engine's refusal codes: the field each concerns and what it means for the trader
REFUSALS: dict[str, tuple[str, str | None]] = {
    "insufficient_funds": ("amount", "Not enough cash for this quantity at this price."),
    "insufficient_position": ("amount", "You hold less of this coin than you want to sell."),
    "max_position_size": ("amount", "This would make the position larger than allowed."),
    "max_daily_loss": (
        "_form",
        "The account reached its daily loss limit for today.",
    ),
    "invalid_amount": ("amount", "The quantity must be a positive number."),
    "invalid_price": ("limit_price", "The price must be a positive number."),
    "invalid_order": ("order_type", "This combination of order fields is not accepted."),
    "order_would_trigger": ("stop_price", "The stop is already crossed: it would fill at once."),
    "stale_price": ("symbol", "The price of this coin is too old to trade on right now."),
    "unknown_symbol": ("symbol", "This coin is not traded here."),
    "account_not_active": ("_form", "The account is not active (paused, archived or suspended)."),
    "account_not_found": ("account_id", "There is no such account."),
}
ORDER_FIELDS = tuple(OrderRequest.model_fields)


def _order(form: dict[str, Any]) -> OrderRequest:
    """The order the ticket's form describes (empty fields left to their defaults)."""
    fields = {k: v.strip() for k, v in form.items() if k in ORDER_FIELDS and isinstance(v, str)}
    return OrderRequest.model_validate({k: v for k, v in fields.items() if v != ""})


def refusal(error: DomainError) -> FieldRefusal:
    """The engine's refusal at the ticket's field it concerns, in the trader's words."""
    field, sentence = REFUSALS.get(error.code, ("_form", None))
    return FieldRefusal.of(error, field, sentence)


async def _form_of(request: Request, account_id: UUID | None) -> dict[str, Any]:
    form = dict((await request.form()).items())
    form.pop(CSRF_FIELD, None)
    if account_id is not None:
        form["account_id"] = str(account_id)
    return form


def _summary(trade: Trade) -> str:
    verb = "Bought" if trade.side == "buy" else "Sold"
    if trade.status == "completed":
        return (
            f"{verb} {quantity(trade.amount)} {trade.symbol} at {price(trade.execution_price)}"
            f" (fee {money(trade.fee)})."
        )
    if trade.status == "pending":
        at = trade.stop_price if trade.order_type == "stop" else trade.price
        kind = trade.order_type.capitalize()
        what = f"{quantity(trade.amount)} {trade.symbol}"
        return f"{kind} order to {trade.side} {what} at {price(at)} is open."
    return f"Order {trade.status}: {trade.status_reason or 'not filled'}."


async def _place(request: Request, viewer: SignedInForm, account_id: UUID | None) -> Response:
    try:
        order = _order(await _form_of(request, account_id))
    except ValidationError as exc:
        raise invalid_form(exc) from exc
    try:
        placed = await trading.place_order(request.app.state.pool, viewer.caller.actor, order)
    except DomainError as exc:
        raise refusal(exc) from exc
    trade = placed.trade
    body = Markup('<span data-order-status="{0}">{1}</span>').format(trade.status, _summary(trade))
    event = {"ct-refresh": {"order_id": str(trade.id), "status": trade.status}}
    return finish(request, HTMLResponse(body, headers={"HX-Trigger": json.dumps(event)}))


@router.post("/accounts/{account_id}/orders")
async def place_on_account(request: Request, viewer: SignedInForm, account_id: UUID) -> Response:
    return await _place(request, viewer, account_id)


@router.post("/orders")
async def place(request: Request, viewer: SignedInForm) -> Response:
    return await _place(request, viewer, None)


@router.post("/orders/preview", response_class=HTMLResponse)
async def preview(request: Request, viewer: SignedInForm) -> HTMLResponse:
    """The ticket's estimate as the engine would fill it now (a fragment)."""
    context: dict[str, Any] = {"preview": None, "message": "Enter a quantity to see the estimate."}
    try:
        order = _order(await _form_of(request, None))
    except ValidationError as exc:
        problem = invalid_form(exc)
        if problem.field != "amount" or (await request.form()).get("amount"):
            context["message"] = problem.detail
        return page(request, "_preview.html", context, viewer=viewer)
    async with viewer.caller.unit() as conn:
        try:
            found = await trading.preview_order(conn, order)
        except DomainError as exc:
            context["message"] = refusal(exc).detail
            return page(request, "_preview.html", context, viewer=viewer)
        display = await display_of(conn)
    said = REFUSALS.get(found.refusal_code or "", ("", None))[1]
    context = {"preview": found, "sentence": said or found.refusal_message}
    return page(request, "_preview.html", context | display.context(), viewer=viewer)


@router.post("/orders/{order_id}/cancel")
async def cancel(request: Request, viewer: SignedInForm, order_id: UUID) -> Response:
    try:
        async with viewer.caller.unit() as conn:
            trade = await trading.cancel_order(conn, viewer.caller.actor, order_id)
    except DomainError as exc:
        raise refusal(exc) from exc
    event = {"ct-refresh": {"order_id": str(trade.id), "status": trade.status}}
    return finish(request, Response(status_code=204, headers={"HX-Trigger": json.dumps(event)}))
