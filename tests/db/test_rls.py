"""Row level security and grants, tested directly in SQL through the app's login role.

The ``world`` fixture gives two users A and B a row in every user-owned table of schema
``public`` (built as the owner, which RLS does not stop), then each test acts as one of
the API roles and checks what it can see and change. The fixture discovers the tables
from the catalog and fails when one has no row-builder here, so a table added later
without RLS tests breaks the suite.

Every attempt runs in a transaction of its own and commits when it does not fail, so a
write that got through would show when the row is checked again as the owner.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from tests.support import Row, TestDatabase, create_user, default_account

Conn = psycopg.Connection[Row]

INSUFFICIENT_PRIVILEGE = "42501"  # also "new row violates row-level security policy"
FOREIGN_KEY_VIOLATION = "23503"
APP_FORBIDDEN = "CT403"  # raised by the schema's own guard triggers


# ------------------------------------------------------------------ the world


@dataclass
class Party:
    """A signed-up user and the rows built for them, as ``to_jsonb`` of each row."""

    id: uuid.UUID
    followed: uuid.UUID
    default_account: uuid.UUID
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def ref(self, table: str) -> Any:
        return self.rows[table]["id"]


@dataclass
class World:
    a: Party
    b: Party
    admin: uuid.UUID  # an ordinary user; admin rights come only from the claims
    followed: uuid.UUID  # the trader A and B follow
    pks: dict[str, list[str]]
    public_rows: dict[str, dict[str, Any]]


Builder = Callable[[Conn, Party], dict[str, Any]]


def _insert(conn: Conn, table: str, **values: Any) -> dict[str, Any]:
    query = sql.SQL("INSERT INTO {} AS r ({}) VALUES ({}) RETURNING to_jsonb(r) AS row").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, values)),
        sql.SQL(", ").join(sql.Placeholder() * len(values)),
    )
    row = conn.execute(query, list(values.values())).fetchone()
    assert row is not None
    return dict(row["row"])


def _existing(conn: Conn, table: str, column: str, value: Any) -> dict[str, Any]:
    query = sql.SQL("SELECT to_jsonb(r) AS row FROM {} r WHERE {} = %s").format(
        sql.Identifier(table), sql.Identifier(column)
    )
    row = conn.execute(query, [value]).fetchone()
    assert row is not None
    return dict(row["row"])


# One builder per user-owned table, in dependency order: each inserts one row owned by
# the party (plain INSERT as the owner) and returns it.
BUILDERS: dict[str, Builder] = {
    "profiles": lambda c, p: _existing(c, "profiles", "id", p.id),
    "user_settings": lambda c, p: _insert(
        c, "user_settings", user_id=p.id, setting_name="rls.probe", setting_value=Jsonb(True)
    ),
    "account_templates": lambda c, p: _insert(
        c,
        "account_templates",
        name=f"Private {p.id}",
        account_type="balanced",
        risk_level="medium",
        is_public=False,
        created_by=p.id,
    ),
    # the party's rating of the built-in Balanced template (users write ratings only
    # through rate_template(), which keeps the template's average)
    "template_ratings": lambda c, p: _insert(
        c,
        "template_ratings",
        template_id=_existing(c, "account_templates", "name", "Balanced")["id"],
        user_id=p.id,
        rating=4,
    ),
    "paper_trading_accounts": lambda c, p: _insert(
        c,
        "paper_trading_accounts",
        user_id=p.id,
        account_name="RLS probe",
        balance=Decimal(25000),
        initial_balance=Decimal(25000),
    ),
    "account_positions": lambda c, p: _insert(
        c,
        "account_positions",
        account_id=p.ref("paper_trading_accounts"),
        user_id=p.id,
        symbol="BTC",
        quantity=Decimal("0.5"),
        avg_entry_price=Decimal(50000),
    ),
    "ai_strategies": lambda c, p: _insert(
        c, "ai_strategies", user_id=p.id, name="RLS probe", prompt="buy low, sell high"
    ),
    "ai_trading_bots": lambda c, p: _insert(
        c,
        "ai_trading_bots",
        user_id=p.id,
        name="RLS probe",
        strategy="momentum",
        target_symbols=["BTC"],
        account_id=p.ref("paper_trading_accounts"),
        strategy_id=p.ref("ai_strategies"),
    ),
    "trader_follows": lambda c, p: _insert(
        c,
        "trader_follows",
        user_id=p.id,
        trader_name="Followed",
        follower_id=p.id,
        followed_id=p.followed,
    ),
    "portfolios": lambda c, p: _insert(c, "portfolios", user_id=p.id, name="RLS probe"),
    "portfolio_accounts": lambda c, p: _insert(
        c,
        "portfolio_accounts",
        portfolio_id=p.ref("portfolios"),
        account_id=p.ref("paper_trading_accounts"),
        user_id=p.id,
    ),
    "portfolio_snapshots": lambda c, p: _insert(
        c,
        "portfolio_snapshots",
        user_id=p.id,
        portfolio_id=p.ref("portfolios"),
        snapshot_date="2025-01-01",
        total_value=Decimal(10000),
    ),
    "watchlists": lambda c, p: _insert(
        c, "watchlists", user_id=p.id, name="RLS probe", symbols=["BTC"]
    ),
    "account_notifications": lambda c, p: _insert(
        c,
        "account_notifications",
        account_id=p.ref("paper_trading_accounts"),
        user_id=p.id,
        notification_type="rls.probe",
        title="RLS probe",
        message="private to its owner",
    ),
    "risk_alerts": lambda c, p: _insert(
        c,
        "risk_alerts",
        user_id=p.id,
        alert_type="daily_loss",
        trigger_condition="below",
        account_id=p.ref("paper_trading_accounts"),
        bot_id=p.ref("ai_trading_bots"),
        portfolio_id=p.ref("portfolios"),
    ),
    "backtest_sessions": lambda c, p: _insert(
        c,
        "backtest_sessions",
        user_id=p.id,
        session_name="RLS probe",
        symbol="BTC",
        start_date="2024-01-01T00:00:00Z",
        end_date="2024-02-01T00:00:00Z",
        strategy_id=p.ref("ai_strategies"),
        bot_id=p.ref("ai_trading_bots"),
    ),
    "backtest_results": lambda c, p: _insert(
        c, "backtest_results", session_id=p.ref("backtest_sessions"), user_id=p.id
    ),
    "audit_logs": lambda c, p: _insert(
        c, "audit_logs", user_id=p.id, action="rls.probe", resource_type="test", resource_id="1"
    ),
    "paper_account_audit": lambda c, p: _insert(
        c,
        "paper_account_audit",
        user_id=p.id,
        account_id=p.ref("paper_trading_accounts"),
        action="rls.probe",
    ),
    "paper_trades": lambda c, p: _insert(
        c,
        "paper_trades",
        user_id=p.id,
        account_id=p.ref("paper_trading_accounts"),
        bot_id=p.ref("ai_trading_bots"),
        symbol="BTC",
        side="buy",
        amount=Decimal("0.01"),
        price=Decimal(50000),
        execution_price=Decimal(50000),
        total_value=Decimal(500),
    ),
    "account_analytics": lambda c, p: _insert(
        c, "account_analytics", account_id=p.ref("paper_trading_accounts"), user_id=p.id
    ),
    "idempotency_keys": lambda c, p: _insert(
        c, "idempotency_keys", user_id=p.id, key="rls-probe", request_hash="probe"
    ),
    "account_round_trips": lambda c, p: _insert(
        c,
        "account_round_trips",
        account_id=p.ref("paper_trading_accounts"),
        user_id=p.id,
        epoch=0,
        symbol="BTC",
        opened_at="2025-01-01T00:00:00Z",
        closed_at="2025-01-02T00:00:00Z",
        pnl=Decimal(10),
        fills=2,
    ),
    "portfolio_analytics": lambda c, p: _insert(
        c,
        "portfolio_analytics",
        portfolio_id=p.ref("portfolios"),
        user_id=p.id,
        analytics_date="2025-01-01",
    ),
    "trader_profiles": lambda c, p: _insert(
        c, "trader_profiles", user_id=p.id, display_name="RLS probe", is_listed=False
    ),
    "bot_decisions": lambda c, p: _insert(
        c,
        "bot_decisions",
        user_id=p.id,
        bot_id=p.ref("ai_trading_bots"),
        kind="rule",
        timeframe="1h",
        bar_time="2025-01-01T00:00:00Z",
        scope="BTC",
        status="held",
    ),
    "copy_trades": lambda c, p: _insert(
        c,
        "copy_trades",
        user_id=p.id,
        follow_id=p.ref("trader_follows"),
        leader_id=p.id,
        account_id=p.default_account,
        symbol="BTC",
        side="buy",
        leader_price=1,
        fraction=0.1,
        status="skipped",
        reason="below_minimum",
    ),
    "alert_firings": lambda c, p: _insert(
        c,
        "alert_firings",
        user_id=p.id,
        alert_id=p.ref("risk_alerts"),
        fire_key="once",
        symbol="BTC",
        value=1,
    ),
    "webhook_endpoints": lambda c, p: _insert(
        c, "webhook_endpoints", user_id=p.id, url="https://hooks.example.test/rls"
    ),
    "webhook_deliveries": lambda c, p: _insert(
        c,
        "webhook_deliveries",
        user_id=p.id,
        endpoint_id=p.ref("webhook_endpoints"),
        msg_id=f"msg_rls_{p.id.hex}",
        event_type="rls.probe",
        payload=Jsonb({"type": "rls.probe"}),
    ),
    "webhook_attempts": lambda c, p: _insert(
        c,
        "webhook_attempts",
        user_id=p.id,
        delivery_id=p.ref("webhook_deliveries"),
        attempt=1,
        outcome="retry",
        url="https://hooks.example.test/rls",
    ),
}
USER_TABLES = list(BUILDERS)

# The owner column of a user-owned table; every other one is owned through user_id.
OWNER_COLUMN = {"profiles": "id", "account_templates": "created_by"}

# Changes that keep a copy of a party's row valid next to the original (unique keys other
# than the generated id). profiles has none: the owner is the key, so no second row exists.
VARY: dict[str, Callable[[Party], dict[str, Any]]] = {
    "user_settings": lambda p: {"setting_name": "rls_probe_copy"},
    "account_positions": lambda p: {"symbol": "ETH"},
    "trader_follows": lambda p: {"followed_id": None},
    "portfolio_accounts": lambda p: {"account_id": str(p.default_account)},
    "portfolio_snapshots": lambda p: {"snapshot_date": "2000-01-01"},
    "watchlists": lambda p: {"name": "RLS probe copy"},
    "account_analytics": lambda p: {"analytics_date": "2000-01-01"},
    "idempotency_keys": lambda p: {"key": "rls-probe-copy"},
    "account_round_trips": lambda p: {"closed_at": "2025-01-03T00:00:00Z"},
    "portfolio_analytics": lambda p: {"analytics_date": "2000-01-01"},
    "template_ratings": lambda p: {"template_id": p.ref("account_templates")},
    "bot_decisions": lambda p: {"scope": "ETH"},
    "alert_firings": lambda p: {"fire_key": "tick:1"},
    "webhook_deliveries": lambda p: {"msg_id": f"msg_rls_copy_{p.id.hex}"},
    "webhook_attempts": lambda p: {"attempt": 2},
}

# References from one user-owned row to another: column -> referenced table. All are tied to
# the owner by composite (x_id, user_id) foreign keys, except the ones in SINGLE_COLUMN_REFS
# (which users may not write at all). The fixture checks this against the catalog.
ACCOUNT = "paper_trading_accounts"
REFERENCES: dict[str, dict[str, str]] = {
    "paper_trading_accounts": {"template_id": "account_templates"},
    "template_ratings": {"template_id": "account_templates"},
    "account_positions": {"account_id": ACCOUNT},
    "ai_trading_bots": {"account_id": ACCOUNT, "strategy_id": "ai_strategies"},
    "portfolio_accounts": {"portfolio_id": "portfolios", "account_id": ACCOUNT},
    "portfolio_snapshots": {"portfolio_id": "portfolios"},
    "account_notifications": {"account_id": ACCOUNT},
    "risk_alerts": {
        "bot_id": "ai_trading_bots",
        "portfolio_id": "portfolios",
        "account_id": ACCOUNT,
    },
    "backtest_sessions": {"strategy_id": "ai_strategies", "bot_id": "ai_trading_bots"},
    "backtest_results": {"session_id": "backtest_sessions"},
    "paper_account_audit": {"account_id": ACCOUNT},
    "paper_trades": {"account_id": ACCOUNT, "bot_id": "ai_trading_bots"},
    "account_analytics": {"account_id": ACCOUNT},
    "account_round_trips": {"account_id": ACCOUNT},
    "portfolio_analytics": {"portfolio_id": "portfolios"},
    "bot_decisions": {"bot_id": "ai_trading_bots"},
    "trader_follows": {"copy_account_id": ACCOUNT},
    "copy_trades": {"account_id": ACCOUNT, "follow_id": "trader_follows"},
    "alert_firings": {"alert_id": "risk_alerts"},
    "webhook_deliveries": {"endpoint_id": "webhook_endpoints"},
    "webhook_attempts": {"delivery_id": "webhook_deliveries"},
}
SINGLE_COLUMN_REFS = {
    ("paper_trading_accounts", "template_id"),
    ("template_ratings", "template_id"),
    ("copy_trades", "follow_id"),  # the copy log is the copy worker's to write
    ("alert_firings", "alert_id"),  # the history is the alert worker's to write
}

# Public reference data: the row the tests use and how a valid copy of it differs.
PUBLIC_TABLES = [
    "market_data_cache",
    "market_candles",
    "tracked_coins",
    "market_feed_status",
    "llm_model_prices",
    "llm_model_cutoffs",
]
PUBLIC_ROW_FILTER = {
    "llm_model_prices": "model = 'gpt-4o-mini'",
    "llm_model_cutoffs": "model = 'gpt-4o-mini'",
    "market_feed_status": "feed = 'market'",
    "market_data_cache": "symbol = 'BTC'",
    "market_candles": "symbol = 'BTC'",
    "tracked_coins": "symbol = 'BTC'",
    "account_templates": "created_by IS NULL AND name = 'Balanced'",
}
PUBLIC_VARY: dict[str, dict[str, Any]] = {
    "llm_model_prices": {"model": "rls-probe"},
    "llm_model_cutoffs": {"model": "rls-probe"},
    "market_feed_status": {"feed": "rls-probe"},
    "market_data_cache": {"id": str(uuid.uuid4()), "symbol": "RLSX"},
    "market_candles": {"open_time": "2001-01-01T00:00:00+00:00"},
    "tracked_coins": {"symbol": "RLSX", "coingecko_id": "rls-probe"},
    "account_templates": {"id": str(uuid.uuid4()), "name": "RLS system copy"},
}


def owner_col(table: str) -> str:
    return OWNER_COLUMN.get(table, "user_id")


# ------------------------------------------------------------------ catalog


def _catalog_tables(conn: Conn) -> set[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
    ).fetchall()
    return {r["relname"] for r in rows}


def _partitions(conn: Conn) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relispartition"
        " ORDER BY 1"
    ).fetchall()
    return [r["relname"] for r in rows]


def _primary_key(conn: Conn, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i"
        " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
        " WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY k.ord",
        [table],
    ).fetchall()
    return [r["attname"] for r in rows]


def _columns(conn: Conn, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
        " AND NOT attisdropped ORDER BY attnum",
        [table],
    ).fetchall()
    return [r["attname"] for r in rows]


def _granted_columns(
    conn: Conn, table: str, privilege: str, role: str = "authenticated"
) -> list[tuple[str, str]]:
    """(column, type) pairs ``role`` holds ``privilege`` on, in column order."""
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a"
        " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped"
        " AND has_column_privilege(%s, a.attrelid, a.attnum, %s) ORDER BY a.attnum",
        [table, role, privilege],
    ).fetchall()
    return [(r["attname"], r["type"]) for r in rows]


def _user_refs(conn: Conn) -> set[tuple[str, str, str, bool]]:
    """(table, column, referenced table, tied to user_id) of each foreign key from a public
    table to a user-owned one, profiles (the owner itself) aside."""
    rows = conn.execute(
        "SELECT c.conrelid::regclass::text AS tbl, c.confrelid::regclass::text AS ref_table,"
        "       array_agg(a.attname::text ORDER BY k.ord) AS cols"
        "  FROM pg_constraint c"
        "  CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)"
        "  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum"
        "  JOIN pg_class r ON r.oid = c.conrelid"
        " WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace"
        "   AND NOT r.relispartition"
        " GROUP BY c.oid, c.conrelid, c.confrelid"
    ).fetchall()
    refs = set()
    for r in rows:
        if r["ref_table"] not in USER_TABLES or r["ref_table"] == "profiles":
            continue
        others = [c for c in r["cols"] if c != "user_id"]
        assert len(others) == 1, f"unexpected foreign key shape: {r}"
        refs.add((r["tbl"], others[0], r["ref_table"], "user_id" in r["cols"]))
    return refs


def _check_coverage(conn: Conn) -> None:
    """Fail when the catalog and this module's table lists disagree."""
    tables = _catalog_tables(conn)
    known = set(USER_TABLES) | set(PUBLIC_TABLES)
    missing = sorted(tables - known)
    if missing:
        pytest.fail(
            f"public tables without a row-builder in tests/db/test_rls.py: {missing}; add one"
            " to BUILDERS (user-owned) or PUBLIC_TABLES (reference data) with its RLS tests"
        )
    stale = sorted(known - tables)
    if stale:
        pytest.fail(f"tests/db/test_rls.py names tables that no longer exist: {stale}")
    for table in USER_TABLES:
        assert owner_col(table) in _columns(conn, table), f"{table} has no {owner_col(table)}"
    expected = {
        (t, col, ref, (t, col) not in SINGLE_COLUMN_REFS)
        for t, cols in REFERENCES.items()
        for col, ref in cols.items()
    }
    found = _user_refs(conn)
    assert found == expected, (
        "references between user-owned rows changed; (table, column, target, tied to user_id):"
        f" unexpected {sorted(found - expected)}, missing {sorted(expected - found)}"
    )


