"""The bot runner on a real database, driven bar by bar through the replay feed: a rule bot
makes exactly its backtest's trades, an LLM bot trades against a stub of the providers'
wire format with its journal and costs complete, invalid output and provider errors are
abstentions that say why, budgets stop the calls, and concurrent runners decide every
(bot, bar) exactly once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.audit.schemas import Actor
from cryptotrader.backtest.engine import run_backtest
from cryptotrader.backtest.service import load_bars
from cryptotrader.backtest.types import BacktestConfig
from cryptotrader.bots import service
from cryptotrader.bots.runner import BotRunner
from cryptotrader.bots.schemas import AIStrategyCreate, Bot, BotBacktestRequest, BotCreate
from cryptotrader.db.session import (
    Conn,
    as_service,
    as_user,
    open_pool,
    service_connection,
    user_claims,
)
from cryptotrader.market import cache
from cryptotrader.market.candle_import import import_candles_csv
from cryptotrader.market.feed import MarketFeed
from cryptotrader.market.replay import ReplayFeed, load_replay
from cryptotrader.strategies.registry import build_strategy
from tests.bots.test_llm import Canned, StubLLM, client_for, fixture, with_content
from tests.bots.test_llm import stub as stub  # the fixture
from tests.support import TestDatabase, create_account, create_user

pytestmark = pytest.mark.anyio
Pool = AsyncConnectionPool[Conn]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "ohlcv"
HOUR = timedelta(hours=1)
START = datetime(2021, 1, 4, tzinfo=UTC)  # the bots start here; the data has the weeks before
PARAMS = {"fast": 5, "slow": 20}
WARMUP = 20


@pytest.fixture
def candles(db: TestDatabase) -> None:
    """The real BTC and ETH 1h bars (2020-12-01 to 2021-07-17) in market_candles."""
    import_candles_csv(db.app_conninfo, FIXTURES / "BTC-USDT_1h.csv.gz", "BTC", "1h")
    import_candles_csv(db.app_conninfo, FIXTURES / "ETH-USDT_1h.csv.gz", "ETH", "1h")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Market:
    """A replay of the stored bars whose market time the test sets, and its feed."""

    replay: ReplayFeed
    clock: Clock
    feed: MarketFeed
    conn: Conn

    async def at(self, t: datetime) -> None:
        """Market time ``t``: the replay's quotes of then, stored as the feed stores them."""
        bar = timedelta(seconds=3600)
        self.clock.now = (t - self.replay.start - bar).total_seconds()
        result = await self.feed.refresh(self.conn)
        assert result.error is None, result.error


@pytest.fixture
async def market(db: TestDatabase, candles: None) -> AsyncIterator[Market]:
    clock = Clock()
    async with service_connection(db.app_conninfo) as conn:
        replay = await load_replay(
            conn,
            ["BTC", "ETH"],
            "1h",
            START - WARMUP * HOUR,
            START + 400 * HOUR,
            speed=1.0,
            clock=clock,
        )
        feed = MarketFeed(conninfo=db.app_conninfo, provider=replay, live_bars=False)
        await conn.execute(
            cache.Q["feed_status_claim"], {"leader": feed.identity, "provider": "replay"}
        )
        yield Market(replay=replay, clock=clock, feed=feed, conn=conn)


def trader(db: TestDatabase) -> tuple[UUID, UUID]:
    """A user and an account whose limits no bot here reaches."""
    with db.owner() as conn:
        user = create_user(conn)
        account = create_account(
            conn,
            user,
            initial_balance=Decimal(100_000),
            max_position_size=Decimal(10_000_000),
            max_daily_loss=Decimal(10_000_000),
        )
    return user, account


async def make_bot(pool: Pool, user: UUID, **fields: Any) -> Bot:
    actor = Actor(claims=user_claims(user))
    async with as_user(pool, user_claims(user)) as conn:
        return await service.create_bot(conn, actor, BotCreate.model_validate(fields))


async def start(pool: Pool, user: UUID, bot_id: UUID) -> Bot:
    async with as_user(pool, user_claims(user)) as conn:
        return await service.start_bot(conn, Actor(claims=user_claims(user)), bot_id)


def journal(db: TestDatabase, bot_id: UUID) -> list[dict[str, Any]]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT * FROM bot_decisions WHERE bot_id = %s ORDER BY bar_time, scope", [bot_id]
        ).fetchall()


def trades(db: TestDatabase, bot_id: UUID) -> list[dict[str, Any]]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT * FROM paper_trades WHERE bot_id = %s ORDER BY created_at, id", [bot_id]
        ).fetchall()


