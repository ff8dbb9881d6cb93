"""Backtesting an LLM bot over history with the record of its model's replies.

The bot's AI strategy is asked, bar by bar, with exactly the prompt its live runner would
render (the same context: its newest bars and indicators, its cash, cap, limits and
position, now the backtest broker's), and its decisions are filled by the backtest broker
under the account's fill model and fees. A reply is looked up in the record first (every
reply the owner's bots got, keyed by model, prompt and the context's hash): a recorded
one is replayed at no cost, so the backtest of a window the bot traded live reproduces its
trades. A missing one is asked of the model only in ``record`` mode and within the stated
budget (each call recorded, so the next run replays it); in ``offline`` mode, or once the
budget is spent, it is an abstention (hold). A ``dry_run`` plays the record without a
call and says how many calls the missing bars would take and what they would cost.

A window that ends before the model's training cutoff (``llm_model_cutoffs``) is flagged:
the model may have learnt what happened in it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Literal
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from cryptotrader.backtest.broker import Broker
from cryptotrader.backtest.types import BacktestConfig
from cryptotrader.bots.claims import candles_of, cost_of
from cryptotrader.bots.decision import Decision, LLMReply
from cryptotrader.bots.llm import LLMClient, Prompt
from cryptotrader.bots.prompt import Context, history_bars, render
from cryptotrader.bots.schemas import LLMParameters
from cryptotrader.db.calls import execute, fetch_all, fetch_one
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn, as_service
from cryptotrader.strategies.base import Action, Bars, OrderKind
from cryptotrader.strategies.base import Decision as BrokerDecision

Q = load_queries("cryptotrader.bots")
ReplayMode = Literal["dry_run", "offline", "record"]
Q8 = Decimal("1e-8")
MARGIN = Decimal("1e-9")  # keeps a fraction of the cash from flooring below its budget
# what a call is assumed to cost when none of this prompt is recorded: its rendered
# length in tokens (about 4 characters each) in, the strategy's max_tokens out
CHARS_PER_TOKEN = 4


@dataclass(kw_only=True)
class ReplayReport:
    """What the run did: its bars, decisions, the record's use, calls and their cost."""

    mode: ReplayMode
    model: str
    symbol: str
    bars: int = 0
    decisions: int = 0
    recorded: int = 0  # replayed from the record, at no cost
    called: int = 0  # asked of the model (record mode)
    missing: int = 0  # neither: abstained (offline, dry run, budget spent)
    cost_usd: Decimal = Decimal(0)
    estimated_cost_usd: Decimal = Decimal(0)  # of the missing ones, had they been asked
    budget_usd: Decimal | None = None
    budget_spent: bool = False
    training_cutoff: date | None = None
    before_cutoff: bool = False  # the window ends before the model's training cutoff
    trades: list[dict[str, Any]] = field(default_factory=list)
    final_capital: Decimal = Decimal(0)


@dataclass(kw_only=True)
class Setup:
    """The bot as a backtest sees it."""

    bot: Mapping[str, Any]
    symbol: str
    timeframe: str
    prompt_bars: int
    config: BacktestConfig
    params: LLMParameters


def training_cutoff(cutoffs: Mapping[str, date], model: str) -> date | None:
    """The known training cutoff of ``model``: its own, or the longest known prefix's
    (``deepseek-r1`` covers ``deepseek-r1:8b``)."""
    names = [m for m in cutoffs if model == m or model.startswith(m)]
    return cutoffs[max(names, key=len)] if names else None


def broker_decision(decision: Decision, cash: Decimal, cap: Decimal) -> BrokerDecision:
    """An LLM decision as the backtest broker takes it: a buy of ``size`` of the cap (at
    most the cash, as the live runner sizes it) as a fraction of the cash; a sell of
    ``size`` of the position."""
    if decision.action == "hold" or decision.order_type == "stop":
        return BrokerDecision(Action.HOLD)  # the broker has no stop entries: hold
    kind = OrderKind.LIMIT if decision.order_type == "limit" else OrderKind.MARKET
    limit = _float(decision.limit_price) if kind is OrderKind.LIMIT else None
    if decision.action == "sell":
        size = float(decision.size)
        return BrokerDecision(Action.SELL, size=size, order_type=kind, limit_price=limit)
    budget = (cap * decision.size).quantize(Q8, ROUND_FLOOR)
    if cash <= 0:
        return BrokerDecision(Action.HOLD)
    return BrokerDecision(
        Action.BUY,
        size=None if budget >= cash else float((budget + MARGIN) / cash),
        order_type=kind,
        limit_price=limit,
        stop_loss=_float(decision.stop_loss),
        take_profit=_float(decision.take_profit),
    )