@pytest.fixture
def world(db: TestDatabase) -> World:
    return build_world(db)


@pytest.fixture(scope="module")
def shared_world(module_db: TestDatabase) -> World:
    """The same world, built once, for tests that only read."""
    return build_world(module_db)


def build_world(db: TestDatabase) -> World:
    with db.owner() as conn:
        _check_coverage(conn)
        followed = create_user(conn, display_name="Followed")
        admin = create_user(conn, display_name="Admin")
        parties = []
        for name in ("Alice", "Bob"):
            uid = create_user(conn, display_name=name)
            parties.append(Party(uid, followed, default_account(conn, uid)))
        for party in parties:
            for table, build in BUILDERS.items():
                party.rows[table] = build(conn, party)
        _insert(conn, "market_feed_status", leader="rls-probe:1", provider="simulated")
        _insert(
            conn,
            "market_candles",
            symbol="BTC",
            timeframe="1h",
            open_time="2025-01-01T00:00:00Z",
            open=Decimal(100),
            high=Decimal(110),
            low=Decimal(90),
            close=Decimal(105),
            volume=Decimal(1),
        )
        public_rows = {}
        for table, where in PUBLIC_ROW_FILTER.items():
            row = conn.execute(
                sql.SQL("SELECT to_jsonb(r) AS row FROM {} r WHERE {}").format(
                    sql.Identifier(table),
                    sql.SQL(where),  # type: ignore[arg-type]
                )
            ).fetchone()
            assert row is not None, f"no reference row in {table}"
            public_rows[table] = dict(row["row"])
        pks = {t: _primary_key(conn, t) for t in [*USER_TABLES, *PUBLIC_TABLES]}
    return World(parties[0], parties[1], admin, followed, pks, public_rows)


