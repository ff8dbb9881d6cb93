"""``cryptotrader bots`` as a user runs it: a subprocess against a real database. The
commands act as the owner ``--user`` names (row level security applies), and their
changes leave the owner's audit rows; ``prices set`` acts as the system."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from tests.support import TestDatabase, create_user, default_account, run_cli

ANN = "ann@example.test"
BOB = "bob@example.test"


@dataclass(frozen=True)
class Bots:
    """``cryptotrader bots ARGS`` in the test's environment."""

    env: dict[str, str]
    cwd: Path

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(["bots", *args], self.env, self.cwd)

    def ok(self, *args: str) -> str:
        out = self(*args)
        assert out.returncode == 0, (out.stdout, out.stderr)
        return out.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def refused(self, expected: str, *args: str) -> None:
        """One ``error:`` line that says ``expected``, exit code 2, no traceback."""
        out = self(*args)
        assert out.returncode == 2, (out.stdout, out.stderr)
        assert out.stderr.startswith("error: ") and expected in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and out.stdout == ""


@pytest.fixture
def bots(cli_env: dict[str, str], tmp_path: Path) -> Bots:
    return Bots(cli_env, tmp_path)


@pytest.fixture
def account(db: TestDatabase) -> UUID:
    """Ann's default account (Bob exists too, with his own)."""
    with db.owner() as conn:
        ann = create_user(conn, email=ANN)
        create_user(conn, email=BOB)
        return default_account(conn, ann)


def audit_rows(db: TestDatabase, resource_id: object) -> list[dict[str, Any]]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT p.email, a.action, a.resource_type, a.details FROM audit_logs a"
            " LEFT JOIN profiles p ON p.id = a.user_id"
            " WHERE a.resource_id = %s ORDER BY a.timestamp, a.id",
            [str(resource_id)],
        ).fetchall()


def count(db: TestDatabase, table: str) -> int:
    with db.owner() as conn:
        row = conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()  # type: ignore[arg-type]
    assert row is not None
    return int(row["n"])


def rule_bot(account: UUID, *more: str) -> list[str]:
    return [
        "create", "--user", ANN, "--name", "BTC trend", "--account", str(account),
        "--strategy", "sma_crossover", "--symbol", "btc", "--param", "fast=5",
        "--param", "slow=20", *more,
    ]  # fmt: skip


def test_a_rule_bot_is_created_listed_shown_and_run_through_its_lifecycle(
    bots: Bots, db: TestDatabase, account: UUID
) -> None:
    made = bots.ok(*rule_bot(account, "--symbol", "ETH", "--timeframe", "4h", "--cap", "5000"))
    found = re.search(r"created bot (\S+) \(BTC trend\), paused", made)
    assert found is not None, made
    bot_id = UUID(found[1])

    listed = bots.ok("list", "--user", ANN)
    for cell in (str(bot_id), "BTC trend", "sma_crossover", "BTC, ETH", "4h", "paused"):
        assert cell in listed, listed
    [doc] = bots.json("list", "--user", ANN)
    assert doc["id"] == str(bot_id) and doc["ai_model"] == "rule"
    assert doc["config"]["parameters"] == {"fast": 5, "slow": 20}
    assert Decimal(doc["paper_balance"]) == 5000 and Decimal(doc["max_position_size"]) == 1000

    for step, status in (("start", "active"), ("pause", "paused"), ("start", "active")):
        assert f"(BTC trend) is {status}" in bots.ok(step, str(bot_id), "--user", ANN)
    assert "no bots" in bots.ok("list", "--user", ANN, "--status", "paused")
    assert "is stopped" in bots.ok("stop", str(bot_id), "--user", ANN)
    bots.refused("a stopped bot cannot be made active", "start", str(bot_id), "--user", ANN)
    assert str(bot_id) in bots.ok("list", "--user", ANN, "--status", "stopped")

    shown = bots.ok("show", str(bot_id), "--user", ANN)
    for text in ("BTC trend", "stopped", "fast=5, slow=20", "5,000.00", "none yet", "Brier"):
        assert text in shown, shown
    # another user's bot is not found, exactly like a missing one
    bots.refused("Bot not found", "show", str(bot_id), "--user", BOB)
    bots.refused("Bot not found", "delete", str(bot_id), "--user", BOB, "--yes")
    bots.refused("no user with email", "list", "--user", "nobody@example.test")

    assert "deleted" in bots.ok("delete", str(bot_id), "--user", ANN, "--yes")
    assert "ann@example.test has no bots" in bots.ok("list", "--user", ANN)
    rows = audit_rows(db, bot_id)
    assert [(r["email"], r["action"]) for r in rows] == [
        (ANN, "bot.create"),
        (ANN, "bot.start"),
        (ANN, "bot.pause"),
        (ANN, "bot.start"),
        (ANN, "bot.stop"),
        (ANN, "bot.delete"),
    ]
    assert rows[0]["details"] == {
        "name": "BTC trend",
        "strategy": "sma_crossover",
        "account_id": str(account),
    }
    assert rows[1]["details"] == {"from": "paused", "to": "active"}


