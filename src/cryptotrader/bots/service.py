"""Bots and their AI strategies: create, change, start, pause, stop, delete; the decision
journal, the costs of a bot's model calls, and the calibration of its confidence.

Everything here runs as the owner (RLS): another user's bot or strategy is not found,
exactly like a missing one. The runner (:mod:`.runner`) is what trades; it runs as the
service role and places every order through ``trading.service.place_order`` as the owner.

Lifecycle: a bot is created ``paused``; ``start`` makes it ``active`` (from ``paused`` or
``error``), ``pause`` makes an active bot ``paused``, ``stop`` ends it for good. Only the
runner puts a bot in ``error`` (with the message, and a notification to its owner). The
database's trigger refuses any other step too (``invalid_bot_transition``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import numpy as np
from psycopg_pool import AsyncConnectionPool

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import Actor
from cryptotrader.backtest.service import load_bars
from cryptotrader.backtest.types import BacktestConfig
from cryptotrader.bots import replay
from cryptotrader.bots.calibration import brier_and_reliability, outcome
from cryptotrader.bots.claims import candles_of
from cryptotrader.bots.errors import (
    AIStrategyInUse,
    AIStrategyNotFound,
    InvalidBotConfig,
    InvalidBotTransition,
)
from cryptotrader.bots.llm import LLMClient, route
from cryptotrader.bots.prompt import Context, parse_indicator, render
from cryptotrader.bots.schemas import (
    LLM,
    AIStrategy,
    AIStrategyCreate,
    AIStrategyUpdate,
    Bot,
    BotBacktest,
    BotBacktestRequest,
    BotConfig,
    BotCosts,
    BotCreate,
    BotPerformance,
    BotStatus,
    BotUpdate,
    Calibration,
    JournalEntry,
    LLMParameters,
    ModelPrice,
    PromptPreview,
    PromptPreviewRequest,
)
from cryptotrader.db.calls import execute, fetch_all, fetch_one, require
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn, as_service, as_user
from cryptotrader.errors import AccountNotActive, BotNotFound, InvalidRequest, UnknownSymbol
from cryptotrader.market.errors import NoCandles
from cryptotrader.market.schemas import TIMEFRAME_SECONDS, Candle
from cryptotrader.strategies.errors import InvalidStrategyParameters, UnknownStrategy
from cryptotrader.strategies.registry import validate_parameters

Q = load_queries("cryptotrader.bots")
TF_SECONDS = json.dumps(TIMEFRAME_SECONDS)
RULE_MODEL = "rule"  # ai_model of a rule bot: it asks no model
# the steps the owner may take, by the bot's status (only the runner sets error)
TRANSITIONS: dict[str, set[str]] = {
    "active": {"paused", "stopped"},
    "paused": {"active", "stopped"},
    "error": {"active", "stopped"},
    "stopped": set(),
}


# ------------------------------------------------------------------ AI strategies
def _check_model(model: str) -> None:
    route(model)  # raises UnknownModel


def _check_strategy_fields(fields: dict[str, Any]) -> None:
    if fields.get("model") is not None:
        _check_model(fields["model"])
    for spec in fields.get("indicators") or []:
        parse_indicator(spec)  # raises UnknownIndicator


async def list_ai_strategies(
    conn: Conn, *, after: tuple[datetime, UUID] | None = None, limit: int = 100
) -> list[AIStrategy]:
    params = {"after_at": after[0] if after else None, "after_id": after[1] if after else None}
    rows = await fetch_all(conn, Q["list_ai_strategies"], params | {"limit": limit})
    return [AIStrategy.model_validate(r) for r in rows]


async def get_ai_strategy(conn: Conn, strategy_id: UUID) -> AIStrategy:
    row = await fetch_one(conn, Q["get_ai_strategy"], {"id": strategy_id})
    return AIStrategy.model_validate(require(row, AIStrategyNotFound()))


async def create_ai_strategy(conn: Conn, actor: Actor, data: AIStrategyCreate) -> AIStrategy:
    """A new AI strategy. Raises UnknownModel, UnknownIndicator, InvalidBotConfig (its
    parameters). Audited ``ai_strategy.create``."""
    fields = data.model_dump()
    _check_strategy_fields(fields)
    fields["parameters"] = json.dumps(fields["parameters"])  # validated by its model
    row = require(await fetch_one(conn, Q["insert_ai_strategy"], fields), AIStrategyNotFound())
    strategy = await get_ai_strategy(conn, row["id"])
    details = {"name": data.name, "model": data.model}
    await audit.record(conn, actor, "ai_strategy.create", "ai_strategy", strategy.id, details)
    return strategy


async def update_ai_strategy(
    conn: Conn, actor: Actor, strategy_id: UUID, changes: AIStrategyUpdate
) -> AIStrategy:
    """Change an AI strategy (the bots that run it ask with the new prompt from their next
    bar). Raises AIStrategyNotFound, InvalidRequest (nothing given), UnknownModel,
    UnknownIndicator. Audited ``ai_strategy.update``."""
    fields = changes.model_dump(exclude_unset=True)
    if not fields:
        raise InvalidRequest("no field to change")
    for required in ("name", "model", "prompt", "parameters", "indicators", "is_active"):
        if required in fields and fields[required] is None:
            raise InvalidRequest(f"{required} cannot be null")
    _check_strategy_fields(fields)
    params: dict[str, Any] = {"id": strategy_id}
    for name in AIStrategyUpdate.model_fields:
        params[f"set_{name}"] = name in fields
        value = fields.get(name)
        params[name] = json.dumps(value) if name == "parameters" and value is not None else value
    require(await fetch_one(conn, Q["update_ai_strategy"], params), AIStrategyNotFound())
    details = changes.model_dump(mode="json", exclude_unset=True)
    details.pop("prompt", None)
    await audit.record(conn, actor, "ai_strategy.update", "ai_strategy", strategy_id, details)
    return await get_ai_strategy(conn, strategy_id)


async def delete_ai_strategy(conn: Conn, actor: Actor, strategy_id: UUID) -> None:
    """Delete an AI strategy that only stopped bots (or none) run. Raises
    AIStrategyNotFound, AIStrategyInUse. Audited ``ai_strategy.delete``."""
    await get_ai_strategy(conn, strategy_id)
    users = await fetch_one(conn, Q["ai_strategy_users"], {"id": strategy_id})
    if users is not None and users["n"]:
        raise AIStrategyInUse(f"{users['n']} bot(s) run this strategy; stop or delete them first")
    require(
        await fetch_one(conn, Q["delete_ai_strategy"], {"id": strategy_id}), AIStrategyNotFound()
    )
    await audit.record(conn, actor, "ai_strategy.delete", "ai_strategy", strategy_id)


# ------------------------------------------------------------------ bots
def _bot(row: dict[str, Any]) -> Bot:
    return Bot.model_validate(
        row
        | {
            "status": row["status"] or "paused",
            "risk_level": row["risk_level"] or "medium",
            "mode": row["mode"] or "paper",
            "config": row["config"] or {},
            "performance": row["performance"] or {},
        }
    )


async def list_bots(
    conn: Conn,
    *,
    status: BotStatus | None = None,
    after: tuple[datetime, UUID] | None = None,
    limit: int = 100,
) -> list[Bot]:
    params = {
        "status": status,
        "after_at": after[0] if after else None,
        "after_id": after[1] if after else None,
        "limit": limit,
    }
    return [_bot(r) for r in await fetch_all(conn, Q["list_bots"], params)]


async def get_bot(conn: Conn, bot_id: UUID) -> Bot:
    return _bot(require(await fetch_one(conn, Q["get_bot"], {"id": bot_id}), BotNotFound()))


def _check_config(strategy: str, config: BotConfig) -> None:
    if strategy == LLM:
        if config.parameters:
            raise InvalidBotConfig("an llm bot's parameters are its AI strategy's, not config's")
        return
    try:
        validate_parameters(strategy, config.parameters)
    except (UnknownStrategy, InvalidStrategyParameters) as exc:
        raise InvalidBotConfig(str(exc)) from None


async def _check_symbols(conn: Conn, symbols: Sequence[str]) -> list[str]:
    wanted = list(dict.fromkeys(s.upper() for s in symbols))
    rows = await fetch_all(conn, Q["tracked_symbols"], {"symbols": wanted})
    missing = sorted(set(wanted) - {r["symbol"] for r in rows})
    if missing:
        raise UnknownSymbol(f"no prices are tracked for {', '.join(missing)}")
    return wanted


async def _check_account(conn: Conn, account_id: UUID, *, trading: bool = False) -> None:
    """One of the caller's accounts, not archived (``trading``: active)."""
    row = require(await fetch_one(conn, Q["own_account"], {"id": account_id}), AccountNotFound())
    status = row["status"] or "active"
    if status == "archived" or (trading and status != "active"):
        raise AccountNotActive(f"the bot's account is {status}")


