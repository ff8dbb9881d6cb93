"""``cryptotrader notifications`` as a user runs it: a subprocess against a real database,
acting as ``--user`` (row level security applies); changes leave the owner's audit rows."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import CommandGroup, audit_actions
from tests.notifications.helpers import notify
from tests.support import TestDatabase, create_user, default_account

ANN = "ann@example.test"
BOB = "bob@example.test"


GROUP = CommandGroup("notifications")
cli, ok = GROUP.run, GROUP.ok


def actions(db: TestDatabase) -> list[tuple[str, str]]:
    return audit_actions(db, "notification")


def test_list_count_read_read_all_delete(
    cli_env: dict[str, str], tmp_path: Path, db: TestDatabase
) -> None:
    with db.owner() as conn:
        ann = create_user(conn, email=ANN)
        create_user(conn, email=BOB)
        account = default_account(conn, ann)
        first = notify(conn, account, ann, ago="2 minutes")
        second = notify(conn, account, ann, ago="1 minute")
        notify(conn, account, ann, expired=True)
    env, cwd = cli_env, tmp_path
    listed = json.loads(ok(env, cwd, "list", "--user", ANN, "--json"))
    assert [n["id"] for n in listed] == [str(second), str(first)]
    assert ok(env, cwd, "count", "--user", ANN).strip() == "2"
    assert "Hello" in ok(env, cwd, "list", "--user", ANN)
    ok(env, cwd, "read", str(first), "--user", ANN)
    unread = json.loads(ok(env, cwd, "list", "--user", ANN, "--unread", "--json"))
    assert [n["id"] for n in unread] == [str(second)]
    refused = cli(env, cwd, "delete", str(first), "--user", BOB)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "marked 1 read" in ok(env, cwd, "read-all", "--user", ANN)
    assert ok(env, cwd, "count", "--user", ANN).strip() == "0"
    ok(env, cwd, "delete", str(first), "--user", ANN)
    assert json.loads(ok(env, cwd, "list", "--user", BOB, "--json")) == []
    assert actions(db) == [
        (ANN, "notification.read"),
        (ANN, "notification.read_all"),
        (ANN, "notification.delete"),
    ]
