"""Bots end to end: a rule bot and an LLM bot (against a stub of OpenAI's wire format) trade
on the simulated feed's live bars, with the real feed; and three `cryptotrader worker`
processes decide every bot exactly once on every bar."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.audit.schemas import Actor
from cryptotrader.bots import service
from cryptotrader.bots.runner import BotRunner
from cryptotrader.bots.schemas import AIStrategyCreate, BotCreate
from cryptotrader.config import Settings
from cryptotrader.db.session import Conn, as_user, service_connection, user_claims
from cryptotrader.market import cache
from cryptotrader.market.feed import MarketFeed
from cryptotrader.market.providers import simulated_from_cache
from tests.bots.test_llm import Canned, StubLLM, client_for, with_content
from tests.bots.test_llm import stub as stub  # the fixture
from tests.bots.test_runner import trader
from tests.support import TestDatabase

pytestmark = pytest.mark.anyio
Pool = AsyncConnectionPool[Conn]
BUY = json.dumps(
    {
        "action": "buy",
        "symbol": "ETH",
        "size": 0.2,
        "order_type": "market",
        "limit_price": None,
        "stop_loss": None,
        "take_profit": None,
        "confidence": 0.6,
        "reasoning": "ETH above its 20-bar SMA",
    }
)


async def test_a_rule_bot_and_an_llm_bot_trade_on_the_simulated_feed(
    db: TestDatabase, pool: Pool, stub: StubLLM
) -> None:
    user, account = trader(db)
    actor = Actor(claims=user_claims(user))
    async with as_user(pool, user_claims(user)) as conn:
        strategy = await service.create_ai_strategy(
            conn,
            actor,
            AIStrategyCreate(name="Momentum", prompt="Trade {symbols}.", indicators=["sma_20"]),
        )
        dca = await service.create_bot(
            conn,
            actor,
            BotCreate.model_validate(
                {
                    "name": "DCA",
                    "account_id": account,
                    "strategy": "dca",
                    "target_symbols": ["BTC"],
                    "max_position_size": "100000",
                    "config": {"timeframe": "1m", "parameters": {"every": 1, "fraction": 0.1}},
                }
            ),
        )
        llm = await service.create_bot(
            conn,
            actor,
            BotCreate.model_validate(
                {
                    "name": "LLM",
                    "account_id": account,
                    "strategy": "llm",
                    "strategy_id": strategy.id,
                    "target_symbols": ["BTC", "ETH"],
                    "max_position_size": "100000",
                    "config": {"timeframe": "1m"},
                }
            ),
        )
    stub.answer(Canned(body=with_content("response_openai_gpt-4o-mini", BUY)))
    client = client_for(stub)
    settings = Settings(market_provider="simulated", market_seed=7)
    async with service_connection(db.app_conninfo) as conn:
        simulated = await simulated_from_cache(settings, conn)
        simulated.step_seconds = 20.0  # three quotes a minute, fast-forwarded
        feed = MarketFeed(conninfo=db.app_conninfo, provider=simulated, live_bars=True)
        await conn.execute(
            cache.Q["feed_status_claim"], {"leader": feed.identity, "provider": "simulated"}
        )
        await feed.refresh(conn)
        async with as_user(pool, user_claims(user)) as user_conn:
            for bot in (dca, llm):
                await service.start_bot(user_conn, actor, bot.id)
        runner = BotRunner(pool=pool, llm=client)
        try:
            for _ in range(12):  # four simulated minutes
                await feed.refresh(conn)
                await runner.round()
        finally:
            await client.aclose()
    with db.owner() as conn:
        trades = conn.execute(
            "SELECT bot_id, symbol, side, reasoning, trade_category FROM paper_trades"
            " WHERE bot_id IS NOT NULL ORDER BY created_at"
        ).fetchall()
        rows = conn.execute(
            "SELECT bot_id, status, bar_time, order_id, cost_usd, tokens_in, abstain_code,"
            " abstain_reason FROM bot_decisions"
        ).fetchall()
        bars = conn.execute(
            "SELECT count(*) AS n FROM market_candles WHERE source = 'feed' AND timeframe = '1m'"
        ).fetchone()
    assert bars is not None and bars["n"] >= 3 * 2  # the feed's own live bars
    by_bot = {b.id: [t for t in trades if t["bot_id"] == b.id] for b in (dca, llm)}
    assert len(by_bot[dca.id]) >= 3 and {t["symbol"] for t in by_bot[dca.id]} == {"BTC"}
    assert len(by_bot[llm.id]) >= 3 and {t["symbol"] for t in by_bot[llm.id]} == {"ETH"}
    assert all(t["trade_category"] == "bot" and t["reasoning"] for t in trades)
    assert by_bot[llm.id][0]["reasoning"] == "ETH above its 20-bar SMA"
    # the journal is complete: one row per bot and bar, each with its order
    assert len({(r["bot_id"], r["bar_time"]) for r in rows}) == len(rows)
    assert {r["status"] for r in rows} == {"traded"}, [
        (r["status"], r["abstain_code"], r["abstain_reason"]) for r in rows
    ]
    assert sum(1 for r in rows if r["order_id"]) == len(trades)
    llm_rows = [r for r in rows if r["bot_id"] == llm.id]
    async with as_user(pool, user_claims(user)) as conn:
        costs = await service.bot_costs(conn, llm.id)
    assert costs.calls == len(llm_rows) and costs.cost_usd == sum(r["cost_usd"] for r in llm_rows)
    assert costs.cost_usd > 0 and costs.tokens_in == 118 * len(llm_rows)


# ------------------------------------------------------------------ three processes

BARS = 5
BOTS = 20
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def set_market(db: TestDatabase, at: datetime) -> None:
    """The market's clock, as a feed would record it (the bots' runner follows it)."""
    with db.owner() as conn:
        conn.execute(
            "INSERT INTO market_feed_status (feed, leader, provider, market_time, last_success_at)"
            " VALUES ('market', 'test', 'test', %s, now())"
            " ON CONFLICT (feed) DO UPDATE SET market_time = EXCLUDED.market_time,"
            "   last_success_at = now()",
            [at],
        )
        conn.execute(
            "UPDATE market_data_cache SET last_updated = now() + interval '1 hour'"
            " WHERE symbol = 'BTC'"
        )


def decided(db: TestDatabase, bar: datetime) -> int:
    with db.owner() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM bot_decisions WHERE bar_time = %s"
            " AND status NOT IN ('claimed', 'decided')",
            [bar],
        ).fetchone()
    assert row is not None
    return int(row["n"])


def test_three_worker_processes_decide_every_bot_once_per_bar(
    db: TestDatabase, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    user, account = trader(db)
    with db.owner() as conn:
        price = conn.execute(
            "SELECT price_usd FROM market_data_cache WHERE symbol = 'BTC'"
        ).fetchone()
        assert price is not None
        for k in range(BARS + 1):
            conn.execute(
                "INSERT INTO market_candles (symbol, timeframe, open_time, open, high, low, close,"
                " volume, source) VALUES ('BTC', '1m', %s, %s, %s, %s, %s, 1, 'feed')",
                [T0 + timedelta(minutes=k), *[price["price_usd"]] * 4],
            )
        config = json.dumps({"timeframe": "1m", "parameters": {"every": 2, "fraction": 0.01}})
        for i in range(BOTS):
            conn.execute(
                "INSERT INTO ai_trading_bots (user_id, name, strategy, ai_model, target_symbols,"
                " config, account_id, status, started_at, max_position_size)"
                " VALUES (%s, %s, 'dca', 'rule', '{BTC}', %s, %s, 'active', %s, 1000000)",
                [user, f"bot {i}", config, account, T0],
            )
    set_market(db, T0 + timedelta(seconds=30))
    env = {**cli_env, "CRYPTOTRADER_LOG_LEVEL": "WARNING", "CRYPTOTRADER_BOT_POLL": "0.1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "cryptotrader", "worker", "--only", "bots"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for k in range(1, BARS + 1):
            set_market(db, T0 + timedelta(minutes=k, seconds=1))
            deadline = time.monotonic() + 60
            while decided(db, T0 + timedelta(minutes=k - 1)) < BOTS:
                for p in procs:
                    assert p.poll() is None, p.communicate()[1]
                assert time.monotonic() < deadline, f"bar {k} was not decided"
                time.sleep(0.05)
            time.sleep(0.3)  # room for a second claim, were there one
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            _, stderr = p.communicate(timeout=20)
            assert p.returncode == 0, stderr
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
    with db.owner() as conn:
        rows = conn.execute(
            "SELECT bot_id, bar_time, count(*) AS n, min(status) AS status"
            " FROM bot_decisions GROUP BY 1, 2"
        ).fetchall()
        trades = conn.execute(
            "SELECT count(*) AS n FROM paper_trades WHERE bot_id IS NOT NULL"
        ).fetchone()
        traded = conn.execute(
            "SELECT count(*) AS n FROM bot_decisions WHERE status = 'traded'"
        ).fetchone()
    assert len(rows) == BOTS * BARS and {r["n"] for r in rows} == {1}
    assert trades == traded and trades is not None and trades["n"] > 0  # every other bar
