"""Catalog lint: security and indexing rules every migration must keep.

Each test lists every offender in its failure message, so one run shows all there is to fix.
"""

from __future__ import annotations

import pytest

from tests.support import APP_ROLE, Row, TestDatabase

API_ROLES = ("anon", "authenticated")

# SECURITY DEFINER functions the API roles may call, and which of them may. Every entry is
# a deliberate entry point (it checks auth.uid() itself); add new ones here with the issue
# that introduced them.
SECURITY_DEFINER_CALLABLE: dict[str, frozenset[str]] = {
    "public.create_account_from_template": frozenset({"authenticated"}),
    # the trading engine: each checks auth.uid() against the account or order itself
    "public.execute_paper_trade": frozenset({"authenticated"}),
    "public.cancel_order": frozenset({"authenticated"}),
    "public.reset_paper_account": frozenset({"authenticated"}),
    "public.calculate_account_metrics": frozenset({"authenticated"}),
    # template ratings (0014): checks auth.uid() and the template's visibility itself
    "public.rate_template": frozenset({"authenticated"}),
    # a listed trader's follower count (0034): a count only, 0 for a trader not listed
    "public.trader_follower_count": frozenset({"anon", "authenticated"}),
    # the leaderboard's tracks (0036): listed traders only, daily returns and counts, no money
    "public.leaderboard_tracks": frozenset({"authenticated"}),
    # copy trading (0035): a listed trader's copiers' aggregate PnL (a published figure),
    # and opening a trader's positions for the caller's own follow (it returns a count)
    "public.copiers_pnl": frozenset({"anon", "authenticated"}),
    "public.copy_open_positions": frozenset({"authenticated"}),
    # webhooks (0038): each checks the endpoint or delivery is auth.uid()'s; the secret is
    # written, never returned
    "public.set_webhook_secret": frozenset({"authenticated"}),
    "public.send_webhook_test": frozenset({"authenticated"}),
    "public.redeliver_webhook": frozenset({"authenticated"}),
}

# Columns that only trusted code (SECURITY DEFINER functions, the service) may write.
MONEY_COLUMNS = ("balance", "initial_balance", "total_pnl", "total_pnl_percentage")

# Schemas that belong to PostgreSQL itself.
SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema', 'pg_toast')"


def _rows(db: TestDatabase, query: str, params: list[object] | None = None) -> list[Row]:
    with db.owner() as conn:
        return conn.execute(query, params).fetchall()


def _report(rows: list[Row]) -> str:
    return "\n  " + "\n  ".join(", ".join(f"{k}={v}" for k, v in r.items()) for r in rows)


# ------------------------------------------------------------------ row level security


def test_every_public_table_forces_rls(db: TestDatabase) -> None:
    bad = _rows(
        db,
        """
        SELECT c.oid::regclass AS "table", c.relrowsecurity AS enabled,
               c.relforcerowsecurity AS forced
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
           AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
         ORDER BY 1
        """,
    )
    assert not bad, "tables without RLS enabled and forced:" + _report(bad)


def test_every_public_table_has_a_policy(db: TestDatabase) -> None:
    bad = _rows(
        db,
        """
        SELECT c.oid::regclass AS "table"
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
         ORDER BY 1
        """,
    )
    assert not bad, "tables without any policy:" + _report(bad)