def notifications(db: TestDatabase, user: UUID) -> list[dict[str, Any]]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT * FROM account_notifications WHERE user_id = %s ORDER BY created_at", [user]
        ).fetchall()


def rule_fields(account: UUID, **changes: Any) -> dict[str, Any]:
    return {
        "name": "Trend",
        "account_id": account,
        "strategy": "sma_crossover",
        "target_symbols": ["BTC"],
        "paper_balance": "10000",
        "max_position_size": "10000000",
        "config": {"timeframe": "1h", "parameters": PARAMS},
    } | changes


# ------------------------------------------------------------------ rule bots


async def started_rule_bot(db: TestDatabase, pool: Pool, market: Market) -> tuple[UUID, Bot]:
    """A rule bot (SMA 5/20 on BTC 1h), started at the market's START."""
    user, account = trader(db)
    bot = await make_bot(pool, user, **rule_fields(account))
    await market.at(START + timedelta(seconds=1))
    return user, await start(pool, user, bot.id)


async def test_a_rule_bot_makes_exactly_its_backtests_trades(
    db: TestDatabase, pool: Pool, market: Market
) -> None:
    user, account = trader(db)
    bot = await make_bot(pool, user, **rule_fields(account))
    await market.at(START + timedelta(seconds=1))
    bot = await start(pool, user, bot.id)
    bars_run = 240
    runner = BotRunner(pool=pool)
    for k in range(1, bars_run):
        await market.at(START + k * HOUR + timedelta(seconds=1))
        report = await runner.round()
        assert report.claimed == 1, (k, report)
    # the backtest of the same bars: from the bot's start less the warmup, same broker
    with db.owner() as conn:
        acct = conn.execute(
            "SELECT fill_model, slippage_bps, taker_fee_rate, maker_fee_rate"
            " FROM paper_trading_accounts WHERE id = %s",
            [account],
        ).fetchone()
    assert acct is not None
    async with as_service(pool) as conn:
        bars = await load_bars(conn, "BTC", "1h", START - WARMUP * HOUR, START + bars_run * HOUR)
    config = BacktestConfig(initial_capital=Decimal(10_000), **acct)
    result = run_backtest(bars, build_strategy("sma_crossover", PARAMS), config, fast=False)
    expected = [(f.side, f.quantity, f.price, f.fee, f.time) for f in result.fills]
    rows = journal(db, bot.id)
    executed_at = {r["order_id"]: r["bar_time"] + HOUR for r in rows if r["order_id"]}
    got = [
        (t["side"], t["amount"], t["execution_price"], t["fee"], executed_at[t["id"]])
        for t in trades(db, bot.id)
    ]
    assert len(expected) >= 4  # a window with trades in it
    assert got == expected  # 0 differences, at the same prices
    assert len(rows) == bars_run - 1 and {r["status"] for r in rows} <= {"held", "traded"}
    for t in trades(db, bot.id):
        assert (t["trade_category"], t["status"], t["bot_id"]) == ("bot", "completed", bot.id)
        assert t["reasoning"] and t["risk_score"] > 0
    async with as_user(pool, user_claims(user)) as conn:
        performance = (await service.get_bot(conn, bot.id)).performance
    assert performance["trades"] == len(expected)
    assert performance["wins"] + performance["losses"] == sum(1 for e in expected if e[0] == "sell")


async def test_a_bar_missed_while_every_worker_was_down_is_not_traded_late(
    db: TestDatabase, pool: Pool, market: Market
) -> None:
    _, bot = await started_rule_bot(db, pool, market)
    runner = BotRunner(pool=pool, lateness=300)
    await market.at(START + HOUR + timedelta(seconds=1))
    assert (await runner.round()).claimed == 1
    # the runner was down from 02:00 to 05:10: bars 01:00-04:00 closed meanwhile
    await market.at(START + 5 * HOUR + timedelta(minutes=10))
    assert (await runner.round()).claimed == 0  # 04:00 closed 10 min ago: too late
    await market.at(START + 6 * HOUR + timedelta(seconds=2))
    assert (await runner.round()).claimed == 1  # 05:00, on time
    assert [r["bar_time"] for r in journal(db, bot.id)] == [START, START + 5 * HOUR]