def _float(x: Decimal | None) -> float | None:
    return None if x is None else float(x)


@dataclass(frozen=True, kw_only=True)
class Recorded:
    """A reply of the record: its decision, raw text and the model's reasoning."""

    decision: Decision
    raw_reply: str | None
    reasoning: str | None


async def recorded(
    conn: Conn, user_id: UUID, model: str, snapshot_hash: str, prompt: str
) -> Recorded | None:
    """The recorded reply of the same model to the same prompt over the same data (the
    owner's own), if there is one: what the runner and a backtest replay at no cost."""
    params = {"user_id": user_id, "model": model, "snapshot_hash": snapshot_hash, "prompt": prompt}
    row = await fetch_one(conn, Q["recorded_reply"], params)
    if row is None:
        return None
    try:
        decision = Decision.model_validate(row["decision"])
    except ValueError:
        return None
    return Recorded(decision=decision, raw_reply=row["raw_reply"], reasoning=row["reasoning"])


async def model_prices(conn: Conn) -> dict[str, tuple[Decimal, Decimal]]:
    """The price table: per model, USD per million tokens in and out."""
    rows = await fetch_all(conn, Q["model_prices"])
    return {r["model"]: (r["input_usd_per_mtok"], r["output_usd_per_mtok"]) for r in rows}


@dataclass(kw_only=True)
class _Run:
    """One run's moving parts."""

    conn: Conn
    pool: AsyncConnectionPool[Conn]
    setup: Setup
    bars: Bars
    report: ReplayReport
    llm: LLMClient | None
    prices: Mapping[str, tuple[Decimal, Decimal]]


async def _start(
    conn: Conn, setup: Setup, bars: Bars, mode: ReplayMode, budget_usd: Decimal | None
) -> tuple[ReplayReport, dict[str, tuple[Decimal, Decimal]]]:
    """The report's header (the model's training cutoff, the flag) and the price table."""
    model = setup.bot["ai_model"]
    prices = await model_prices(conn)
    cutoffs = {r["model"]: r["training_cutoff"] for r in await fetch_all(conn, Q["model_cutoffs"])}
    report = ReplayReport(mode=mode, model=model, symbol=setup.symbol, budget_usd=budget_usd)
    cutoff = report.training_cutoff = training_cutoff(cutoffs, model)
    end = datetime.fromtimestamp(int(bars.time[-1]) / 1000, tz=UTC)
    report.before_cutoff = cutoff is not None and end.date() < cutoff
    report.bars = len(bars)
    return report, prices