async def create_bot(conn: Conn, actor: Actor, data: BotCreate) -> Bot:
    """A new bot, ``paused``. A rule bot names a built-in strategy and its parameters in
    ``config``; an LLM bot is ``strategy='llm'`` with the AI strategy it runs
    (``strategy_id``) and asks ``ai_model`` (default: that strategy's model).

    Raises AccountNotFound, AccountNotActive (archived), AIStrategyNotFound, UnknownSymbol
    (no prices tracked), UnknownModel, InvalidBotConfig (an unknown strategy, bad
    parameters, an llm bot without its strategy). Audited ``bot.create``."""
    await _check_account(conn, data.account_id)
    symbols = await _check_symbols(conn, data.target_symbols)
    _check_config(data.strategy, data.config)
    if data.strategy == LLM:
        if data.strategy_id is None:
            raise InvalidBotConfig("an llm bot needs strategy_id, the AI strategy it runs")
        strategy = await get_ai_strategy(conn, data.strategy_id)
        model = data.ai_model or strategy.model
        _check_model(model)
    else:
        if data.strategy_id is not None or data.ai_model is not None:
            raise InvalidBotConfig("a rule bot has no strategy_id or ai_model; use strategy='llm'")
        model = RULE_MODEL
    params = data.model_dump(exclude={"config", "target_symbols"}) | {
        "ai_model": model,
        "target_symbols": symbols,
        "config": json.dumps(data.config.model_dump()),
    }
    row = require(await fetch_one(conn, Q["insert_bot"], params), BotNotFound())
    bot = await get_bot(conn, row["id"])
    details = {"name": bot.name, "strategy": bot.strategy, "account_id": str(bot.account_id)}
    await audit.record(conn, actor, "bot.create", "bot", bot.id, details)
    return bot


