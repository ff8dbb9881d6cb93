"""AI strategies: a new one (from the bots page), and a strategy's page: its name, model,
indicators, parameters and prompt in an editor that saves them, a preview of the prompt
as a model would be asked it now (the editor's text, saved or not, rendered on current
data; no model is called, nothing is written), the bots that run it, and its deletion
(refused while a bot that is not stopped runs it). Another user's strategy is not found,
exactly like a missing one. Every change is the bots service's, as the signed-in user
(audited)."""

from __future__ import annotations

from typing import Any, get_args
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cryptotrader.bots import service as bots
from cryptotrader.bots.schemas import AIStrategy, PromptPreview
from cryptotrader.db.session import Conn
from cryptotrader.errors import DomainError
from cryptotrader.market import service as market
from cryptotrader.market.schemas import Timeframe
from cryptotrader.web.bot_forms import (
    ai_strategy_create,
    ai_strategy_update,
    form_of,
    preview_refusal,
    preview_request,
    strategy_refusal,
)
from cryptotrader.web.display import display_of
from cryptotrader.web.forms import FieldRefusal, go, is_htmx
from cryptotrader.web.render import page
from cryptotrader.web.session import SignedInForm, SignedInPage, Viewer

router = APIRouter(include_in_schema=False)
PREVIEW_SYMBOLS = "BTC, ETH"
PREVIEW_TIMEFRAME = "1h"


@router.post("/ai-strategies")
async def create_ai_strategy(request: Request, viewer: SignedInForm) -> Response:
    data = ai_strategy_create(await form_of(request))
    async with viewer.caller.unit() as conn:
        try:
            await bots.create_ai_strategy(conn, viewer.caller.actor, data)
        except DomainError as exc:
            raise strategy_refusal(exc) from exc
    return go(request, "/bots")


def draft_of(strategy: AIStrategy) -> dict[str, str]:
    """The editor's fields as saved (and the preview's defaults)."""
    parameters = strategy.parameters or {}
    return {
        "name": strategy.name,
        "model": strategy.model,
        "indicators": ", ".join(strategy.indicators),
        "temperature": str(parameters.get("temperature", "")),
        "max_tokens": str(parameters.get("max_tokens", "")),
        "prompt": strategy.prompt,
        "preview_symbols": PREVIEW_SYMBOLS,
        "preview_timeframe": PREVIEW_TIMEFRAME,
    }


async def _context(
    conn: Conn,
    strategy: AIStrategy,
    draft: dict[str, str],
    *,
    preview: PromptPreview | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    prices = await market.list_prices(conn)
    display = await display_of(conn, prices)
    runners = [b for b in await bots.list_bots(conn, limit=1000) if b.strategy_id == strategy.id]
    return {
        "strategy": strategy,
        "draft": draft_of(strategy) | draft,
        "preview": preview,
        "errors": errors or {},
        "models": [m.model for m in await bots.list_model_prices(conn)],
        "symbols": sorted(p.symbol for p in prices),
        "timeframes": get_args(Timeframe),
        "runners": runners,
        "running": [b for b in runners if b.status != "stopped"],
    } | display.context()


@router.get("/ai-strategies/{strategy_id}", response_class=HTMLResponse)
async def strategy_page(request: Request, viewer: SignedInPage, strategy_id: UUID) -> Response:
    async with viewer.caller.unit() as conn:
        strategy = await bots.get_ai_strategy(conn, strategy_id)
        context = await _context(conn, strategy, {})
    return page(request, "ai_strategy.html", context, viewer=viewer)


async def _refused(
    request: Request, viewer: Viewer, strategy_id: UUID, form: dict[str, str], refusal: FieldRefusal
) -> Response:
    """A refusal of the editor: htmx shows it at its field (problem+json); a plain post
    gets the page again with the text as edited and the refusal at its field."""
    if is_htmx(request):
        raise refusal
    async with viewer.caller.unit() as conn:
        strategy = await bots.get_ai_strategy(conn, strategy_id)
        context = await _context(conn, strategy, form, errors={refusal.field: refusal.detail})
    return page(request, "ai_strategy.html", context, viewer=viewer, status_code=refusal.status)


@router.post("/ai-strategies/{strategy_id}")
async def edit(request: Request, viewer: SignedInForm, strategy_id: UUID) -> Response:
    """The editor's two buttons: ``action=save`` saves the changes (then the page again);
    ``action=preview`` renders the page with the editor's text as it is (unsaved) and
    the prompt a model would be asked with it now."""
    form = await form_of(request)
    action = form.pop("action", "save")
    try:
        async with viewer.caller.unit() as conn:
            strategy = await bots.get_ai_strategy(conn, strategy_id)  # not theirs: 404
            if action == "preview":
                preview = await _preview(conn, form)
                context = await _context(conn, strategy, form, preview=preview)
                return page(request, "ai_strategy.html", context, viewer=viewer)
            changes = ai_strategy_update(form)
            try:
                await bots.update_ai_strategy(conn, viewer.caller.actor, strategy_id, changes)
            except DomainError as exc:
                raise strategy_refusal(exc) from exc
    except FieldRefusal as refusal:
        return await _refused(request, viewer, strategy_id, form, refusal)
    return go(request, f"/ai-strategies/{strategy_id}")


async def _preview(conn: Conn, form: dict[str, str]) -> PromptPreview:
    draft = preview_request(form)
    try:
        return await bots.preview_prompt(conn, draft)
    except DomainError as exc:
        raise preview_refusal(exc) from exc


@router.post("/ai-strategies/{strategy_id}/delete")
async def delete(request: Request, viewer: SignedInForm, strategy_id: UUID) -> Response:
    """Delete it, then the bots page. While a bot that is not stopped runs it, the
    service's refusal (ai_strategy_in_use) is said on the page."""
    async with viewer.caller.unit() as conn:
        await bots.delete_ai_strategy(conn, viewer.caller.actor, strategy_id)
    return go(request, "/bots")
