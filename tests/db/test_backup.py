import re
import subprocess
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from cryptotrader.db import backup, migrate
from cryptotrader.db.errors import BackupError
from tests.db.catalog import assert_same, row_fingerprints, snapshot
from tests.support import (
    APP_PASSWORD,
    APP_ROLE,
    TestDatabase,
    create_account,
    create_trade,
    create_user,
    default_account,
)
from tests.support_targets import target_for


def catalog_of(db: TestDatabase) -> dict[str, list[str]]:
    with psycopg.connect(db.owner_conninfo, autocommit=True) as conn:
        return snapshot(conn, APP_ROLE)


def test_backup_then_restore_into_empty_database_is_identical(
    db: TestDatabase, empty_db: TestDatabase, tmp_path: Path
) -> None:
    with db.owner() as conn:
        alice = create_user(conn, display_name="Alice")
        bob = create_user(conn)
        second = create_account(
            conn, alice, account_name="Swing", initial_balance=Decimal("2500.5")
        )
        for i in range(5):
            create_trade(conn, alice, default_account(conn, alice), amount=Decimal(f"0.0{i + 1}"))
        create_trade(
            conn, alice, second, symbol="ETH", side="sell", created_at="2021-05-01T00:00:00Z"
        )
        create_trade(conn, bob, default_account(conn, bob), notes="bob's first")
    before = row_fingerprints(db.owner_conninfo)
    assert before["public.paper_trades_default"][0] == 1  # the 2021 trade
    assert (
        sum(count for name, (count, _) in before.items() if name.startswith("public.paper_trades"))
        == 7
    )

    catalog = catalog_of(db)

    dump = backup.backup(target_for(db), tmp_path / "ct.dump")
    assert dump.stat().st_size > 0
    backup.restore(target_for(empty_db), dump)
    # what `db restore` does next: the login role's grant on this database
    migrate.ensure_app_role(empty_db.owner_conninfo, APP_ROLE, APP_PASSWORD, empty_db.name)

    after = row_fingerprints(empty_db.owner_conninfo)
    assert after == before
    assert_same(catalog, catalog_of(empty_db))


def test_restore_of_missing_file_is_a_clear_error(db: TestDatabase, tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no backup file"):
        backup.restore(target_for(db), tmp_path / "nope.dump")


def test_restore_of_garbage_fails_and_changes_nothing(db: TestDatabase, tmp_path: Path) -> None:
    with db.owner() as conn:
        create_trade(conn, (alice := create_user(conn)), default_account(conn, alice))
    before, catalog = row_fingerprints(db.owner_conninfo), catalog_of(db)
    good = backup.backup(target_for(db), tmp_path / "good.dump").read_bytes()
    for name, content in [
        ("bad.dump", b"PGDMP this is not a dump"),
        ("truncated.dump", good[: len(good) // 2]),
    ]:
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(BackupError, match="pg_restore failed"):
            backup.restore(target_for(db), bad)
        assert row_fingerprints(db.owner_conninfo) == before
        assert_same(catalog, catalog_of(db))


def test_a_restore_that_fails_halfway_changes_nothing(db: TestDatabase, tmp_path: Path) -> None:
    """A sound dump whose script fails late (a grant to a role this server no longer has):
    the schemas dropped first and everything restored before the error are rolled back."""
    ghost = f"ct_backup_ghost_{db.name}"
    role = sql.Identifier(ghost)
    with db.owner() as conn:
        create_trade(conn, (alice := create_user(conn)), default_account(conn, alice))
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(role))
        conn.execute(sql.SQL("GRANT SELECT ON public.market_data_cache TO {}").format(role))
    dump = backup.backup(target_for(db), tmp_path / "ghost.dump")
    with db.owner() as conn:
        conn.execute(sql.SQL("REVOKE ALL ON public.market_data_cache FROM {}").format(role))
        conn.execute(sql.SQL("DROP ROLE {}").format(role))
    before, catalog = row_fingerprints(db.owner_conninfo), catalog_of(db)
    with pytest.raises(BackupError, match="psql failed") as failed:
        backup.restore(target_for(db), dump)
    assert f'role "{ghost}" does not exist' in str(failed.value)
    assert "NOTICE" not in str(failed.value)  # the error, not the cascade of the drops
    assert row_fingerprints(db.owner_conninfo) == before
    assert_same(catalog, catalog_of(db))


def test_the_tools_match_the_server(db: TestDatabase) -> None:
    """pg_dump refuses a server newer than itself, and one of the server's own major version
    is preferred where installed (Debian's /usr/lib/postgresql/N/bin)."""
    major = backup.server_major(db.owner_conninfo)
    for name in ("pg_dump", "pg_restore", "psql"):
        tool = backup.find_tool(name, target_for(db))
        version = subprocess.run(
            [str(tool), "--version"], capture_output=True, text=True, check=True
        ).stdout
        found = re.search(r"\(PostgreSQL\) (\d+)", version)
        assert found, version
        assert int(found[1]) >= major, (tool, version)
        if Path(f"/usr/lib/postgresql/{major}/bin/{name}").exists():
            assert int(found[1]) == major, (tool, version)


def test_restore_by_another_owner_gives_it_everything_the_dumps_owner_had(
    db: TestDatabase, tmp_path: Path
) -> None:
    """A backup taken to a server where another role owns the schema (a managed server's
    owner: no superuser, CREATEROLE and BYPASSRLS): that role owns every object and holds
    the default privileges the dump's owner held, so what it migrates later is locked down
    the same way."""
    owner, password = f"ct_owner_{db.name}", "owner-pass-loopback-only"
    name = f"{db.name}_moved"
    admin = db.server.admin
    with psycopg.connect(admin, autocommit=True) as conn:
        dumped_by = conn.execute("SELECT current_user").fetchone()
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE BYPASSRLS PASSWORD {}").format(
                sql.Identifier(owner), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )
    assert dumped_by is not None
    moved = TestDatabase(server=db.server, name=name)
    try:
        with db.owner() as conn:
            create_trade(conn, (alice := create_user(conn)), default_account(conn, alice))
        dump = backup.backup(target_for(db), tmp_path / "ct.dump")
        as_owner = make_conninfo(admin, dbname=name, user=owner, password=password)
        backup.restore(replace(target_for(moved), owner=as_owner), dump)
        migrate.ensure_app_role(moved.owner_conninfo, APP_ROLE, APP_PASSWORD, name)

        assert row_fingerprints(moved.owner_conninfo) == row_fingerprints(db.owner_conninfo)
        with psycopg.connect(db.owner_conninfo, autocommit=True) as conn:
            expected = snapshot(conn, APP_ROLE, renamed={dumped_by[0]: owner})
        assert_same(expected, catalog_of(moved))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(owner)))
