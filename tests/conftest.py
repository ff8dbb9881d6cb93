"""The test database: one PostgreSQL per session, a migrated template, a fresh clone per test.

The embedded server is used unless DATABASE_URL names another server (PostgreSQL 15+,
with a role that may create databases and roles). Each test that asks for ``db`` gets its
own database cloned from the migrated template, so tests can commit, run concurrent
connections and never see each other's rows.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from cryptotrader.db import migrate
from cryptotrader.db.embedded import embedded_bin_dir, start_embedded
from cryptotrader.db.session import Conn, open_pool
from tests.support import APP_PASSWORD, APP_ROLE, PgServer, TestDatabase

# the headless Chromium of the browser tests (tests/api/test_docs_offline.py, tests/web/)
pytest_plugins = ("tests.browser",)

# argon2id at the cheapest cost it allows (production: RFC 9106's t=3, m=64 MiB, p=4, which
# is 0.3-0.5 s of CPU per hash on the reference machine, paid by every sign-up and sign-in of
# the suite). Read once, by the first hash; subprocesses get it through ``cli_env``.
# tests/auth/test_passwords.py checks the production defaults, and that the suite runs with
# this override.
TEST_PASSWORD_HASH = {
    "CRYPTOTRADER_PASSWORD_HASH_TIME_COST": "1",
    "CRYPTOTRADER_PASSWORD_HASH_MEMORY_KIB": "64",
    "CRYPTOTRADER_PASSWORD_HASH_PARALLELISM": "1",
}
for _name, _value in TEST_PASSWORD_HASH.items():
    os.environ.setdefault(_name, _value)


# The suite's own embedded server gives up durability, which no test needs (its data dir is
# deleted at the end): with fsync on, every clone and drop of a test database waited for a
# checkpoint's fsyncs, about 1.2 s each on the reference machine and most of the suite's time.
# A server given by DATABASE_URL is left as it is.
THROWAWAY_SERVER_SETTINGS = {
    "fsync": sql.Literal("off"),
    "full_page_writes": sql.Literal("off"),
    "synchronous_commit": sql.Literal("off"),
}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield PgServer(admin=url, bin_dir=None)
        return
    # Not under pytest's tmp_path: pytest prunes old base temp dirs, which would pull the
    # data directory from under a server still used by a concurrent session. In memory where
    # there is a tmpfs: creating a test database there takes a third of the time it takes on
    # the reference machine's disk.
    data_dir = Path(tempfile.mkdtemp(prefix="ct-test-pg-", dir=_memory_dir()))
    # registered before the server's own exit handler, so it runs after it (that handler
    # takes a lock file in data_dir/run and would leave it behind)
    atexit.register(shutil.rmtree, data_dir, True)
    server = start_embedded(data_dir)
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        for name, value in THROWAWAY_SERVER_SETTINGS.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), value))
        conn.execute("SELECT pg_reload_conf()")
    yield PgServer(admin=server.conninfo(), bin_dir=embedded_bin_dir())
    server.handle.cleanup()


def _memory_dir() -> str | None:
    shm = Path("/dev/shm")  # noqa: S108 - only as mkdtemp's parent: a private 0700 directory
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


def _create_db(admin: str, name: str, template: str | None = None) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        conn.execute(stmt)


def _drop_db(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def template_db(pg_server: PgServer) -> Iterator[str]:
    name = f"ct_template_{uuid.uuid4().hex[:8]}"
    _create_db(pg_server.admin, name)
    owner = make_conninfo(pg_server.admin, dbname=name)
    migrate.migrate(owner)
    migrate.ensure_app_role(owner, APP_ROLE, APP_PASSWORD, name)
    yield name
    _drop_db(pg_server.admin, name)


@contextmanager
def cloned_database(pg_server: PgServer, template: str) -> Iterator[TestDatabase]:
    """A fresh copy of the migrated template, dropped afterwards."""
    name = f"ct_test_{uuid.uuid4().hex[:10]}"
    _create_db(pg_server.admin, name, template=template)
    owner = make_conninfo(pg_server.admin, dbname=name)
    migrate.ensure_app_role(owner, APP_ROLE, APP_PASSWORD, name)
    try:
        yield TestDatabase(server=pg_server, name=name)
    finally:
        _drop_db(pg_server.admin, name)


@pytest.fixture
def db(pg_server: PgServer, template_db: str) -> Iterator[TestDatabase]:
    with cloned_database(pg_server, template_db) as database:
        yield database


@pytest.fixture(scope="module")
def module_db(pg_server: PgServer, template_db: str) -> Iterator[TestDatabase]:
    """One database for a whole module whose tests only read (or roll back)."""
    with cloned_database(pg_server, template_db) as database:
        yield database


@pytest.fixture
def empty_db(pg_server: PgServer) -> Iterator[TestDatabase]:
    """A database with nothing in it, not even migrations."""
    name = f"ct_empty_{uuid.uuid4().hex[:10]}"
    _create_db(pg_server.admin, name)
    yield TestDatabase(server=pg_server, name=name)
    _drop_db(pg_server.admin, name)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def pool(db: TestDatabase) -> AsyncIterator[AsyncConnectionPool[Conn]]:
    """The app's pool on the test database (for tests marked anyio)."""
    p = open_pool(db.app_conninfo, min_size=1, max_size=4)
    await p.open()
    yield p
    await p.close()


@pytest.fixture
def cli_env(db: TestDatabase, tmp_path: Path) -> dict[str, str]:
    """The environment of a `cryptotrader` subprocess pointed at the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOTRADER_")}
    env.update({name: os.environ[name] for name in TEST_PASSWORD_HASH})
    env.update(
        DATABASE_URL=db.owner_conninfo,
        CRYPTOTRADER_DATA_DIR=str(tmp_path / "data"),
        CRYPTOTRADER_APP_PASSWORD=APP_PASSWORD,
        COLUMNS="200",
    )
    return env