# ------------------------------------------------------------------ statements


def _key_match(table: str, pk: list[str]) -> sql.Composed:
    """WHERE clause matching the row whose key is in the jsonb parameter %(key)s."""
    cols = sql.SQL(", ").join(map(sql.Identifier, pk))
    return sql.SQL(
        "({cols}) = (SELECT {cols} FROM jsonb_populate_record(NULL::{t}, %(key)s))"
    ).format(cols=cols, t=sql.Identifier(table))


def _key(world: World, table: str, row: dict[str, Any]) -> Jsonb:
    return Jsonb({c: row[c] for c in world.pks[table]})


def _insert_from_json(table: str, cols: list[str]) -> sql.Composed:
    names = sql.SQL(", ").join(map(sql.Identifier, cols))
    return sql.SQL(
        "INSERT INTO {t} ({c}) SELECT {c} FROM jsonb_populate_record(NULL::{t}, %(row)s)"
    ).format(t=sql.Identifier(table), c=names)


def _snapshot(db: TestDatabase, world: World, table: str, row: dict[str, Any]) -> str | None:
    """The row as jsonb text, read as the owner; None when it is gone."""
    query = sql.SQL("SELECT to_jsonb(r)::text AS row FROM {} r WHERE ").format(
        sql.Identifier(table)
    )
    with db.owner() as conn:
        found = conn.execute(
            query + _key_match(table, world.pks[table]), {"key": _key(world, table, row)}
        ).fetchone()
    return None if found is None else str(found["row"])