def test_an_llm_bot_runs_an_ai_strategy_made_with_the_cli(
    bots: Bots, db: TestDatabase, account: UUID, tmp_path: Path
) -> None:
    prompt = tmp_path / "momentum.txt"
    prompt.write_text("You trade {symbols} on {timeframe} bars. Buy strength.\n{context}\n")
    made = bots.ok(
        "strategies", "create", "--user", ANN, "--name", "Momentum", "--prompt-file",
        str(prompt), "--indicator", "rsi_14", "--indicator", "macd", "--temperature", "0.1",
    )  # fmt: skip
    found = re.search(r"created AI strategy (\S+) \(Momentum\), asking gpt-4o-mini", made)
    assert found is not None, made
    strategy_id = found[1]
    listed = bots.ok("strategies", "list", "--user", ANN)
    assert "Momentum" in listed and "rsi_14, macd" in listed and "temperature=0.1" in listed
    [doc] = bots.json("strategies", "list", "--user", ANN)
    assert doc["prompt"] == prompt.read_text().strip() and doc["parameters"]["temperature"] == 0.1
    assert bots.json("strategies", "list", "--user", BOB) == []  # Ann's alone

    bot = bots.json(
        "create", "--user", ANN, "--name", "LLM momentum", "--account", str(account),
        "--strategy", "llm", "--ai-strategy", strategy_id, "--model", "deepseek-r1:8b",
        "--symbol", "BTC", "--symbol", "ETH", "--timeframe", "1h", "--daily-budget", "1.50",
    )  # fmt: skip
    assert bot["strategy"] == "llm" and bot["strategy_id"] == strategy_id
    assert bot["ai_model"] == "deepseek-r1:8b" and bot["target_symbols"] == ["BTC", "ETH"]
    assert Decimal(bot["daily_budget_usd"]) == Decimal("1.50") and bot["status"] == "paused"
    listed = bots.ok("list", "--user", ANN)
    assert "LLM momentum" in listed and "deepseek-r1:8b" in listed
    shown = bots.ok("show", bot["id"], "--user", ANN)
    assert f"(AI strategy {strategy_id})" in shown and "1.5000 budget" in shown

    # a bot that runs it keeps it; stopped, it no longer does
    in_use = ("strategies", "delete", strategy_id, "--user", ANN, "--yes")
    bots.refused("stop or delete them first", *in_use)
    bots.ok("stop", bot["id"], "--user", ANN)
    assert "deleted" in bots.ok(*in_use)
    assert bots.json("strategies", "list", "--user", ANN) == []
    assert "its AI strategy was deleted" in bots.ok("show", bot["id"], "--user", ANN)
    rows = audit_rows(db, strategy_id)
    assert [(r["email"], r["action"]) for r in rows] == [
        (ANN, "ai_strategy.create"),
        (ANN, "ai_strategy.delete"),
    ]
    assert rows[0]["details"] == {"name": "Momentum", "model": "gpt-4o-mini"}