async def test_a_bot_decides_only_on_bars_that_close_after_it_started(
    db: TestDatabase, pool: Pool, market: Market
) -> None:
    user, account = trader(db)
    bot = await make_bot(pool, user, **rule_fields(account))
    await market.at(START + timedelta(minutes=30))
    await start(pool, user, bot.id)
    runner = BotRunner(pool=pool)
    assert (await runner.round()).claimed == 0  # 23:00's bar closed before it started
    await market.at(START + HOUR + timedelta(seconds=1))
    assert (await runner.round()).claimed == 1
    assert (await runner.round()).claimed == 0  # once per bar


async def test_a_strategy_error_pauses_the_bot_and_tells_its_owner(
    db: TestDatabase, pool: Pool, market: Market
) -> None:
    user, bot = await started_rule_bot(db, pool, market)
    with db.owner() as conn:  # parameters that no longer validate (written behind its back)
        conn.execute(
            "UPDATE ai_trading_bots"
            " SET config = jsonb_set(config, '{parameters}', '{\"fast\": 50}') WHERE id = %s",
            [bot.id],
        )
    await market.at(START + HOUR + timedelta(seconds=1))
    await BotRunner(pool=pool).round()
    async with as_user(pool, user_claims(user)) as conn:
        after = await service.get_bot(conn, bot.id)
    assert after.status == "paused" and after.error_message
    (row,) = journal(db, bot.id)
    assert (row["status"], row["abstain_code"]) == ("abstained", "strategy_error")
    assert [n["notification_type"] for n in notifications(db, user)] == ["bot.paused"]
    assert trades(db, bot.id) == []


# ------------------------------------------------------------------ LLM bots

BUY_BTC = json.dumps(
    {
        "action": "buy",
        "symbol": "BTC",
        "size": 0.1,
        "order_type": "market",
        "limit_price": None,
        "stop_loss": None,
        "take_profit": None,
        "confidence": 0.7,
        "reasoning": "RSI turning up from 40",
    }
)
HOLD = json.dumps({"action": "hold", "confidence": 0.5, "reasoning": "no edge"})


@pytest.fixture
async def llm_bot(db: TestDatabase, pool: Pool, market: Market) -> tuple[UUID, Bot]:
    user, account = trader(db)
    actor = Actor(claims=user_claims(user))
    async with as_user(pool, user_claims(user)) as conn:
        strategy = await service.create_ai_strategy(
            conn,
            actor,
            AIStrategyCreate(
                name="Momentum",
                prompt="You trade {symbols} on {timeframe} bars.\n{context}",
                indicators=["rsi_14", "sma_20"],
            ),
        )
    bot = await make_bot(
        pool,
        user,
        name="LLM",
        account_id=account,
        strategy="llm",
        strategy_id=strategy.id,
        target_symbols=["BTC", "ETH"],
        paper_balance="10000",
        max_position_size="5000",
        config={"timeframe": "1h"},
    )
    await market.at(START + timedelta(seconds=1))
    return user, await start(pool, user, bot.id)


def openai(content: str) -> Canned:
    return Canned(body=with_content("response_openai_gpt-4o-mini", content))


async def llm_round(pool: Pool, stub: StubLLM, market: Market, k: int, **kw: Any) -> Any:
    client = client_for(stub)
    try:
        await market.at(START + k * HOUR + timedelta(seconds=1))
        return await BotRunner(pool=pool, llm=client, **kw).round()
    finally:
        await client.aclose()