Outcome = int | psycopg.Error


def attempt(
    session: AbstractContextManager[Conn], query: sql.Composable, params: Any = None
) -> Outcome:
    """Run one statement in its own transaction and commit it: rows affected, or the error."""
    try:
        with session as conn:
            rowcount = conn.execute(query, params).rowcount
            conn.commit()
            return rowcount
    except psycopg.Error as exc:
        return exc


def assert_no_effect(
    outcome: Outcome, what: str, allowed: tuple[str, ...] = (INSUFFICIENT_PRIVILEGE,)
) -> None:
    if isinstance(outcome, psycopg.Error):
        assert outcome.sqlstate in allowed, f"{what}: unexpected {outcome.sqlstate}: {outcome}"
    else:
        assert outcome == 0, f"{what}: affected {outcome} row(s)"


def assert_refused(
    outcome: Outcome, what: str, allowed: tuple[str, ...] = (INSUFFICIENT_PRIVILEGE,)
) -> None:
    assert isinstance(outcome, psycopg.Error), f"{what}: succeeded, {outcome} row(s)"
    assert outcome.sqlstate in allowed, f"{what}: unexpected {outcome.sqlstate}: {outcome}"


def _probe_assignment(
    cols: list[tuple[str, str]], skip: set[str]
) -> tuple[str, sql.Composable] | None:
    """A column the role may update and a new value for it, plain types first."""
    values: dict[str, Callable[[str], sql.Composable]] = {
        "text": lambda c: sql.Literal("rls-probe"),
        "boolean": lambda c: sql.SQL("NOT coalesce({}, false)").format(sql.Identifier(c)),
        "text[]": lambda c: sql.SQL("ARRAY['rls-probe']"),
        "jsonb": lambda c: sql.SQL("""'{"rls": "probe"}'::jsonb"""),
        "timestamp with time zone": lambda c: sql.SQL("now() - interval '1 day'"),
        "integer": lambda c: sql.SQL("coalesce({}, 0) + 1").format(sql.Identifier(c)),
        "numeric": lambda c: sql.SQL("coalesce({}, 0) + 1").format(sql.Identifier(c)),
    }
    for wanted, value in values.items():
        for col, typ in cols:
            if typ == wanted and col not in skip:
                return col, value(col)
    return None


def _copy(world: World, table: str, party: Party, row: dict[str, Any]) -> dict[str, Any]:
    """The party's row with a new key, still valid next to the original."""
    copy = dict(row)
    if "id" in world.pks[table] and owner_col(table) != "id":
        copy["id"] = str(uuid.uuid4())
    copy.update(VARY.get(table, lambda p: {})(party))
    return copy


def _assert_owner_can_insert(
    db: TestDatabase, table: str, cols: list[str], row: dict[str, Any]
) -> None:
    """The same INSERT succeeds as the owner (rolled back): a refusal is about who asks."""
    with db.owner() as conn, conn.transaction(force_rollback=True):
        assert conn.execute(_insert_from_json(table, cols), {"row": Jsonb(row)}).rowcount == 1


# ------------------------------------------------------------------ the catalog itself


def test_every_public_table_has_rls_tests_and_forced_rls(db: TestDatabase) -> None:
    with db.owner() as conn:
        _check_coverage(conn)
        rows = conn.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
        ).fetchall()
        lax = [r["relname"] for r in rows if not (r["relrowsecurity"] and r["relforcerowsecurity"])]
        public_policies = conn.execute(
            "SELECT tablename, policyname FROM pg_policies"
            " WHERE schemaname = 'public' AND 'public' = ANY (roles)"
        ).fetchall()
        # A view runs as its owner unless security_invoker is set, which skips RLS.
        definer_views = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')"
            "   AND (c.relkind = 'm' OR NOT coalesce('security_invoker=true' = ANY (c.reloptions)"
            "        OR 'security_invoker=on' = ANY (c.reloptions), false))"
            "   AND (has_table_privilege('anon', c.oid, 'SELECT')"
            "        OR has_table_privilege('authenticated', c.oid, 'SELECT'))"
        ).fetchall()
    assert lax == [], f"tables without enabled and forced RLS: {lax}"
    assert public_policies == [], f"policies that apply to PUBLIC: {public_policies}"
    assert definer_views == [], f"views readable by API roles that bypass RLS: {definer_views}"


def test_api_roles_hold_no_privileges_that_skip_rls(db: TestDatabase) -> None:
    """TRUNCATE ignores RLS and DELETE triggers (audit tables); TRIGGER and REFERENCES let a
    role attach code or constraints to a table. No API role holds any of them."""
    with db.owner() as conn:
        held = conn.execute(
            "SELECT n.nspname, c.relname, r.role, p.priv"
            "  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            "  CROSS JOIN unnest(ARRAY['anon', 'authenticated', 'service_role']) AS r(role)"
            "  CROSS JOIN unnest(ARRAY['TRUNCATE', 'TRIGGER', 'REFERENCES']) AS p(priv)"
            " WHERE n.nspname IN ('public', 'auth') AND c.relkind IN ('r', 'p', 'v', 'm')"
            "   AND has_table_privilege(r.role, c.oid, p.priv)"
        ).fetchall()
    assert held == []


# ------------------------------------------------------------------ another user (B) against A