async def update_bot(conn: Conn, actor: Actor, bot_id: UUID, changes: BotUpdate) -> Bot:
    """Change a bot's settings (not its status: see start, pause, stop). A stopped bot
    cannot change. Raises BotNotFound, InvalidRequest, InvalidBotTransition (stopped),
    UnknownSymbol, UnknownModel, InvalidBotConfig. Audited ``bot.update``."""
    fields = changes.model_dump(exclude_unset=True)
    if not fields:
        raise InvalidRequest("no field to change")
    for name in ("name", "target_symbols", "paper_balance", "max_position_size", "risk_level"):
        if name in fields and fields[name] is None:
            raise InvalidRequest(f"{name} cannot be null")
    current = _bot(require(await fetch_one(conn, Q["lock_bot"], {"id": bot_id}), BotNotFound()))
    if current.status == "stopped":
        raise InvalidBotTransition("the bot is stopped; a stopped bot stays stopped")
    if fields.get("target_symbols") is not None:
        fields["target_symbols"] = await _check_symbols(conn, fields["target_symbols"])
    if "ai_model" in fields:
        if not current.is_llm:
            raise InvalidBotConfig("a rule bot asks no model")
        _check_model(fields["ai_model"])
    if fields.get("config") is not None:
        config = BotConfig.model_validate(fields["config"])
        _check_config(current.strategy, config)
        fields["config"] = json.dumps(config.model_dump())
    params: dict[str, Any] = {"id": bot_id}
    for name in BotUpdate.model_fields:
        params[f"set_{name}"] = name in fields
        params[name] = fields.get(name)
    require(await fetch_one(conn, Q["update_bot"], params), BotNotFound())
    details = changes.model_dump(mode="json", exclude_unset=True)
    await audit.record(conn, actor, "bot.update", "bot", bot_id, details)
    return await get_bot(conn, bot_id)


