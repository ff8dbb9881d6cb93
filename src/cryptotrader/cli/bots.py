"""``cryptotrader bots``: trading bots and their AI strategies, the decision journal, the
model price table.

A bot is its owner's (row level security): every command but ``prices`` acts as the user
``--user`` names, in one unit of work as that user with their :class:`Actor`, through the
same bots service the API calls, so each change leaves the ``audit_logs`` row the API
would, as theirs. Setting a model's price acts as the system (the service role)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer
from psycopg_pool import AsyncConnectionPool

from cryptotrader.audit.schemas import SYSTEM, Actor
from cryptotrader.cli import render_bots as render
from cryptotrader.cli.common import (
    TimeframeOption,
    as_owner,
    bad_input_exits_2,
    friendly_errors,
    print_json,
    range_end,
    run_service,
    utc,
    with_owner,
)
from cryptotrader.cli.render import console
from cryptotrader.config import get_settings
from cryptotrader.db.session import Conn

if TYPE_CHECKING:
    from cryptotrader.bots.schemas import (
        AIStrategy,
        Bot,
        BotBacktest,
        BotBacktestRequest,
        BotCosts,
        BotStatus,
        Calibration,
        JournalEntry,
        ModelPrice,
    )

app = typer.Typer(
    help="Trading bots: create, start, pause, stop, delete; their decision journal; AI"
    " strategies; the model price table.",
    no_args_is_help=True,
)
strategies_app = typer.Typer(
    help="AI strategies (the prompt, model and indicators an llm bot runs): list, create, delete.",
    no_args_is_help=True,
)
prices_app = typer.Typer(
    help="The model price table (USD per million tokens): list it, or `set` a model's.",
    invoke_without_command=True,
)
app.add_typer(strategies_app, name="strategies")
app.add_typer(prices_app, name="prices")


class StatusOption(StrEnum):
    """A bot's status (bots.schemas.BotStatus)."""

    active = "active"
    paused = "paused"
    stopped = "stopped"
    error = "error"


class DecisionStatusOption(StrEnum):
    """A journal row's status."""

    claimed = "claimed"
    decided = "decided"
    traded = "traded"
    held = "held"
    abstained = "abstained"
    failed = "failed"