def journal(db: TestDatabase, user_email: str, bot_id: str) -> None:
    """Three decisions of an llm bot, as the runner writes them (the owner's connection)."""
    rows = [
        ("13:00", "3 hours", "traded", "buy", "BTC", "0.64", None, 1630, 92, "0.0002997",
         "completed"),
        ("14:00", "2 hours", "abstained", None, None, None, "invalid_json", 1500, 10, "0.0002",
         None),
        ("15:00", "1 hour", "held", "hold", None, "0.5", None, 1600, 50, "0.00027", None),
    ]  # fmt: skip
    with db.owner() as conn:
        for bar, ago, status, action, symbol, conf, code, t_in, t_out, cost, order in rows:
            conn.execute(
                "INSERT INTO bot_decisions (user_id, bot_id, kind, timeframe, bar_time, scope,"
                " status, action, symbol, confidence, abstain_code, tokens_in, tokens_out,"
                " cost_usd, order_status, model, created_at)"
                " SELECT p.id, %s, 'llm', '1h', %s, '*', %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " 'gpt-4o-mini', now() - %s::interval FROM profiles p WHERE p.email = %s",
                [bot_id, f"2025-01-15T{bar}:00Z", status, action, symbol, conf, code,
                 t_in, t_out, cost, order, ago, user_email],
            )  # fmt: skip


def test_decisions_show_a_bots_journal(bots: Bots, db: TestDatabase, account: UUID) -> None:
    strategy = re.search(
        r"AI strategy (\S+) ",
        bots.ok("strategies", "create", "--user", ANN, "--name", "S", "--prompt", "Trade."),
    )
    assert strategy is not None
    bot = bots.json(
        "create", "--user", ANN, "--name", "Asker", "--account", str(account),
        "--strategy", "llm", "--ai-strategy", strategy[1], "--symbol", "BTC",
    )  # fmt: skip
    assert "has no decisions yet" in bots.ok("decisions", bot["id"], "--user", ANN)
    journal(db, ANN, bot["id"])

    table = bots.ok("decisions", bot["id"], "--user", ANN)
    for cell in ("2025-01-15 13:00", "* / BTC", "traded", "buy", "0.640", "completed",
                 "abstained", "invalid_json", "1,630 / 92", "0.0003", "held"):  # fmt: skip
        assert cell in table, table
    newest_first = [d["status"] for d in bots.json("decisions", bot["id"], "--user", ANN)]
    assert newest_first == ["held", "abstained", "traded"]
    [abstained] = bots.json("decisions", bot["id"], "--user", ANN, "--status", "abstained")
    assert abstained["abstain_code"] == "invalid_json" and abstained["tokens_in"] == 1500
    [newest] = bots.json("decisions", bot["id"], "--user", ANN, "--limit", "1")
    assert newest["status"] == "held"
    bots.refused("Bot not found", "decisions", bot["id"], "--user", BOB)

    shown = bots.json("show", bot["id"], "--user", ANN)
    costs = shown["costs"]
    assert costs["calls"] == 3 and (costs["tokens_in"], costs["tokens_out"]) == (4730, 152)
    assert Decimal(costs["cost_usd"]) == Decimal("0.0007697")
    assert shown["calibration"]["horizon_bars"] == 1
    assert shown["calibration"]["decisions"] == 0  # no later price is stored
    text = bots.ok("show", bot["id"], "--user", ANN)
    assert "3 (0 replayed from the record)" in text and "4,730 / 152" in text


def test_prices_and_prices_set(bots: Bots, db: TestDatabase) -> None:
    table = bots.ok("prices")
    for cell in ("gpt-4o-mini", "0.15", "0.60", "openai.com/api/pricing, 2025", "deepseek-chat"):
        assert cell in table, table

    said = bots.ok("prices", "set", "qwen3:8b", "--input", "0", "--output", "0",
                   "--source", "local (Ollama)")  # fmt: skip
    assert "qwen3:8b: 0.00 in, 0.00 out" in said
    bots.ok("prices", "set", "gpt-4o-mini", "--input", "0.075", "--output", "0.3")
    prices = {p["model"]: p for p in bots.json("prices")}
    assert prices["qwen3:8b"]["source"] == "local (Ollama)"
    assert Decimal(prices["gpt-4o-mini"]["input_usd_per_mtok"]) == Decimal("0.075")
    assert Decimal(prices["gpt-4o-mini"]["output_usd_per_mtok"]) == Decimal("0.3")
    assert "0.075" in bots.ok("prices")

    bots.refused("input_usd_per_mtok", "prices", "set", "x", "--input", "-1", "--output", "1")
    assert [(r["email"], r["action"], r["resource_type"]) for r in audit_rows(db, "qwen3:8b")] == [
        (None, "model_price.set", "model_price")  # the system's
    ]
    assert audit_rows(db, "x") == []