async def market_clock(conn: Conn) -> datetime:
    """The market's time as the runner reads it: the feed's (a replay's own time) while
    it refreshes, else now."""
    row = await fetch_one(conn, Q["market_clock"])  # one row, always
    return row["clock"] if row is not None else datetime.now(UTC)


async def _set_status(conn: Conn, actor: Actor, bot_id: UUID, status: BotStatus) -> Bot:
    current = _bot(require(await fetch_one(conn, Q["lock_bot"], {"id": bot_id}), BotNotFound()))
    if current.status == status:
        return current  # already there: nothing changes, nothing is audited
    if status not in TRANSITIONS[current.status]:
        raise InvalidBotTransition(f"a {current.status} bot cannot be made {status}")
    if status == "active":
        if current.account_id is None:
            raise InvalidBotConfig("the bot's account was deleted; give it another one first")
        await _check_account(conn, current.account_id, trading=True)
    clock = await market_clock(conn)
    params = {"id": bot_id, "status": status, "clock": clock}
    require(await fetch_one(conn, Q["set_bot_status"], params), BotNotFound())
    details = {"from": current.status, "to": status}
    await audit.record(conn, actor, f"bot.{_VERB[status]}", "bot", bot_id, details)
    return await get_bot(conn, bot_id)


_VERB = {"active": "start", "paused": "pause", "stopped": "stop", "error": "error"}


async def start_bot(conn: Conn, actor: Actor, bot_id: UUID) -> Bot:
    """Make a paused (or errored) bot active: it decides on every bar of its timeframe
    that closes from now on. Raises BotNotFound, InvalidBotTransition, AccountNotActive
    (its account is not active). Audited."""
    return await _set_status(conn, actor, bot_id, "active")


async def pause_bot(conn: Conn, actor: Actor, bot_id: UUID) -> Bot:
    """Pause an active bot (its positions and resting orders stay). Audited."""
    return await _set_status(conn, actor, bot_id, "paused")


async def stop_bot(conn: Conn, actor: Actor, bot_id: UUID) -> Bot:
    """Stop a bot for good (its trades and journal stay). Audited."""
    return await _set_status(conn, actor, bot_id, "stopped")


async def delete_bot(conn: Conn, actor: Actor, bot_id: UUID) -> None:
    """Delete a bot and its journal; its trades stay, without the bot (``bot_id`` NULL).
    Raises BotNotFound. Audited ``bot.delete``."""
    require(await fetch_one(conn, Q["delete_bot"], {"id": bot_id}), BotNotFound())
    await audit.record(conn, actor, "bot.delete", "bot", bot_id)


