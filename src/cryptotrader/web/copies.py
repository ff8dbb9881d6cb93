"""Copy trading on the dashboard: a follow's page (``/follows/{id}``) with its copy
settings form (start, change, stop copying into one of your accounts), where the copy
stands, its copy gap (the copied return beside the trader's, and the four parts of the
difference), the copy log (newest first, each reason in plain words, skipped copies
marked) and a what-if form; and a listed trader's what-if page
(``/traders/{id}/what-if``: replay their last days under copy settings, before following).
Every change is the social service's, as the signed-in user (audited); another user's
follow is the service's follow_not_found, like a missing one."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from cryptotrader.accounts import service as accounts
from cryptotrader.api.pagination import decode_cursor, encode_cursor
from cryptotrader.db.session import Conn
from cryptotrader.errors import DomainError
from cryptotrader.social import service as social
from cryptotrader.social.schemas import CopyGap, CopySettings, Follow, WhatIfRequest
from cryptotrader.web.bot_forms import form_of
from cryptotrader.web.display import display_of
from cryptotrader.web.forms import FieldRefusal, go, invalid_form, is_htmx
from cryptotrader.web.render import page
from cryptotrader.web.session import SignedInForm, SignedInPage

router = APIRouter(include_in_schema=False)
LOG = 50  # copies on a page of the log
CopyStep = Literal["copy", "stop"]
# the copy log's reasons (social/copy_math.py, social/copying.py) in plain words
REASONS: dict[str, str] = {
    "cycle": "The trader's fill came from copying you: a copy chain stops there.",
    "account_paused": "Your copy account was not active.",
    "stale_price": "There was no fresh price to copy at.",
    "trader_unlisted": "The trader is no longer listed: buys are not copied.",
    "max_per_trade": "Cut to your maximum per trade.",
    "insufficient_funds": "Not enough cash in your copy account.",
    "below_minimum": "Worth less than your minimum order.",
    "slippage_cap": "The price had moved past your slippage cap.",
    "no_copied_position": "There was no copied position to sell.",
    "insufficient_position": "Your account held less than the copy's share.",
    "risk_limit": "One of your account's risk limits (position size or daily loss).",
    "rejected": "The order was refused.",
}
STOP_REASONS: dict[str, str] = {
    "by_follower": "you stopped it",
    "stop_loss": "its stop-loss was reached",
}
KINDS: dict[str, str] = {"trade": "", "mirror": "opening position", "stop_close": "stop-loss close"}
# the service's refusals: the settings form's field each concerns, and what it means
COPY_REFUSALS: dict[str, tuple[str, str | None]] = {
    "account_not_found": ("account_id", "There is no such account of yours."),
    "account_not_active": ("account_id", "Copies go into an active account only."),
    "allocation_over_100": ("allocation_pct", None),
    "invalid_copy_settings": ("allocation_pct", None),
}
AMOUNTS = ("allocation_pct", "fixed_amount", "min_order", "max_per_trade", "slippage_pct")
SETTINGS = (*AMOUNTS, "stop_loss_pct", "account_id", "mode", "stop_closes")


def _settings_body(form: dict[str, str]) -> dict[str, Any]:
    """The copy settings a form names (an empty field: the default, or no limit)."""
    body: dict[str, Any] = {
        "mode": form.get("mode", "").strip() or "ratio",
        "stop_closes": form.get("stop_closes", "") == "yes",
    }
    for name in (*AMOUNTS, "stop_loss_pct"):
        if form.get(name, "").strip():
            body[name] = form[name].strip()
    return body


def _refusal(exc: ValidationError, body: dict[str, Any]) -> FieldRefusal:
    """The first problem at its field; the settings' own checks (copying needs an
    account, fixed mode an amount) at the field that is missing."""
    refusal = invalid_form(exc)
    if refusal.field in ("_form", "settings"):
        settings = body.get("settings", body)
        if settings.get("enabled") and not settings.get("account_id"):
            refusal.field = "account_id"
        elif settings.get("mode") == "fixed" and not settings.get("fixed_amount"):
            refusal.field = "fixed_amount"
    return refusal


def copy_settings(form: dict[str, str]) -> CopySettings:
    """The settings form as the copy to start or change. Raises a refusal at the field a
    value is wrong in."""
    body = _settings_body(form) | {
        "enabled": True,
        "account_id": form.get("account_id", "").strip() or None,
        "open_positions": form.get("open_positions", "") == "yes",
    }
    try:
        return CopySettings.model_validate(body)
    except ValidationError as exc:
        raise _refusal(exc, body) from exc


def stopped(follow: Follow) -> CopySettings:
    """The follow's current settings, not copying (stopping keeps them for next time)."""
    kept = follow.copying.model_dump(include=set(SETTINGS)) if follow.copying else {}
    return CopySettings.model_validate(kept | {"enabled": False})


