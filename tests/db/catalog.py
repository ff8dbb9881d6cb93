"""A deterministic picture of a database's catalog, to compare one database before and after
a restore: every grant, default privilege, policy, function, RLS flag, partition, sequence,
trigger and the roles the app needs, for every schema of ours (all but PostgreSQL's own).

Privileges are compared by what they allow: a NULL ACL is expanded to the built-in default it
stands for (``acldefault``), so a REVOKE that left exactly the default compares equal to never
having had one. Names are printed schema-qualified (``search_path`` is empty while reading).
Object ids, column numbers and other values a dump does not carry over are left out.
A CHECK constraint is compared as PostgreSQL reads its text back: a restore re-parses it,
and the stored tree of a re-parsed expression can print differently (``a AND b AND c``
for ``(a AND b) AND c``) while meaning the same.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from cryptotrader.db.migrate import BASE_ROLES

Catalog = dict[str, list[str]]


# every schema but PostgreSQL's own (names starting with pg_ are reserved to it)
def _ours(schema: str) -> str:
    return f"({schema} !~ '^pg_' AND {schema} <> 'information_schema')"


def _acl(acl: str, kind: str, owner: str) -> str:
    """The ACL ``acl`` (NULL meaning the default of object kind ``kind`` for ``owner``) as a
    sorted array of grantee=privilege/grantor, ``*`` marking the grant option."""
    default = f"acldefault('{kind}', {owner})" if kind else "NULL::aclitem[]"
    return (
        "(SELECT coalesce(array_agg(x ORDER BY x), '{}') FROM ("
        " SELECT format('%s=%s/%s%s',"
        "   CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,"
        "   a.privilege_type, a.grantor::regrole::text,"
        "   CASE WHEN a.is_grantable THEN '*' ELSE '' END) AS x"
        f" FROM aclexplode(coalesce({acl}, {default})) a) acl)"
    )


QUERIES: dict[str, str] = {
    "database": f"""
        SELECT d.datdba::regrole::text AS owner, {_acl("d.datacl", "d", "d.datdba")} AS acl,
               pg_encoding_to_char(d.encoding) AS encoding
          FROM pg_database d WHERE d.datname = current_database()""",
    "schemas": f"""
        SELECT n.nspname AS schema, n.nspowner::regrole::text AS owner,
               {_acl("n.nspacl", "n", "n.nspowner")} AS acl,
               obj_description(n.oid, 'pg_namespace') AS comment
          FROM pg_namespace n WHERE {_ours("n.nspname")}""",
    "relations": f"""
        SELECT c.oid::regclass::text AS relation, c.relkind AS kind,
               c.relowner::regrole::text AS owner, c.relpersistence AS persistence,
               c.relrowsecurity AS row_security, c.relforcerowsecurity AS force_row_security,
               c.relispartition AS is_partition, pg_get_expr(c.relpartbound, c.oid) AS bound,
               CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
               CASE WHEN c.relkind IN ('r', 'p', 'v', 'm', 'f')
                    THEN {_acl("c.relacl", "r", "c.relowner")}
                    WHEN c.relkind = 'S' THEN {_acl("c.relacl", "s", "c.relowner")} END AS acl,
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END AS view,
               c.reloptions AS options, obj_description(c.oid, 'pg_class') AS comment
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE {_ours("n.nspname")}""",
    "columns": f"""
        SELECT c.oid::regclass::text AS relation,
               row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) AS position,
               a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
               a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default,
               a.attidentity AS identity, a.attgenerated AS generated,
               {_acl("a.attacl", "", "NULL")} AS acl,
               col_description(c.oid, a.attnum) AS comment
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE {_ours("n.nspname")} AND a.attnum > 0 AND NOT a.attisdropped
           AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')""",
    "constraints": f"""
        SELECT coalesce(c.conrelid::regclass::text, c.contypid::regtype::text) AS "on",
               c.conname AS name, c.contype AS type, pg_get_constraintdef(c.oid) AS definition,
               c.convalidated AS validated
          FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE {_ours("n.nspname")}""",
    "indexes": f"""
        SELECT i.indexrelid::regclass::text AS index, pg_get_indexdef(i.indexrelid) AS definition,
               i.indisclustered AS clustered, i.indisreplident AS replica_identity
          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_ours("n.nspname")}""",
    "functions": f"""
        SELECT p.oid::regprocedure::text AS function, p.prokind AS kind,
               p.proowner::regrole::text AS owner, {_acl("p.proacl", "f", "p.proowner")} AS acl,
               CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END AS definition,
               obj_description(p.oid, 'pg_proc') AS comment
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE {_ours("n.nspname")}""",
    "types": f"""
        SELECT t.oid::regtype::text AS type, t.typtype AS kind, t.typowner::regrole::text AS owner,
               {_acl("t.typacl", "T", "t.typowner")} AS acl,
               (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e
                 WHERE e.enumtypid = t.oid) AS labels,
               CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base,
               t.typnotnull AS not_null, t.typdefault AS default
          FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE {_ours("n.nspname")} AND (t.typtype IN ('d', 'e', 'r', 'm')
               OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c
                                         WHERE c.oid = t.typrelid) = 'c'))""",
    "policies": f"""
        SELECT p.schemaname || '.' || p.tablename AS "table", p.policyname AS name,
               p.permissive, (SELECT array_agg(r ORDER BY r) FROM unnest(p.roles) r) AS roles,
               p.cmd, p.qual, p.with_check
          FROM pg_policies p WHERE {_ours("p.schemaname")}""",
    "triggers": f"""
        SELECT t.tgrelid::regclass::text AS "table", t.tgname AS name,
               pg_get_triggerdef(t.oid) AS definition, t.tgenabled AS enabled
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE {_ours("n.nspname")} AND NOT t.tgisinternal""",
    "rules": f"""
        SELECT r.schemaname || '.' || r.tablename AS "table", r.rulename AS name, r.definition
          FROM pg_rules r WHERE {_ours("r.schemaname")}""",
    "partitions": f"""
        SELECT i.inhparent::regclass::text AS parent, i.inhrelid::regclass::text AS child,
               pg_get_expr(c.relpartbound, c.oid) AS bound
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_ours("n.nspname")}""",
    "sequences": f"""
        SELECT s.schemaname || '.' || s.sequencename AS sequence, s.sequenceowner AS owner,
               s.data_type::text AS data_type, s.start_value, s.min_value, s.max_value,
               s.increment_by, s.cycle, s.cache_size, s.last_value,
               (SELECT d.refobjid::regclass::text || '.' || a.attname
                  FROM pg_depend d JOIN pg_attribute a
                    ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                   AND d.objid = format('%I.%I', s.schemaname, s.sequencename)::regclass
                   AND d.deptype IN ('a', 'i')) AS owned_by
          FROM pg_sequences s WHERE {_ours("s.schemaname")}""",
    "default_privileges": f"""
        SELECT d.defaclrole::regrole::text AS role,
               coalesce(d.defaclnamespace::regnamespace::text, '-') AS schema,
               d.defaclobjtype AS kind, {_acl("d.defaclacl", "", "NULL")} AS acl
          FROM pg_default_acl d""",
    "extensions": """
        SELECT e.extname AS name, e.extversion AS version,
               e.extnamespace::regnamespace::text AS schema
          FROM pg_extension e""",
    "event_triggers": """
        SELECT e.evtname AS name, e.evtevent AS event, e.evtfoid::regprocedure::text AS function,
               e.evtenabled AS enabled, e.evttags AS tags
          FROM pg_event_trigger e""",
    "roles": """
        SELECT r.rolname AS role, r.rolsuper AS super, r.rolinherit AS inherit,
               r.rolcreaterole AS createrole, r.rolcreatedb AS createdb,
               r.rolcanlogin AS login, r.rolreplication AS replication,
               r.rolbypassrls AS bypassrls, r.rolconnlimit AS connlimit
          FROM pg_roles r WHERE r.rolname = ANY(%(roles)s)""",
    # the options' columns differ between versions (inherit_option, set_option in 16+)
    "memberships": """
        SELECT m.member::regrole::text AS member, m.roleid::regrole::text AS role,
               m.grantor::regrole::text AS grantor,
               to_jsonb(m) - 'oid' - 'roleid' - 'member' - 'grantor' AS options
          FROM pg_auth_members m
         WHERE m.member::regrole::text = ANY(%(roles)s)""",
    "role_settings": """
        SELECT coalesce(s.setrole::regrole::text, '-') AS role,
               s.setdatabase <> 0 AS this_database, s.setconfig AS settings
          FROM pg_db_role_setting s
         WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
            OR (s.setdatabase = 0 AND s.setrole::regrole::text = ANY(%(roles)s))""",
}


