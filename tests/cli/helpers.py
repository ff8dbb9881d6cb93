"""One command group of the CLI as a user's tests run it: a subprocess against the test
database, and the audit rows its changes leave."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import TestDatabase, run_cli


@dataclass(frozen=True)
class CommandGroup:
    name: str  # e.g. "alerts": `cryptotrader alerts ...`

    def run(self, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli([self.name, *args], env, cwd)

    def ok(self, env: dict[str, str], cwd: Path, *args: str) -> str:
        """Its output; the command must succeed."""
        out = self.run(env, cwd, *args)
        assert out.returncode == 0, (out.stdout, out.stderr)
        return out.stdout


def audit_actions(db: TestDatabase, resource_type: str) -> list[tuple[str, str]]:
    """(email, action) of every audit row about that kind of resource, oldest first."""
    with db.owner() as conn:
        rows: list[Any] = conn.execute(
            "SELECT p.email, a.action FROM audit_logs a JOIN profiles p ON p.id = a.user_id"
            " WHERE a.resource_type = %s ORDER BY a.timestamp, a.id",
            [resource_type],
        ).fetchall()
    return [(r["email"], r["action"]) for r in rows]