@pytest.mark.parametrize("table", USER_TABLES)
def test_other_user_cannot_read(module_db: TestDatabase, shared_world: World, table: str) -> None:
    db, world = module_db, shared_world
    a_row = world.a.rows[table]
    t, owner = sql.Identifier(table), sql.Identifier(owner_col(table))
    with db.as_user(world.b.id) as conn:
        by_owner = conn.execute(
            sql.SQL("SELECT count(*) AS n FROM {} WHERE {} = %s").format(t, owner), [world.a.id]
        ).fetchone()
        by_key = conn.execute(
            sql.SQL("SELECT * FROM {} WHERE ").format(t) + _key_match(table, world.pks[table]),
            {"key": _key(world, table, a_row)},
        ).fetchall()
        everything = conn.execute(sql.SQL("SELECT {} AS owner FROM {}").format(owner, t)).fetchall()
    assert by_owner is not None and by_owner["n"] == 0
    assert by_key == []
    assert str(world.a.id) not in {str(r["owner"]) for r in everything}


@pytest.mark.parametrize("table", USER_TABLES)
def test_other_user_cannot_update(db: TestDatabase, world: World, table: str) -> None:
    a_row = world.a.rows[table]
    before = _snapshot(db, world, table, a_row)
    t, owner = sql.Identifier(table), sql.Identifier(owner_col(table))
    with db.owner() as conn:
        updatable = _granted_columns(conn, table, "UPDATE")
    probe = _probe_assignment(updatable, set(world.pks[table]) | {owner_col(table)})
    if probe is not None:
        col, value = probe
        outcome = attempt(
            db.as_user(world.b.id),
            sql.SQL("UPDATE {} SET {} = {} WHERE ").format(t, sql.Identifier(col), value)
            + _key_match(table, world.pks[table]),
            {"key": _key(world, table, a_row)},
        )
        assert_no_effect(outcome, f"B sets {table}.{col} of A's row")
    takeover = attempt(
        db.as_user(world.b.id),
        sql.SQL("UPDATE {} SET {} = %s WHERE {} = %s").format(t, owner, owner),
        [world.b.id, world.a.id],
    )
    assert_no_effect(takeover, f"B takes over A's {table} rows")
    assert _snapshot(db, world, table, a_row) == before


@pytest.mark.parametrize("table", USER_TABLES)
def test_other_user_cannot_delete(db: TestDatabase, world: World, table: str) -> None:
    a_row = world.a.rows[table]
    before = _snapshot(db, world, table, a_row)
    t, owner = sql.Identifier(table), sql.Identifier(owner_col(table))
    by_key = attempt(
        db.as_user(world.b.id),
        sql.SQL("DELETE FROM {} WHERE ").format(t) + _key_match(table, world.pks[table]),
        {"key": _key(world, table, a_row)},
    )
    assert_no_effect(by_key, f"B deletes A's {table} row by key")
    by_owner = attempt(
        db.as_user(world.b.id),
        sql.SQL("DELETE FROM {} WHERE {} = %s").format(t, owner),
        [world.a.id],
    )
    assert_no_effect(by_owner, f"B deletes A's {table} rows")
    assert before is not None
    assert _snapshot(db, world, table, a_row) == before


@pytest.mark.parametrize("table", USER_TABLES)
def test_other_user_cannot_insert_rows_owned_by_victim(
    db: TestDatabase, world: World, table: str
) -> None:
    copy = _copy(world, table, world.a, world.a.rows[table])
    with db.owner() as conn:
        insertable = [c for c, _ in _granted_columns(conn, table, "INSERT")]
        count_before = conn.execute(
            sql.SQL("SELECT count(*) AS n FROM {} WHERE {} = %s").format(
                sql.Identifier(table), sql.Identifier(owner_col(table))
            ),
            [world.a.id],
        ).fetchone()
    # With INSERT on the owner column only the policy can say no: insert exactly the
    # columns the role may write, so the refusal must be the RLS one.
    rls_decides = owner_col(table) in insertable
    cols = [c for c in copy if c in insertable] if rls_decides else list(copy)
    if owner_col(table) not in world.pks[table]:
        _assert_owner_can_insert(db, table, cols, copy)
    outcome = attempt(db.as_user(world.b.id), _insert_from_json(table, cols), {"row": Jsonb(copy)})
    assert_refused(outcome, f"B inserts a {table} row owned by A")
    if rls_decides:
        assert "row-level security" in str(outcome)
    with db.owner() as conn:
        count_after = conn.execute(
            sql.SQL("SELECT count(*) AS n FROM {} WHERE {} = %s").format(
                sql.Identifier(table), sql.Identifier(owner_col(table))
            ),
            [world.a.id],
        ).fetchone()
    assert count_after == count_before


@pytest.mark.parametrize("table", list(REFERENCES))
def test_other_user_cannot_point_own_rows_at_victims_rows(
    db: TestDatabase, world: World, table: str
) -> None:
    """B's rows may not reference A's account, bot, portfolio, strategy or session: neither a
    new row (B owns it, the reference is A's) nor B's existing row re-pointed."""
    b_row = world.b.rows[table]
    with db.owner() as conn:
        insertable = [c for c, _ in _granted_columns(conn, table, "INSERT")]
        updatable = {c for c, _ in _granted_columns(conn, table, "UPDATE")}
    before = _snapshot(db, world, table, b_row)
    refused: tuple[str, ...] = (INSUFFICIENT_PRIVILEGE, FOREIGN_KEY_VIOLATION)
    if table == "trader_follows":
        # B's copy names no trader (VARY), which the follow trigger refuses first
        # (trader_not_found); the re-pointing below meets the foreign key itself
        refused += ("CT404",)
    for col, ref_table in REFERENCES[table].items():
        victim_ref = world.a.rows[ref_table]["id"]
        copy = _copy(world, table, world.b, b_row)
        restricted = "user_id" in insertable and col in insertable
        cols = [c for c in copy if c in insertable] if restricted else list(copy)
        _assert_owner_can_insert(db, table, cols, copy)
        copy[col] = victim_ref
        outcome = attempt(
            db.as_user(world.b.id), _insert_from_json(table, cols), {"row": Jsonb(copy)}
        )
        assert_refused(outcome, f"B inserts a {table} row with A's {col}", refused)

        repoint = attempt(
            db.as_user(world.b.id),
            sql.SQL("UPDATE {} SET {} = %(ref)s WHERE ").format(
                sql.Identifier(table), sql.Identifier(col)
            )
            + _key_match(table, world.pks[table]),
            {"ref": victim_ref, "key": _key(world, table, b_row)},
        )
        if col in updatable:
            assert_refused(repoint, f"B points its {table} row at A's {col}", refused)
        else:
            assert_no_effect(repoint, f"B points its {table} row at A's {col}")
    assert _snapshot(db, world, table, b_row) == before


# ------------------------------------------------------------------ the owner, anon, admins


