"""``cryptotrader webhooks`` as a user runs it: a subprocess against a real database,
acting as ``--user`` (row level security applies); changes leave the owner's audit rows,
and a secret is printed only by create and rotate."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import CommandGroup, audit_actions
from tests.support import TestDatabase, create_user

ANN = "ann@example.test"
BOB = "bob@example.test"


GROUP = CommandGroup("webhooks")
cli, ok = GROUP.run, GROUP.ok


def actions(db: TestDatabase) -> list[tuple[str, str]]:
    return audit_actions(db, "webhook")


def test_create_list_test_deliveries_rotate_delete(
    cli_env: dict[str, str], tmp_path: Path, db: TestDatabase
) -> None:
    with db.owner() as conn:
        create_user(conn, email=ANN)
        create_user(conn, email=BOB)
    env, cwd = cli_env | {"CRYPTOTRADER_WEBHOOK_ALLOW_LOOPBACK": "true"}, tmp_path
    refused = cli(cli_env, cwd, "create", "http://127.0.0.1:9/hook", "--user", ANN)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    made = json.loads(
        ok(
            env,
            cwd,
            "create",
            "http://127.0.0.1:9/hook",
            "--user",
            ANN,
            "--event",
            "order.*",
            "--json",
        )
    )
    hook = made["id"]
    assert made["secret"].startswith("whsec_") and made["event_types"] == ["order.*"]
    listed = ok(env, cwd, "list", "--user", ANN)
    assert hook in listed and made["secret"] not in listed
    assert "queued" in ok(env, cwd, "test", hook, "--user", ANN)
    log = json.loads(ok(env, cwd, "deliveries", hook, "--user", ANN, "--json"))
    assert [(d["event_type"], d["status"]) for d in log] == [("webhook.test", "pending")]
    assert "webhook.test" in ok(env, cwd, "deliveries", hook, "--user", ANN)
    rotated = ok(env, cwd, "rotate", hook, "--user", ANN)
    assert "whsec_" in rotated and made["secret"] not in rotated
    stranger = cli(env, cwd, "delete", hook, "--user", BOB)
    assert stranger.returncode != 0 and "Traceback" not in stranger.stderr
    assert "no webhook endpoints" in ok(env, cwd, "list", "--user", BOB)
    ok(env, cwd, "delete", hook, "--user", ANN)
    assert json.loads(ok(env, cwd, "list", "--user", ANN, "--json")) == []
    assert actions(db) == [
        (ANN, "webhook.create"),
        (ANN, "webhook.test"),
        (ANN, "webhook.rotate_secret"),
        (ANN, "webhook.delete"),
    ]