async def notify_owner(
    conn: Conn,
    bot_id: UUID,
    kind: str,
    title: str,
    message: str,
    severity: str = "info",
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """A notification to a bot's owner, on the bot's account, in the caller's transaction
    (the runner's, as the service role)."""
    params = {
        "bot_id": bot_id,
        "type": kind,
        "title": title,
        "message": message,
        "severity": severity,
        "metadata": json.dumps(dict(metadata or {})),
    }
    await execute(conn, Q["notify_owner"], params)


async def halt_bot(conn: Conn, bot_id: UUID, status: str, code: str, message: str) -> bool:
    """The runner's stop of an active bot that cannot go on: ``error`` (operational: its
    key, balance, model or account) or ``paused`` (its strategy failed), with the message
    kept and its owner told. False if the bot was no longer active."""
    params = {"id": bot_id, "status": status, "message": message[:2000]}
    if await fetch_one(conn, Q["bot_to_error"], params) is None:
        return False  # the owner changed it meanwhile
    if status == "error":
        title = "Bot stopped by an error"
        text = f"The bot was put in error: {message}. Fix it and start it again."
    else:
        title = "Bot paused"
        text = f"The bot was paused after a strategy error: {message}."
    await notify_owner(conn, bot_id, f"bot.{status}", title, text, "error", {"code": code})
    return True


# ------------------------------------------------------------------ journal and costs
async def list_decisions(
    conn: Conn,
    bot_id: UUID,
    *,
    status: str | None = None,
    before: tuple[datetime, UUID] | None = None,
    limit: int = 100,
) -> list[JournalEntry]:
    """A bot's journal, newest first. Raises BotNotFound."""
    await get_bot(conn, bot_id)
    params = {
        "bot_id": bot_id,
        "status": status,
        "before_at": before[0] if before else None,
        "before_id": before[1] if before else None,
        "limit": limit,
    }
    return [
        JournalEntry.model_validate(r) for r in await fetch_all(conn, Q["list_decisions"], params)
    ]


async def bot_performance(conn: Conn, bot_id: UUID) -> BotPerformance:
    """A bot's performance now, from its own fills at current prices. Raises BotNotFound."""
    row = require(await fetch_one(conn, Q["bot_performance"], {"id": bot_id}), BotNotFound())
    return BotPerformance.model_validate(row["performance"])


async def bot_costs(conn: Conn, bot_id: UUID) -> BotCosts:
    """What a bot's model calls cost, in all and today (UTC), beside its budgets."""
    bot = await get_bot(conn, bot_id)
    row = require(await fetch_one(conn, Q["bot_costs"], {"bot_id": bot_id}), BotNotFound())
    return BotCosts(
        bot_id=bot_id,
        daily_budget_usd=bot.daily_budget_usd,
        lifetime_budget_usd=bot.lifetime_budget_usd,
        **row,
    )


# ------------------------------------------------------------------ calibration
async def bot_calibration(
    conn: Conn, bot_id: UUID, *, horizon: int = 1, buckets: int = 10
) -> Calibration:
    """How well a bot's confidence matched what happened ``horizon`` bars after each buy
    or sell it decided (see :func:`calibration`). Raises BotNotFound, InvalidRequest."""
    if not 1 <= horizon <= 500:
        raise InvalidRequest("horizon is between 1 and 500 bars")
    if not 2 <= buckets <= 20:
        raise InvalidRequest("buckets is between 2 and 20")
    await get_bot(conn, bot_id)
    params = {"bot_id": bot_id, "horizon": horizon, "tf_seconds": TF_SECONDS}
    rows = await fetch_all(conn, Q["calibration_pairs"], params)
    pairs = [
        (float(r["confidence"]), outcome(r["action"], r["reference_price"], r["outcome_price"]))
        for r in rows
    ]
    brier, table = brier_and_reliability(pairs, buckets)
    return Calibration(
        bot_id=bot_id, horizon_bars=horizon, decisions=len(pairs), brier_score=brier, buckets=table
    )


# ------------------------------------------------------------------ prompt preview
async def preview_prompt(conn: Conn, draft: PromptPreviewRequest) -> PromptPreview:
    """Render a prompt on the newest closed bars, as a bot with a fresh cap would be asked
    now, without calling a model. Raises UnknownIndicator, UnknownSymbol."""
    symbols = await _check_symbols(conn, draft.symbols)
    for spec in draft.indicators:
        parse_indicator(spec)
    step = TIMEFRAME_SECONDS[draft.timeframe]
    clock = await market_clock(conn)
    bar_time = datetime.fromtimestamp((int(clock.timestamp()) // step - 1) * step, tz=UTC)
    first = replay.window_start(bar_time, step, draft.prompt_bars)
    shown: dict[str, list[Candle]] = {}
    for symbol in symbols:
        try:
            bars = await load_bars(
                conn, symbol, draft.timeframe, first, bar_time + timedelta(seconds=step)
            )
        except NoCandles:
            shown[symbol] = []
            continue
        shown[symbol] = candles_of(symbol, draft.timeframe, bars)
    ctx = Context(
        timeframe=draft.timeframe,
        bars=shown,
        cash=draft.capital_cap,
        capital_cap=draft.capital_cap,
        max_position_size=draft.max_position_size,
        shown=draft.prompt_bars,
    )
    rendered = render(draft.prompt, ctx, draft.indicators)
    return PromptPreview(
        system=rendered.prompt.system,
        user=rendered.prompt.user,
        context=rendered.context,
        snapshot_hash=rendered.snapshot_hash,
        bar_time=bar_time,
        bars_shown={s: min(len(c), draft.prompt_bars) for s, c in shown.items()},
    )


# ------------------------------------------------------------------ backtests
MAX_BACKTEST_DECISIONS = 5000


def _replay_setup(bot: Bot, row: dict[str, Any], symbol: str, config: BotConfig) -> replay.Setup:
    """The bot as a backtest sees it: its AI strategy and its account's fills and fees."""
    if row["strategy_prompt"] is None:
        raise InvalidBotConfig("the bot's AI strategy was deleted; give it another one")
    if row["fill_model"] is None:
        raise InvalidBotConfig("the bot's account was deleted; give it another one")
    return replay.Setup(
        bot=row,
        symbol=symbol,
        timeframe=config.timeframe,
        prompt_bars=config.prompt_bars,
        config=BacktestConfig(
            initial_capital=bot.paper_balance,
            fill_model=row["fill_model"],
            slippage_bps=row["slippage_bps"],
            taker_fee_rate=row["taker_fee_rate"],
            maker_fee_rate=row["maker_fee_rate"],
        ),
        params=LLMParameters.model_validate(row["strategy_parameters"] or {}),
    )


async def backtest_bot(
    pool: AsyncConnectionPool[Conn],
    actor: Actor,
    bot_id: UUID,
    request: BotBacktestRequest,
    *,
    llm: LLMClient | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BotBacktest:
    """Backtest an LLM bot over ``request``'s window with the record of its model's
    replies (see :mod:`.replay`): a dry run, offline, or recording the missing replies
    within a budget (``llm`` needed). Raises BotNotFound (also another user's),
    InvalidBotConfig (a rule bot: backtest its strategy with /backtests; a symbol not its
    own), NoCandles, InvalidRequest (a window of more than 5,000 decisions)."""
    async with as_user(pool, actor.claims) as conn:
        bot = await get_bot(conn, bot_id)
    if not bot.is_llm:
        raise InvalidBotConfig(
            "a rule bot's strategy is backtested with /backtests (cryptotrader backtest)"
        )
    symbol = (request.symbol or bot.target_symbols[0]).upper()
    if symbol not in bot.target_symbols:
        raise InvalidBotConfig(f"{symbol} is not one of the bot's symbols")
    config = BotConfig.model_validate(bot.config)
    step = TIMEFRAME_SECONDS[config.timeframe]
    if (request.end - request.start).total_seconds() / step > MAX_BACKTEST_DECISIONS:
        raise InvalidRequest(f"at most {MAX_BACKTEST_DECISIONS} bars a run")
    async with as_service(pool) as conn:
        row = require(await fetch_one(conn, Q["runner_bots"], {"ids": [bot_id]}), BotNotFound())
        setup = _replay_setup(bot, row, symbol, config)
        first = replay.window_start(request.start, step, config.prompt_bars)
        bars = await load_bars(conn, symbol, config.timeframe, first, request.end)
        start_index = int(np.searchsorted(bars.time, int(request.start.timestamp() * 1000)))
        report = await replay.replay_bot(
            conn,
            pool,
            setup,
            bars,
            start_index,
            mode=request.mode,
            llm=llm if request.mode == "record" else None,
            budget_usd=request.budget_usd,
            progress=progress,
        )
    details = request.model_dump(mode="json") | {"called": report.called}
    async with as_user(pool, actor.claims) as conn:
        await audit.record(conn, actor, "bot.backtest", "bot", bot_id, details)
    return BotBacktest.model_validate(vars(report))


# ------------------------------------------------------------------ model prices
async def list_model_prices(conn: Conn) -> list[ModelPrice]:
    """The model price table (USD per million tokens), by model."""
    rows = await fetch_all(conn, Q["list_model_prices"])
    return [ModelPrice.model_validate(r) for r in rows]


async def set_model_price(conn: Conn, actor: Actor, price: ModelPrice) -> ModelPrice:
    """Set a model's price (the service role: an administrator or the CLI). Audited
    ``model_price.set``."""
    params = {
        "model": price.model,
        "input": price.input_usd_per_mtok,
        "output": price.output_usd_per_mtok,
        "source": price.source,
    }
    await execute(conn, Q["set_model_price"], params)
    await audit.record(
        conn, actor, "model_price.set", "model_price", price.model, price.model_dump(mode="json")
    )
    return price