def test_no_write_policy_is_plainly_true_for_api_roles(db: TestDatabase) -> None:
    """A policy for PUBLIC, anon or authenticated (directly or through membership) on
    INSERT/UPDATE/DELETE/ALL must restrict something. Service-role policies and SELECT
    policies on public reference data may be `true`."""
    bad = _rows(
        db,
        """
        SELECT p.polrelid::regclass AS "table", p.polname AS policy, p.polcmd AS command,
               ARRAY(SELECT CASE r WHEN 0 THEN 'public' ELSE r::regrole::text END
                       FROM unnest(p.polroles) AS r) AS roles,
               pg_get_expr(p.polqual, p.polrelid) AS using,
               pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
          FROM pg_policy p
         WHERE p.polcmd IN ('a', 'w', 'd', '*')
           AND EXISTS (SELECT 1 FROM unnest(p.polroles) AS r, unnest(%s::text[]) AS api(role)
                        WHERE r = 0 OR pg_has_role(api.role, r, 'MEMBER'))
           AND 'true' IN (lower(btrim(pg_get_expr(p.polqual, p.polrelid), '() ')),
                          lower(btrim(pg_get_expr(p.polwithcheck, p.polrelid), '() ')))
         ORDER BY 1, 2
        """,
        [list(API_ROLES)],
    )
    assert not bad, "write policies that let API roles through unconditionally:" + _report(bad)


def test_public_views_are_security_invoker(db: TestDatabase) -> None:
    views = _rows(
        db,
        """
        SELECT c.oid::regclass AS view, c.reloptions AS options
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'v'
         ORDER BY 1
        """,
    )
    invoker = {f"security_invoker={v}" for v in ("true", "on", "yes", "1")}
    bad = [v for v in views if not invoker & {o.lower() for o in v["options"] or []}]
    assert not bad, "views that run with their owner's rights (bypassing RLS):" + _report(bad)


# ------------------------------------------------------------------ functions


def test_security_definer_functions_are_not_callable_by_api_roles(db: TestDatabase) -> None:
    rows = _rows(
        db,
        f"""
        SELECT format('%%I.%%I', n.nspname, p.proname) AS name, p.oid::regprocedure AS function,
               api.role
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
               unnest(%s::text[]) AS api(role)
         WHERE p.prosecdef AND n.nspname NOT IN {SYSTEM_SCHEMAS}
           AND has_function_privilege(api.role, p.oid, 'EXECUTE')
         ORDER BY 2, 3
        """,
        [list(API_ROLES)],
    )
    bad = [r for r in rows if r["role"] not in SECURITY_DEFINER_CALLABLE.get(r["name"], ())]
    assert not bad, (
        "SECURITY DEFINER functions the API roles may execute (revoke, or add them to"
        " SECURITY_DEFINER_CALLABLE):" + _report(bad)
    )


def test_security_definer_functions_pin_search_path(db: TestDatabase) -> None:
    bad = _rows(
        db,
        f"""
        SELECT p.oid::regprocedure AS function, p.proconfig AS config
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE p.prosecdef AND n.nspname NOT IN {SYSTEM_SCHEMAS}
           AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c
                            WHERE starts_with(c, 'search_path='))
         ORDER BY 1
        """,
    )
    assert not bad, "SECURITY DEFINER functions without SET search_path:" + _report(bad)


# ------------------------------------------------------------------ the app's login role


def test_app_role_is_not_privileged(db: TestDatabase) -> None:
    rows = _rows(
        db,
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s",
        [APP_ROLE],
    )
    assert rows == [{"rolsuper": False, "rolbypassrls": False}]


def test_app_role_owns_nothing(db: TestDatabase) -> None:
    """pg_shdepend records the owner of every object in this database and of shared ones."""
    bad = _rows(
        db,
        """
        SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS object
          FROM pg_shdepend d
         WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = to_regrole(%s)
           AND d.deptype = 'o'
           AND d.dbid IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
         ORDER BY 1
        """,
        [APP_ROLE],
    )
    assert not bad, f"{APP_ROLE} owns:" + _report(bad)