def what_if_request(trader_id: UUID, form: dict[str, str]) -> WhatIfRequest:
    """The what-if form: the days, the capital and the settings to replay with."""
    body: dict[str, Any] = {
        "trader_id": trader_id,
        "settings": _settings_body(form) | {"enabled": False},
    }
    for name in ("days", "capital"):
        if form.get(name, "").strip():
            body[name] = form[name].strip()
    try:
        return WhatIfRequest.model_validate(body)
    except ValidationError as exc:
        raise _refusal(exc, body) from exc


async def _gap(conn: Conn, follow: Follow) -> CopyGap | None:
    """The copy gap of a follow that ever copied."""
    if follow.copying is None or follow.copying.started_at is None:
        return None
    return await social.copy_gap(conn, follow.id)


async def _follow_context(conn: Conn, follow: Follow, before: str | None) -> dict[str, Any]:
    owned = await accounts.list_accounts(conn)
    log = await social.list_copies(
        conn, follow_id=follow.id, after=decode_cursor(before), limit=LOG
    )
    older = log[-1] if len(log) == LOG else None
    state = follow.copying
    return {
        "follow": follow,
        "state": state,
        "accounts": owned,
        "account": next((a for a in owned if state and a.id == state.account_id), None),
        "settings": state or CopySettings(enabled=False),
        "log": log,
        "older": encode_cursor(older.created_at, older.id) if older else None,
        "gap": await _gap(conn, follow),
        "reasons": REASONS,
        "stop_reasons": STOP_REASONS,
        "kinds": KINDS,
        "what_if": None,
        "what_if_form": WhatIfRequest(trader_id=follow.trader_id, settings=stopped(follow)),
        "what_if_trader": follow.trader_id,
    }


@router.get("/follows/{follow_id}", response_class=HTMLResponse)
async def follow_page(
    request: Request,
    viewer: SignedInPage,
    follow_id: UUID,
    before: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """One of the viewer's follows and its copying (another user's is not found)."""
    async with viewer.caller.unit() as conn:
        follow = await social.get_follow(conn, follow_id)
        context = await _follow_context(conn, follow, before)
        display = await display_of(conn)
    return page(request, "follow.html", context | display.context(), viewer=viewer)


@router.post("/follows/{follow_id}/copy")
async def change_copy(
    request: Request,
    viewer: SignedInForm,
    follow_id: UUID,
    action: Annotated[CopyStep, Form()] = "copy",
) -> Response:
    """Start or change copying with the form's settings, or stop it (the settings are
    kept); then the follow's page. A refusal is said at its field."""
    chosen = copy_settings(await form_of(request)) if action == "copy" else None
    async with viewer.caller.unit() as conn:
        settings = chosen or stopped(await social.get_follow(conn, follow_id))
        try:
            await social.set_copy(conn, viewer.caller.actor, follow_id, settings)
        except DomainError as exc:
            if exc.code not in COPY_REFUSALS:
                raise
            raise FieldRefusal.of(exc, *COPY_REFUSALS[exc.code]) from exc
    return go(request, f"/follows/{follow_id}")


@router.get("/traders/{trader_id}/what-if", response_class=HTMLResponse)
async def what_if_page(request: Request, viewer: SignedInPage, trader_id: UUID) -> HTMLResponse:
    """The what-if form of a listed trader (an unlisted or missing one is not found)."""
    async with viewer.caller.unit() as conn:
        trader = await social.get_trader(conn, trader_id)
        display = await display_of(conn)
    context = {
        "trader": trader,
        "what_if_trader": trader.id,
        "what_if_form": WhatIfRequest(trader_id=trader.id),
    }
    return page(request, "what_if.html", context | display.context(), viewer=viewer)


@router.post("/traders/{trader_id}/what-if", response_class=HTMLResponse)
async def what_if(request: Request, viewer: SignedInForm, trader_id: UUID) -> HTMLResponse:
    """The replay's result: a fragment for the form's script, else the page with it."""
    asked = what_if_request(trader_id, await form_of(request))
    result = await social.what_if(viewer.caller.pool, asked)
    async with viewer.caller.unit() as conn:
        trader = await social.get_trader(conn, trader_id)
        display = await display_of(conn)
    context = {
        "trader": trader,
        "what_if_trader": trader.id,
        "what_if": result,
        "what_if_form": asked,
        "reasons": REASONS,
    }
    name = "_what_if.html" if is_htmx(request) else "what_if.html"
    return page(request, name, context | display.context(), viewer=viewer)