class RiskOption(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


UserOpt = Annotated[
    str, typer.Option("--user", help="The owner's email: the command acts as them.")
]
BotArg = Annotated[UUID, typer.Argument(help="The bot's id (see `bots list`).")]
StrategyArg = Annotated[
    UUID, typer.Argument(help="The AI strategy's id (see `bots strategies list`).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print it as one JSON document.")]
YesOpt = Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")]


# ------------------------------------------------------------------ bots


@app.command("list")
@friendly_errors
@bad_input_exits_2
def bots_list(
    user: UserOpt,
    status: Annotated[StatusOption | None, typer.Option(help="Only bots in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most N bots, oldest first.")] = 100,
    json_: JsonOpt = False,
) -> None:
    """A user's bots, oldest first, with their performance.

    Read as that user (row level security applies), so exactly what they see."""
    from cryptotrader.bots import service

    chosen: BotStatus | None = None if status is None else status.value
    found = as_owner(user, lambda conn, _: service.list_bots(conn, status=chosen, limit=limit))
    if json_:
        print_json(found)
    elif not found:
        console.print(f"{user} has no bots", markup=False)
    else:
        render.bots(found)


@app.command("show")
@friendly_errors
@bad_input_exits_2
def bots_show(
    bot_id: BotArg,
    user: UserOpt,
    horizon: Annotated[
        int, typer.Option(min=1, max=500, help="Calibration: bars after each decision.")
    ] = 1,
    json_: JsonOpt = False,
) -> None:
    """One bot: its settings, performance, model costs and calibration.

    The costs are its model calls' in all and today (UTC), beside its budgets; the
    calibration is the Brier score of its confidence against the price --horizon bars
    after each buy or sell."""
    from cryptotrader.bots import service

    async def read(conn: Conn, _: Actor) -> tuple[Bot, BotCosts, Calibration]:
        bot = await service.get_bot(conn, bot_id)
        costs = await service.bot_costs(conn, bot_id)
        return bot, costs, await service.bot_calibration(conn, bot_id, horizon=horizon)

    bot, costs, calibration = as_owner(user, read)
    if json_:
        print_json({"bot": bot, "costs": costs, "calibration": calibration})
    else:
        render.bot(bot, costs, calibration)


# ------------------------------------------------------------------ the options of `create`

NameOpt = Annotated[str, typer.Option(help="The bot's name.")]
AccountOpt = Annotated[
    UUID, typer.Option(help="The user's account it trades through (see `accounts list`).")
]
RuleOrLlmOpt = Annotated[
    str, typer.Option(help="A built-in rule strategy (sma_crossover, rsi_reversion, ...) or llm.")
]
SymbolsOpt = Annotated[list[str], typer.Option("--symbol", help="A symbol it trades; repeatable.")]
AIStrategyOpt = Annotated[
    UUID | None, typer.Option(help="llm: the AI strategy it runs (see `bots strategies list`).")
]
ModelOpt = Annotated[
    str | None, typer.Option(help="llm: the model it asks (default: its AI strategy's).")
]
TimeframeOpt = Annotated[TimeframeOption, typer.Option(help="The bars it decides on.")]
ParamOpt = Annotated[
    list[str] | None, typer.Option("--param", help="A rule strategy's name=value; repeatable.")
]
CapOpt = Annotated[str, typer.Option(help="The capital cap it trades with (USD).")]
MaxPositionOpt = Annotated[str, typer.Option(help="At most this per position (USD).")]
RiskOpt = Annotated[RiskOption, typer.Option(help="Risk level.")]
BudgetOpt = Annotated[str | None, typer.Option(help="USD its model calls may cost (llm).")]


@app.command("create")
@friendly_errors
@bad_input_exits_2
def bots_create(
    user: UserOpt,
    name: NameOpt,
    account: AccountOpt,
    strategy: RuleOrLlmOpt,
    symbol: SymbolsOpt,
    ai_strategy: AIStrategyOpt = None,
    model: ModelOpt = None,
    timeframe: TimeframeOpt = TimeframeOption.h1,
    param: ParamOpt = None,
    cap: CapOpt = "10000",
    max_position: MaxPositionOpt = "1000",
    risk: RiskOpt = RiskOption.medium,
    daily_budget: BudgetOpt = None,
    lifetime_budget: BudgetOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Create a bot (paused) that trades through one of the user's accounts.

    A rule bot runs a built-in strategy with its --param values; an llm bot runs an AI
    strategy (--strategy llm --ai-strategy ID) and asks its model (or --model). Audited as
    bot.create."""
    from cryptotrader.bots import service
    from cryptotrader.bots.schemas import BotCreate
    from cryptotrader.strategies.registry import parse_param_pairs

    data = BotCreate.model_validate(
        {
            "name": name,
            "account_id": account,
            "strategy": strategy,
            "strategy_id": ai_strategy,
            "ai_model": model,
            "target_symbols": symbol,
            "paper_balance": cap,
            "max_position_size": max_position,
            "risk_level": risk.value,
            "config": {"timeframe": timeframe.value, "parameters": parse_param_pairs(param or [])},
            "daily_budget_usd": daily_budget,
            "lifetime_budget_usd": lifetime_budget,
        }
    )
    bot = as_owner(user, lambda conn, actor: service.create_bot(conn, actor, data))
    if json_:
        print_json(bot)
        return
    console.print(
        f"created bot {bot.id} ({bot.name}), paused: {bot.strategy} on"
        f" {', '.join(bot.target_symbols)} {bot.config['timeframe']}"
        f"; start it with `cryptotrader bots start {bot.id} --user {user}`",
        markup=False,
        highlight=False,
    )


def _step(
    user: str, bot_id: UUID, step: Callable[[Conn, Actor, UUID], Coroutine[Any, Any, Bot]]
) -> None:
    bot = as_owner(user, lambda conn, actor: step(conn, actor, bot_id))
    console.print(f"bot {bot.id} ({bot.name}) is {bot.status}", markup=False, highlight=False)


@app.command("start")
@friendly_errors
@bad_input_exits_2
def bots_start(bot_id: BotArg, user: UserOpt) -> None:
    """Start a paused (or errored) bot. Audited as bot.start.

    It decides on every bar of its timeframe that closes from now on."""
    from cryptotrader.bots import service

    _step(user, bot_id, service.start_bot)


@app.command("pause")
@friendly_errors
@bad_input_exits_2
def bots_pause(bot_id: BotArg, user: UserOpt) -> None:
    """Pause an active bot (its positions and resting orders stay). Audited as bot.pause."""
    from cryptotrader.bots import service

    _step(user, bot_id, service.pause_bot)


@app.command("stop")
@friendly_errors
@bad_input_exits_2
def bots_stop(bot_id: BotArg, user: UserOpt) -> None:
    """Stop a bot for good; its trades and journal stay. Audited as bot.stop."""
    from cryptotrader.bots import service

    _step(user, bot_id, service.stop_bot)


@app.command("delete")
@friendly_errors
@bad_input_exits_2
def bots_delete(bot_id: BotArg, user: UserOpt, yes: YesOpt = False) -> None:
    """Delete a bot and its journal (its trades stay). Audited as bot.delete."""
    from cryptotrader.bots import service

    if not yes:
        typer.confirm(f"delete bot {bot_id} and its decision journal? Its trades stay.", abort=True)
    as_owner(user, lambda conn, actor: service.delete_bot(conn, actor, bot_id))
    console.print(f"bot {bot_id} deleted", highlight=False)


@app.command("decisions")
@friendly_errors
@bad_input_exits_2
def bots_decisions(
    bot_id: BotArg,
    user: UserOpt,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most N, newest first.")] = 20,
    status: Annotated[
        DecisionStatusOption | None, typer.Option(help="Only decisions in this status.")
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="Print every column (prompt, raw reply, ...) as JSON.")
    ] = False,
) -> None:
    """A bot's decision journal, newest first.

    Each bar it decided on: what it decided or why it abstained, the tokens and cost of
    the model call, the order it placed."""
    from cryptotrader.bots import service

    chosen = None if status is None else status.value
    found: list[JournalEntry] = as_owner(
        user, lambda conn, _: service.list_decisions(conn, bot_id, status=chosen, limit=limit)
    )
    if json_:
        print_json(found)
    elif not found:
        console.print(f"bot {bot_id} has no decisions yet", highlight=False)
    else:
        render.decisions(found)


# ------------------------------------------------------------------ backtest

FromOpt = Annotated[
    str, typer.Option("--from", help="The first decided bar's open time, ISO-8601, UTC.")
]
ToOpt = Annotated[
    str, typer.Option("--to", help="End: a date includes that day, a time excludes it.")
]
BacktestSymbolOpt = Annotated[
    str | None, typer.Option(help="One of the bot's symbols (default: its first).")
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Replay the record; price the missing calls (default).")
]
OfflineOpt = Annotated[
    bool, typer.Option("--offline", help="Replay the record; abstain on the missing calls.")
]
RecordOpt = Annotated[
    bool,
    typer.Option("--record", help="Ask the model the missing calls within --budget; record them."),
]
BacktestBudgetOpt = Annotated[
    str | None, typer.Option("--budget", help="--record: USD the model calls may cost.")
]


@app.command("backtest")
@friendly_errors
@bad_input_exits_2
def bots_backtest(
    bot_id: BotArg,
    user: UserOpt,
    from_: FromOpt,
    to: ToOpt,
    symbol: BacktestSymbolOpt = None,
    dry_run: DryRunOpt = False,
    offline: OfflineOpt = False,
    record: RecordOpt = False,
    budget: BacktestBudgetOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Backtest an llm bot over history with the record of its model's replies.

    A recorded reply (same model, prompt and data) is replayed at no cost. The bars
    without one: --dry-run (the default) prices the calls they would take; --offline
    abstains on them; --record asks the model within --budget USD and records the
    replies. A window that ends before the model's training cutoff is flagged. Audited
    as bot.backtest."""
    from cryptotrader.bots.schemas import BotBacktestRequest

    modes = [m for m, on in (("dry_run", dry_run), ("offline", offline), ("record", record)) if on]
    if len(modes) > 1:
        raise typer.BadParameter("give one of --dry-run, --offline, --record")
    mode = modes[0] if modes else "dry_run"
    if mode == "record" and budget is None:
        raise typer.BadParameter("--record needs --budget USD, what its model calls may cost")
    if mode != "record" and budget is not None:
        raise typer.BadParameter("--budget goes with --record (only it makes calls)")
    span = {"start": utc(from_, "--from"), "end": range_end(to)}
    request = BotBacktestRequest.model_validate(
        {"symbol": symbol, "mode": mode, "budget_usd": budget} | span
    )
    result = _backtest(user, bot_id, request, show_progress=not json_)
    if json_:
        print_json(result)
    else:
        render.backtest(result)


def _backtest(
    user: str, bot_id: UUID, request: BotBacktestRequest, *, show_progress: bool
) -> BotBacktest:
    """The service's backtest as the owner, under a progress bar unless told not to; in
    record mode with the configured model client (closed after)."""
    from cryptotrader.bots import llm, service
    from cryptotrader.cli.render import progress_bar

    bar, tell = progress_bar(f"backtest {bot_id}")
    bar.disable |= not show_progress  # --json: nothing but the document

    async def run(pool: AsyncConnectionPool[Conn], actor: Actor) -> BotBacktest:
        client = llm.from_settings(get_settings()) if request.mode == "record" else None
        try:
            return await service.backtest_bot(
                pool, actor, bot_id, request, llm=client, progress=lambda d, n: tell(d / n)
            )
        finally:
            if client is not None:
                await client.aclose()

    with bar:
        return with_owner(user, run)


# ------------------------------------------------------------------ AI strategies


@strategies_app.command("list")
@friendly_errors
@bad_input_exits_2
def strategies_list(user: UserOpt, json_: JsonOpt = False) -> None:
    """A user's AI strategies, oldest first."""
    from cryptotrader.bots import service

    found: list[AIStrategy] = as_owner(user, lambda conn, _: service.list_ai_strategies(conn))
    if json_:
        print_json(found)
    elif not found:
        console.print(f"{user} has no AI strategies", markup=False)
    else:
        render.ai_strategies(found)


@strategies_app.command("create")
@friendly_errors
@bad_input_exits_2
def strategies_create(
    user: UserOpt,
    name: Annotated[str, typer.Option(help="The strategy's name.")],
    prompt: Annotated[
        str | None, typer.Option(help="The prompt ({context}, {symbols}, {timeframe} are filled).")
    ] = None,
    prompt_file: Annotated[
        Path | None, typer.Option(help="Read the prompt from this file.")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="The model it asks (default gpt-4o-mini).")
    ] = None,
    indicator: Annotated[
        list[str] | None,
        typer.Option(
            "--indicator", help="An indicator its prompt shows (rsi_14, sma_20, ...); repeatable."
        ),
    ] = None,
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
    temperature: Annotated[
        float | None, typer.Option(help="The model's temperature (0-2).")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="The reply's most tokens (16-8192).")
    ] = None,
) -> None:
    """Create an AI strategy. Audited as ai_strategy.create.

    The prompt an llm bot asks its model with, and the indicators the prompt shows."""
    from cryptotrader.bots import service
    from cryptotrader.bots.schemas import AIStrategyCreate

    if (prompt is None) == (prompt_file is None):
        raise typer.BadParameter("give the prompt: --prompt TEXT or --prompt-file PATH (one)")
    text = prompt if prompt is not None else Path(str(prompt_file)).read_text(encoding="utf-8")
    parameters = {"temperature": temperature, "max_tokens": max_tokens}
    fields = {"name": name, "prompt": text, "model": model, "description": description}
    data = AIStrategyCreate.model_validate(
        {k: v for k, v in fields.items() if v is not None}
        | {
            "indicators": indicator or [],
            "parameters": {k: v for k, v in parameters.items() if v is not None},
        }
    )
    made = as_owner(user, lambda conn, actor: service.create_ai_strategy(conn, actor, data))
    console.print(
        f"created AI strategy {made.id} ({made.name}), asking {made.model}",
        markup=False,
        highlight=False,
    )


