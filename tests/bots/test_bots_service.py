"""Bots and AI strategies on a real database: create, validate, change, the lifecycle and
its trigger, audit rows, and row level security tested in SQL as the `authenticated` role."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.audit.schemas import Actor
from cryptotrader.bots import service
from cryptotrader.bots.calibration import brier_and_reliability, outcome
from cryptotrader.bots.errors import (
    AIStrategyInUse,
    AIStrategyNotFound,
    InvalidBotConfig,
    InvalidBotTransition,
    UnknownIndicator,
    UnknownModel,
)
from cryptotrader.bots.schemas import (
    AIStrategyCreate,
    AIStrategyUpdate,
    BotCreate,
    BotUpdate,
)
from cryptotrader.db.session import Conn, as_user, user_claims
from cryptotrader.errors import BotNotFound, InvalidRequest, UnknownSymbol
from tests.support import TestDatabase, create_user, default_account

pytestmark = pytest.mark.anyio
Pool = AsyncConnectionPool[Conn]


def rule_bot(account: UUID, **changes: Any) -> BotCreate:
    fields: dict[str, Any] = {
        "name": "Trend",
        "account_id": account,
        "strategy": "sma_crossover",
        "target_symbols": ["btc"],
        "config": {"timeframe": "1h", "parameters": {"fast": 5, "slow": 20}},
    }
    return BotCreate.model_validate(fields | changes)


async def as_owner(pool: Pool, user: UUID, fn: Any, *args: Any) -> Any:
    async with as_user(pool, user_claims(user)) as conn:
        return await fn(conn, Actor(claims=user_claims(user)), *args)


async def test_a_rule_bot_is_created_paused_with_its_config_and_audited(
    db: TestDatabase, pool: Pool
) -> None:
    with db.owner() as conn:
        user = create_user(conn)
        account = default_account(conn, user)
    bot = await as_owner(pool, user, service.create_bot, rule_bot(account))
    assert bot.status == "paused" and bot.ai_model == "rule"
    assert bot.target_symbols == ["BTC"]
    assert bot.config["parameters"] == {"fast": 5, "slow": 20}
    assert bot.config["timeframe"] == "1h" and bot.config["lookback"] == 1000
    with db.owner() as conn:
        audit = conn.execute(
            "SELECT action, resource_id FROM audit_logs"
            " WHERE user_id = %s AND action LIKE 'bot.%%'",
            [user],
        ).fetchall()
    assert audit == [{"action": "bot.create", "resource_id": str(bot.id)}]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"strategy": "no_such_strategy"}, InvalidBotConfig),
        ({"config": {"parameters": {"fast": 30, "slow": 5}}}, InvalidBotConfig),
        ({"config": {"parameters": {"nope": 1}}}, InvalidBotConfig),
        ({"target_symbols": ["NOPE"]}, UnknownSymbol),
        ({"strategy": "llm"}, InvalidBotConfig),  # without its AI strategy
        ({"ai_model": "gpt-4o-mini"}, InvalidBotConfig),  # a rule bot asks no model
    ],
)
async def test_a_bad_bot_is_refused_and_nothing_is_written(
    db: TestDatabase, pool: Pool, changes: dict[str, Any], error: type[Exception]
) -> None:
    with db.owner() as conn:
        user = create_user(conn)
        account = default_account(conn, user)
    with pytest.raises(error):
        await as_owner(pool, user, service.create_bot, rule_bot(account, **changes))
    with db.owner() as conn:
        assert conn.execute("SELECT count(*) AS n FROM ai_trading_bots").fetchone() == {"n": 0}


async def test_another_users_account_or_strategy_is_not_found(db: TestDatabase, pool: Pool) -> None:
    with db.owner() as conn:
        alice, bob = create_user(conn), create_user(conn)
        alices_account = default_account(conn, alice)
        bobs_account = default_account(conn, bob)
    strategy = await as_owner(
        pool, alice, service.create_ai_strategy, AIStrategyCreate(name="S", prompt="Trade.")
    )
    with pytest.raises(AccountNotFound):
        await as_owner(pool, bob, service.create_bot, rule_bot(alices_account))
    llm = rule_bot(bobs_account, strategy="llm", strategy_id=strategy.id, config={})
    with pytest.raises(AIStrategyNotFound):
        await as_owner(pool, bob, service.create_bot, llm)


async def test_an_llm_bot_takes_its_strategys_model_unless_told(
    db: TestDatabase, pool: Pool
) -> None:
    with db.owner() as conn:
        user = create_user(conn)
        account = default_account(conn, user)
    strategy = await as_owner(
        pool,
        user,
        service.create_ai_strategy,
        AIStrategyCreate(name="S", prompt="Trade {symbols}.", indicators=["rsi_14", "macd"]),
    )
    assert strategy.model == "gpt-4o-mini"
    llm = {"strategy": "llm", "strategy_id": strategy.id, "config": {"timeframe": "5m"}}
    first = await as_owner(pool, user, service.create_bot, rule_bot(account, **llm))
    assert first.ai_model == "gpt-4o-mini"
    second = await as_owner(
        pool, user, service.create_bot, rule_bot(account, **llm, ai_model="deepseek-r1:8b")
    )
    assert second.ai_model == "deepseek-r1:8b"
    with pytest.raises(UnknownModel):
        await as_owner(pool, user, service.create_bot, rule_bot(account, **llm, ai_model="gpt9"))
    with pytest.raises(AIStrategyInUse):
        await as_owner(pool, user, service.delete_ai_strategy, strategy.id)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"model": "claude-9"}, UnknownModel),
        ({"indicators": ["ichimoku"]}, UnknownIndicator),
    ],
)
async def test_a_bad_ai_strategy_is_refused(
    db: TestDatabase, pool: Pool, fields: dict[str, Any], error: type[Exception]
) -> None:
    with db.owner() as conn:
        user = create_user(conn)
    data = AIStrategyCreate.model_validate({"name": "S", "prompt": "Trade."} | fields)
    with pytest.raises(error):
        await as_owner(pool, user, service.create_ai_strategy, data)
    strategy = await as_owner(
        pool, user, service.create_ai_strategy, AIStrategyCreate(name="S", prompt="Trade.")
    )
    with pytest.raises(error):
        await as_owner(
            pool,
            user,
            service.update_ai_strategy,
            strategy.id,
            AIStrategyUpdate.model_validate(fields),
        )


async def test_the_lifecycle(db: TestDatabase, pool: Pool) -> None:
    with db.owner() as conn:
        user = create_user(conn)
        account = default_account(conn, user)
    bot = await as_owner(pool, user, service.create_bot, rule_bot(account))
    started = await as_owner(pool, user, service.start_bot, bot.id)
    assert started.status == "active"
    paused = await as_owner(pool, user, service.pause_bot, bot.id)
    assert paused.status == "paused"
    again = await as_owner(pool, user, service.pause_bot, bot.id)  # already paused: no change
    assert again.status_changed_at == paused.status_changed_at
    await as_owner(pool, user, service.start_bot, bot.id)
    stopped = await as_owner(pool, user, service.stop_bot, bot.id)
    assert stopped.status == "stopped"
    for step in (service.start_bot, service.pause_bot):
        with pytest.raises(InvalidBotTransition):
            await as_owner(pool, user, step, bot.id)
    with pytest.raises(InvalidBotTransition):
        await as_owner(pool, user, service.update_bot, bot.id, BotUpdate(name="x"))
    with db.owner() as conn:
        actions = conn.execute(
            "SELECT action FROM audit_logs WHERE resource_id = %s ORDER BY timestamp",
            [str(bot.id)],
        ).fetchall()
    assert [a["action"] for a in actions] == [
        "bot.create",
        "bot.start",
        "bot.pause",
        "bot.start",
        "bot.stop",
    ]


async def test_update_validates_and_changes_only_what_is_given(
    db: TestDatabase, pool: Pool
) -> None:
    with db.owner() as conn:
        user = create_user(conn)
        account = default_account(conn, user)
    bot = await as_owner(pool, user, service.create_bot, rule_bot(account))
    changed = await as_owner(
        pool,
        user,
        service.update_bot,
        bot.id,
        BotUpdate(target_symbols=["eth", "BTC"], paper_balance=Decimal("2500")),
    )
    assert changed.target_symbols == ["ETH", "BTC"] and changed.paper_balance == Decimal("2500")
    assert changed.name == bot.name and changed.config == bot.config
    for bad, error in (
        (BotUpdate(), InvalidRequest),
        (BotUpdate(target_symbols=["NOPE"]), UnknownSymbol),
        (BotUpdate.model_validate({"config": {"parameters": {"fast": 50}}}), InvalidBotConfig),
        (BotUpdate(ai_model="gpt-4o-mini"), InvalidBotConfig),
    ):
        with pytest.raises(error):
            await as_owner(pool, user, service.update_bot, bot.id, bad)


def test_rls_in_sql_another_user_sees_and_changes_nothing(db: TestDatabase) -> None:
    with db.owner() as conn:
        alice, bob = create_user(conn), create_user(conn)
        account = default_account(conn, alice)
        bot = conn.execute(
            "INSERT INTO ai_trading_bots (user_id, name, strategy, target_symbols, account_id)"
            " VALUES (%s, 'A', 'sma_crossover', '{BTC}', %s) RETURNING id",
            [alice, account],
        ).fetchone()
        assert bot is not None
        conn.execute(
            "INSERT INTO bot_decisions (user_id, bot_id, kind, timeframe, bar_time, scope)"
            " VALUES (%s, %s, 'rule', '1h', now(), 'BTC')",
            [alice, bot["id"]],
        )
    with db.as_user(bob) as conn:
        assert conn.execute("SELECT count(*) AS n FROM ai_trading_bots").fetchone() == {"n": 0}
        assert conn.execute("SELECT count(*) AS n FROM bot_decisions").fetchone() == {"n": 0}
        gone = conn.execute("UPDATE ai_trading_bots SET name = 'mine' WHERE id = %s", [bot["id"]])
        assert gone.rowcount == 0
        assert conn.execute("DELETE FROM ai_trading_bots WHERE id = %s", [bot["id"]]).rowcount == 0
    with db.as_user(alice) as conn:
        assert conn.execute("SELECT count(*) AS n FROM bot_decisions").fetchone() == {"n": 1}
        # the journal is the runner's: the owner reads it and writes nothing
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE bot_decisions SET status = 'traded'")
    with db.as_user(alice) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        # the runner's columns
        conn.execute("UPDATE ai_trading_bots SET performance = '{}' WHERE id = %s", [bot["id"]])
    with db.as_user(alice) as conn, pytest.raises(psycopg.Error, match="only the runner"):
        conn.execute("UPDATE ai_trading_bots SET status = 'error' WHERE id = %s", [bot["id"]])
    with db.as_user(alice) as conn:
        conn.execute("UPDATE ai_trading_bots SET status = 'stopped' WHERE id = %s", [bot["id"]])
        with pytest.raises(psycopg.Error, match="stays stopped"):
            conn.execute("UPDATE ai_trading_bots SET status = 'active' WHERE id = %s", [bot["id"]])


async def test_a_deleted_bot_is_gone_and_its_trades_stay(db: TestDatabase, pool: Pool) -> None:
    with db.owner() as conn:
        user, other = create_user(conn), create_user(conn)
        account = default_account(conn, user)
    bot = await as_owner(pool, user, service.create_bot, rule_bot(account))
    with pytest.raises(BotNotFound):
        await as_owner(pool, other, service.delete_bot, bot.id)
    await as_owner(pool, user, service.delete_bot, bot.id)
    with pytest.raises(BotNotFound):
        async with as_user(pool, user_claims(user)) as conn:
            await service.get_bot(conn, bot.id)


def test_an_ai_strategys_parameters_are_a_closed_model() -> None:
    for bad in ({"temperature": 5}, {"max_tokens": 1}, {"top_k": 3}):
        with pytest.raises(ValidationError):
            AIStrategyCreate.model_validate({"name": "S", "prompt": "Trade.", "parameters": bad})


def test_calibration_equals_a_hand_computed_fixture() -> None:
    # (confidence, outcome): Brier = mean((c - o)^2)
    pairs = [(0.9, 1), (0.8, 0), (0.65, 1), (0.6, 0), (0.3, 0), (1.0, 1)]
    brier, table = brier_and_reliability(pairs, buckets=5)
    # 0.01 + 0.64 + 0.1225 + 0.36 + 0.09 + 0 = 1.2225; / 6
    assert brier == pytest.approx(1.2225 / 6, abs=1e-12)
    by_lower = {round(b.lower, 1): b for b in table}
    assert [b.count for b in table] == [0, 1, 0, 2, 3]
    assert by_lower[0.2].mean_confidence == pytest.approx(0.3)
    assert by_lower[0.2].hit_rate == 0
    assert by_lower[0.6].mean_confidence == pytest.approx(0.625)
    assert by_lower[0.6].hit_rate == 0.5
    assert by_lower[0.8].mean_confidence == pytest.approx((0.9 + 0.8 + 1.0) / 3)
    assert by_lower[0.8].hit_rate == pytest.approx(2 / 3)
    assert brier_and_reliability([], 10)[0] is None
    assert outcome("buy", Decimal(100), Decimal(101)) == 1
    assert outcome("sell", Decimal(100), Decimal(101)) == 0
    assert outcome("sell", Decimal(100), Decimal(99)) == 1