def snapshot(
    conn: psycopg.Connection[Any],
    app_role: str,
    *,
    as_of_major: int | None = None,
    renamed: dict[str, str] | None = None,
) -> Catalog:
    """The catalog as seen on ``conn`` (the schema owner's), section by section, each a
    sorted list of one JSON line per object. ``app_role`` is the login role of the app,
    whose attributes and memberships are part of what a working platform needs.

    ``as_of_major``: to compare with a server of that older major version, leave out what
    only newer versions record (see :func:`_as_of`). ``renamed``: roles to show under
    another name (as owner, grantor, grantee or member), to compare with a database whose
    objects another role owns."""
    roles = [app_role, *BASE_ROLES]
    out: Catalog = {}
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        saved = cur.execute("SELECT current_setting('search_path') AS p").fetchone()
        assert saved is not None
        cur.execute("SELECT set_config('search_path', '', true)")
        reread = _reread_checks(cur)
        for section, query in QUERIES.items():
            params = {"roles": roles} if "%(roles)s" in query else None
            rows = cur.execute(query, params).fetchall()
            if section == "constraints":
                for row in rows:
                    row["definition"] = reread.get((row["on"], row["name"]), row["definition"])
            if as_of_major is not None:
                rows = _as_of(as_of_major, section, rows)
            if renamed and section not in ("roles", "memberships"):  # the server's, not ours
                rows = [_renamed(row, renamed) for row in rows]
            out[section] = sorted(
                json.dumps(row, sort_keys=True, default=str, ensure_ascii=False) for row in rows
            )
        cur.execute("SELECT set_config('search_path', %s, true)", [saved["p"]])
    return out