def test_bad_input_is_one_clear_line_and_writes_nothing(
    bots: Bots, db: TestDatabase, account: UUID
) -> None:
    refusals = [
        ("Unknown strategy 'sma_cross'", [*rule_bot(account), "--strategy", "sma_cross"]),
        ("no prices are tracked for NOPE", rule_bot(account, "--symbol", "nope")),
        ("Expected key=value", rule_bot(account, "--param", "fast")),
        ("fast", rule_bot(account, "--param", "fast=50")),  # fast must be below slow
        ("needs strategy_id", [*rule_bot(account)[:-4], "--strategy", "llm"]),
        ("a rule bot has no strategy_id or ai_model", rule_bot(account, "--model", "gpt-4o")),
        ("paper_balance", rule_bot(account, "--cap", "-5")),
        ("Account not found", rule_bot(UUID(int=1))),
        ("no user with email", ["list", "--user", "nobody@example.test"]),
        ("no provider serves the model 'gpt9'",
         ["strategies", "create", "--user", ANN, "--name", "S", "--prompt", "x",
          "--model", "gpt9"]),
        ("ichimoku",
         ["strategies", "create", "--user", ANN, "--name", "S", "--prompt", "x",
          "--indicator", "ichimoku"]),
        ("temperature",
         ["strategies", "create", "--user", ANN, "--name", "S", "--prompt", "x",
          "--temperature", "5"]),
        ("missing.txt",
         ["strategies", "create", "--user", ANN, "--name", "S", "--prompt-file", "missing.txt"]),
        ("AI strategy not found",
         ["strategies", "delete", str(UUID(int=2)), "--user", ANN, "--yes"]),
    ]  # fmt: skip
    for expected, args in refusals:
        bots.refused(expected, *args)
    neither = bots("strategies", "create", "--user", ANN, "--name", "S")
    assert neither.returncode == 2 and "--prompt-file" in neither.stderr
    assert "Traceback" not in neither.stderr
    assert count(db, "ai_trading_bots") == 0 and count(db, "ai_strategies") == 0


# ------------------------------------------------------------------ backtest

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ohlcv"


def llm_bot(bots: Bots, account: UUID) -> str:
    """Ann's llm bot on BTC 1h, asking gpt-4o-mini (its AI strategy's default)."""
    made = bots.ok("strategies", "create", "--user", ANN, "--name", "S", "--prompt", "Trade.")
    strategy = re.search(r"AI strategy (\S+) ", made)
    assert strategy is not None, made
    bot = bots.json(
        "create", "--user", ANN, "--name", "Asker", "--account", str(account),
        "--strategy", "llm", "--ai-strategy", strategy[1], "--symbol", "BTC",
    )  # fmt: skip
    return str(bot["id"])


def row(text: str, label: str) -> str:
    """The value beside ``label`` in a two-column table."""
    found = re.search(rf"{re.escape(label)}\s*│\s*(.*?)\s*│", text)
    assert found is not None, (label, text)
    return found[1]


def test_an_llm_bot_is_backtested_with_the_record(
    bots: Bots, db: TestDatabase, account: UUID
) -> None:
    from cryptotrader.market.candle_import import import_candles_csv

    import_candles_csv(db.app_conninfo, FIXTURES / "BTC-USDT_1h.csv.gz", "BTC", "1h")
    bot_id = llm_bot(bots, account)
    window = ("backtest", bot_id, "--user", ANN, "--from", "2021-01-04", "--to", "2021-01-05")

    text = bots.ok(*window, "--dry-run")
    assert row(text, "mode").startswith("dry run") and row(text, "model") == "gpt-4o-mini"
    assert row(text, "symbol") == "BTC"
    bars, decisions = int(row(text, "bars")), int(row(text, "decisions"))
    assert decisions == 47 and bars > decisions  # the bars before: the first prompt's
    assert row(text, "replayed from the record") == "0" and row(text, "calls made") == "0"
    assert int(row(text, "missing")) == decisions  # nothing is recorded yet
    assert row(text, "cost USD") == "0.0000"
    assert Decimal(row(text, "est. cost of the missing calls USD")) > 0
    assert row(text, "budget USD") == "none" and "no trades" in text
    assert row(text, "training cutoff").startswith("2023-10-01")
    assert (
        "warning: the window ends before gpt-4o-mini's training cutoff (2023-10-01):"
        " the model may know what happened"
    ) in text
    assert text == bots.ok(*window)  # a dry run is the default

    doc = bots.json(*window, "--offline")
    assert doc["mode"] == "offline" and doc["called"] == 0 and Decimal(doc["cost_usd"]) == 0
    assert Decimal(doc["estimated_cost_usd"]) > 0 and doc["missing"] == doc["decisions"] == 47
    assert doc["before_cutoff"] is True and doc["training_cutoff"] == "2023-10-01"
    assert doc["trades"] == [] and Decimal(doc["final_capital"]) == 10000
    rows = audit_rows(db, bot_id)
    assert [(r["email"], r["action"]) for r in rows][-3:] == [(ANN, "bot.backtest")] * 3
    assert rows[-1]["details"]["mode"] == "offline" and rows[-1]["details"]["called"] == 0

    # Bob does not see Ann's bot; a window without candles has none to replay
    bots.refused("Bot not found", "backtest", bot_id, "--user", BOB, *window[4:])
    bots.refused("ETH is not one of the bot's symbols", *window, "--symbol", "ETH")
    before = ("--from", "2019-01-01", "--to", "2019-01-02")
    bots.refused("no BTC 1h candles from", *window[:4], *before)
    assert count(db, "bot_decisions") == 0  # a dry run and offline record nothing


