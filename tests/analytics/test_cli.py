"""``cryptotrader analytics`` as an operator runs it: a subprocess against the test database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support import TestDatabase, create_user, run_cli

TODAY = datetime.now(UTC).date()


def _account(db: TestDatabase, days_old: int) -> str:
    with db.owner() as conn:
        user = create_user(conn)
        row = conn.execute(
            "UPDATE paper_trading_accounts SET created_at = now() - make_interval(days => %s)"
            " WHERE user_id = %s RETURNING id",
            [days_old, user],
        ).fetchone()
        assert row is not None
        conn.execute(
            "UPDATE portfolio_accounts SET added_at = now() - make_interval(days => %s)"
            " WHERE account_id = %s",
            [days_old, row["id"]],
        )
        return str(row["id"])


def _days(db: TestDatabase, account: str) -> list[object]:
    with db.owner() as conn:
        rows = conn.execute(
            "SELECT analytics_date FROM account_analytics WHERE account_id = %s ORDER BY 1",
            [account],
        ).fetchall()
    return [r["analytics_date"] for r in rows]


def test_run_writes_a_day_and_catches_up_the_days_before(
    cli_env: dict[str, str], db: TestDatabase, tmp_path: Path
) -> None:
    account = _account(db, 3)
    yesterday = TODAY - timedelta(days=1)
    done = run_cli(["analytics", "run"], cli_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{yesterday}: ")
    assert _days(db, account) == [TODAY - timedelta(days=d) for d in (3, 2, 1)]
    with db.owner() as conn:
        snaps = conn.execute(
            "SELECT count(*) AS n FROM portfolio_snapshots s JOIN portfolio_accounts pa"
            " ON pa.portfolio_id = s.portfolio_id WHERE pa.account_id = %s",
            [account],
        ).fetchone()
    assert snaps is not None and snaps["n"] == 3

    today = run_cli(["analytics", "run", "--date", str(TODAY)], cli_env, tmp_path)
    assert today.returncode == 0, today.stderr
    assert _days(db, account)[-1] == TODAY


def test_backfill_rebuilds_an_account_and_show_prints_its_tear_sheet(
    cli_env: dict[str, str], db: TestDatabase, tmp_path: Path
) -> None:
    account = _account(db, 5)
    other = _account(db, 5)
    start = TODAY - timedelta(days=3)
    done = run_cli(
        ["analytics", "backfill", "--account", account, "--from", str(start)], cli_env, tmp_path
    )
    assert done.returncode == 0, done.stderr
    # from --from on, and the days before it caught up as a run would
    assert _days(db, account) == [TODAY - timedelta(days=d) for d in (5, 4, 3, 2, 1)]
    assert f"backfilled 3 days through {TODAY - timedelta(days=1)} for {account}" in done.stdout
    assert _days(db, other) == []  # only the account asked for

    shown = run_cli(["analytics", "show", account, "--period", "90d"], cli_env, tmp_path)
    assert shown.returncode == 0, shown.stderr
    for word in ("MTD", "3M", "YTD", "1Y", "All", "Sharpe", "round trips"):
        assert word in shown.stdout


def test_bad_input_is_a_clear_error(
    cli_env: dict[str, str], db: TestDatabase, tmp_path: Path
) -> None:
    for args, message in [
        (["analytics", "run", "--date", "yesterday"], "not a date"),
        (["analytics", "backfill", "--from", str(TODAY), "--to", str(TODAY - timedelta(days=2))],
         "is after --to"),
        (["analytics", "backfill", "--account", "00000000-0000-0000-0000-000000000000"],
         "no account"),
        (["analytics", "show", "00000000-0000-0000-0000-000000000000"], "not found"),
        (["analytics", "show", "00000000-0000-0000-0000-000000000000", "--period", "2w"],
         "Invalid value"),
    ]:  # fmt: skip
        result = run_cli(args, cli_env, tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