def server_major(conn: psycopg.Connection[Any]) -> int:
    return int(conn.info.server_version) // 10000


def _renamed(row: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """``row`` with the roles in ``names`` renamed wherever a role is named."""

    def acl_item(item: str) -> str:
        grantee, _, rest = item.partition("=")
        privilege, _, grantor = rest.partition("/")
        option = "*" if grantor.endswith("*") else ""
        grantor = grantor.removesuffix("*")
        return f"{names.get(grantee, grantee)}={privilege}/{names.get(grantor, grantor)}{option}"

    out = dict(row)
    for key in ("owner", "role", "grantor", "member"):
        if isinstance(out.get(key), str):
            out[key] = names.get(out[key], out[key])
    if isinstance(out.get("roles"), list):
        out["roles"] = sorted(names.get(r, r) for r in out["roles"])
    if isinstance(out.get("acl"), list):
        out["acl"] = sorted(acl_item(item) for item in out["acl"])
    return out


def _as_of(major: int, section: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` without what a server of version ``major`` does not record: NOT NULL
    constraints as constraints (18), the MAINTAIN privilege (17), a membership's INHERIT and
    SET options (16)."""
    if section == "constraints" and major < 18:
        rows = [r for r in rows if r["type"] != "n"]
    if major < 17:
        for r in rows:
            if isinstance(r.get("acl"), list):
                r["acl"] = [item for item in r["acl"] if "=MAINTAIN/" not in item]
    if section == "memberships" and major < 16:
        for r in rows:
            r["options"] = {"admin_option": r["options"]["admin_option"]}
    return rows


def _reread_checks(cur: psycopg.Cursor[Any]) -> dict[tuple[str, str], str]:
    """Each table's CHECK constraints as PostgreSQL prints them after parsing their printed
    text again (on an empty temporary copy of the table, rolled back)."""
    rows = cur.execute(
        f"""
        SELECT n.nspname AS schema, r.relname AS "table", r.oid::regclass::text AS "on",
               c.conname AS name, pg_get_constraintdef(c.oid) AS definition
          FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
          JOIN pg_namespace n ON n.oid = r.relnamespace
         WHERE c.contype = 'c' AND {_ours("n.nspname")}
         ORDER BY 1, 2, 4"""
    ).fetchall()
    tables: dict[tuple[str, str, str], int] = {}
    script: list[sql.Composable] = []
    for row in rows:
        key = (row["schema"], row["table"], row["on"])
        if key not in tables:
            tables[key] = len(tables)
            script.append(
                sql.SQL("CREATE TEMP TABLE {} (LIKE {});").format(
                    sql.Identifier(f"ct_catalog_probe_{tables[key]}"),
                    sql.Identifier(row["schema"], row["table"]),
                )
            )
        script.append(
            sql.SQL("ALTER TABLE pg_temp.{} ADD CONSTRAINT {} {};").format(
                sql.Identifier(f"ct_catalog_probe_{tables[key]}"),
                sql.Identifier(row["name"]),
                sql.SQL(row["definition"]),
            )
        )
    if not script:
        return {}
    names = {f"ct_catalog_probe_{number}": on for (_, _, on), number in tables.items()}
    out: dict[tuple[str, str], str] = {}
    with cur.connection.transaction() as probe:
        cur.execute(sql.SQL(" ").join(script))
        for again in cur.execute(
            "SELECT r.relname, c.conname, pg_get_constraintdef(c.oid) AS definition"
            " FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid"
            " WHERE r.relnamespace = pg_my_temp_schema() AND c.contype = 'c'"
        ).fetchall():
            if again["relname"] in names:
                out[(names[again["relname"]], again["conname"])] = again["definition"]
        raise psycopg.Rollback(probe)
    return out


def row_fingerprints(conninfo: str) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every row's content, per table of ours (each partition
    by itself)."""
    out: dict[str, tuple[int, str]] = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            f" WHERE c.relkind = 'r' AND {_ours('n.nspname')} ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')"
                    " FROM {} t"
                ).format(sql.Identifier(schema, table))
            ).fetchone()
            assert row is not None
            out[f"{schema}.{table}"] = (int(row[0]), str(row[1]))
    return out


def assert_same(before: Catalog, after: Catalog) -> None:
    """Fail with every difference, one per line."""
    found = differences(before, after)
    assert not found, f"{len(found)} differences:\n" + "\n".join(found)


def differences(before: Catalog, after: Catalog) -> list[str]:
    """What ``after`` lost or gained against ``before``, one line per object (empty: same)."""
    out: list[str] = []
    for section in sorted(before.keys() | after.keys()):
        old, new = Counter(before.get(section, [])), Counter(after.get(section, []))
        out += [f"{section}: lost {line}" for line in sorted((old - new).elements())]
        out += [f"{section}: gained {line}" for line in sorted((new - old).elements())]
    return out
