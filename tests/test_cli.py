"""The command line as a user runs it: a subprocess against a real database."""

from __future__ import annotations

from pathlib import Path

from tests.support import TestDatabase, run_cli


def test_migrate_status_seed_and_users(
    cli_env: dict[str, str], db: TestDatabase, tmp_path: Path
) -> None:
    out = run_cli(["db", "migrate"], cli_env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "up to date (0 applied)" in out.stdout

    status = run_cli(["db", "status"], cli_env, tmp_path)
    assert status.returncode == 0 and "pending" not in status.stdout and "0005" in status.stdout

    for expected in ("created", "already present"):
        seeded = run_cli(["db", "seed"], cli_env, tmp_path)
        assert seeded.returncode == 0, seeded.stderr
        assert f"demo@cryptotrader.local {expected}" in seeded.stdout
    assert "orders added" in seeded.stdout
    with db.owner() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM paper_trading_accounts a JOIN profiles p ON p.id = a.user_id"
            " WHERE p.email = 'demo@cryptotrader.local'"
        ).fetchone()
        trades = conn.execute(
            "SELECT count(*) FILTER (WHERE parent_trade_id IS NULL) AS orders,"
            " count(*) FILTER (WHERE status = 'completed') AS fills FROM paper_trades"
        ).fetchone()
        audited = conn.execute(
            "SELECT a.action, count(*) AS n FROM audit_logs a"
            " JOIN profiles p ON p.email = 'demo@cryptotrader.local'"
            " WHERE a.user_id = p.id OR a.resource_id = p.id::text"
            " GROUP BY a.action ORDER BY a.action"
        ).fetchall()
    assert row == {"n": 4}  # the default account and three from templates, once
    with db.owner() as conn:  # a listed demo trader with a live bot, copied by the demo user
        copying = conn.execute(
            "SELECT t.display_name, f.allocation_percentage AS pct, b.status FROM trader_follows f"
            " JOIN trader_profiles t ON t.user_id = f.followed_id AND t.is_listed"
            " JOIN ai_trading_bots b ON b.user_id = f.followed_id"
            " WHERE f.copy_trading_enabled"
        ).fetchall()
    assert copying == [{"display_name": "Ben (DCA)", "pct": 20, "status": "active"}]
    assert trades is not None and trades["orders"] == 11 and trades["fills"] >= 9
    # the seed goes through the services, which audit it (once: the rerun replays)
    assert audited == [
        {"action": "account.create", "n": 3},
        {"action": "ai_strategy.create", "n": 1},
        {"action": "bot.create", "n": 3},
        {"action": "bot.start", "n": 2},
        {"action": "follow.copy", "n": 1},
        {"action": "follow.create", "n": 1},
        {"action": "order.place", "n": 11},
        {"action": "user.create", "n": 1},
        {"action": "watchlist.create", "n": 1},
    ]

    made = run_cli(
        ["users", "create", "trader@example.test", "--password", "s3cret-pass", "--admin"],
        cli_env,
        tmp_path,
    )
    assert made.returncode == 0, made.stderr
    listed = run_cli(["users", "list"], cli_env, tmp_path)
    assert "trader@example.test" in listed.stdout and "yes" in listed.stdout

    weak = run_cli(
        ["users", "create", "weak@example.test", "--password", "short"], cli_env, tmp_path
    )
    assert weak.returncode == 1 and "password must have" in weak.stderr
    dup = run_cli(
        ["users", "create", "TRADER@example.test", "--password", "s3cret-pass"], cli_env, tmp_path
    )
    assert dup.returncode == 1 and "already exists" in dup.stderr


def test_backup_and_restore_commands(cli_env: dict[str, str], tmp_path: Path) -> None:
    dump = tmp_path / "backup.dump"
    made = run_cli(["db", "backup", str(dump)], cli_env, tmp_path)
    assert made.returncode == 0, made.stderr
    assert dump.stat().st_size > 0
    restored = run_cli(["db", "restore", str(dump), "--yes"], cli_env, tmp_path)
    assert restored.returncode == 0, restored.stderr


def test_unreachable_database_is_one_clear_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cli_env, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nowhere?connect_timeout=2"}
    out = run_cli(["db", "migrate"], env, tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "cannot reach PostgreSQL at 127.0.0.1:1/nowhere" in lines[0]
    assert "Traceback" not in out.stderr


def test_user_commands_write_the_audit_trail(
    cli_env: dict[str, str], db: TestDatabase, tmp_path: Path
) -> None:
    made = run_cli(
        ["users", "create", "ops@example.test", "--password", "s3cret-pass"], cli_env, tmp_path
    )
    assert made.returncode == 0, made.stderr
    for args in (
        ["users", "promote", "ops@example.test"],
        ["users", "promote", "ops@example.test", "--revoke"],
    ):
        done = run_cli(args, cli_env, tmp_path)
        assert done.returncode == 0, done.stderr
    refused = run_cli(
        ["users", "create", "ops@example.test", "--password", "s3cret-pass"], cli_env, tmp_path
    )
    assert refused.returncode == 1  # a refused action leaves no audit row
    with db.owner() as conn:
        user = conn.execute("SELECT id FROM auth.users WHERE email = 'ops@example.test'").fetchone()
        assert user is not None
        rows = conn.execute(
            "SELECT user_id, action, resource_type, details FROM audit_logs"
            " WHERE resource_id = %s ORDER BY timestamp, id",
            [str(user["id"])],
        ).fetchall()
    assert rows == [
        {
            "user_id": None,
            "action": "user.create",
            "resource_type": "user",
            "details": {"admin": False},
        },
        {
            "user_id": None,
            "action": "user.promote",
            "resource_type": "user",
            "details": {"admin": True},
        },
        {
            "user_id": None,
            "action": "user.demote",
            "resource_type": "user",
            "details": {"admin": False},
        },
    ]