async def test_an_llm_bot_trades_with_its_journal_and_costs_complete(
    db: TestDatabase, pool: Pool, market: Market, stub: StubLLM, llm_bot: tuple[UUID, Bot]
) -> None:
    user, bot = llm_bot
    stub.answer(openai(BUY_BTC))
    report = await llm_round(pool, stub, market, 1)
    assert (report.claimed, report.traded) == (1, 1)
    (trade,) = trades(db, bot.id)
    assert (trade["symbol"], trade["side"], trade["trade_category"]) == ("BTC", "buy", "bot")
    assert trade["reasoning"] == "RSI turning up from 40"
    assert trade["confidence_level"] == Decimal("70.00")
    assert trade["total_value"] + trade["fee"] <= Decimal(1000)  # 0.1 of the 10,000 cap
    (row,) = journal(db, bot.id)
    assert row["status"] == "traded" and row["order_id"] == trade["id"]
    assert row["model"] == "gpt-4o-mini" and row["snapshot_hash"]
    assert "BTC" in row["prompt"] and "rsi_14" in row["prompt"]
    assert json.loads(row["raw_reply"])["symbol"] == "BTC"
    assert (row["tokens_in"], row["tokens_out"]) == (118, 38)  # the fixture's usage
    # gpt-4o-mini: 0.15 USD in, 0.60 out per million tokens
    assert row["cost_usd"] == Decimal("0.0000405000")
    _, sent = stub.requests[0]
    assert sent["response_format"]["type"] == "json_schema"
    stub.answer(openai(HOLD))
    await llm_round(pool, stub, market, 2)
    async with as_user(pool, user_claims(user)) as conn:
        costs = await service.bot_costs(conn, bot.id)
        performance = (await service.get_bot(conn, bot.id)).performance
    assert costs.calls == 2 and costs.cost_usd == Decimal("0.0000810000")
    assert performance["trades"] == 1 and Decimal(str(performance["cost_usd"])) > 0


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (Canned(body=fixture("response_openai_refusal")), "refusal"),
        (Canned(body=with_content("response_openai_gpt-4o-mini", "not json")), "invalid_json"),
        (
            Canned(
                body=with_content("response_openai_gpt-4o-mini", BUY_BTC.replace("BTC", "DOGE"))
            ),
            "symbol_not_allowed",
        ),
        (
            Canned(body=with_content("response_openai_gpt-4o-mini", BUY_BTC.replace("0.1", "1.5"))),
            "invalid_decision",
        ),
    ],
)
async def test_invalid_output_is_an_abstention_with_the_raw_reply_never_a_trade(
    db: TestDatabase,
    pool: Pool,
    market: Market,
    stub: StubLLM,
    llm_bot: tuple[UUID, Bot],
    reply: Canned,
    code: str,
) -> None:
    _, bot = llm_bot
    stub.answer(reply)
    await llm_round(pool, stub, market, 1)
    (row,) = journal(db, bot.id)
    assert (row["status"], row["abstain_code"], row["action"]) == ("abstained", code, "hold")
    assert row["raw_reply"] is not None and row["abstain_reason"]
    assert trades(db, bot.id) == []


async def test_a_bad_key_puts_the_bot_in_error_and_tells_its_owner(
    db: TestDatabase, pool: Pool, market: Market, stub: StubLLM, llm_bot: tuple[UUID, Bot]
) -> None:
    user, bot = llm_bot
    stub.answer(Canned(status=401, body=fixture("error_openai_401")))
    await llm_round(pool, stub, market, 1)
    async with as_user(pool, user_claims(user)) as conn:
        after = await service.get_bot(conn, bot.id)
    assert after.status == "error" and after.error_message
    (row,) = journal(db, bot.id)
    assert (row["status"], row["abstain_code"]) == ("abstained", "auth_failed")
    assert [n["notification_type"] for n in notifications(db, user)] == ["bot.error"]
    stub.answer(openai(BUY_BTC))
    assert (await llm_round(pool, stub, market, 2)).claimed == 0  # an errored bot waits


async def test_a_rate_limit_is_retried_after_its_retry_after_within_the_bar(
    db: TestDatabase, pool: Pool, market: Market, stub: StubLLM, llm_bot: tuple[UUID, Bot]
) -> None:
    _, bot = llm_bot
    limited = Canned(
        status=429, body=fixture("error_openai_429_rate_limit"), headers={"Retry-After": "1"}
    )
    stub.answer(limited, openai(BUY_BTC))
    first = await llm_round(pool, stub, market, 1)
    assert (first.claimed, first.retrying) == (1, 1)
    (row,) = journal(db, bot.id)
    assert (row["status"], row["abstain_code"]) == ("claimed", "rate_limited")
    await asyncio.sleep(1.2)
    client = client_for(stub)
    try:
        again = await BotRunner(pool=pool, llm=client).round()
    finally:
        await client.aclose()
    assert (again.claimed, again.traded) == (1, 1)
    (row,) = journal(db, bot.id)
    assert (row["status"], row["attempts"]) == ("traded", 2)
    assert len(trades(db, bot.id)) == 1


async def test_a_spent_budget_stops_the_calls_and_tells_the_owner_once(
    db: TestDatabase, pool: Pool, market: Market, stub: StubLLM, llm_bot: tuple[UUID, Bot]
) -> None:
    user, bot = llm_bot
    with db.owner() as conn:  # each call costs 0.0000405: the third one spends it
        conn.execute("UPDATE ai_trading_bots SET daily_budget_usd = 0.0001 WHERE id = %s", [bot.id])
    stub.answer(openai(HOLD))
    for k in range(1, 6):
        await llm_round(pool, stub, market, k)
    rows = journal(db, bot.id)
    assert [r["abstain_code"] for r in rows] == [None, None, None, "budget_spent", "budget_spent"]
    assert len(stub.requests) == 3
    budget = [n for n in notifications(db, user) if n["notification_type"] == "bot.budget_spent"]
    assert len(budget) == 1 and "daily budget" in budget[0]["message"]