def test_a_backtest_is_refused_clearly(bots: Bots, account: UUID) -> None:
    bot_id = llm_bot(bots, account)
    window = ("backtest", bot_id, "--user", ANN, "--from", "2021-01-04", "--to", "2021-01-05")
    for args, expected in (
        (["--record"], "--record needs --budget USD"),
        (["--budget", "1"], "--budget goes with --record"),
        (["--offline", "--record", "--budget", "1"], "give one of --dry-run, --offline"),
    ):
        out = bots(*window, *args)
        assert out.returncode == 2 and expected in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and out.stdout == ""
    bots.refused("budget_usd", *window, "--record", "--budget", "-1")
    bots.refused("end must be after start", *window[:5], "2021-01-05", "--to", "2021-01-04T00:00")
    rule = bots.json(*rule_bot(account))
    bots.refused("backtested with /backtests", "backtest", rule["id"], *window[2:])


def test_calibration_and_performance(bots: Bots, db: TestDatabase, account: UUID) -> None:
    bot = bots.json(*rule_bot(account))
    t0 = datetime(2025, 2, 3, 10, tzinfo=UTC)
    closes = [100, 101, 99, 102]
    with db.owner() as conn:
        ann = conn.execute("SELECT id FROM profiles WHERE email = %s", [ANN]).fetchone()
        assert ann is not None
        for k, c in enumerate(closes):
            conn.execute(
                "INSERT INTO market_candles (symbol, timeframe, open_time, open, high, low,"
                " close, volume) VALUES ('BTC', '1h', %s, %s, %s, %s, %s, 1)",
                [t0 + timedelta(hours=k), c, c + 5, c - 5, c],
            )
        for k, action, confidence in ((0, "buy", "0.9"), (1, "sell", "0.7"), (2, "buy", "0.6")):
            conn.execute(
                "INSERT INTO bot_decisions (user_id, bot_id, kind, timeframe, bar_time, scope,"
                " status, action, symbol, confidence, reference_price)"
                " VALUES (%s, %s, 'rule', '1h', %s, 'BTC', 'held', %s, 'BTC', %s, %s)",
                [ann["id"], bot["id"], t0 + timedelta(hours=k), action, confidence, closes[k]],
            )
    # outcomes: buy 100 -> 101 right, sell 101 -> 99 right, buy 99 -> 102 right
    brier = ((0.9 - 1) ** 2 + (0.7 - 1) ** 2 + (0.6 - 1) ** 2) / 3
    report = bots.json("calibration", bot["id"], "--user", ANN, "--buckets", "5")
    assert report["decisions"] == 3 and abs(report["brier_score"] - brier) < 1e-12
    text = bots.ok("calibration", bot["id"], "--user", ANN)
    assert "3 decision(s) scored" in text and f"{brier:.4f}" in text and "reliability" in text
    performance = bots.json("performance", bot["id"], "--user", ANN)
    assert performance["trades"] == 0 and performance["total_pnl"] == "0.00000000"
    assert "total PnL" in bots.ok("performance", bot["id"], "--user", ANN)
    bots.refused("Bot not found", "calibration", bot["id"], "--user", BOB)
