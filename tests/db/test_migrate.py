import psycopg
import pytest

from cryptotrader.db import migrate
from tests.support import APP_ROLE, TestDatabase, create_user


def test_migrate_empty_database_applies_everything_once(empty_db: TestDatabase) -> None:
    # how long it takes: benchmarks/migrate_speed.py
    applied = migrate.migrate(empty_db.owner_conninfo)
    assert [m.version for m in applied] == [m.version for m in migrate.discover()]
    assert migrate.migrate(empty_db.owner_conninfo) == []
    assert all(s.state == "applied" for s in migrate.status(empty_db.owner_conninfo))


def test_changed_migration_is_refused(db: TestDatabase) -> None:
    with db.owner() as conn:
        conn.execute("UPDATE cryptotrader_meta.migrations SET checksum = 'x' WHERE version = 2")
    with pytest.raises(migrate.MigrationError, match="changed after it was applied"):
        migrate.migrate(db.owner_conninfo)
    assert [s.state for s in migrate.status(db.owner_conninfo)][1] == "CHANGED"


def test_sign_up_creates_profile_portfolio_default_account_and_settings(db: TestDatabase) -> None:
    with db.owner() as conn:
        uid = create_user(conn, "Alice@Example.test", display_name="Alice")
        profile = conn.execute("SELECT * FROM profiles WHERE id = %s", [uid]).fetchone()
        accounts = conn.execute(
            "SELECT * FROM paper_trading_accounts WHERE user_id = %s", [uid]
        ).fetchall()
        portfolio = conn.execute("SELECT * FROM portfolios WHERE user_id = %s", [uid]).fetchone()
        members = conn.execute(
            "SELECT account_id FROM portfolio_accounts WHERE user_id = %s", [uid]
        ).fetchall()
        settings = {
            r["setting_name"]: r["setting_value"]
            for r in conn.execute("SELECT * FROM user_settings WHERE user_id = %s", [uid])
        }
    assert profile is not None
    assert profile["email"] == "alice@example.test"
    assert profile["display_name"] == "Alice"
    assert len(accounts) == 1
    acct = accounts[0]
    assert acct["is_default"] and acct["account_type"] == "balanced"
    assert acct["balance"] == acct["initial_balance"] > 0
    assert portfolio is not None and portfolio["is_default"]
    assert [m["account_id"] for m in members] == [acct["id"]]
    assert settings["display_currency"] == "USD"
    assert settings["default_account_id"] == str(acct["id"])


def test_app_role_is_locked_down(db: TestDatabase) -> None:
    with psycopg.connect(db.app_conninfo, autocommit=True) as conn:
        # RESET ROLE lands on the login role, which can read nothing.
        conn.execute("RESET ROLE")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM paper_trading_accounts")
    with db.owner() as conn:
        role = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolinherit, rolpassword LIKE 'SCRAM-SHA-256$%%'"
            " AS has_password FROM pg_authid WHERE rolname = %s",
            [APP_ROLE],
        ).fetchone()
    # and it logs in with a password, stored as a SCRAM verifier
    assert role == {
        "rolsuper": False,
        "rolbypassrls": False,
        "rolinherit": False,
        "has_password": True,
    }


def test_user_with_a_template_named_like_a_builtin_can_be_deleted(db: TestDatabase) -> None:
    with db.owner() as conn:
        uid = create_user(conn)
        conn.execute(
            "INSERT INTO account_templates (name, account_type, risk_level, created_by)"
            " VALUES ('Balanced', 'balanced', 'medium', %s)",
            [uid],
        )
        conn.execute("DELETE FROM auth.users WHERE id = %s", [uid])
        left = conn.execute(
            "SELECT count(*) AS n FROM account_templates WHERE name = 'Balanced'"
        ).fetchone()
        gone = conn.execute("SELECT count(*) AS n FROM profiles WHERE id = %s", [uid]).fetchone()
    assert left == {"n": 1} and gone == {"n": 0}


def test_every_updated_at_is_kept_by_a_trigger(db: TestDatabase) -> None:
    with db.owner() as conn:
        missing = conn.execute(
            "SELECT c.relname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'updated_at'"
            " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND NOT EXISTS ("
            "   SELECT 1 FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
            "    WHERE t.tgrelid = c.oid AND p.proname = 'set_updated_at')"
        ).fetchall()
        uid = create_user(conn)
        before = conn.execute("SELECT updated_at FROM profiles WHERE id = %s", [uid]).fetchone()
        conn.execute(
            "UPDATE profiles SET display_name = 'x', updated_at = '2000-01-01' WHERE id = %s", [uid]
        )
        after = conn.execute("SELECT updated_at FROM profiles WHERE id = %s", [uid]).fetchone()
    assert missing == []
    assert before is not None and after is not None and after["updated_at"] >= before["updated_at"]


def test_new_partitions_take_their_rows_out_of_the_default_one(db: TestDatabase) -> None:
    with db.owner() as conn:
        uid = create_user(conn)
        acct = conn.execute(
            "SELECT id FROM paper_trading_accounts WHERE user_id = %s", [uid]
        ).fetchone()
        assert acct is not None
        far = "2030-06-15T12:00:00Z"  # no partition yet: lands in the default one
        conn.execute(
            "INSERT INTO paper_trades"
            " (user_id, account_id, symbol, side, amount, price, created_at)"
            " VALUES (%s, %s, 'BTC', 'buy', 1, 1, %s)",
            [uid, acct["id"], far],
        )
        assert conn.execute("SELECT count(*) AS n FROM paper_trades_default").fetchone() == {"n": 1}
        conn.execute(
            "SELECT private.create_range_partition('public.paper_trades', 'paper_trades_2030_06',"
            " 'created_at', '2030-06-01 00:00:00+00', '2030-07-01 00:00:00+00')"
        )
        moved = conn.execute("SELECT count(*) AS n FROM paper_trades_2030_06").fetchone()
        left = conn.execute("SELECT count(*) AS n FROM paper_trades_default").fetchone()
        total = conn.execute("SELECT count(*) AS n FROM paper_trades").fetchone()
        rls = conn.execute(
            "SELECT relrowsecurity AND relforcerowsecurity AS locked FROM pg_class"
            " WHERE relname = 'paper_trades_2030_06'"
        ).fetchone()
        ahead = conn.execute("SELECT create_partitions_ahead(2) AS n").fetchone()
    assert (moved, left, total) == ({"n": 1}, {"n": 0}, {"n": 1})
    assert rls == {"locked": True}
    assert ahead == {"n": 0}  # migrate already made the coming ones
