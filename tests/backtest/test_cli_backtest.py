"""`cryptotrader backtest` as a user runs it: a subprocess against a real database."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cryptotrader.market.candle_import import import_candles_csv
from tests.support import TestDatabase, create_user, run_cli

REPO = Path(__file__).parents[2]
DATA_CSV = REPO / "data" / "ohlcv" / "BTC-USDT_1h.csv"
FIXTURES = REPO / "tests" / "fixtures" / "ohlcv"
BASE = [
    "backtest", "--symbol", "BTC", "--timeframe", "1h", "--strategy", "sma_crossover",
    "--from", "2021-01-01", "--to", "2021-06-30",
]  # fmt: skip
ISSUE = [*BASE[:7], "--param", "fast=10", "--param", "slow=30", *BASE[7:]]
SWEEP = ["--sweep", "fast=5:50:5", "slow=20:200:10"]


@pytest.fixture
def candles(db: TestDatabase) -> None:
    import_candles_csv(db.app_conninfo, FIXTURES / "BTC-USDT_1h.csv.gz", "BTC", "1h")


def run_json(args: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    out = run_cli([*args, "--json"], env, cwd)
    assert out.returncode == 0, out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)  # exactly one document, nothing else
    return doc


def test_the_issues_command_prints_a_summary(
    cli_env: dict[str, str], tmp_path: Path, candles: None
) -> None:
    out = run_cli(ISSUE, cli_env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "sma_crossover BTC 1h, 2021-01-01T00:00:00Z to 2021-06-30T23:00:00Z" in out.stdout
    for line in ("final capital", "sharpe ratio", "max drawdown", "win rate", "fast=10, slow=30"):
        assert line in out.stdout
    assert "Traceback" not in out.stderr


def test_json_has_the_stats_and_every_trade(
    cli_env: dict[str, str], tmp_path: Path, candles: None
) -> None:
    doc = run_json(ISSUE, cli_env, tmp_path)
    assert doc["strategy"] == "sma_crossover" and doc["parameters"] == {"fast": 10, "slow": 30}
    assert (doc["symbol"], doc["timeframe"], doc["source"]) == ("BTC", "1h", "database")
    # a date as --to includes that day
    assert (doc["from"], doc["to"]) == ("2021-01-01T00:00:00Z", "2021-07-01T00:00:00Z")
    assert doc["bars"] == 4337 and doc["last_bar"] == "2021-06-30T23:00:00Z"
    assert doc["initial_capital"] == "10000" and isinstance(doc["final_capital"], str)
    stats = doc["stats"]
    assert set(stats) >= {"total_return", "sharpe_ratio", "max_drawdown", "profit_factor"}
    trades = doc["trades"]
    assert stats["total_trades"] == len(trades) > 10  # a position open at the end included
    assert stats["open_trades"] == sum(t["is_open"] for t in trades) <= 1
    assert all(t["is_open"] is not t["closed"] for t in trades)
    for t in trades:
        assert set(t) >= {
            "entry_time", "exit_time", "entry_price", "exit_price", "quantity",
            "entry_fee", "exit_fee", "pnl", "return_pct", "exit_reason",
        }  # fmt: skip
        assert t["entry_time"] <= t["exit_time"]
        gross = (Decimal(t["exit_price"]) - Decimal(t["entry_price"])) * Decimal(t["quantity"])
        net = gross - Decimal(t["entry_fee"]) - Decimal(t["exit_fee"])
        assert abs(Decimal(t["pnl"]) - net) <= Decimal("1e-8")  # PnL is kept to 8 places
    pnl = sum(Decimal(t["pnl"]) for t in trades)
    assert Decimal(doc["final_capital"]) - Decimal(doc["initial_capital"]) == pytest.approx(pnl)

    # the same bars from the CSV file give the same result, without a database
    offline = {**cli_env, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nowhere"}
    from_csv = run_json([*ISSUE, "--csv", str(DATA_CSV)], offline, tmp_path)
    assert from_csv["source"] == "csv"
    assert {k: v for k, v in from_csv.items() if k != "source"} == {
        k: v for k, v in doc.items() if k != "source"
    }


def test_buy_and_hold_reports_its_open_position_as_a_trade(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    offline = {**cli_env, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nowhere"}
    held = [*BASE[:6], "buy_and_hold", *BASE[7:], "--csv", str(DATA_CSV)]
    out = run_cli(held, offline, tmp_path)
    assert out.returncode == 0, out.stderr
    # BTC rose from 29,000 to 35,000 in H1 2021: one trade, won, still open at the end
    [line] = [row for row in out.stdout.splitlines() if "trades (won / lost)" in row]
    assert "1 (1 / 0), 1 open" in line, line
    doc = run_json(held, offline, tmp_path)
    [trade] = doc["trades"]
    assert (trade["is_open"], trade["exit_reason"], trade["exit_time"]) == (
        True,
        "end",
        doc["last_bar"],
    )
    assert doc["stats"]["total_trades"] == doc["stats"]["open_trades"] == 1
    assert Decimal(trade["pnl"]) == Decimal(doc["final_capital"]) - Decimal(doc["initial_capital"])


def test_a_sweep_ranks_every_valid_combination(
    cli_env: dict[str, str], tmp_path: Path, candles: None
) -> None:
    doc = run_json([*ISSUE, *SWEEP], cli_env, tmp_path)
    sweep, results = doc["sweep"], doc["results"]
    assert sweep == {
        "ranges": {"fast": list(range(5, 51, 5)), "slow": list(range(20, 201, 10))},
        "combinations": 174,  # 10 x 19, minus the 16 with fast >= slow
        "skipped": 16,
        "rank_by": "sharpe_ratio",
    }
    assert [r["rank"] for r in results] == list(range(1, 175))
    assert all(r["parameters"]["fast"] < r["parameters"]["slow"] for r in results)
    sharpe = [r["stats"]["sharpe_ratio"] for r in results]
    defined = [s for s in sharpe if s is not None]
    assert defined == sorted(defined, reverse=True) and sharpe[: len(defined)] == defined
    best = results[0]
    assert doc["parameters"] == best["parameters"]
    assert doc["final_capital"] == best["final_capital"] and doc["stats"] == best["stats"]
    assert doc["trades"]

    # one --sweep per range works too, and the table shows the top ones
    out = run_cli(
        [*ISSUE, "--sweep", "fast=5:20:5", "--sweep", "slow=30:60:10", "--top", "3"],
        cli_env,
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "top 3 of 16 combinations" in out.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--strategy", "martingale"], "Unknown strategy 'martingale'"),
        (["--param", "fast=ten"], "sma_crossover: fast: Input should be a valid integer"),
        (["--param", "fast=40"], "fast (40) must be below slow (30)"),
        (["--param", "speed=1"], "speed: Extra inputs are not permitted"),
        (["--from", "2030-01-01", "--to", "2030-02-01"], "no BTC 1h candles from 2030-01-01"),
        (["--sweep", "fast=50:5:5"], "stop is below start"),
        (["--sweep", "fast=40:50:5"], "no valid combination"),
        (["--capital", "-5"], "initial_capital: Input should be greater than 0"),
        (["--rank-by", "luck"], "cannot rank by 'luck'"),
        (["--user", "nobody@example.test"], "no user with email nobody@example.test"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    cli_env: dict[str, str], tmp_path: Path, candles: None, extra: list[str], message: str
) -> None:
    out = run_cli([*BASE, *extra], cli_env, tmp_path)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert message in lines[0]
    assert out.stdout == ""


def test_bad_files_and_arguments_exit_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,o,h,l,c,v\n1,2,3,4,5,6\n")
    broken = tmp_path / "broken.csv"
    broken.write_text("timestamp,open,high,low,close,volume\n2021-01-01T00:00:00Z,1,0.5,1,1,1\n")
    cases = [
        (["--csv", str(bad)], "bad.csv: line 1: the header must be"),
        (["--csv", str(broken)], "broken.csv: "),
        (["--csv", str(tmp_path / "missing.csv")], "missing.csv"),
    ]
    for extra, message in cases:
        out = run_cli(["backtest", *extra], cli_env, tmp_path)
        assert out.returncode == 2, (extra, out.stderr)
        assert out.stderr.startswith("error: ") and message in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    stray = run_cli(["backtest", "--symbol", "BTC", "slow=20:30:5"], cli_env, tmp_path)
    assert stray.returncode == 2 and "unexpected argument" in stray.stderr
    assert "Traceback" not in stray.stderr


def test_a_run_can_be_recorded_for_a_user(
    cli_env: dict[str, str], tmp_path: Path, db: TestDatabase, candles: None
) -> None:
    with db.owner() as conn:
        alice = create_user(conn, email="alice@example.test")
    doc = run_json(
        [*ISSUE, "--sweep", "fast=5,10", "slow=30,40", "--user", "alice@example.test"],
        cli_env,
        tmp_path,
    )
    sid = uuid.UUID(doc["session_id"])
    with db.as_user(alice) as conn:  # visible to alice, through RLS
        session = conn.execute(
            "SELECT status, symbol, final_capital, results_data, backtest_config"
            " FROM backtest_sessions WHERE id = %s",
            [sid],
        ).fetchone()
        ranks = conn.execute(
            "SELECT rank FROM backtest_results WHERE session_id = %s ORDER BY rank", [sid]
        ).fetchall()
    assert session is not None and session["status"] == "completed"
    assert str(session["final_capital"]) == doc["final_capital"]
    assert session["results_data"]["parameters"] == doc["parameters"]
    assert session["backtest_config"]["sweep"] == {"fast": [5, 10], "slow": [30, 40]}
    assert [r["rank"] for r in ranks] == [1, 2, 3, 4]

    listed = run_cli(["backtest", "list", "--user", "alice@example.test"], cli_env, tmp_path)
    assert listed.returncode == 0 and str(sid) in listed.stdout and "completed" in listed.stdout
    shown = run_cli(["backtest", "show", str(sid)], cli_env, tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "completed" in shown.stdout and "top 4 of 4 combinations" in shown.stdout
    as_json = json.loads(
        run_cli(["backtest", "show", str(sid), "--json"], cli_env, tmp_path).stdout
    )
    assert as_json["status"] == "completed" and len(as_json["results"]) == 4
    done = run_cli(["backtest", "cancel", str(sid)], cli_env, tmp_path)
    assert done.returncode == 0 and "already finished" in done.stdout
    missing = run_cli(["backtest", "show", str(uuid.uuid4())], cli_env, tmp_path)
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_the_demo_seed_brings_candles_to_backtest(
    cli_env: dict[str, str], tmp_path: Path, db: TestDatabase
) -> None:
    for written in ("5,482 written", "0 written"):  # the second seed changes nothing
        seeded = run_cli(["db", "seed"], cli_env, tmp_path)
        assert seeded.returncode == 0, seeded.stderr
        assert f"demo candles BTC 1h: 5,482 bars, {written}" in seeded.stdout
        assert f"demo candles ETH 1h: 5,482 bars, {written}" in seeded.stdout
    doc = run_json(
        ["backtest", "--symbol", "ETH", "--strategy", "ema_crossover", "--from", "2021-03-01"],
        cli_env,
        tmp_path,
    )
    assert doc["from"] == "2021-03-01T00:00:00Z" and doc["to"] == "2021-07-17T21:00:00Z"
    assert doc["bars"] > 3000 and doc["stats"]["total_trades"] > 0
