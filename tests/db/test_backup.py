from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from cryptotrader.db import backup
from cryptotrader.db.errors import BackupError
from tests.support import TestDatabase, create_account, create_trade, create_user, default_account
from tests.support_targets import target_for

SCHEMAS = ("public", "auth", "cryptotrader_meta")


def table_fingerprints(conninfo: str) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every row's content, per table (partitions by themselves)."""
    out: dict[str, tuple[int, str]] = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname = ANY(%s) ORDER BY 1, 2",
            [list(SCHEMAS)],
        ).fetchall()
        for schema, table in tables:
            ident = sql.Identifier(schema, table)
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')"
                    " FROM {} t"
                ).format(ident)
            ).fetchone()
            assert row is not None
            out[f"{schema}.{table}"] = (int(row[0]), str(row[1]))
    return out


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
    before = table_fingerprints(db.owner_conninfo)
    assert before["public.paper_trades_default"][0] == 1  # the 2021 trade
    assert (
        sum(count for name, (count, _) in before.items() if name.startswith("public.paper_trades"))
        == 7
    )

    dump = backup.backup(target_for(db), tmp_path / "ct.dump")
    assert dump.stat().st_size > 0
    backup.restore(target_for(empty_db), dump)

    after = table_fingerprints(empty_db.owner_conninfo)
    assert after == before


def test_restore_of_missing_file_is_a_clear_error(db: TestDatabase, tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no backup file"):
        backup.restore(target_for(db), tmp_path / "nope.dump")


def test_restore_of_garbage_fails_and_changes_nothing(db: TestDatabase, tmp_path: Path) -> None:
    before = table_fingerprints(db.owner_conninfo)
    bad = tmp_path / "bad.dump"
    bad.write_bytes(b"PGDMP this is not a dump")
    with pytest.raises(BackupError, match="pg_restore failed"):
        backup.restore(target_for(db), bad)
    assert table_fingerprints(db.owner_conninfo) == before
