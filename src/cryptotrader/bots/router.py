"""/bots and /ai-strategies: thin HTTP over the bots service. A bot's trades are the
orders with its ``bot_id`` (``GET /orders?bot_id=``)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, status

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.api.deps import SignedIn
from cryptotrader.api.pagination import Cursor, InvalidCursor, Limit, Page, decode_cursor, page_of
from cryptotrader.api.problems import responses
from cryptotrader.bots import service
from cryptotrader.bots.errors import (
    AIStrategyInUse,
    AIStrategyNotFound,
    InvalidBotConfig,
    InvalidBotTransition,
    UnknownIndicator,
    UnknownModel,
)
from cryptotrader.bots.llm import from_settings
from cryptotrader.bots.schemas import (
    EXAMPLE_AI_STRATEGY_ID,
    EXAMPLE_BOT_ID,
    AIStrategy,
    AIStrategyCreate,
    AIStrategyUpdate,
    Bot,
    BotBacktest,
    BotBacktestRequest,
    BotCosts,
    BotCreate,
    BotPerformance,
    BotStatus,
    BotUpdate,
    Calibration,
    JournalEntry,
    PromptPreview,
    PromptPreviewRequest,
)
from cryptotrader.config import Settings
from cryptotrader.errors import (
    AccountNotActive,
    BotNotFound,
    InvalidRequest,
    NotAuthenticated,
    UnknownSymbol,
)
from cryptotrader.market.errors import NoCandles

router = APIRouter(tags=["bots"])
BotId = Annotated[UUID, Path(examples=[EXAMPLE_BOT_ID])]
StrategyId = Annotated[UUID, Path(examples=[EXAMPLE_AI_STRATEGY_ID])]
ONE_BOT = responses(NotAuthenticated, BotNotFound)
ONE_STRATEGY = responses(NotAuthenticated, AIStrategyNotFound)
STEP = responses(
    NotAuthenticated, BotNotFound, InvalidBotTransition, InvalidBotConfig, AccountNotActive
)
DecisionStatus = Literal["claimed", "decided", "traded", "held", "abstained", "failed"]


# ------------------------------------------------------------------ AI strategies
@router.get(
    "/ai-strategies",
    responses=responses(NotAuthenticated, InvalidCursor),
    summary="Your AI strategies (prompt, model, indicators), oldest first",
)
async def list_ai_strategies(
    caller: SignedIn, cursor: Cursor = None, limit: Limit = 100
) -> Page[AIStrategy]:
    async with caller.unit() as conn:
        items = await service.list_ai_strategies(conn, after=decode_cursor(cursor), limit=limit)
    return page_of(items, limit)


@router.post(
    "/ai-strategies",
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        NotAuthenticated, InvalidRequest, UnknownModel, UnknownIndicator, InvalidBotConfig
    ),
    summary="Create an AI strategy: the prompt an LLM bot is asked with",
)
async def create_ai_strategy(caller: SignedIn, body: AIStrategyCreate) -> AIStrategy:
    async with caller.unit() as conn:
        return await service.create_ai_strategy(conn, caller.actor, body)


@router.post(
    "/ai-strategies/preview",
    responses=responses(NotAuthenticated, InvalidRequest, UnknownIndicator, UnknownSymbol),
    summary="Render a prompt on current data, without calling a model",
    description="The system and user messages a bot with this prompt would send now: the "
    "newest closed bars of each symbol, the indicators computed, a fresh capital cap. The "
    "`snapshot_hash` is the key its reply would be recorded under.",
)
async def preview_prompt(caller: SignedIn, body: PromptPreviewRequest) -> PromptPreview:
    async with caller.unit() as conn:
        return await service.preview_prompt(conn, body)


@router.get("/ai-strategies/{strategy_id}", responses=ONE_STRATEGY, summary="One AI strategy")
async def get_ai_strategy(caller: SignedIn, strategy_id: StrategyId) -> AIStrategy:
    async with caller.unit() as conn:
        return await service.get_ai_strategy(conn, strategy_id)


@router.patch(
    "/ai-strategies/{strategy_id}",
    responses=responses(
        NotAuthenticated, AIStrategyNotFound, InvalidRequest, UnknownModel, UnknownIndicator
    ),
    summary="Change an AI strategy (its bots ask with it from their next bar)",
)
async def update_ai_strategy(
    caller: SignedIn, strategy_id: StrategyId, body: AIStrategyUpdate
) -> AIStrategy:
    async with caller.unit() as conn:
        return await service.update_ai_strategy(conn, caller.actor, strategy_id, body)


@router.delete(
    "/ai-strategies/{strategy_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(NotAuthenticated, AIStrategyNotFound, AIStrategyInUse),
    summary="Delete an AI strategy no running bot uses",
)
async def delete_ai_strategy(caller: SignedIn, strategy_id: StrategyId) -> None:
    async with caller.unit() as conn:
        await service.delete_ai_strategy(conn, caller.actor, strategy_id)


# ------------------------------------------------------------------ bots
@router.get(
    "/bots",
    responses=responses(NotAuthenticated, InvalidCursor),
    summary="Your bots, oldest first, with their performance",
)
async def list_bots(
    caller: SignedIn,
    bot_status: Annotated[BotStatus | None, Query(alias="status")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[Bot]:
    async with caller.unit() as conn:
        items = await service.list_bots(
            conn, status=bot_status, after=decode_cursor(cursor), limit=limit
        )
    return page_of(items, limit)


@router.post(
    "/bots",
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        NotAuthenticated,
        InvalidRequest,
        AccountNotFound,
        AccountNotActive,
        AIStrategyNotFound,
        UnknownSymbol,
        UnknownModel,
        InvalidBotConfig,
    ),
    summary="Create a bot (paused): a rule strategy, or an AI strategy (`strategy: llm`)",
)
async def create_bot(caller: SignedIn, body: BotCreate) -> Bot:
    async with caller.unit() as conn:
        return await service.create_bot(conn, caller.actor, body)


@router.get("/bots/{bot_id}", responses=ONE_BOT, summary="One bot, with its performance")
async def get_bot(caller: SignedIn, bot_id: BotId) -> Bot:
    async with caller.unit() as conn:
        return await service.get_bot(conn, bot_id)


@router.patch(
    "/bots/{bot_id}",
    responses=responses(
        NotAuthenticated,
        BotNotFound,
        InvalidRequest,
        InvalidBotTransition,
        UnknownSymbol,
        UnknownModel,
        InvalidBotConfig,
    ),
    summary="Change a bot's settings (its status changes by start, pause and stop)",
)
async def update_bot(caller: SignedIn, bot_id: BotId, body: BotUpdate) -> Bot:
    async with caller.unit() as conn:
        return await service.update_bot(conn, caller.actor, bot_id, body)


@router.delete(
    "/bots/{bot_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ONE_BOT,
    summary="Delete a bot and its journal (its trades stay, without the bot)",
)
async def delete_bot(caller: SignedIn, bot_id: BotId) -> None:
    async with caller.unit() as conn:
        await service.delete_bot(conn, caller.actor, bot_id)


@router.post(
    "/bots/{bot_id}/start",
    responses=STEP,
    summary="Start a paused (or errored) bot: it decides on every bar that closes from now",
)
async def start_bot(caller: SignedIn, bot_id: BotId) -> Bot:
    async with caller.unit() as conn:
        return await service.start_bot(conn, caller.actor, bot_id)


@router.post("/bots/{bot_id}/pause", responses=STEP, summary="Pause an active bot")
async def pause_bot(caller: SignedIn, bot_id: BotId) -> Bot:
    async with caller.unit() as conn:
        return await service.pause_bot(conn, caller.actor, bot_id)


@router.post("/bots/{bot_id}/stop", responses=STEP, summary="Stop a bot for good")
async def stop_bot(caller: SignedIn, bot_id: BotId) -> Bot:
    async with caller.unit() as conn:
        return await service.stop_bot(conn, caller.actor, bot_id)


@router.get(
    "/bots/{bot_id}/decisions",
    responses=responses(NotAuthenticated, BotNotFound, InvalidCursor),
    summary="The bot's decision journal, newest first",
    description="Every decision: the bar, the input's hash, the prompt, the model, the raw "
    "reply, the parsed decision or the abstention and its reason, tokens, cost, latency and "
    "the resulting order.",
)
async def list_decisions(
    caller: SignedIn,
    bot_id: BotId,
    decision_status: Annotated[DecisionStatus | None, Query(alias="status")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[JournalEntry]:
    async with caller.unit() as conn:
        items = await service.list_decisions(
            conn, bot_id, status=decision_status, before=decode_cursor(cursor), limit=limit
        )
    return page_of(items, limit)


@router.get(
    "/bots/{bot_id}/performance",
    responses=ONE_BOT,
    summary="The bot's performance from its own fills, at current prices",
)
async def bot_performance(caller: SignedIn, bot_id: BotId) -> BotPerformance:
    async with caller.unit() as conn:
        return await service.bot_performance(conn, bot_id)


@router.get(
    "/bots/{bot_id}/costs",
    responses=ONE_BOT,
    summary="What the bot's model calls cost, in all and today, beside its budgets",
)
async def bot_costs(caller: SignedIn, bot_id: BotId) -> BotCosts:
    async with caller.unit() as conn:
        return await service.bot_costs(conn, bot_id)


@router.get(
    "/bots/{bot_id}/calibration",
    responses=responses(NotAuthenticated, BotNotFound, InvalidRequest),
    summary="The Brier score of the bot's confidence and its reliability table",
)
async def bot_calibration(
    caller: SignedIn,
    bot_id: BotId,
    horizon: Annotated[int, Query(ge=1, le=500, description="Bars after the decision.")] = 1,
    buckets: Annotated[int, Query(ge=2, le=20)] = 10,
) -> Calibration:
    async with caller.unit() as conn:
        return await service.bot_calibration(conn, bot_id, horizon=horizon, buckets=buckets)


@router.post(
    "/bots/{bot_id}/backtest",
    responses=responses(NotAuthenticated, BotNotFound, InvalidRequest, InvalidBotConfig, NoCandles),
    summary="Backtest an LLM bot with the record of its model's replies",
    description="Replays the recorded replies at no cost. `dry_run` says how many calls the "
    "bars without one would take and what they would cost; `offline` abstains on them; "
    "`record` asks the model for them within `budget_usd` and records the replies. A window "
    "that ends before the model's training cutoff is flagged (`before_cutoff`).",
)
async def backtest_bot(
    caller: SignedIn, bot_id: BotId, body: BotBacktestRequest, request: Request
) -> BotBacktest:
    settings: Settings = request.app.state.settings
    llm = from_settings(settings) if body.mode == "record" else None
    try:
        return await service.backtest_bot(caller.pool, caller.actor, bot_id, body, llm=llm)
    finally:
        if llm is not None:
            await llm.aclose()
