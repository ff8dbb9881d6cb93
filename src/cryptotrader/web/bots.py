"""Bots: the list (each with its performance and what its model calls cost), a new bot (a
built-in rule strategy with its parameters, or an AI strategy), the AI strategies (each
with its page: web/ai_strategies.py); and one bot's page: its status with the steps its
state allows, performance, costs and budgets, the calibration of its confidence (a
reliability diagram over ``?horizon=`` bars, and its table), its decision journal and its
trades. Every change is the bots service's, as the signed-in user (audited)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from cryptotrader.accounts import service as accounts
from cryptotrader.api.pagination import decode_cursor, encode_cursor
from cryptotrader.audit.schemas import Actor
from cryptotrader.bots import service as bots
from cryptotrader.bots.schemas import Bot
from cryptotrader.db.session import Conn
from cryptotrader.errors import DomainError, InvalidRequest
from cryptotrader.market import service as market
from cryptotrader.market.schemas import Timeframe
from cryptotrader.strategies import service as strategies
from cryptotrader.trading import service as trading
from cryptotrader.trading.schemas import OrderFilter
from cryptotrader.web import charts
from cryptotrader.web.bot_forms import bot_create, bot_refusal, form_of
from cryptotrader.web.display import display_of
from cryptotrader.web.forms import FieldRefusal, go
from cryptotrader.web.render import page
from cryptotrader.web.session import SignedInForm, SignedInPage

router = APIRouter(include_in_schema=False)
JOURNAL = 50
TRADES = 50
BUCKETS = 10  # of the reliability diagram
Step = Literal["start", "pause", "stop"]
# the steps each state allows (the service's lifecycle; it refuses any other)
STEPS: dict[str, tuple[Step, ...]] = {
    "paused": ("start", "stop"),
    "active": ("pause", "stop"),
    "error": ("start", "stop"),
    "stopped": (),
}


@router.get("/bots", response_class=HTMLResponse)
async def bots_page(request: Request, viewer: SignedInPage) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        mine = await bots.list_bots(conn)
        ai = await bots.list_ai_strategies(conn)
        owned = await accounts.list_accounts(conn)
        models = await bots.list_model_prices(conn)
        prices = await market.list_prices(conn)
        display = await display_of(conn, prices)
    rules = strategies.list_strategies()
    context = {
        "bots": mine,
        "ai_strategies": ai,
        "strategy_names": {s.id: s.name for s in ai},
        "accounts": owned,
        "rules": rules,
        "rule_names": " ".join(s.name for s in rules),
        "models": [m.model for m in models],
        "symbols": sorted(p.symbol for p in prices),
        "timeframes": get_args(Timeframe),
    }
    return page(request, "bots.html", context | display.context(), viewer=viewer)


@router.post("/bots")
async def create(request: Request, viewer: SignedInForm) -> Response:
    """A new bot (paused), then its page."""
    data = bot_create(await form_of(request))
    async with viewer.caller.unit() as conn:
        try:
            bot = await bots.create_bot(conn, viewer.caller.actor, data)
        except DomainError as exc:
            raise bot_refusal(exc, data.strategy) from exc
    return go(request, f"/bots/{bot.id}")


def _moment(value: object) -> datetime | None:
    """A time the performance JSON holds (ISO 8601), or None."""
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


async def _calibration(conn: Conn, bot_id: UUID, asked: str | None) -> dict[str, Any]:
    """The calibration over the horizon asked for (``?horizon=``), as the chart and the
    table show it. A horizon that is not a whole number, or one the service refuses, is
    said at the field, and the calibration is over one bar."""
    error = None
    try:
        horizon = int(asked) if asked and asked.strip() else 1
    except ValueError:
        horizon, error = 1, "Horizon: a whole number of bars, from 1 to 500."
    try:
        calibration = await bots.bot_calibration(conn, bot_id, horizon=horizon, buckets=BUCKETS)
    except InvalidRequest as exc:
        error = FieldRefusal.of(exc, "horizon").detail
        calibration = await bots.bot_calibration(conn, bot_id, buckets=BUCKETS)
    return {
        "calibration": calibration,
        "reliability": charts.reliability(calibration),
        "horizon": asked.strip() if error and asked else str(calibration.horizon_bars),
        "horizon_error": error,
    }


async def _bot_context(conn: Conn, bot: Bot, before: str | None) -> dict[str, Any]:
    journal = await bots.list_decisions(conn, bot.id, before=decode_cursor(before), limit=JOURNAL)
    older = journal[-1] if len(journal) == JOURNAL else None
    account = None
    if bot.account_id is not None:
        account = await accounts.get_account(conn, bot.account_id, record_access=False)
    ai_strategy = None
    if bot.is_llm and bot.strategy_id is not None:
        ai_strategy = await bots.get_ai_strategy(conn, bot.strategy_id)
    return {
        "bot": bot,
        "steps": STEPS.get(bot.status, ()),
        "perf": bot.performance,
        "perf_at": _moment(bot.performance.get("updated_at")),
        "account": account,
        "ai_strategy": ai_strategy,
        "costs": await bots.bot_costs(conn, bot.id),
        "journal": journal,
        "older": encode_cursor(older.created_at, older.id) if older else None,
        "trades": await trading.list_orders(conn, OrderFilter(bot_id=bot.id), limit=TRADES),
    }


@router.get("/bots/{bot_id}", response_class=HTMLResponse)
async def bot_page(
    request: Request,
    viewer: SignedInPage,
    bot_id: UUID,
    before: Annotated[str | None, Query(max_length=200)] = None,
    horizon: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    """One bot (another user's is not found, exactly like a missing one), its calibration
    over ``horizon`` bars (default 1)."""
    async with viewer.caller.unit() as conn:
        bot = await bots.get_bot(conn, bot_id)
        context = await _bot_context(conn, bot, before)
        context |= await _calibration(conn, bot.id, horizon)
        display = await display_of(conn)
    return page(request, "bot.html", context | display.context(), viewer=viewer)


async def _step(conn: Conn, actor: Actor, bot_id: UUID, action: Step) -> Bot:
    if action == "start":
        return await bots.start_bot(conn, actor, bot_id)
    if action == "pause":
        return await bots.pause_bot(conn, actor, bot_id)
    return await bots.stop_bot(conn, actor, bot_id)


@router.post("/bots/{bot_id}/status")
async def change_status(
    request: Request,
    viewer: SignedInForm,
    bot_id: UUID,
    action: Annotated[Step, Form()],
) -> Response:
    """Start, pause or stop (a step the bot's state does not allow is refused: the
    service's InvalidBotTransition, said on the page)."""
    async with viewer.caller.unit() as conn:
        await _step(conn, viewer.caller.actor, bot_id, action)
    return go(request, f"/bots/{bot_id}")