@pytest.mark.parametrize("table", USER_TABLES)
def test_owner_reads_own_rows(module_db: TestDatabase, shared_world: World, table: str) -> None:
    db, world = module_db, shared_world
    a_row = world.a.rows[table]
    t = sql.Identifier(table)
    with db.as_user(world.a.id) as conn:
        mine = conn.execute(
            sql.SQL("SELECT count(*) AS n FROM {} WHERE {} = %s").format(
                t, sql.Identifier(owner_col(table))
            ),
            [world.a.id],
        ).fetchone()
        by_key = conn.execute(
            sql.SQL("SELECT to_jsonb(r)::text AS row FROM {} r WHERE ").format(t)
            + _key_match(table, world.pks[table]),
            {"key": _key(world, table, a_row)},
        ).fetchall()
    assert mine is not None and mine["n"] >= 1
    assert [r["row"] for r in by_key] == [_snapshot(db, world, table, a_row)]


@pytest.mark.parametrize("table", USER_TABLES)
def test_anon_reads_no_user_rows(module_db: TestDatabase, shared_world: World, table: str) -> None:
    db = module_db  # shared_world holds the rows anon must not see
    query = sql.SQL("SELECT count(*) AS n FROM {} WHERE {} IS NOT NULL").format(
        sql.Identifier(table), sql.Identifier(owner_col(table))
    )
    try:
        with db.as_anon() as conn:
            row = conn.execute(query).fetchone()
    except psycopg.errors.InsufficientPrivilege:
        return
    assert row is not None and row["n"] == 0


@pytest.mark.parametrize("table", USER_TABLES)
def test_admin_reads_every_users_rows(
    module_db: TestDatabase, shared_world: World, table: str
) -> None:
    db, world = module_db, shared_world
    t, owner = sql.Identifier(table), sql.Identifier(owner_col(table))
    with db.as_user(world.admin, admin=True) as conn:
        owners = conn.execute(
            sql.SQL("SELECT DISTINCT {}::text AS owner FROM {}").format(owner, t)
        ).fetchall()
        by_key = conn.execute(
            sql.SQL("SELECT 1 FROM {} WHERE ").format(t) + _key_match(table, world.pks[table]),
            {"key": _key(world, table, world.a.rows[table])},
        ).fetchall()
    assert {str(world.a.id), str(world.b.id)} <= {r["owner"] for r in owners}
    assert len(by_key) == 1
    with db.as_user(world.admin) as conn:  # the same user without admin claims
        plain = conn.execute(
            sql.SQL("SELECT count(*) AS n FROM {} WHERE {} = %s").format(t, owner), [world.a.id]
        ).fetchone()
    assert plain is not None and plain["n"] == 0


@pytest.mark.parametrize("table", USER_TABLES)
def test_admin_cannot_delete_other_users_rows(db: TestDatabase, world: World, table: str) -> None:
    """Admins read everything but change only what a policy says (account status)."""
    a_row = world.a.rows[table]
    before = _snapshot(db, world, table, a_row)
    outcome = attempt(
        db.as_user(world.admin, admin=True),
        sql.SQL("DELETE FROM {} WHERE {} = %s").format(
            sql.Identifier(table), sql.Identifier(owner_col(table))
        ),
        [world.a.id],
    )
    assert_no_effect(outcome, f"an admin deletes A's {table} rows")
    assert _snapshot(db, world, table, a_row) == before


def test_followed_trader_sees_the_follow_but_cannot_change_it(
    db: TestDatabase, world: World
) -> None:
    follow = world.a.rows["trader_follows"]
    before = _snapshot(db, world, "trader_follows", follow)
    with db.as_user(world.followed) as conn:
        seen = conn.execute(
            "SELECT id FROM trader_follows WHERE user_id = %s", [world.a.id]
        ).fetchall()
    assert [str(r["id"]) for r in seen] == [follow["id"]]
    changed = attempt(
        db.as_user(world.followed),
        sql.SQL(
            "UPDATE trader_follows SET copy_trading_enabled = true, allocation_percentage = 100"
            " WHERE id = %s"
        ),
        [follow["id"]],
    )
    assert_no_effect(changed, "the followed trader edits the follow")
    removed = attempt(
        db.as_user(world.followed),
        sql.SQL("DELETE FROM trader_follows WHERE id = %s"),
        [follow["id"]],
    )
    assert_no_effect(removed, "the followed trader deletes the follow")
    assert _snapshot(db, world, "trader_follows", follow) == before


# ------------------------------------------------------------------ public reference data


def test_anon_reads_public_tables_and_public_templates(db: TestDatabase, world: World) -> None:
    with db.as_anon() as conn:
        counts = {
            t: conn.execute(
                sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(t))
            ).fetchone()
            for t in PUBLIC_TABLES
        }
        templates = conn.execute(
            "SELECT name, created_by, is_public FROM account_templates"
        ).fetchall()
    assert all(c is not None and c["n"] >= 1 for c in counts.values()), counts
    assert {"Balanced", "Conservative", "Aggressive"} <= {t["name"] for t in templates}
    assert all(t["is_public"] for t in templates)
    assert world.a.rows["account_templates"]["name"] not in {t["name"] for t in templates}
    with db.as_user(world.b.id) as conn:
        names = {r["name"] for r in conn.execute("SELECT name FROM account_templates").fetchall()}
    assert "Balanced" in names
    assert world.b.rows["account_templates"]["name"] in names
    assert world.a.rows["account_templates"]["name"] not in names


def _public_write_attempts(
    db: TestDatabase, world: World, table: str, session: Callable[[], AbstractContextManager[Conn]]
) -> dict[str, Outcome]:
    row = world.public_rows[table]
    pk = _primary_key_of_public(world, table)
    copy = {**row, **PUBLIC_VARY[table]}
    _assert_owner_can_insert(db, table, list(copy), copy)
    key = {"key": Jsonb({c: row[c] for c in pk})}
    col = next(c for c in ("name", "source", "provider") if c in row)
    return {
        "insert": attempt(session(), _insert_from_json(table, list(copy)), {"row": Jsonb(copy)}),
        "update": attempt(
            session(),
            sql.SQL("UPDATE {} SET {} = 'rls-probe' WHERE ").format(
                sql.Identifier(table), sql.Identifier(col)
            )
            + _key_match(table, pk),
            key,
        ),
        "delete": attempt(
            session(),
            sql.SQL("DELETE FROM {} WHERE ").format(sql.Identifier(table)) + _key_match(table, pk),
            key,
        ),
    }


def _primary_key_of_public(world: World, table: str) -> list[str]:
    return world.pks[table]


@pytest.mark.parametrize("table", [*PUBLIC_TABLES, "account_templates"])
def test_anon_cannot_write_public_tables(db: TestDatabase, world: World, table: str) -> None:
    pk = _primary_key_of_public(world, table)
    before = _snapshot_public(db, table, pk, world.public_rows[table])
    outcomes = _public_write_attempts(db, world, table, db.as_anon)
    for what, outcome in outcomes.items():
        assert_refused(outcome, f"anon {what} on {table}")
    assert _snapshot_public(db, table, pk, world.public_rows[table]) == before


