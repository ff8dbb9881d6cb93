"""Migration 0029: schema ``procrastinate`` is procrastinate's own schema.sql, object for
object, and nothing of it (nor of our record of job errors) is open to the API roles."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import procrastinate
import psycopg
import pytest
from procrastinate.schema import SchemaManager

from tests.support import TestDatabase

MIGRATION = resources.files("cryptotrader.db.migrations").joinpath("0029_jobs.sql")
SCRATCH = "procrastinate_check"
# ours among procrastinate's objects (migration 0029 says why)
OURS = {"indexes": {"procrastinate.procrastinate_jobs_worker_id_idx"}}

CATALOG = {
    "tables": """
        SELECT c.relname AS name, c.relkind AS kind, c.relpersistence AS persistence
          FROM pg_class c WHERE c.relnamespace = %(schema)s::regnamespace
           AND c.relkind IN ('r', 'p', 'v', 'S')""",
    "columns": """
        SELECT c.relname AS "table", a.attnum AS position, a.attname AS name,
               format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
               pg_get_expr(d.adbin, d.adrelid) AS "default", a.attidentity AS identity
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind IN ('r', 'p', 'c')
           AND a.attnum > 0 AND NOT a.attisdropped""",
    "constraints": """
        SELECT conrelid::regclass::text AS "table", conname AS name, contype AS type,
               pg_get_constraintdef(oid) AS definition
          FROM pg_constraint WHERE connamespace = %(schema)s::regnamespace""",
    "indexes": """
        SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE c.relnamespace = %(schema)s::regnamespace""",
    "functions": """
        SELECT p.proname AS name, pg_get_function_identity_arguments(p.oid) AS arguments,
               pg_get_function_result(p.oid) AS result, p.prokind AS kind,
               l.lanname AS language, p.prosecdef AS security_definer,
               p.provolatile AS volatility, p.proconfig AS config, p.prosrc AS body
          FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
         WHERE p.pronamespace = %(schema)s::regnamespace""",
    "triggers": """
        SELECT t.tgrelid::regclass::text AS "table", t.tgname AS name,
               pg_get_triggerdef(t.oid) AS definition, t.tgenabled AS enabled
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         WHERE c.relnamespace = %(schema)s::regnamespace AND NOT t.tgisinternal""",
    "types": """
        SELECT t.typname AS name, t.typtype AS kind,
               (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e
                 WHERE e.enumtypid = t.oid) AS labels
          FROM pg_type t WHERE t.typnamespace = %(schema)s::regnamespace
           AND (t.typtype = 'e' OR (t.typtype = 'c' AND
                (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))""",
}


def catalog(conn: psycopg.Connection[Any], schema: str) -> dict[str, set[str]]:
    """Each kind of object of ``schema``, every name qualified (an empty search_path) and
    the schema itself called ``procrastinate``."""
    conn.execute("SELECT set_config('search_path', '', true)")
    out = {}
    for kind, query in CATALOG.items():
        rows = conn.execute(query, {"schema": schema}).fetchall()
        out[kind] = {
            re.sub(rf"\b{schema}\.", "procrastinate.", repr(sorted(row.items()))) for row in rows
        }
    return out


def test_the_migration_carries_procrastinates_schema_verbatim() -> None:
    text = MIGRATION.read_text(encoding="utf-8")
    version = procrastinate.__version__
    begin = f"-- >>> procrastinate {version} sql/schema.sql >>>\n"
    end = f"-- <<< procrastinate {version} sql/schema.sql <<<\n"
    assert begin in text and end in text, f"the migration is not procrastinate {version}'s"
    carried = text.split(begin, 1)[1].split(end, 1)[0]
    assert carried.rstrip("\n") == SchemaManager.get_schema().rstrip("\n")


def test_the_migrated_schema_is_what_procrastinates_creates(db: TestDatabase) -> None:
    with db.owner() as conn, conn.transaction(force_rollback=True):
        conn.execute(f"CREATE SCHEMA {SCRATCH}")  # type: ignore[arg-type]
        conn.execute(f"SET LOCAL search_path = {SCRATCH}, pg_catalog")  # type: ignore[arg-type]
        conn.execute(SchemaManager.get_schema().encode())
        fresh = catalog(conn, SCRATCH)
        migrated = catalog(conn, "procrastinate")
    assert all(fresh.values())  # the catalog sees each kind of object
    assert len(fresh["tables"]) >= 8 and len(fresh["functions"]) >= 15
    for kind in CATALOG:
        extra = {line for line in migrated[kind] - fresh[kind] if not _ours(kind, line)}
        assert not extra, f"{kind} the migration has and procrastinate's schema has not"
        assert not fresh[kind] - migrated[kind], f"{kind} the migration lacks"


def _ours(kind: str, line: str) -> bool:
    return any(f"'{name}'" in line for name in OURS.get(kind, ()))


def test_our_index_is_all_the_migration_adds(db: TestDatabase) -> None:
    with db.owner() as conn:
        rows = conn.execute(
            "SELECT indexrelid::regclass::text AS name FROM pg_index"
            " WHERE indrelid = 'procrastinate.procrastinate_jobs'::regclass"
        ).fetchall()
    assert OURS["indexes"] <= {r["name"] for r in rows}


PROBES = (
    "SELECT count(*) FROM procrastinate.procrastinate_jobs",
    "INSERT INTO procrastinate.procrastinate_workers DEFAULT VALUES",
    "SELECT procrastinate.procrastinate_register_worker_v1()",
    "SELECT count(*) FROM private.job_errors",
)


@pytest.mark.parametrize("role", ["anon", "authenticated"])
@pytest.mark.parametrize("probe", PROBES)
def test_the_api_roles_cannot_touch_the_job_queue(db: TestDatabase, role: str, probe: str) -> None:
    claims = {"role": role, "sub": "00000000-0000-4000-8000-000000000001"}
    with db.as_role(role, claims) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(probe)  # type: ignore[arg-type]


def test_nothing_of_the_queue_is_granted_but_to_the_service(db: TestDatabase) -> None:
    with db.owner() as conn:
        granted = conn.execute(
            """
            SELECT r.rolname AS grantee, o.kind, o.name
              FROM (SELECT 'schema' AS kind, 'procrastinate' AS name, n.nspacl AS acl
                      FROM pg_namespace n WHERE n.nspname = 'procrastinate'
                    UNION ALL
                    SELECT 'relation', c.oid::regclass::text, c.relacl FROM pg_class c
                     WHERE c.relnamespace = 'procrastinate'::regnamespace
                        OR c.oid = 'private.job_errors'::regclass
                    UNION ALL
                    SELECT 'function', p.oid::regprocedure::text, p.proacl FROM pg_proc p
                     WHERE p.pronamespace = 'procrastinate'::regnamespace
                    UNION ALL
                    SELECT 'type', t.oid::regtype::text, t.typacl FROM pg_type t
                     WHERE t.typnamespace = 'procrastinate'::regnamespace) o
             CROSS JOIN LATERAL aclexplode(o.acl) a
              LEFT JOIN pg_roles r ON r.oid = a.grantee
             WHERE a.grantee <> a.grantor
            """
        ).fetchall()
        service = conn.execute(
            "SELECT bool_and(has_table_privilege('service_role', c.oid,"
            " 'SELECT, INSERT, UPDATE, DELETE')) AS tables"
            " FROM pg_class c WHERE c.relnamespace = 'procrastinate'::regnamespace"
            " AND c.relkind = 'r'"
        ).fetchone()
        functions = conn.execute(
            "SELECT bool_and(has_function_privilege('service_role', p.oid, 'EXECUTE')) AS ok"
            " FROM pg_proc p WHERE p.pronamespace = 'procrastinate'::regnamespace"
        ).fetchone()
    assert {g["grantee"] for g in granted} == {"service_role"}, granted
    assert service == {"tables": True} and functions == {"ok": True}