async def replay_bot(
    conn: Conn,
    pool: AsyncConnectionPool[Conn],
    setup: Setup,
    bars: Bars,
    start_index: int,
    *,
    mode: ReplayMode,
    llm: LLMClient | None = None,
    budget_usd: Decimal | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    """Run the bot over ``bars`` (deciding from bar ``start_index`` on; the bars before
    are its first prompt's history) on the service role's ``conn``; each reply a call gets
    is recorded at once in a transaction of its own on ``pool``, so a run that fails later
    keeps what it paid for."""
    report, prices = await _start(conn, setup, bars, mode, budget_usd)
    run = _Run(conn=conn, pool=pool, setup=setup, bars=bars, report=report, llm=llm, prices=prices)
    candles = candles_of(setup.symbol, setup.timeframe, bars)
    n = len(bars)
    with Broker(bars, setup.config) as broker:
        for i in range(n):
            broker.process_bar(i)
            if i < start_index or i == n - 1:
                continue  # history only; a decision on the last bar is never executed
            report.decisions += 1
            ctx = Context(
                timeframe=setup.timeframe,
                bars={
                    setup.symbol: candles[max(0, i - history_bars(setup.prompt_bars) + 1) : i + 1]
                },
                cash=broker.cash,
                capital_cap=setup.bot["paper_balance"],
                max_position_size=setup.bot["max_position_size"],
                positions={setup.symbol: broker.quantity} if broker.quantity else {},
                shown=setup.prompt_bars,
            )
            decision = await _decide(run, ctx, i)
            if decision is not None and decision.action != "hold":
                cap = setup.bot["paper_balance"]
                broker.submit(i, broker_decision(decision, broker.cash, cap))
            if progress is not None:
                progress(i - start_index + 1, n - start_index - 1)
        broker.equity_curve()
        report.final_capital = broker.finish()
        report.trades = [
            {
                "time": f.time.isoformat(),
                "side": f.side,
                "quantity": str(f.quantity),
                "price": str(f.price),
                "fee": str(f.fee),
            }
            for f in broker.fills
        ]
    return report


async def _decide(run: _Run, ctx: Context, i: int) -> Decision | None:
    """The decision at bar ``i``: the recorded one, else asked (record mode, within the
    budget) and recorded, else an abstention (None) whose cost is estimated."""
    bot, report = run.setup.bot, run.report
    rendered = render(bot["strategy_prompt"], ctx, bot["strategy_indicators"] or [])
    prompt, snapshot_hash = rendered.prompt, rendered.snapshot_hash
    found = await recorded(run.conn, bot["user_id"], bot["ai_model"], snapshot_hash, prompt.user)
    if found is not None:
        report.recorded += 1
        return found.decision
    params = run.setup.params
    tokens_in = math.ceil((len(prompt.system) + len(prompt.user)) / CHARS_PER_TOKEN)
    estimate = cost_of(run.prices, bot["ai_model"], bot["ai_model"], tokens_in, params.max_tokens)
    budget = report.budget_usd
    spent = budget is not None and report.cost_usd + estimate > budget
    if report.mode != "record" or run.llm is None or spent:
        report.missing += 1
        report.estimated_cost_usd += estimate
        report.budget_spent = report.budget_spent or spent
        return None
    asked = Prompt(
        system=prompt.system,
        user=prompt.user,
        allowed_symbols=prompt.allowed_symbols,
        max_tokens=params.max_tokens,
        temperature=params.temperature,
    )
    reply = await run.llm.decide(bot["ai_model"], asked)
    cost = cost_of(run.prices, bot["ai_model"], reply.model, reply.tokens_in, reply.tokens_out)
    report.called += 1
    report.cost_usd += cost
    await _record(run, i, prompt, snapshot_hash, reply, cost)
    return reply.decision


async def _record(
    run: _Run, i: int, prompt: Prompt, snapshot_hash: str, reply: LLMReply, cost: Decimal
) -> None:
    """Keep a reply a backtest asked for, so that the next run replays it."""
    bot = run.setup.bot
    decision = None if reply.decision is None else reply.decision.model_dump(mode="json")
    params = {
        "user_id": bot["user_id"],
        "bot_id": bot["id"],
        "timeframe": run.setup.timeframe,
        "bar_time": datetime.fromtimestamp(int(run.bars.time[i]) / 1000, tz=UTC),
        "scope": f"backtest:{snapshot_hash}",
        "snapshot_hash": snapshot_hash,
        "prompt": prompt.user,
        "model": bot["ai_model"],
        "raw_reply": reply.raw,
        "reasoning": reply.reasoning_text,
        "decision": None if decision is None else json.dumps(decision),
        "abstain_code": reply.failure.code if reply.failure else None,
        "abstain_reason": reply.failure.detail if reply.failure else None,
        "tokens_in": reply.tokens_in,
        "tokens_out": reply.tokens_out,
        "cost_usd": cost,
        "latency_ms": round(reply.latency_ms),
    }
    async with as_service(run.pool) as conn:
        await execute(conn, Q["record_backtest_reply"], params)


def window_start(start: datetime, timeframe_seconds: int, prompt_bars: int) -> datetime:
    """Where the bars begin: a first prompt's worth, with its indicators' history, before
    ``start``."""
    return start - timedelta(seconds=timeframe_seconds * (history_bars(prompt_bars) - 1))