def test_app_role_has_no_grants_of_its_own(db: TestDatabase) -> None:
    """No ACL in the database names the login role: everything it does, it does as anon,
    authenticated or service_role (CONNECT on the database itself is expected)."""
    bad = _rows(
        db,
        """
        WITH acls(object, acl) AS (
          SELECT c.oid::regclass::text, c.relacl FROM pg_class c
          UNION ALL
          SELECT format('%%s.%%I', a.attrelid::regclass, a.attname), a.attacl
            FROM pg_attribute a WHERE a.attacl IS NOT NULL
          UNION ALL
          SELECT p.oid::regprocedure::text, p.proacl FROM pg_proc p
          UNION ALL
          SELECT 'schema ' || n.nspname, n.nspacl FROM pg_namespace n
          UNION ALL
          SELECT 'type ' || t.oid::regtype, t.typacl FROM pg_type t
        )
        SELECT object, e.privilege_type AS privilege
          FROM acls, aclexplode(acls.acl) AS e
         WHERE e.grantee = to_regrole(%s)
         ORDER BY 1, 2
        """,
        [APP_ROLE],
    )
    assert not bad, f"privileges granted to {APP_ROLE} directly:" + _report(bad)
    # And with NOINHERIT, it cannot use the API roles' grants without SET ROLE.
    usable = _rows(
        db,
        """
        SELECT c.oid::regclass AS "table", priv
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
               unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS priv
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
           AND (has_table_privilege(%s, c.oid, priv)
                OR priv <> 'DELETE' AND has_any_column_privilege(%s, c.oid, priv))
         ORDER BY 1, 2
        """,
        [APP_ROLE, APP_ROLE],
    )
    assert not usable, f"{APP_ROLE} can use tables without switching role:" + _report(usable)


# ------------------------------------------------------------------ indexes


def test_foreign_keys_are_indexed(db: TestDatabase) -> None:
    """Each foreign key has a valid, non-partial index on its table whose leading column is
    the key's first column, so cascades and joins from the referenced row are index scans.
    (On a partitioned table the parent's partitioned index counts; the partitions' cloned
    constraints are skipped.)"""
    bad = _rows(
        db,
        f"""
        SELECT c.conrelid::regclass AS "table", c.conname AS constraint,
               pg_get_constraintdef(c.oid) AS definition
          FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE c.contype = 'f' AND c.conparentid = 0 AND n.nspname NOT IN {SYSTEM_SCHEMAS}
           AND NOT EXISTS (SELECT 1 FROM pg_index i
                            WHERE i.indrelid = c.conrelid AND i.indisvalid
                              AND i.indpred IS NULL AND i.indkey[0] = c.conkey[1])
         ORDER BY 1, 2
        """,
    )
    assert not bad, "foreign keys without an index leading with their first column:" + _report(bad)


# ------------------------------------------------------------------ privileges


def test_anon_cannot_write_public_tables(db: TestDatabase) -> None:
    bad = _rows(
        db,
        """
        SELECT c.oid::regclass AS "table", priv
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
               unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS priv
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND (has_table_privilege('anon', c.oid, priv)
                OR priv IN ('INSERT', 'UPDATE') AND has_any_column_privilege('anon', c.oid, priv))
         ORDER BY 1, 2
        """,
    )
    assert not bad, "anon may write:" + _report(bad)


@pytest.mark.parametrize("column", MONEY_COLUMNS)
def test_authenticated_cannot_update_money_columns(db: TestDatabase, column: str) -> None:
    with db.owner() as conn:
        row = conn.execute(
            "SELECT has_column_privilege('authenticated', 'public.paper_trading_accounts', %s,"
            " 'UPDATE') AS may_update",
            [column],
        ).fetchone()
    assert row == {"may_update": False}, f"authenticated may UPDATE paper_trading_accounts.{column}"


def test_lint_sees_the_schema(db: TestDatabase) -> None:
    """Guard against a lint that passes because its queries match nothing."""
    with db.owner() as conn:
        row = conn.execute(
            """
            SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')) AS tables,
                   (SELECT count(*) FROM pg_constraint WHERE contype = 'f') AS foreign_keys,
                   (SELECT count(*) FROM pg_proc WHERE prosecdef) AS security_definers,
                   (SELECT count(*) FROM pg_roles WHERE rolname = %s) AS app_role
            """,
            [APP_ROLE],
        ).fetchone()
    assert row is not None
    assert row["tables"] > 10 and row["foreign_keys"] > 10 and row["security_definers"] > 0
    assert row["app_role"] == 1
