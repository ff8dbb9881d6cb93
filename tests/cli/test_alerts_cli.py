"""``cryptotrader alerts`` as a user runs it: a subprocess against a real database, acting
as ``--user`` (row level security applies: another user's account or alert is not found);
changes leave the owner's audit rows."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import CommandGroup, audit_actions
from tests.support import TestDatabase, create_user, default_account

ANN = "ann.alerts@example.test"
BOB = "bob.alerts@example.test"


GROUP = CommandGroup("alerts")
cli, ok = GROUP.run, GROUP.ok


def actions(db: TestDatabase) -> list[tuple[str, str]]:
    return audit_actions(db, "alert")


def test_create_list_disable_enable_history_delete(
    cli_env: dict[str, str], tmp_path: Path, db: TestDatabase
) -> None:
    with db.owner() as conn:
        ann = create_user(conn, email=ANN)
        bob = create_user(conn, email=BOB)
        account = default_account(conn, ann)
        bobs = default_account(conn, bob)
    env, cwd = cli_env, tmp_path
    price = json.loads(
        ok(env, cwd, "create", "--user", ANN, "--symbol", "btc", "--condition", "crosses_above",
           "--value", "100000", "--frequency", "every_time", "--json")
    )  # fmt: skip
    assert (price["symbol"], price["value"]) == ("BTC", "100000.0000000000")
    made = ok(env, cwd, "create", "--user", ANN, "--type", "account", "--account", str(account),
              "--condition", "drawdown_pct", "--value", "10")  # fmt: skip
    assert made.startswith("created alert ")
    refused = cli(env, cwd, "create", "--user", ANN, "--type", "account", "--account", str(bobs),
                  "--condition", "drawdown_pct", "--value", "10")  # fmt: skip
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    invalid = cli(env, cwd, "create", "--user", ANN, "--type", "account", "--account",
                  str(account), "--condition", "drawdown_pct", "--value", "101")  # fmt: skip
    assert invalid.returncode == 2 and "percentage" in invalid.stderr
    listed = json.loads(ok(env, cwd, "list", "--user", ANN, "--json"))
    assert [a["type"] for a in listed] == ["account", "price"]
    assert "drawdown_pct" in ok(env, cwd, "list", "--user", ANN)
    with db.owner() as conn:
        conn.execute(
            "INSERT INTO alert_firings (alert_id, user_id, fire_key, symbol, value, trigger_value)"
            " VALUES (%s, %s, 'tick:1', 'BTC', 100500, 100000)",
            [price["id"], ann],
        )
    [fired] = json.loads(ok(env, cwd, "history", price["id"], "--user", ANN, "--json"))
    assert fired["value"] == "100500.0000000000"
    assert "100500" in ok(env, cwd, "history", price["id"], "--user", ANN)
    ok(env, cwd, "disable", price["id"], "--user", ANN)
    disabled = json.loads(ok(env, cwd, "list", "--user", ANN, "--status", "disabled", "--json"))
    assert [a["id"] for a in disabled] == [price["id"]]
    ok(env, cwd, "enable", price["id"], "--user", ANN)
    stranger = cli(env, cwd, "delete", price["id"], "--user", BOB)
    assert stranger.returncode == 2 and "Traceback" not in stranger.stderr
    ok(env, cwd, "delete", price["id"], "--user", ANN)
    assert json.loads(ok(env, cwd, "list", "--user", BOB, "--json")) == []
    assert actions(db) == [
        (ANN, "alert.create"),
        (ANN, "alert.create"),
        (ANN, "alert.disable"),
        (ANN, "alert.enable"),
        (ANN, "alert.delete"),
    ]