@strategies_app.command("delete")
@friendly_errors
@bad_input_exits_2
def strategies_delete(strategy_id: StrategyArg, user: UserOpt, yes: YesOpt = False) -> None:
    """Delete an AI strategy no bot runs. Audited as ai_strategy.delete.

    A bot that runs it must be stopped first."""
    from cryptotrader.bots import service

    if not yes:
        typer.confirm(f"delete AI strategy {strategy_id}?", abort=True)
    as_owner(user, lambda conn, actor: service.delete_ai_strategy(conn, actor, strategy_id))
    console.print(f"AI strategy {strategy_id} deleted", highlight=False)


# ------------------------------------------------------------------ model prices


@prices_app.callback()
@friendly_errors
@bad_input_exits_2
def prices_list(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """The model price table (USD per million tokens); `prices set` changes one.

    The price a model call's cost is computed with."""
    from cryptotrader.bots import service

    if ctx.invoked_subcommand is not None:
        return
    found: list[ModelPrice] = run_service(service.list_model_prices)
    if json_:
        print_json(found)
    else:
        render.model_prices(found)


@prices_app.command("set")
@friendly_errors
@bad_input_exits_2
def prices_set(
    model: Annotated[str, typer.Argument(help="The model's name, as bots name it (gpt-4o-mini).")],
    input_: Annotated[str, typer.Option("--input", help="USD per million input tokens.")],
    output: Annotated[str, typer.Option("--output", help="USD per million output tokens.")],
    source: Annotated[str | None, typer.Option(help="Where the price comes from.")] = None,
) -> None:
    """Set a model's price, as the system. Audited as model_price.set."""
    from cryptotrader.bots import service
    from cryptotrader.bots.schemas import ModelPrice

    price = ModelPrice.model_validate(
        {
            "model": model,
            "input_usd_per_mtok": input_,
            "output_usd_per_mtok": output,
            "source": source,
        }
    )
    done = run_service(lambda conn: service.set_model_price(conn, SYSTEM, price))
    console.print(
        f"{done.model}: {render.per_mtok(done.input_usd_per_mtok)} in,"
        f" {render.per_mtok(done.output_usd_per_mtok)} out (USD per million tokens)",
        markup=False,
        highlight=False,
    )