@pytest.mark.parametrize("table", [*PUBLIC_TABLES, "account_templates"])
def test_non_admin_cannot_write_public_rows(db: TestDatabase, world: World, table: str) -> None:
    """Users read reference data and system templates; only admins and the service write them
    (users may create templates of their own, but never system ones: created_by NULL)."""
    pk = _primary_key_of_public(world, table)
    before = _snapshot_public(db, table, pk, world.public_rows[table])
    outcomes = _public_write_attempts(db, world, table, lambda: db.as_user(world.b.id))
    assert_refused(outcomes["insert"], f"a user inserts into {table}")
    # templates: the column grants refuse system-only columns before RLS is asked
    assert "row-level security" in str(outcomes["insert"]) or (
        table == "account_templates" and "permission denied" in str(outcomes["insert"])
    )
    assert_no_effect(outcomes["update"], f"a user updates {table}")
    assert_no_effect(outcomes["delete"], f"a user deletes from {table}")
    assert _snapshot_public(db, table, pk, world.public_rows[table]) == before


@pytest.mark.parametrize("table", PUBLIC_TABLES)
def test_admin_writes_public_tables(db: TestDatabase, world: World, table: str) -> None:
    row = world.public_rows[table]
    pk = _primary_key_of_public(world, table)
    col = next(c for c in ("name", "source", "provider") if c in row)
    with db.as_user(world.admin, admin=True) as conn:
        updated = conn.execute(
            sql.SQL("UPDATE {} SET {} = 'rls-probe' WHERE ").format(
                sql.Identifier(table), sql.Identifier(col)
            )
            + _key_match(table, pk),
            {"key": Jsonb({c: row[c] for c in pk})},
        ).rowcount
    assert updated == 1


def _snapshot_public(
    db: TestDatabase, table: str, pk: list[str], row: dict[str, Any]
) -> str | None:
    query = sql.SQL("SELECT to_jsonb(r)::text AS row FROM {} r WHERE ").format(
        sql.Identifier(table)
    )
    with db.owner() as conn:
        found = conn.execute(
            query + _key_match(table, pk), {"key": Jsonb({c: row[c] for c in pk})}
        ).fetchone()
    return None if found is None else str(found["row"])


# ------------------------------------------------------------------ accounts: status and money


def _account_status(db: TestDatabase, account_id: Any) -> str:
    with db.owner() as conn:
        row = conn.execute(
            "SELECT status FROM paper_trading_accounts WHERE id = %s", [account_id]
        ).fetchone()
    assert row is not None
    return str(row["status"])


def test_admin_suspends_another_users_account(db: TestDatabase, world: World) -> None:
    account = world.a.ref("paper_trading_accounts")
    with db.as_user(world.admin, admin=True) as conn:
        cur = conn.execute(
            "UPDATE paper_trading_accounts SET status = 'suspended' WHERE id = %s", [account]
        )
        assert cur.rowcount == 1
        conn.commit()
    assert _account_status(db, account) == "suspended"
    # ... and the owner cannot lift the suspension.
    lifted = attempt(
        db.as_user(world.a.id),
        sql.SQL("UPDATE paper_trading_accounts SET status = 'active' WHERE id = %s"),
        [account],
    )
    assert_refused(lifted, "A unsuspends their account", (APP_FORBIDDEN,))
    assert _account_status(db, account) == "suspended"


def test_user_cannot_suspend_own_account_but_can_pause_it(db: TestDatabase, world: World) -> None:
    account = world.a.ref("paper_trading_accounts")
    suspended = attempt(
        db.as_user(world.a.id),
        sql.SQL("UPDATE paper_trading_accounts SET status = 'suspended' WHERE id = %s"),
        [account],
    )
    assert_refused(suspended, "A suspends their own account", (APP_FORBIDDEN,))
    assert _account_status(db, account) == "active"
    paused = attempt(
        db.as_user(world.a.id),
        sql.SQL("UPDATE paper_trading_accounts SET status = 'paused' WHERE id = %s"),
        [account],
    )
    assert paused == 1
    assert _account_status(db, account) == "paused"
    by_other = attempt(
        db.as_user(world.b.id),
        sql.SQL("UPDATE paper_trading_accounts SET status = 'suspended' WHERE id = %s"),
        [account],
    )
    assert_no_effect(by_other, "B suspends A's account")
    assert _account_status(db, account) == "paused"


MONEY_COLUMNS = [
    ("paper_trading_accounts", "balance"),
    ("paper_trading_accounts", "initial_balance"),
    ("paper_trading_accounts", "total_pnl"),
    ("paper_trading_accounts", "total_pnl_percentage"),
    ("portfolios", "current_balance"),
    ("portfolios", "total_value"),
    ("portfolios", "total_pnl"),
    ("profiles", "paper_balance"),
    ("account_positions", "quantity"),
    ("paper_trades", "total_value"),
    # the trading engine's ledger (0006)
    ("paper_trading_accounts", "reserved_balance"),
    ("paper_trading_accounts", "fees_paid"),
    ("paper_trading_accounts", "day_realized_pnl"),
    ("paper_trading_accounts", "epoch"),
    ("account_positions", "cost_basis"),
    ("paper_trades", "realized_pnl"),
    ("paper_trades", "fee"),
]


@pytest.mark.parametrize(("table", "column"), MONEY_COLUMNS)
def test_user_cannot_write_money_columns_of_own_rows(
    db: TestDatabase, world: World, table: str, column: str
) -> None:
    a_row = world.a.rows[table]
    before = _snapshot(db, world, table, a_row)
    for claims_admin in (False, True):
        who = world.admin if claims_admin else world.a.id
        outcome = attempt(
            db.as_user(who, admin=claims_admin),
            sql.SQL("UPDATE {} SET {} = 1e9 WHERE ").format(
                sql.Identifier(table), sql.Identifier(column)
            )
            + _key_match(table, world.pks[table]),
            {"key": _key(world, table, a_row)},
        )
        assert_refused(outcome, f"{'an admin' if claims_admin else 'A'} sets {table}.{column}")
    assert _snapshot(db, world, table, a_row) == before