async def test_a_recorded_reply_is_replayed_at_no_cost(
    db: TestDatabase, pool: Pool, market: Market, stub: StubLLM, llm_bot: tuple[UUID, Bot]
) -> None:
    _, bot = llm_bot
    stub.answer(openai(HOLD))
    await llm_round(pool, stub, market, 1)
    (first,) = journal(db, bot.id)
    with db.owner() as conn:  # the same bar again, as a rerun would see it
        conn.execute("DELETE FROM bot_decisions WHERE id <> %s", [first["id"]])
        conn.execute(
            "UPDATE bot_decisions SET bar_time = bar_time - interval '1 hour' WHERE id = %s",
            [first["id"]],
        )
    await llm_round(pool, stub, market, 1)
    rows = journal(db, bot.id)
    replayed = rows[-1]
    assert replayed["replayed"] and replayed["cost_usd"] == 0
    assert replayed["snapshot_hash"] == first["snapshot_hash"]
    assert replayed["decision"] == first["decision"]
    assert len(stub.requests) == 1


# ------------------------------------------------------------------ exactly once


async def test_three_runners_decide_every_bot_and_bar_exactly_once(
    db: TestDatabase, market: Market
) -> None:
    pools = [open_pool(db.app_conninfo, min_size=1, max_size=4) for _ in range(3)]
    for p in pools:
        await p.open()
    try:
        user, account = trader(db)
        bots = [
            await make_bot(pools[0], user, **rule_fields(account, name=f"B{i}")) for i in range(12)
        ]
        await market.at(START + timedelta(seconds=1))
        for b in bots:
            await start(pools[0], user, b.id)
        runners = [BotRunner(pool=p, identity=f"worker-{i}") for i, p in enumerate(pools)]
        claimed = 0
        for k in range(1, 6):
            await market.at(START + k * HOUR + timedelta(seconds=1))
            reports = await asyncio.gather(*(r.round() for r in runners))
            claimed += sum(r.claimed for r in reports)
        with db.owner() as conn:
            rows = conn.execute(
                "SELECT bot_id, bar_time, count(*) AS n FROM bot_decisions GROUP BY 1, 2"
            ).fetchall()
            orders = conn.execute(
                "SELECT count(*) AS n FROM paper_trades WHERE bot_id IS NOT NULL"
            ).fetchone()
            decided = conn.execute(
                "SELECT count(*) AS n FROM bot_decisions WHERE order_id IS NOT NULL"
            ).fetchone()
        assert claimed == 12 * 5 and len(rows) == 12 * 5 and {r["n"] for r in rows} == {1}
        assert orders == decided
    finally:
        for p in pools:
            await p.close()


# ------------------------------------------------------------------ record and replay


def reply(action: str, size: float = 0.0) -> Canned:
    body = {"action": action, "confidence": 0.6, "reasoning": f"{action} {size}"}
    if action != "hold":
        body |= {"symbol": "BTC", "size": size, "order_type": "market"}
    return openai(json.dumps(body))


