"""SQL-first migrations: ordered ``NNNN_name.sql`` files, each applied once, in one transaction.

Applied files are recorded with a SHA-256 checksum in ``cryptotrader_meta.migrations``;
a recorded file whose content changed is refused rather than silently re-run. An
advisory lock serialises concurrent ``migrate`` calls from several processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

from cryptotrader.db.errors import MigrationError

MIGRATE_LOCK_KEY = 0x43_54_4D_49_47  # "CTMIG"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
BASE_ROLES = ("anon", "authenticated", "service_role")

_BOOKKEEPING = """
CREATE SCHEMA IF NOT EXISTS cryptotrader_meta;
REVOKE ALL ON SCHEMA cryptotrader_meta FROM PUBLIC;
CREATE TABLE IF NOT EXISTS cryptotrader_meta.migrations (
  version     integer PRIMARY KEY,
  name        text NOT NULL,
  checksum    text NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now(),
  duration_ms integer NOT NULL
);
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationState:
    migration: Migration
    applied_at: datetime | None
    checksum_matches: bool

    @property
    def state(self) -> str:
        if self.applied_at is None:
            return "pending"
        return "applied" if self.checksum_matches else "CHANGED"


def discover() -> list[Migration]:
    """The migration files shipped in the package, in version order."""
    found = []
    for entry in resources.files("cryptotrader.db.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version number: {versions}")
    return found


def _applied(conn: psycopg.Connection[Any]) -> dict[int, tuple[str, datetime]]:
    rows = conn.execute(
        "SELECT version, checksum, applied_at FROM cryptotrader_meta.migrations"
    ).fetchall()
    return {int(r[0]): (str(r[1]), r[2]) for r in rows}


def status(conninfo: str) -> list[MigrationState]:
    """Every known migration with whether it is applied and unchanged."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(_BOOKKEEPING)
        applied = _applied(conn)
    out = []
    for m in discover():
        rec = applied.get(m.version)
        out.append(MigrationState(m, rec[1] if rec else None, rec is None or rec[0] == m.checksum))
    return out


def migrate(conninfo: str) -> list[Migration]:
    """Apply every pending migration in order; return those applied.

    Raises MigrationError when an applied file changed, or a file fails (that file's
    transaction is rolled back; earlier ones stay applied).
    """
    applied_now: list[Migration] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK_KEY])
        try:
            conn.execute(_BOOKKEEPING)
            applied = _applied(conn)
            migrations = discover()
            _refuse_changed(migrations, applied)
            for m in migrations:
                if m.version in applied:
                    continue
                _apply(conn, m)
                applied_now.append(m)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK_KEY])
    return applied_now


def _refuse_changed(migrations: list[Migration], applied: dict[int, tuple[str, datetime]]) -> None:
    for m in migrations:
        rec = applied.get(m.version)
        if rec is not None and rec[0] != m.checksum:
            raise MigrationError(
                f"migration {m.version:04d}_{m.name}.sql was changed after it was applied "
                f"(recorded checksum {rec[0][:12]}…, file now {m.checksum[:12]}…); "
                "add a new migration instead of editing an applied one"
            )


def _apply(conn: psycopg.Connection[Any], m: Migration) -> None:
    started = time.perf_counter()
    try:
        with conn.transaction():
            conn.execute(m.sql.encode())  # bytes: no placeholder parsing, many statements
            conn.execute(
                "INSERT INTO cryptotrader_meta.migrations (version, name, checksum, duration_ms)"
                " VALUES (%s, %s, %s, %s)",
                [m.version, m.name, m.checksum, int((time.perf_counter() - started) * 1000)],
            )
    except psycopg.Error as exc:
        raise MigrationError(f"migration {m.version:04d}_{m.name}.sql failed: {exc}") from exc


def ensure_base_roles(conninfo: str) -> None:
    """Create the NOLOGIN roles the schema grants to (cluster-wide), if missing."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for role in BASE_ROLES:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                continue
            # a concurrent migrate of another database may create it meanwhile
            with contextlib.suppress(psycopg.errors.DuplicateObject):
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))


# The app role's attributes: (pg_roles column, wanted, the ALTER ROLE keyword for it).
_APP_ROLE_ATTRIBUTES = (
    ("rolcanlogin", True, "LOGIN"),
    ("rolinherit", False, "NOINHERIT"),
    ("rolsuper", False, "NOSUPERUSER"),
    ("rolbypassrls", False, "NOBYPASSRLS"),
    ("rolcreatedb", False, "NOCREATEDB"),
    ("rolcreaterole", False, "NOCREATEROLE"),
    ("rolreplication", False, "NOREPLICATION"),
)


def ensure_app_role(conninfo: str, role: str, password: str, dbname: str) -> None:
    """Create or fix the app's login role: no superuser, no BYPASSRLS, owns nothing,
    inherits nothing, and may only switch to the three API roles.

    Only the attributes that differ are altered: a non-superuser owner with CREATEROLE may
    not even restate NOSUPERUSER on PostgreSQL 15. Roles belong to the whole server, so two
    databases set up at once (the test workers) may race on the same role: that is retried.
    """
    for attempt in range(5):
        try:
            _ensure_app_role(conninfo, role, password, dbname)
            return
        except psycopg.errors.InternalError_ as exc:  # "tuple concurrently updated"
            if "concurrently" not in str(exc) or attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))


def _ensure_app_role(conninfo: str, role: str, password: str, dbname: str) -> None:
    ident = sql.Identifier(role)
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        # processes starting together would otherwise ALTER the same role at once
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATE_LOCK_KEY])
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() is None:
            with contextlib.suppress(psycopg.errors.DuplicateObject), conn.transaction():
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOINHERIT").format(ident))
        have = conn.execute(
            sql.SQL("SELECT {} FROM pg_roles WHERE rolname = %s").format(
                sql.SQL(", ").join(sql.Identifier(a) for a, _, _ in _APP_ROLE_ATTRIBUTES)
            ),
            [role],
        ).fetchone()
        if have is None:  # pragma: no cover - created just above
            raise MigrationError(f"role {role} vanished while it was being set up")
        changes = [
            sql.SQL(keyword)
            for value, (_, wanted, keyword) in zip(have, _APP_ROLE_ATTRIBUTES, strict=True)
            if value != wanted
        ]
        conn.execute(
            sql.SQL("ALTER ROLE {} {} PASSWORD {}").format(
                ident, sql.SQL(" ").join(changes), sql.Literal(password)
            )
        )
        conn.execute(sql.SQL("GRANT anon, authenticated, service_role TO {}").format(ident))
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), ident)
        )