def test_new_account_balance_comes_from_initial_balance(db: TestDatabase, world: World) -> None:
    with_balance = attempt(
        db.as_user(world.a.id),
        sql.SQL(
            "INSERT INTO paper_trading_accounts (user_id, account_name, initial_balance, balance)"
            " VALUES (%s, 'Rich', 5000, 1e9)"
        ),
        [world.a.id],
    )
    assert_refused(with_balance, "A opens an account with a balance")
    with db.as_user(world.a.id) as conn:
        row = conn.execute(
            "INSERT INTO paper_trading_accounts (user_id, account_name, initial_balance)"
            " VALUES (%s, 'Fresh', 5000) RETURNING balance, initial_balance, total_pnl, status",
            [world.a.id],
        ).fetchone()
    assert row is not None
    assert row["balance"] == row["initial_balance"] == Decimal(5000)
    assert row["total_pnl"] == 0
    assert row["status"] == "active"
    for column in ("status", "total_pnl", "template_id", "access_count"):
        outcome = attempt(
            db.as_user(world.a.id),
            sql.SQL(
                "INSERT INTO paper_trading_accounts (user_id, account_name, {col})"
                " SELECT user_id, 'X', {col} FROM paper_trading_accounts WHERE id = %s"
            ).format(col=sql.Identifier(column)),
            [world.a.ref("paper_trading_accounts")],
        )
        assert_refused(outcome, f"A opens an account setting {column}")


def test_template_rpc_does_not_open_another_users_private_template(
    db: TestDatabase, world: World
) -> None:
    """create_account_from_template runs as the owner (RLS off): it must check visibility."""
    private = world.a.rows["account_templates"]["id"]
    query = sql.SQL("SELECT (create_account_from_template(%s, 'From template')).user_id")
    stolen = attempt(db.as_user(world.b.id), query, [private])
    assert_refused(stolen, "B opens an account from A's private template", ("CT404",))
    with db.as_user(world.a.id) as conn:
        row = conn.execute(query, [private]).fetchone()
    assert row is not None and str(row["user_id"]) == str(world.a.id)


# Functions that run as the owner (RLS off) and act on a caller's object: B passes A's.
RPC_CALLS = {
    "execute_paper_trade": "SELECT execute_paper_trade(%(account)s, 'BTC', 'buy', 0.001)",
    "cancel_order": "SELECT cancel_order(%(trade)s)",
    "reset_paper_account": "SELECT reset_paper_account(%(account)s)",
    "calculate_account_metrics": "SELECT calculate_account_metrics(%(account)s)",
}


@pytest.mark.parametrize("function", list(RPC_CALLS))
def test_rpcs_treat_another_users_account_as_missing(
    db: TestDatabase, world: World, function: str
) -> None:
    params = {
        "account": world.a.ref("paper_trading_accounts"),
        "trade": world.a.ref("paper_trades"),
    }
    account_before = _snapshot(db, world, ACCOUNT, world.a.rows[ACCOUNT])
    trade_before = _snapshot(db, world, "paper_trades", world.a.rows["paper_trades"])
    query = sql.SQL(RPC_CALLS[function])  # type: ignore[arg-type]
    outcome = attempt(db.as_user(world.b.id), query, params)
    assert_refused(outcome, f"B calls {function} on A's account", ("CT404",))
    admin = attempt(db.as_user(world.admin, admin=True), query, params)
    assert_refused(admin, f"an admin calls {function} on A's account", ("CT404",))
    anon = attempt(db.as_anon(), query, params)
    assert_refused(anon, f"anon calls {function}")
    assert _snapshot(db, world, ACCOUNT, world.a.rows[ACCOUNT]) == account_before
    assert _snapshot(db, world, "paper_trades", world.a.rows["paper_trades"]) == trade_before


# ------------------------------------------------------------------ audit tables


AUDIT_TABLES = ["audit_logs", "paper_account_audit"]


def _sessions(
    db: TestDatabase, world: World
) -> dict[str, Callable[[], AbstractContextManager[Conn]]]:
    return {
        "owner": lambda: db.as_user(world.a.id),
        "admin": lambda: db.as_user(world.admin, admin=True),
        "service_role": db.as_service,
    }


@pytest.mark.parametrize("table", AUDIT_TABLES)
@pytest.mark.parametrize("who", ["owner", "admin", "service_role"])
def test_audit_tables_are_append_only(db: TestDatabase, world: World, table: str, who: str) -> None:
    a_row = world.a.rows[table]
    before = _snapshot(db, world, table, a_row)
    session = _sessions(db, world)[who]
    refused = (INSUFFICIENT_PRIVILEGE, APP_FORBIDDEN)
    col = "action"
    key = {"key": _key(world, table, a_row)}
    updated = attempt(
        session(),
        sql.SQL("UPDATE {} SET {} = 'erased' WHERE ").format(
            sql.Identifier(table), sql.Identifier(col)
        )
        + _key_match(table, world.pks[table]),
        key,
    )
    assert_refused(updated, f"{who} updates {table}", refused)
    deleted = attempt(
        session(),
        sql.SQL("DELETE FROM {} WHERE ").format(sql.Identifier(table))
        + _key_match(table, world.pks[table]),
        key,
    )
    assert_refused(deleted, f"{who} deletes from {table}", refused)
    assert _snapshot(db, world, table, a_row) == before


def test_users_cannot_forge_audit_entries_for_others_or_nobody(
    db: TestDatabase, world: World
) -> None:
    for owner in (world.b.id, None):
        outcome = attempt(
            db.as_user(world.a.id),
            sql.SQL("INSERT INTO audit_logs (user_id, action) VALUES (%s, 'forged')"),
            [owner],
        )
        assert_refused(outcome, f"A writes an audit entry for {owner}")
        assert "row-level security" in str(outcome)
    own = attempt(
        db.as_user(world.a.id),
        sql.SQL("INSERT INTO audit_logs (user_id, action) VALUES (%s, 'own')"),
        [world.a.id],
    )
    assert own == 1


# ------------------------------------------------------------------ partitions and auth


@pytest.mark.parametrize("who", ["authenticated", "anon", "service_role"])
def test_partitions_are_reachable_only_through_their_parent(
    db: TestDatabase, world: World, who: str
) -> None:
    with db.owner() as conn:
        partitions = _partitions(conn)
    assert "paper_trades_default" in partitions
    assert "account_analytics_default" in partitions
    sessions: dict[str, Callable[[], AbstractContextManager[Conn]]] = {
        "authenticated": lambda: db.as_user(world.a.id),
        "anon": db.as_anon,
        "service_role": db.as_service,
    }
    for part in partitions:
        for statement in ("SELECT * FROM {}", "DELETE FROM {}"):
            outcome = attempt(sessions[who](), sql.SQL(statement).format(sql.Identifier(part)))
            assert_refused(outcome, f"{who}: {statement.format(part)}")


@pytest.mark.parametrize("who", ["authenticated", "anon"])
def test_api_roles_cannot_read_sign_in_identities(db: TestDatabase, world: World, who: str) -> None:
    session = db.as_user(world.a.id) if who == "authenticated" else db.as_anon()
    outcome = attempt(session, sql.SQL("SELECT id, encrypted_password FROM auth.users"))
    assert_refused(outcome, f"{who} reads auth.users")
