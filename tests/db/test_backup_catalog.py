"""The catalog snapshot the restore tests compare sees every kind of change a restore could
lose: were it blind to one, a restore losing that would pass them."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from tests.db.catalog import differences, snapshot
from tests.support import APP_ROLE, TestDatabase

# (statement, the section that must show it, a text its line must contain)
CHANGES: list[tuple[str, str, str]] = [
    ("REVOKE USAGE ON SCHEMA public FROM PUBLIC", "schemas", '"schema": "public"'),
    (
        "REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA gateway FROM PUBLIC",
        "functions",
        "gateway.place_order(",
    ),
    ("ALTER FUNCTION auth.uid() SET work_mem = '1MB'", "functions", "work_mem"),
    ("GRANT SELECT ON cryptotrader_meta.migrations TO anon", "relations", "anon=SELECT"),
    ("GRANT SELECT (name) ON cryptotrader_meta.migrations TO anon", "columns", "anon=SELECT"),
    (
        "ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO PUBLIC",
        "default_privileges",
        '"kind": "f"',
    ),
    (
        "ALTER TABLE public.paper_trades NO FORCE ROW LEVEL SECURITY",
        "relations",
        '"relation": "public.paper_trades"',
    ),
    (f"REVOKE anon FROM {APP_ROLE}", "memberships", '"role": "anon"'),
    ("CREATE TEMP TABLE ignored (x int)", "", ""),  # PostgreSQL's own schemas are not ours
]


def test_snapshot_sees_each_kind_of_change(db: TestDatabase) -> None:
    with psycopg.connect(db.owner_conninfo, row_factory=dict_row) as conn:
        policy = conn.execute(
            "SELECT schemaname, tablename, policyname FROM pg_policies"
            " WHERE schemaname = 'public' ORDER BY tablename, policyname LIMIT 1"
        ).fetchone()
        partition = conn.execute(
            "SELECT inhrelid::regclass::text AS child FROM pg_inherits"
            " WHERE inhparent = 'public.paper_trades'::regclass ORDER BY 1 LIMIT 1"
        ).fetchone()
        trigger = conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'auth.users'::regclass"
            " AND NOT tgisinternal ORDER BY 1 LIMIT 1"
        ).fetchone()
        sequence = conn.execute(
            "SELECT format('%I.%I', schemaname, sequencename) AS name FROM pg_sequences"
            " ORDER BY 1 LIMIT 1"
        ).fetchone()
        assert policy and partition and trigger and sequence
        changes = [
            *CHANGES,
            (
                f'ALTER POLICY "{policy["policyname"]}" ON public.{policy["tablename"]}'
                " USING (false)",
                "policies",
                policy["policyname"],
            ),
            (
                f"ALTER TABLE public.paper_trades DETACH PARTITION {partition['child']}",
                "partitions",
                partition["child"],
            ),
            (
                f'ALTER TABLE auth.users DISABLE TRIGGER "{trigger["tgname"]}"',
                "triggers",
                trigger["tgname"],
            ),
            (f"SELECT setval('{sequence['name']}', 4242)", "sequences", '"last_value": 4242'),
        ]
        before = snapshot(conn, APP_ROLE)
        assert differences(before, snapshot(conn, APP_ROLE)) == []  # deterministic
        for statement, section, text in changes:
            with conn.transaction() as change:
                conn.execute(statement)  # type: ignore[arg-type]
                seen = differences(before, snapshot(conn, APP_ROLE))
                raise psycopg.Rollback(change)
            if not section:
                assert seen == [], statement
            else:
                shown = [line for line in seen if line.startswith(f"{section}: ")]
                assert any(text in line for line in shown), f"{statement}: {seen}"
        conn.rollback()
