"""Every command that changes data leaves the same audit_logs rows as the API: the CLI acts
as the system on behalf of its operator (a subprocess against a real database)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from cryptotrader.market.candle_import import import_candles_csv
from tests.support import TestDatabase, create_account, create_user, run_cli

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ohlcv"
RUN = [
    "backtest", "--symbol", "BTC", "--timeframe", "1h", "--strategy", "sma_crossover",
    "--from", "2021-01-01", "--to", "2021-01-31", "--user", "alice@example.test",
]  # fmt: skip


def audit_rows(db: TestDatabase, resource_id: object) -> list[dict[str, Any]]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT user_id, action, resource_type, details FROM audit_logs"
            " WHERE resource_id = %s ORDER BY timestamp, id",
            [str(resource_id)],
        ).fetchall()


def test_db_restore_is_audited_in_the_restored_database(
    cli_env: dict[str, str], db: TestDatabase, tmp_path: Path
) -> None:
    dump = tmp_path / "before.dump"
    assert run_cli(["db", "backup", str(dump)], cli_env, tmp_path).returncode == 0
    for _ in range(2):  # the first restore's row is replaced by the dump's contents
        restored = run_cli(["db", "restore", str(dump), "--yes"], cli_env, tmp_path)
        assert restored.returncode == 0, restored.stderr
    assert audit_rows(db, db.name) == [
        {
            "user_id": None,
            "action": "db.restore",
            "resource_type": "database",
            "details": {"file": "before.dump"},
        }
    ]


def test_backtest_run_and_cancel_are_audited(
    cli_env: dict[str, str], db: TestDatabase, tmp_path: Path
) -> None:
    import_candles_csv(db.app_conninfo, FIXTURES / "BTC-USDT_1h.csv.gz", "BTC", "1h")
    with db.owner() as conn:
        alice = create_user(conn, email="alice@example.test")
    queued = run_cli([*RUN, "--queue"], cli_env, tmp_path)
    assert queued.returncode == 0, queued.stderr
    sid = uuid.UUID(queued.stdout.split("backtest session ")[1].split()[0])
    for expected in ("cancelled", "had already finished"):  # the second one changes nothing
        out = run_cli(["backtest", "cancel", str(sid)], cli_env, tmp_path)
        assert out.returncode == 0 and expected in out.stdout, (out.stdout, out.stderr)
    ran = run_cli([*RUN, "--json"], cli_env, tmp_path)
    assert ran.returncode == 0, ran.stderr
    run_sid = ran.stdout.split('"session_id": "')[1].split('"')[0]

    created = {"symbol": "BTC", "timeframe": "1h", "sweep": False}
    assert audit_rows(db, sid) == [
        {
            "user_id": alice,
            "action": "backtest.create",
            "resource_type": "backtest_session",
            "details": created,
        },
        {
            "user_id": alice,
            "action": "backtest.cancel",
            "resource_type": "backtest_session",
            "details": {},
        },
    ]
    assert [r["action"] for r in audit_rows(db, run_sid)] == ["backtest.create"]


def test_account_commands_are_audited(
    cli_env: dict[str, str], db: TestDatabase, tmp_path: Path
) -> None:
    with db.owner() as conn:
        owner = create_user(conn, email="owner@example.test")
        account = create_account(conn, owner, account_name="Ops Desk")
    listed = run_cli(["accounts", "list", "--user", "owner@example.test"], cli_env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert str(account) in listed.stdout and "Ops Desk" in listed.stdout
    for args, said in (
        (["pause"], "paused"),
        (["resume"], "is active again"),
        (["reset", "--reason", "operator reset", "--yes"], "the history is kept"),
        (["archive", "--yes"], "archived"),
    ):
        out = run_cli(["accounts", args[0], str(account), *args[1:]], cli_env, tmp_path)
        assert out.returncode == 0, out.stderr
        assert said in out.stdout
    missing = run_cli(["accounts", "pause", str(uuid.uuid4())], cli_env, tmp_path)
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")
    assert "not found" in missing.stderr and "Traceback" not in missing.stderr

    rows = audit_rows(db, account)
    assert [(r["user_id"], r["action"], r["resource_type"]) for r in rows] == [
        (None, "account.paused", "account"),
        (None, "account.active", "account"),
        (None, "account.reset", "account"),
        (None, "account.archived", "account"),
    ]
    assert rows[2]["details"] == {"epoch": 1}
    with db.owner() as conn:
        reset = conn.execute(
            "SELECT reason FROM paper_account_audit WHERE account_id = %s"
            " AND action = 'account_reset'",
            [account],
        ).fetchone()
    assert reset == {"reason": "operator reset"}  # the history is kept, with the reason


def test_market_import_is_audited_once_per_import(
    cli_env: dict[str, str], db: TestDatabase, tmp_path: Path
) -> None:
    csv = tmp_path / "eth.csv"
    csv.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,2300,2310,2290,2305,12.5\n"
        "2024-01-01T01:00:00Z,2305,2320,2300,2315,9\n"
        "2024-01-01T02:00:00Z,2315,2300,2310,2312,1\n"  # high below low: bad
    )
    refused = run_cli(["market", "import", str(csv), "--symbol", "ETH", "--timeframe", "1h"],
                      cli_env, tmp_path)  # fmt: skip
    assert refused.returncode == 1
    assert audit_rows(db, "ETH/1h") == []  # nothing written, nothing recorded
    done = run_cli(
        ["market", "import", str(csv), "--symbol", "ETH", "--timeframe", "1h", "--skip-bad"],
        cli_env,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert audit_rows(db, "ETH/1h") == [
        {
            "user_id": None,
            "action": "market.import",
            "resource_type": "candles",
            "details": {
                "file": "eth.csv",
                "source": "import",
                "rows_written": 2,
                "rows_skipped": 1,
            },
        }
    ]
