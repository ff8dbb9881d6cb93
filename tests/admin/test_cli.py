"""``cryptotrader admin``: each command that changes data leaves the admin.* audit row the
API leaves, as the system (a subprocess against a real database, as an operator runs it)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support import TestDatabase, create_user, default_account, run_cli


def admin_audit(db: TestDatabase) -> list[dict[str, Any]]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT user_id, action, resource_id, details FROM audit_logs"
            " WHERE action LIKE 'admin.%' ORDER BY timestamp, id"
        ).fetchall()


def _runner(env: dict[str, str], cwd: Path) -> tuple[Callable[..., str], Callable[..., str]]:
    """``cryptotrader admin ARGS`` that must succeed (its stdout), and that must be refused
    as bad input (its stderr: one line, exit code 2)."""

    def ok(*args: str) -> str:
        out = run_cli(["admin", *args], env, cwd)
        assert out.returncode == 0, (args, out.stdout, out.stderr)
        return out.stdout

    def refused(*args: str) -> str:
        out = run_cli(["admin", *args], env, cwd)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert out.stderr.startswith("error: ") and "Traceback" not in out.stderr
        return out.stderr

    return ok, refused


def test_user_and_account_commands_are_audited(
    cli_env: dict[str, str], db: TestDatabase, tmp_path: Path
) -> None:
    with db.owner() as conn:
        owner = create_user(conn, email="olive@example.test", display_name="Olive Oyl")
        account = str(default_account(conn, owner))
    ok, refused = _runner(cli_env, tmp_path)

    assert "olive@example.test" in ok("users", "--search", "OYL")
    said = ok("ban", "olive@example.test", "--reason", "spam", "--until", "2999-01-01")
    assert "banned until 2999-01-01T00:00:00+00:00" in said
    assert "is no longer banned" in ok("unban", "olive@example.test")
    assert account in ok("accounts", "--owner", "olive@example.test", "--status", "active")
    assert "is suspended" in ok("suspend", account, "--reason", "fraud")
    assert "is active again" in ok("unsuspend", account)
    unknown = refused("ban", "nobody@example.test", "--reason", "x")
    assert "no user with email nobody@example.test" in unknown
    late = refused("ban", "olive@example.test", "--reason", "x", "--until", "2001-01-01")
    assert "a ban ends in the future" in late

    rows = admin_audit(db)
    assert [(r["user_id"], r["action"], r["resource_id"]) for r in rows] == [
        (None, "admin.user_banned", str(owner)),
        (None, "admin.user_unbanned", str(owner)),
        (None, "admin.account_suspended", account),
        (None, "admin.account_unsuspended", account),
    ]
    assert rows[0]["details"] == {
        "reason": "spam",
        "until": "2999-01-01T00:00:00+00:00",
        "sessions_revoked": 0,
    }
    assert rows[2]["details"] == {
        "reason": "fraud",
        "previous_status": "active",
        "owner_id": str(owner),
    }


def test_template_commands_are_audited_and_status_reads(
    cli_env: dict[str, str], db: TestDatabase, tmp_path: Path
) -> None:
    ok, _ = _runner(cli_env, tmp_path)
    made = ok("templates", "create", "Ops Desk", "--account-type", "conservative", "--tag", "ops")
    found = re.search(r"created template (\S+) \(Ops Desk\)", made)
    assert found is not None, made
    template = found.group(1)
    assert "updated" in ok("templates", "edit", template, "--description", "For the ops desk")
    assert "is retired" in ok("templates", "retire", template)
    assert template in ok("templates", "list", "--retired")
    state = ok("status")
    assert "market feed: no process leads it" in state and "database: PostgreSQL" in state

    rows = admin_audit(db)
    assert [(r["user_id"], r["action"], r["resource_id"]) for r in rows] == [
        (None, "admin.template_created", template),
        (None, "admin.template_updated", template),
        (None, "admin.template_retired", template),
    ]
    assert rows[0]["details"] == {"name": "Ops Desk", "is_public": True}
    assert rows[1]["details"] == {"description": "For the ops desk"}