async def test_an_llm_bot_backtested_from_its_journal_makes_its_live_trades_at_no_cost(
    db: TestDatabase, pool: Pool, market: Market, stub: StubLLM
) -> None:
    user, account = trader(db)
    actor = Actor(claims=user_claims(user))
    async with as_user(pool, user_claims(user)) as conn:
        strategy = await service.create_ai_strategy(
            conn,
            actor,
            AIStrategyCreate(name="M", prompt="Trade {symbols}.\n{context}", indicators=["rsi_14"]),
        )
    bot = await make_bot(
        pool,
        user,
        name="LLM",
        account_id=account,
        strategy="llm",
        strategy_id=strategy.id,
        target_symbols=["BTC"],
        paper_balance="10000",
        max_position_size="10000000",
        config={"timeframe": "1h"},
    )
    await market.at(START + timedelta(seconds=1))
    await start(pool, user, bot.id)
    stub.answer(
        reply("buy", 0.5), reply("hold"), reply("buy", 0.25), reply("sell", 0.5),
        reply("hold"), reply("sell", 1.0), reply("buy", 0.8), reply("hold"),
    )  # fmt: skip
    rounds = 8
    client = client_for(stub)
    try:
        for k in range(1, rounds + 1):
            await market.at(START + k * HOUR + timedelta(seconds=1))
            await BotRunner(pool=pool, llm=client).round()
    finally:
        await client.aclose()
    live = [(t["side"], t["amount"], t["execution_price"], t["fee"]) for t in trades(db, bot.id)]
    assert len(live) == 5
    calls = len(stub.requests)
    request = BotBacktestRequest(start=START, end=START + (rounds + 1) * HOUR, mode="offline")
    report = await service.backtest_bot(pool, actor, bot.id, request)
    assert (report.recorded, report.called, report.missing) == (rounds, 0, 0)
    assert report.cost_usd == 0 and len(stub.requests) == calls  # no call was made
    replayed = [(t.side, t.quantity, t.price, t.fee) for t in report.trades]
    assert replayed == live
    assert report.training_cutoff is not None and report.before_cutoff  # 2021 < gpt-4o-mini's
    # a window the record does not cover: the dry run prices what it would ask
    later = BotBacktestRequest(start=START, end=START + 30 * HOUR, mode="dry_run")
    dry = await service.backtest_bot(pool, actor, bot.id, later)
    assert dry.recorded >= 1 and dry.missing > 0 and dry.called == 0
    assert dry.estimated_cost_usd > 0 and dry.cost_usd == 0


async def test_record_mode_asks_for_the_missing_replies_within_its_budget(
    db: TestDatabase, pool: Pool, market: Market, stub: StubLLM, llm_bot: tuple[UUID, Bot]
) -> None:
    user, bot = llm_bot
    actor = Actor(claims=user_claims(user))
    stub.answer(openai(HOLD))
    window = {"start": START, "end": START + 10 * HOUR}
    client = client_for(stub)
    try:
        budget = BotBacktestRequest(**window, mode="record", budget_usd=Decimal("0.0008"))
        first = await service.backtest_bot(pool, actor, bot.id, budget, llm=client)
    finally:
        await client.aclose()
    assert first.called >= 1 and first.budget_spent and first.missing >= 1
    assert first.cost_usd <= Decimal("0.0008")
    assert first.called + first.missing == first.decisions
    again = await service.backtest_bot(
        pool, actor, bot.id, BotBacktestRequest(**window, mode="offline")
    )
    assert again.recorded == first.called and again.cost_usd == 0
    with db.owner() as conn:
        kept = conn.execute(
            "SELECT count(*) AS n FROM bot_decisions WHERE source = 'backtest' AND bot_id = %s",
            [bot.id],
        ).fetchone()
    assert kept == {"n": first.called}


# ------------------------------------------------------------------ a worker that dies


async def test_a_claim_whose_worker_died_is_taken_over_and_its_order_placed_once(
    db: TestDatabase, pool: Pool, market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, account = trader(db)
    dca = {"strategy": "dca", "config": {"timeframe": "1h", "parameters": {"every": 1}}}
    bot = await make_bot(pool, user, **rule_fields(account, **dca))
    await market.at(START + timedelta(seconds=1))
    await start(pool, user, bot.id)
    await market.at(START + HOUR + timedelta(seconds=1))

    async def dies(*_: Any) -> None:  # the worker is gone once its order is decided
        return None

    first = BotRunner(pool=pool, identity="first")
    monkeypatch.setattr(first, "_place_all", dies)
    await first.round()
    (row,) = journal(db, bot.id)
    assert row["status"] == "decided" and row["order_request"] and trades(db, bot.id) == []
    with db.owner() as conn:  # its lease runs out
        conn.execute("UPDATE bot_decisions SET lease_until = now() - interval '1 second'")
    second = BotRunner(pool=pool, identity="second")
    assert (await second.round()).traded == 1
    (row,) = journal(db, bot.id)
    (trade,) = trades(db, bot.id)
    assert (row["status"], row["worker"], row["attempts"]) == ("traded", "second", 2)
    assert row["order_id"] == trade["id"]
    # a worker that died after placing it, before recording it: the next one replays it
    with db.owner() as conn:
        conn.execute(
            "UPDATE bot_decisions SET status = 'decided', order_id = NULL, completed_at = NULL,"
            " lease_until = now() - interval '1 second'"
        )
    third = BotRunner(pool=pool, identity="third")
    assert (await third.round()).traded == 1
    (row,) = journal(db, bot.id)
    assert row["order_id"] == trade["id"] and len(trades(db, bot.id)) == 1
