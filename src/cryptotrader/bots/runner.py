"""The bot runner: every active bot decides once on every closed bar of its timeframe.

Part of ``cryptotrader worker`` (``bots``); any number of processes may run it. Each round:

1. **Claim.** One INSERT writes a journal row (``bot_decisions``) for every active bot (per
   symbol for a rule bot, one for an LLM bot) whose newest closed bar, by the market's
   clock, has none yet. The unique key (bot, bar, scope) makes the claim: of several
   workers exactly one gets each row. The row carries a lease; a worker that dies leaves
   it to run out, and the next round of any worker takes it over. Only the newest bar is
   ever claimed, and only while it closed less than ``lateness`` seconds (at most one bar)
   ago, so a bar missed while every worker was down is not traded late.
2. **Decide.** A rule bot runs its built-in strategy exactly as a backtest does: the same
   strategy interface and indicators, over the bars since it was started (less the
   strategy's warmup, at most ``config.lookback`` of them), with its own cash and position.
   An LLM bot renders its AI strategy's prompt with the documented context and asks its
   model through :class:`~.llm.LLMClient` (or reuses the recorded reply of an earlier call
   with the same model, prompt and data, at no cost); anything invalid is an abstention.
3. **Order.** A buy or a sell is sized the way the backtest broker sizes it (a fraction of
   the bot's cash at the fill model's price, the largest quantity whose value and fee fit;
   a fraction of the bot's position) and placed through ``trading.service.place_order``,
   the one order path, as the bot's owner, with the Idempotency-Key ``bot:<journal id>``:
   a claim taken over after its order was placed replays that order, never a second one.
4. **Record.** The journal row gets the whole decision: the prompt, the raw reply, the
   parsed decision, the abstention and its reason, tokens, cost, latency, the order.

Errors, by what to do next: *transient* (a provider's rate limit or outage, a lost
database connection) leave the claim to be retried after a backoff, while the bar is still
due; *operational* (a bad key, no balance, no such model, the bot's account gone or not
active) put the bot in ``error`` with the message and tell its owner; a *strategy error*
(its code raised, its parameters or indicators are invalid) pauses the bot and tells its
owner. A refused order (insufficient funds, a risk limit) is recorded and the bot goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import AsyncConnectionPool

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.audit.schemas import Actor
from cryptotrader.backtest.service import bars_between, load_bars
from cryptotrader.bots import service
from cryptotrader.bots.claims import (
    ZERO,
    BotProblem,
    BotState,
    Claim,
    Quote,
    RoundReport,
    bar_name,
    bar_seconds,
    candles_of,
    cost_of,
    epoch_ms,
    floor_time,
    rule_document,
    usd,
)
from cryptotrader.bots.decision import Decision
from cryptotrader.bots.errors import UnknownIndicator, UnknownModel
from cryptotrader.bots.llm import LLMClient, Prompt
from cryptotrader.bots.orders import Q8, Intent, optional_price, prepare_order
from cryptotrader.bots.prompt import Context, history_bars, render
from cryptotrader.bots.replay import model_prices, recorded
from cryptotrader.bots.schemas import LLMParameters
from cryptotrader.bots.service import TF_SECONDS, Q, market_clock
from cryptotrader.db.calls import execute, fetch_all, fetch_one
from cryptotrader.db.session import Conn, as_service, user_claims
from cryptotrader.errors import AccountNotActive, DomainError, InvalidRequest, TradeRefused
from cryptotrader.market.errors import NoCandles
from cryptotrader.market.schemas import Candle
from cryptotrader.strategies.base import Action, BarContext, Bars, Strategy
from cryptotrader.strategies.registry import build_strategy
from cryptotrader.trading import service as trading
from cryptotrader.trading.schemas import OrderRequest

log = logging.getLogger(__name__)

# refusals that mean the bot cannot go on as configured (its account), by class name
OPERATIONAL = (AccountNotActive, AccountNotFound)
MAX_BACKOFF = 300.0  # seconds: a transient failure is retried after 5, 10, 20, ... up to this


# ====================================================================== the runner
@dataclass
class BotRunner:
    pool: AsyncConnectionPool[Conn]
    llm: LLMClient | None = None
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    lease: float = 180.0  # seconds a claim is this worker's
    lateness: float = 300.0  # a bar is decided at most this long after it closed
    poll: float = 1.0
    order_concurrency: int = 8
    last: RoundReport | None = field(default=None, init=False)
    _strategies: dict[str, Strategy[Any]] = field(default_factory=dict, init=False)
    _clock: datetime = field(default_factory=lambda: datetime.now(UTC), init=False)

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds every ``poll`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.round()
            except (psycopg.OperationalError, OSError) as exc:
                log.warning("bot runner: database unavailable (%s); retrying", exc)
            except Exception:  # a bug must not stop the other bots' next bars
                log.exception("bot runner: round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll)

    def _due_until(self, claim: Claim) -> datetime:
        """Until when a claim's bar may still be traded: ``lateness`` (at most one bar)
        after its close."""
        return claim.bar_close + timedelta(seconds=min(self.lateness, bar_seconds(claim)))

    # ------------------------------------------------------------ one round
    async def round(self, clock: datetime | None = None) -> RoundReport:
        """Claim what is due at ``clock`` (default: the market's clock), decide, order,
        record."""
        started = time.perf_counter()
        report = RoundReport()
        async with as_service(self.pool) as conn:
            clock = clock or await market_clock(conn)
            report.clock = self._clock = clock
            claims = await self._claim(conn, clock)
        report.claimed = len(claims)
        if claims:
            await self._run(claims, clock)
            report.count(claims)
        report.seconds = time.perf_counter() - started
        self.last = report
        return report

    async def _claim(self, conn: Conn, clock: datetime) -> list[Claim]:
        params = {
            "clock": clock,
            "tf_seconds": TF_SECONDS,
            "lateness": self.lateness,
            "worker": self.identity,
            "lease": self.lease,
        }
        rows = await fetch_all(conn, Q["claim_due"], params)
        rows += await fetch_all(conn, Q["reclaim_expired"], params)
        return [Claim.from_row(r) for r in rows]

    async def _run(self, claims: list[Claim], clock: datetime) -> None:
        bot_ids = list({c.bot_id for c in claims})
        async with as_service(self.pool) as conn:
            bots = await self._load_bots(conn, bot_ids)
            prices = await model_prices(conn) if any(c.kind == "llm" for c in claims) else {}
            quotes = await self._quotes(conn, bots.values())
            series = await self._series(conn, claims, bots)
        problems: dict[UUID, BotProblem] = {}
        for claim in claims:
            bot = bots.get(claim.bot_id)
            if bot is None or not claim.open:
                continue
            if claim.order_request is not None:
                continue  # decided by a worker that died: only its order is left to place
            if clock >= self._due_until(claim):
                claim.abstain("late", "the bar closed too long ago to trade it now")
                continue
            if claim.kind == "rule":
                try:
                    self._decide_rule(claim, bot, series, quotes)
                except BotProblem as problem:
                    problems[bot.id] = problem
                    claim.abstain(problem.code, problem.message)
        llm_claims = [c for c in claims if c.kind == "llm" and c.open and c.order_request is None]
        if llm_claims:
            results = await asyncio.gather(
                *(self._decide_llm(c, bots[c.bot_id], series, quotes, prices) for c in llm_claims),
                return_exceptions=True,
            )
            for claim, result in zip(llm_claims, results, strict=True):
                if isinstance(result, BotProblem):
                    problems[claim.bot_id] = result
                    if claim.open:
                        claim.abstain(result.code, result.message)
                elif isinstance(result, BaseException):
                    log.error("bot %s: decision failed: %r", claim.bot_id, result)
                    claim.abstain("runner_error", f"{type(result).__name__}: {result}")
        ordering = [c for c in claims if c.status == "decided" and c.order_request is not None]
        if ordering:
            async with as_service(self.pool) as conn:
                await self._record(conn, ordering)  # the order is known before it is placed
            await self._place_all(ordering, bots, problems, clock)
        async with as_service(self.pool) as conn:
            await self._record(conn, claims)
            for bot_id, trouble in problems.items():
                await service.halt_bot(conn, bot_id, trouble.status, trouble.code, trouble.message)
            for claim in claims:
                bot = bots.get(claim.bot_id)
                if claim.abstain_code == "budget_spent" and bot and not bot.told_budget_today:
                    note = f"{claim.abstain_reason}. The bot holds until its budget allows again."
                    await service.notify_owner(
                        conn, claim.bot_id, "bot.budget_spent", "Bot budget spent", note, "warning"
                    )
            # every bot of the round: its PnL at the new prices, its fills, its costs
            await execute(conn, Q["refresh_performance"], {"ids": bot_ids})

    # ------------------------------------------------------------ loading
    async def _load_bots(self, conn: Conn, ids: list[UUID]) -> dict[UUID, BotState]:
        bots = {
            r["id"]: BotState(row=r) for r in await fetch_all(conn, Q["runner_bots"], {"ids": ids})
        }
        for r in await fetch_all(conn, Q["bot_books"], {"ids": ids}):
            bot = bots[r["bot_id"]]
            bot.cash_delta[r["symbol"]] = r["cash_delta"]
            bot.reserved[r["symbol"]] = r["reserved"]
            bot.quantity[r["symbol"]] = r["quantity"]
            if r["avg_entry_price"] is not None:
                bot.avg_entry[r["symbol"]] = r["avg_entry_price"]
        for r in await fetch_all(conn, Q["bot_spend"], {"ids": ids}):
            bot = bots[r["bot_id"]]
            bot.spent_total, bot.spent_today = r["lifetime"], r["today"]
            bot.told_budget_today = bool(r["told_today"])
        return bots

    async def _quotes(self, conn: Conn, bots: Iterable[BotState]) -> dict[str, Quote]:
        symbols = sorted({s for b in bots for s in b.row["target_symbols"]})
        rows = await fetch_all(conn, Q["quotes"], {"symbols": symbols})
        return {
            r["symbol"]: Quote(
                price=r["price_usd"],
                volume_24h_usd=r["volume_24h_usd"] or ZERO,
                high_24h=r["high_24h"],
                low_24h=r["low_24h"],
            )
            for r in rows
        }

    def _window(self, claim: Claim, bot: BotState) -> datetime:
        """Where a bot's bars begin: its start less the warmup, at most its lookback back."""
        step = timedelta(seconds=bar_seconds(claim))
        config = bot.row["config"] or {}
        if claim.kind == "llm":
            return claim.bar_time - step * (history_bars(int(config.get("prompt_bars", 20))) - 1)
        lookback = int(config.get("lookback", 1000))
        earliest = claim.bar_time - step * (lookback - 1)
        started = bot.row["started_at"] or bot.row["status_changed_at"]
        strategy = self._strategy(bot)
        first_bar = floor_time(started, step)
        return max(earliest, first_bar - step * strategy.warmup())

    async def _series(
        self, conn: Conn, claims: list[Claim], bots: Mapping[UUID, BotState]
    ) -> dict[tuple[str, str], Bars | None]:
        """Every (symbol, timeframe) the claims need, loaded once from the earliest bar any
        of them needs to the newest closed one."""
        wanted: dict[tuple[str, str], tuple[datetime, datetime]] = {}
        for claim in claims:
            bot = bots.get(claim.bot_id)
            if bot is None or claim.order_request is not None:
                continue
            try:
                start = self._window(claim, bot)
            except BotProblem:
                continue  # reported when it decides
            symbols = bot.row["target_symbols"] if claim.kind == "llm" else [claim.scope]
            for symbol in symbols:
                key = (symbol, claim.timeframe)
                lo, hi = wanted.get(key, (start, claim.bar_close))
                wanted[key] = (min(lo, start), max(hi, claim.bar_close))
        series: dict[tuple[str, str], Bars | None] = {}
        for (symbol, tf), (start, end) in wanted.items():
            try:
                series[(symbol, tf)] = await load_bars(conn, symbol, tf, start, end)
            except NoCandles:
                series[(symbol, tf)] = None
        return series

    def _strategy(self, bot: BotState) -> Strategy[Any]:
        config = bot.row["config"] or {}
        params = config.get("parameters") or {}
        key = f"{bot.row['strategy']}:{json.dumps(params, sort_keys=True)}"
        strategy = self._strategies.get(key)
        if strategy is None:
            try:
                strategy = build_strategy(bot.row["strategy"], params)
            except DomainError as exc:
                raise BotProblem("paused", "strategy_error", str(exc)) from None
            self._strategies[key] = strategy
        return strategy

    # ------------------------------------------------------------ rule bots
    def _rule_bars(
        self, claim: Claim, bot: BotState, series: Mapping[tuple[str, str], Bars | None]
    ) -> Bars | None:
        """The bars a rule bot decides on, ending with the claimed bar (None without it)."""
        bars = series.get((claim.scope, claim.timeframe))
        if bars is None:
            return None
        try:
            bars = bars_between(bars, self._window(claim, bot), claim.bar_close)
        except NoCandles:
            return None
        return bars if int(bars.time[-1]) == epoch_ms(claim.bar_time) else None

    def _decide_rule(
        self,
        claim: Claim,
        bot: BotState,
        series: Mapping[tuple[str, str], Bars | None],
        quotes: Mapping[str, Quote],
    ) -> None:
        symbol = claim.symbol = claim.scope
        strategy = self._strategy(bot)
        bars = self._rule_bars(claim, bot, series)
        if bars is None:
            claim.abstain("no_bar", f"no {symbol} bar: {bar_name(claim)}")
            return
        cash, quantity = bot.cash(symbol), bot.quantity.get(symbol, ZERO)
        entry = bot.avg_entry.get(symbol)
        try:
            ctx = BarContext(
                i=len(bars) - 1,
                history=bars,
                indicators=strategy.indicators(bars),
                cash=float(cash),
                quantity=float(quantity),
                equity=float(cash) + float(quantity) * float(bars.close[-1]),
                avg_entry_price=None if entry is None else float(entry),
                open_orders=0,
            )
            decision = strategy.decide(ctx)
        except Exception as exc:  # the strategy's own code: the bot pauses, the rest go on
            raise BotProblem("paused", "strategy_error", f"{type(exc).__name__}: {exc}") from None
        claim.took(rule_document(decision), str(decision.action), decision.confidence)
        claim.reasoning = decision.reasoning or None
        if decision.action is Action.HOLD:
            claim.finish("held")
            return
        intent = Intent(
            side=str(decision.action),
            symbol=symbol,
            fraction=None if decision.size is None else Decimal(repr(decision.size)),
            cash=cash,
            order_type=str(decision.order_type),
            limit=optional_price(decision.limit_price),
            stop_loss=optional_price(decision.stop_loss),
            take_profit=optional_price(decision.take_profit),
            confidence=decision.confidence,
            reasoning=decision.reasoning or f"{bot.row['strategy']} on {bar_name(claim)}",
        )
        prepare_order(claim, bot, quotes, intent)

    # ------------------------------------------------------------ LLM bots
    @staticmethod
    def _budget_spent(claim: Claim, bot: BotState) -> bool:
        """Abstain (``budget_spent``) when the bot's daily or lifetime budget is spent."""
        daily, total = bot.row["daily_budget_usd"], bot.row["lifetime_budget_usd"]
        for which, budget, spent in (
            ("daily", daily, bot.spent_today),
            ("lifetime", total, bot.spent_total),
        ):
            if budget is not None and spent >= budget:
                reason = f"the {which} budget of {usd(budget)} USD is spent ({usd(spent)} USD)"
                claim.abstain("budget_spent", reason)
                return True
        return False

    def _llm_prompt(
        self, claim: Claim, bot: BotState, series: Mapping[tuple[str, str], Bars | None]
    ) -> Prompt | None:
        """The AI strategy's prompt rendered with the bot's context (None, abstaining,
        when no symbol has the claimed bar)."""
        row = bot.row
        symbols = list(row["target_symbols"])
        step = timedelta(seconds=bar_seconds(claim))
        n_shown = int((row["config"] or {}).get("prompt_bars", 20))
        n_bars = history_bars(n_shown)
        shown: dict[str, list[Candle]] = {s: [] for s in symbols}
        for symbol in symbols:
            bars = series.get((symbol, claim.timeframe))
            with contextlib.suppress(NoCandles):
                if bars is not None:
                    part = bars_between(bars, claim.bar_time - step * (n_bars - 1), claim.bar_close)
                    shown[symbol] = candles_of(symbol, claim.timeframe, part)
        if not any(c and c[-1].open_time == claim.bar_time for c in shown.values()):
            claim.abstain("no_bar", f"no bar: {bar_name(claim)}")
            return None
        try:
            params = LLMParameters.model_validate(row["strategy_parameters"] or {})
            ctx = Context(
                timeframe=claim.timeframe,
                bars=shown,
                cash=bot.cash(),
                capital_cap=bot.cap,
                max_position_size=row["max_position_size"],
                positions={s: q for s, q in bot.quantity.items() if q},
                shown=n_shown,
            )
            rendered = render(row["strategy_prompt"], ctx, row["strategy_indicators"] or [])
        except (ValueError, UnknownIndicator) as exc:
            raise BotProblem("paused", "strategy_error", str(exc)) from None
        claim.snapshot_hash = rendered.snapshot_hash
        claim.prompt = rendered.prompt.user
        return Prompt(
            system=rendered.prompt.system,
            user=rendered.prompt.user,
            allowed_symbols=rendered.prompt.allowed_symbols,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
        )

    async def _decide_llm(
        self,
        claim: Claim,
        bot: BotState,
        series: Mapping[tuple[str, str], Bars | None],
        quotes: Mapping[str, Quote],
        prices: Mapping[str, tuple[Decimal, Decimal]],
    ) -> None:
        model = claim.model = bot.row["ai_model"]
        if bot.row["strategy_prompt"] is None:
            raise BotProblem("error", "ai_strategy_missing", "the bot's AI strategy was deleted")
        if self._budget_spent(claim, bot):
            return
        prompt = self._llm_prompt(claim, bot, series)
        if prompt is None:
            return
        decision = await self._recorded(claim, model) or await self._ask(
            claim, model, prompt, prices
        )
        if decision is None:
            return
        claim.took(decision.model_dump(mode="json"), decision.action, decision.confidence)
        claim.symbol = decision.symbol
        claim.reasoning = decision.reasoning or claim.reasoning
        if decision.action == "hold" or decision.symbol is None:
            claim.finish("held")
            return
        cash = bot.cash()
        fraction: Decimal | None = decision.size
        if decision.action == "buy":  # a fraction of the cap to spend, at most the free cash
            cash, fraction = min(cash, (bot.cap * decision.size).quantize(Q8, ROUND_FLOOR)), None
        intent = Intent(
            side=decision.action,
            symbol=decision.symbol.upper(),
            fraction=fraction,
            cash=cash,
            order_type=decision.order_type,
            limit=optional_price(decision.limit_price),
            stop_loss=optional_price(decision.stop_loss),
            take_profit=optional_price(decision.take_profit),
            confidence=decision.confidence,
            reasoning=decision.reasoning or f"{model} decided {decision.action}",
        )
        prepare_order(claim, bot, quotes, intent)

    async def _recorded(self, claim: Claim, model: str) -> Decision | None:
        """The recorded decision of the same model, prompt and data, if there is one."""
        if claim.snapshot_hash is None or claim.prompt is None:
            return None  # not rendered: nothing to look up
        async with as_service(self.pool) as conn:
            found = await recorded(conn, claim.user_id, model, claim.snapshot_hash, claim.prompt)
        if found is None:
            return None
        claim.raw_reply, claim.reasoning = found.raw_reply, found.reasoning
        claim.replayed = True
        return found.decision

    async def _ask(
        self,
        claim: Claim,
        model: str,
        prompt: Prompt,
        prices: Mapping[str, tuple[Decimal, Decimal]],
    ) -> Decision | None:
        if self.llm is None:
            claim.abstain("no_llm_client", "this worker has no LLM client configured")
            return None
        try:
            reply = await self.llm.decide(model, prompt)
        except UnknownModel as exc:
            raise BotProblem("error", "unknown_model", exc.detail) from None
        claim.raw_reply = reply.raw
        claim.reasoning = reply.reasoning_text
        claim.tokens_in += reply.tokens_in
        claim.tokens_out += reply.tokens_out
        claim.latency_ms += round(reply.latency_ms)
        claim.cost_usd += cost_of(prices, model, reply.model, reply.tokens_in, reply.tokens_out)
        failure = reply.failure
        if failure is None and reply.decision is not None:
            return reply.decision
        assert failure is not None
        if failure.kind == "transient":
            backoff = failure.retry_after or min(MAX_BACKOFF, 5.0 * 2 ** (claim.attempts - 1))
            wait = timedelta(seconds=backoff)
            if self._clock + wait >= self._due_until(claim):  # by the market's clock
                claim.abstain(failure.code, f"{failure.detail} (no time left in this bar to retry)")
            else:
                claim.lease_until = datetime.now(UTC) + wait  # any worker tries again then
                claim.abstain_code, claim.abstain_reason = failure.code, failure.detail
            return None
        claim.abstain(failure.code, failure.detail)
        if failure.kind == "operational":
            raise BotProblem("error", failure.code, f"{model}: {failure.detail}")
        return None

    # ------------------------------------------------------------ orders
    async def _place_all(
        self,
        claims: list[Claim],
        bots: Mapping[UUID, BotState],
        problems: dict[UUID, BotProblem],
        clock: datetime,
    ) -> None:
        limit = asyncio.Semaphore(self.order_concurrency)

        async def place(claim: Claim) -> None:
            async with limit:
                await self._place(claim, problems, clock)

        await asyncio.gather(*(place(c) for c in claims if c.bot_id in bots))

    async def _place(self, claim: Claim, problems: dict[UUID, BotProblem], clock: datetime) -> None:
        assert claim.order_request is not None
        key = f"bot:{claim.id}"
        if clock >= self._due_until(claim):
            # taken over too late: the order stands only if its first worker placed it
            async with as_service(self.pool) as conn:
                known = await fetch_one(
                    conn, Q["placed_order"], {"user_id": claim.user_id, "key": key}
                )
            if known is None:
                claim.abstain("late", "the bar closed too long ago to trade it now")
            else:
                claim.finish(
                    "traded", order_id=known["order_id"], order_status=known["order_status"]
                )
            return
        actor = Actor(claims=user_claims(claim.user_id), user_agent=f"bot-runner {self.identity}")
        order = OrderRequest.model_validate(claim.order_request)
        try:
            placed = await trading.place_order(self.pool, actor, order, idempotency_key=key)
        except psycopg.OperationalError as exc:
            claim.lease_until = datetime.now(UTC) + timedelta(seconds=5)
            claim.order_error = f"database unavailable: {exc}"
            return
        except DomainError as exc:
            claim.finish("failed", order_error=f"{exc.code}: {exc.detail}")
            if isinstance(exc, OPERATIONAL):
                problems[claim.bot_id] = BotProblem("error", exc.code, f"its account: {exc.detail}")
            elif not isinstance(exc, TradeRefused | InvalidRequest):
                log.warning("bot %s: order refused: %s", claim.bot_id, exc)
            return
        claim.finish("traded", order_id=placed.trade.id, order_status=placed.trade.status)

    # ------------------------------------------------------------ writing
    async def _record(self, conn: Conn, claims: Sequence[Claim]) -> None:
        rows = [c.row() for c in claims]
        for chunk in range(0, len(rows), 1000):
            part = json.dumps(rows[chunk : chunk + 1000], default=str)
            await execute(conn, Q["record_decisions"], {"rows": part, "worker": self.identity})
