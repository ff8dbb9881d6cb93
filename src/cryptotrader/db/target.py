"""Which PostgreSQL we talk to, as whom: the owner (migrations) and the app's login role."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cryptotrader.config import Settings
from cryptotrader.db.embedded import embedded_bin_dir, start_embedded
from cryptotrader.db.errors import DatabaseUnavailable


@dataclass(frozen=True)
class DatabaseTarget:
    """Connection strings for one database.

    ``owner`` owns the schema and runs migrations (superuser or BYPASSRLS);
    ``app`` is the login role the running program uses, which can do nothing
    until it switches to ``anon``, ``authenticated`` or ``service_role``.
    """

    owner: str
    app: str
    dbname: str
    app_role: str
    bin_dir: Path | None  # binaries matching the server, when we know them
    embedded: bool

    def describe(self) -> str:
        return describe_conninfo(self.owner)


def describe_conninfo(conninfo: str) -> str:
    """``host:port/db`` for messages; never the password."""
    params = conninfo_to_dict(conninfo)
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    return f"{host}:{port}/{params.get('dbname', '')}"


def one_line(exc: BaseException) -> str:
    """A driver error as one line: libpq spreads its messages over several."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return text or type(exc).__name__


def check_reachable(conninfo: str, timeout_s: int = 5) -> None:
    """Raise :class:`DatabaseUnavailable` with one readable line when the server does not answer."""
    try:
        with psycopg.connect(conninfo, connect_timeout=timeout_s, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        reason = one_line(exc)
        raise DatabaseUnavailable(
            f"cannot reach PostgreSQL at {describe_conninfo(conninfo)}: {reason}"
        ) from exc


def ensure_database(admin_conninfo: str, dbname: str) -> None:
    """Create ``dbname`` on the server unless it exists."""
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def app_conninfo_for(owner_conninfo: str, role: str, password: str) -> str:
    return make_conninfo(owner_conninfo, user=role, password=password)


def resolve_target(settings: Settings) -> DatabaseTarget:
    """Find (and for the embedded server, start and create) the database the settings name."""
    password = settings.resolved_app_password()
    if settings.database_url:
        owner = settings.database_url
        check_reachable(owner)
        dbname = conninfo_to_dict(owner).get("dbname") or "postgres"
        return DatabaseTarget(
            owner=owner,
            app=app_conninfo_for(owner, settings.app_role, password),
            dbname=str(dbname),
            app_role=settings.app_role,
            bin_dir=None,
            embedded=False,
        )
    server = start_embedded(settings.data_dir)
    ensure_database(server.conninfo(), settings.db_name)
    owner = server.conninfo(settings.db_name)
    return DatabaseTarget(
        owner=owner,
        app=app_conninfo_for(owner, settings.app_role, password),
        dbname=settings.db_name,
        app_role=settings.app_role,
        bin_dir=embedded_bin_dir(),
        embedded=True,
    )
