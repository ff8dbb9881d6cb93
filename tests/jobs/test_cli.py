"""``cryptotrader jobs`` as an operator runs it: a subprocess against the test database."""

from __future__ import annotations

from pathlib import Path

from tests.jobs.conftest import job, run_to_the_end
from tests.support import TestDatabase, run_cli


def test_status_shows_the_failures_and_retry_queues_a_failed_job_again(
    cli_env: dict[str, str], db: TestDatabase, tmp_path: Path
) -> None:
    broken, ok = run_to_the_end(db, ("sample.broken", {"reason": "a bug"}), ("sample.ok", {}))

    shown = run_cli(["jobs", "status"], cli_env, tmp_path)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    for expected in ("Jobs per task", "Recent failures", "Periodic schedule", "workers alive: 0"):
        assert expected in out
    [failure_line] = [line for line in out.splitlines() if "ValueError: a bug" in line]
    assert f"│ {broken} " in failure_line and "sample.broken" in failure_line
    assert "maintenance.prune" in out and "30 3 * * *" in out
    assert "Stalled jobs (their worker stopped): none" in out

    refused = run_cli(["jobs", "retry", str(ok)], cli_env, tmp_path)
    assert refused.returncode == 2 and f"job {ok} is succeeded, not failed" in refused.stderr
    missing = run_cli(["jobs", "retry", "999999"], cli_env, tmp_path)
    assert missing.returncode == 2 and "no job 999999" in missing.stderr
    retried = run_cli(["jobs", "retry", str(broken)], cli_env, tmp_path)
    assert retried.returncode == 0, retried.stderr
    assert f"job {broken} (sample.broken) is queued again" in retried.stdout
    assert job(db, broken)["status"] == "todo"


def test_run_queues_a_task_now(cli_env: dict[str, str], db: TestDatabase, tmp_path: Path) -> None:
    queued = run_cli(["jobs", "run", "maintenance.prune"], cli_env, tmp_path)
    assert queued.returncode == 0, queued.stderr
    job_id = int(queued.stdout.split()[1])
    assert f"job {job_id} (maintenance.prune) is queued" in queued.stdout
    with db.owner() as conn:
        row = conn.execute(
            "SELECT task_name, status::text AS status, args FROM procrastinate.procrastinate_jobs"
            " WHERE id = %s",
            [job_id],
        ).fetchone()
        audit = conn.execute(
            "SELECT resource_id, details->>'task' AS task FROM audit_logs"
            " WHERE action = 'admin.job_deferred'"
        ).fetchall()
    assert row is not None and (row["task_name"], row["status"]) == ("maintenance.prune", "todo")
    assert isinstance(row["args"]["timestamp"], int)  # a periodic task's period: now
    assert audit == [{"resource_id": str(job_id), "task": "maintenance.prune"}]

    unknown = run_cli(["jobs", "run", "maintenance.prun"], cli_env, tmp_path)
    assert unknown.returncode == 2
    assert "no task maintenance.prun (known: analytics.daily, maint" in unknown.stderr
    bad = run_cli(["jobs", "run", "maintenance.prune", "--arg", "nokey"], cli_env, tmp_path)
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr
