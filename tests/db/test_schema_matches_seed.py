"""The migrated schema matches the seed document, tests/fixtures/database-schema.md.

Everything expected here is parsed from the seed's ```sql blocks, its **Indexes:** lists and
its "Database Functions" headings; nothing is copied by hand. Additions (extra tables,
columns, constraints, indexes) are allowed: only what the seed states is checked.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.support import PgServer, Row, TestDatabase

SEED = Path(__file__).resolve().parent.parent / "fixtures" / "database-schema.md"

# Documented deviation (0003_partitioned_tables.sql, 0032_analytics_partitions.sql): a
# partitioned table's primary key must contain its partition key, so the seed's PRIMARY KEY
# (id) becomes (id, <partition key>).
PARTITIONED_PRIMARY_KEYS = {
    "paper_trades": ("id", "created_at"),
    "account_analytics": ("id", "analytics_date"),
    "portfolio_snapshots": ("id", "snapshot_date"),
}

# Seed type -> PostgreSQL's format_type(); VARCHAR(n) and arrays are handled in pg_type().
SEED_TYPES = {
    "UUID": "uuid",
    "TEXT": "text",
    "NUMERIC": "numeric",
    "TIMESTAMPTZ": "timestamp with time zone",
    "JSONB": "jsonb",
    "BOOLEAN": "boolean",
    "INTEGER": "integer",
    "DATE": "date",
    "INET": "inet",
}

FK_ACTIONS = {
    "CASCADE": "c",
    "SET NULL": "n",
    "SET DEFAULT": "d",
    "RESTRICT": "r",
    "NO ACTION": "a",
}


# ------------------------------------------------------------------ the seed, parsed


@dataclass(frozen=True)
class Column:
    table: str
    name: str
    type: str  # as the seed writes it: VARCHAR(7), TEXT[], account_type_enum
    not_null: bool
    primary_key: bool
    default: str | None
    references: tuple[str, str, str] | None  # (table, column, ON DELETE action)


@dataclass
class Table:
    name: str
    columns: list[Column] = field(default_factory=list)
    uniques: set[tuple[str, ...]] = field(default_factory=set)
    indexes: set[tuple[str, ...]] = field(default_factory=set)
    checks: list[str] = field(default_factory=list)


@dataclass
class Seed:
    tables: dict[str, Table]
    enums: dict[str, list[str]]
    functions: list[str]


def pg_type(seed_type: str) -> str:
    """The format_type() spelling of a seed type."""
    if seed_type.endswith("[]"):
        return pg_type(seed_type[:-2]) + "[]"
    if m := re.fullmatch(r"VARCHAR\((\d+)\)", seed_type, re.I):
        return f"character varying({m[1]})"
    return SEED_TYPES.get(seed_type.upper(), seed_type)


def _parenthesized(text: str, start: int) -> str:
    """The text inside the parentheses that open at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1 : i]
    raise ValueError(f"unbalanced parentheses in {text!r}")


def _split_top_level(body: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in body:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    return [p for p in [*parts, current.strip()] if p]


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.strip("() ").split(","))


_DEFAULT = re.compile(
    r"\bDEFAULT\s+(.+?)(?=\s+(?:NOT\s+NULL|NULL|PRIMARY\s+KEY|UNIQUE|CHECK|REFERENCES)\b|$)", re.I
)
_REFERENCES = re.compile(
    r"\bREFERENCES\s+([\w.]+)\s*\((\w+)\)(?:\s+ON\s+DELETE\s+(SET\s+NULL|\w+))?"
)


def _parse_table(name: str, body: str) -> Table:
    table = Table(name)
    for item in _split_top_level(body):
        item = re.sub(r"^CONSTRAINT\s+\w+\s+", "", item, flags=re.I)
        if check := re.match(r"CHECK\s*\(", item, re.I):
            table.checks.append(_parenthesized(item, check.end() - 1))
        elif re.match(r"UNIQUE\s*\(", item, re.I):
            table.uniques.add(_names(item[item.index("(") :]))
        elif re.match(r"(PRIMARY|FOREIGN)\s+KEY\b", item, re.I):
            raise ValueError(
                f"{name}: table-level keys are not in the seed; teach the parser: {item}"
            )
        else:
            col, rest = item.split(None, 1)
            type_match = re.match(r"\w+(?:\(\d+\))?(?:\[\])?", rest)
            assert type_match, f"{name}.{col}: no type in {rest!r}"
            constraints = rest[type_match.end() :]
            default = _DEFAULT.search(constraints)
            ref = _REFERENCES.search(constraints)
            table.columns.append(
                Column(
                    table=name,
                    name=col,
                    type=type_match[0],
                    not_null=bool(re.search(r"\bNOT\s+NULL\b", constraints, re.I)),
                    primary_key=bool(re.search(r"\bPRIMARY\s+KEY\b", constraints, re.I)),
                    default=default[1].strip() if default else None,
                    references=(ref[1], ref[2], " ".join((ref[3] or "NO ACTION").upper().split()))
                    if ref
                    else None,
                )
            )
            if re.search(r"\bUNIQUE\b", constraints, re.I):
                table.uniques.add((col,))
            if check := re.search(r"\bCHECK\s*\(", constraints, re.I):
                table.checks.append(_parenthesized(constraints, check.end() - 1))
    return table


def parse_seed(markdown: str) -> Seed:
    tables: dict[str, Table] = {}
    enums: dict[str, list[str]] = {}
    blocks = list(re.finditer(r"^```sql\n(.*?)^```", markdown, re.M | re.S))
    for i, block in enumerate(blocks):
        for m in re.finditer(r"CREATE\s+TABLE\s+(\w+)\s*\(", block[1], re.I):
            tables[m[1]] = table = _parse_table(m[1], _parenthesized(block[1], m.end() - 1))
            # The **Indexes:** list, if any, follows the block before the next heading.
            end = blocks[i + 1].start() if i + 1 < len(blocks) else len(markdown)
            after = re.split(r"^#", markdown[block.end() : end], maxsplit=1, flags=re.M)[0]
            for kind, cols in re.findall(r"^- ([A-Z ]+?) on `([^`]+)`", after, re.M):
                if kind == "UNIQUE INDEX":
                    table.uniques.add(_names(cols))
                elif kind in ("INDEX", "COMPOSITE INDEX"):
                    table.indexes.add(_names(cols))
                elif kind != "PRIMARY KEY":  # the CREATE TABLE states the primary key
                    raise ValueError(f"{m[1]}: unknown index bullet {kind!r}")
        for m in re.finditer(r"CREATE\s+TYPE\s+(\w+)\s+AS\s+ENUM\s*\(", block[1], re.I):
            enums[m[1]] = re.findall(r"'([^']*)'", _parenthesized(block[1], m.end() - 1))
    functions_section = markdown.split("\n## Database Functions", 1)[1].split("\n## ", 1)[0]
    functions = re.findall(r"^#### (\w+)\(\)", functions_section, re.M)
    return Seed(tables, enums, functions)


SEED_TEXT = SEED.read_text(encoding="utf-8")
SCHEMA = parse_seed(SEED_TEXT)
TABLES = list(SCHEMA.tables.values())
COLUMNS = [c for t in TABLES for c in t.columns]
UNIQUES = [(t.name, cols) for t in TABLES for cols in sorted(t.uniques)]
INDEXES = [(t.name, cols) for t in TABLES for cols in sorted(t.indexes)]
CHECKS = [(t.name, check) for t in TABLES for check in t.checks]
REFERENCES = [c for c in COLUMNS if c.references]


def _ids(table: str, cols: tuple[str, ...]) -> str:
    return f"{table}({','.join(cols)})"


# ------------------------------------------------------------------ the database


@pytest.fixture(scope="module")
def conn(pg_server: PgServer, template_db: str) -> Iterator[psycopg.Connection[Row]]:
    """One migrated clone for the whole module (the tests only read the catalog)."""
    name = f"ct_seed_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server.admin, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    try:
        with TestDatabase(server=pg_server, name=name).owner() as owner:
            yield owner
    finally:
        with psycopg.connect(pg_server.admin, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _one(conn: psycopg.Connection[Row], query: str, params: list[Any]) -> Row | None:
    return conn.execute(query, params).fetchone()


def _relkind(conn: psycopg.Connection[Row], table: str) -> str | None:
    row = _one(
        conn,
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relname = %s",
        [table],
    )
    return None if row is None else str(row["relkind"])


def _indexes(conn: psycopg.Connection[Row], table: str) -> list[Row]:
    """Valid indexes of public.<table> (a partitioned table's own, partitioned indexes),
    with their key columns in order (None for an expression)."""
    return conn.execute(
        """
        SELECT pg_get_indexdef(i.indexrelid) AS definition, i.indisunique AS is_unique,
               i.indpred IS NOT NULL AS partial,
               ARRAY(SELECT a.attname
                       FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                       LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                      WHERE k.ord <= i.indnkeyatts ORDER BY k.ord) AS columns
          FROM pg_index i
         WHERE i.indrelid = to_regclass(%s) AND i.indisvalid
         ORDER BY 1
        """,
        [f"public.{table}"],
    ).fetchall()


# ------------------------------------------------------------------ tests


def test_seed_parses() -> None:
    assert len(TABLES) == len(re.findall(r"CREATE\s+TABLE", SEED_TEXT, re.I))
    assert all(t.columns for t in TABLES)
    assert len(SCHEMA.enums) == len(re.findall(r"CREATE\s+TYPE", SEED_TEXT, re.I))
    assert all(SCHEMA.enums.values())
    assert SCHEMA.functions


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_table_exists(conn: psycopg.Connection[Row], table: Table) -> None:
    assert _relkind(conn, table.name) in ("r", "p"), f"table public.{table.name} is missing"


@pytest.mark.parametrize("col", COLUMNS, ids=lambda c: f"{c.table}.{c.name}")
def test_column_matches_seed(conn: psycopg.Connection[Row], col: Column) -> None:
    row = _one(
        conn,
        """
        SELECT format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
               pg_get_expr(d.adbin, d.adrelid) AS default
          FROM pg_attribute a
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = to_regclass(%s) AND a.attname = %s AND a.attnum > 0
           AND NOT a.attisdropped
        """,
        [f"public.{col.table}", col.name],
    )
    assert row is not None, f"column {col.table}.{col.name} is missing"
    diffs = []
    if row["type"] != pg_type(col.type):
        diffs.append(f"type is {row['type']!r}, seed says {col.type} ({pg_type(col.type)!r})")
    if row["not_null"] != (col.not_null or col.primary_key):
        diffs.append(f"NOT NULL is {row['not_null']}, seed says {col.not_null or col.primary_key}")
    actual = row["default"]
    if col.default is None or actual is None:
        if (col.default, actual) != (None, None):
            diffs.append(f"default is {actual!r}, seed says {col.default!r}")
    elif col.default.lower() == "gen_random_uuid()":  # volatile: compared as text
        if actual.lower() != "gen_random_uuid()":
            diffs.append(f"default is {actual!r}, seed says {col.default!r}")
    else:
        # Both sides in one statement of one transaction, so now() is the same instant.
        query = f"SELECT ({col.default})::{col.type} IS NOT DISTINCT FROM ({actual}) AS same,"
        query += f" (({col.default})::{col.type})::text AS seed, ({actual})::text AS db"
        try:
            with conn.transaction():
                same = conn.execute(query).fetchone()
        except psycopg.Error as e:
            diffs.append(f"default {actual!r} vs seed {col.default!r} could not be compared: {e}")
        else:
            assert same is not None
            if not same["same"]:
                diffs.append(
                    f"default {actual!r} gives {same['db']!r},"
                    f" seed {col.default!r} gives {same['seed']!r}"
                )
    assert not diffs, f"{col.table}.{col.name}: " + "; ".join(diffs)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_primary_key(conn: psycopg.Connection[Row], table: Table) -> None:
    row = _one(
        conn,
        """
        SELECT ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
                       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                      ORDER BY k.ord) AS columns
          FROM pg_constraint c WHERE c.conrelid = to_regclass(%s) AND c.contype = 'p'
        """,
        [f"public.{table.name}"],
    )
    expected = tuple(c.name for c in table.columns if c.primary_key)
    expected = PARTITIONED_PRIMARY_KEYS.get(table.name, expected)
    actual = tuple(row["columns"]) if row else ()
    assert actual == expected, f"{table.name}: primary key is {actual}, expected {expected}"


@pytest.mark.parametrize(("table", "columns"), UNIQUES, ids=[_ids(*u) for u in UNIQUES])
def test_unique(conn: psycopg.Connection[Row], table: str, columns: tuple[str, ...]) -> None:
    indexes = _indexes(conn, table)
    assert any(
        i["is_unique"] and not i["partial"] and set(i["columns"]) == set(columns) for i in indexes
    ), f"no unique, non-partial index on {table}{columns}; indexes: " + "; ".join(
        i["definition"] for i in indexes
    )


@pytest.mark.parametrize(("table", "columns"), INDEXES, ids=[_ids(*i) for i in INDEXES])
def test_index(conn: psycopg.Connection[Row], table: str, columns: tuple[str, ...]) -> None:
    indexes = _indexes(conn, table)
    assert any(
        not i["partial"] and tuple(i["columns"][: len(columns)]) == columns for i in indexes
    ), f"no non-partial index on {table} leading with {columns}; indexes: " + "; ".join(
        i["definition"] for i in indexes
    )


@pytest.mark.parametrize(("table", "check"), CHECKS, ids=[f"{t}:{c}" for t, c in CHECKS])
def test_check(conn: psycopg.Connection[Row], table: str, check: str) -> None:
    """The seed's CHECK, deparsed by PostgreSQL on a scratch copy of the table, is one of
    the table's check constraints."""
    with conn.transaction(force_rollback=True):
        conn.execute(
            sql.SQL("CREATE TEMPORARY TABLE seed_check_probe (LIKE {})").format(
                sql.Identifier("public", table)
            )
        )
        conn.execute(f"ALTER TABLE seed_check_probe ADD CHECK ({check})")
        defs = conn.execute(
            "SELECT conrelid = 'seed_check_probe'::regclass AS seed,"
            " pg_get_constraintdef(oid) AS def FROM pg_constraint"
            " WHERE conrelid IN ('seed_check_probe'::regclass, to_regclass(%s)) AND contype = 'c'",
            [f"public.{table}"],
        ).fetchall()
    expected = next(d["def"] for d in defs if d["seed"])
    actual = [d["def"] for d in defs if not d["seed"]]
    assert expected in actual, f"{table}: no {expected}; its checks: {actual}"


@pytest.mark.parametrize("col", REFERENCES, ids=lambda c: f"{c.table}.{c.name}")
def test_foreign_key(conn: psycopg.Connection[Row], col: Column) -> None:
    assert col.references
    target, target_col, on_delete = col.references
    rows = conn.execute(
        """
        SELECT pg_get_constraintdef(c.oid) AS def, c.confdeltype AS on_delete
          FROM pg_constraint c
         WHERE c.conrelid = to_regclass(%s) AND c.contype = 'f' AND c.confrelid = to_regclass(%s)
           AND c.conkey = ARRAY[(SELECT attnum FROM pg_attribute
                                  WHERE attrelid = c.conrelid AND attname = %s)]
           AND c.confkey = ARRAY[(SELECT attnum FROM pg_attribute
                                   WHERE attrelid = c.confrelid AND attname = %s)]
        """,
        [f"public.{col.table}", target, col.name, target_col],
    ).fetchall()
    assert rows, f"{col.table}.{col.name}: no foreign key to {target}({target_col})"
    assert [r["on_delete"] for r in rows] == [FK_ACTIONS[on_delete]], (
        f"{col.table}.{col.name}: seed says ON DELETE {on_delete}, database has "
        + "; ".join(r["def"] for r in rows)
    )


@pytest.mark.parametrize(("name", "values"), SCHEMA.enums.items(), ids=list(SCHEMA.enums))
def test_enum(conn: psycopg.Connection[Row], name: str, values: list[str]) -> None:
    rows = conn.execute(
        "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid"
        " JOIN pg_namespace n ON n.oid = t.typnamespace"
        " WHERE n.nspname = 'public' AND t.typname = %s ORDER BY e.enumsortorder",
        [name],
    ).fetchall()
    actual = [r["enumlabel"] for r in rows]
    assert actual == values, f"enum {name} is {actual or 'missing'}, seed says {values}"


@pytest.mark.parametrize("name", SCHEMA.functions)
def test_function_exists(conn: psycopg.Connection[Row], name: str) -> None:
    row = _one(
        conn,
        "SELECT count(*) AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'public' AND p.proname = %s",
        [name],
    )
    assert row is not None and row["n"] > 0, f"function public.{name}() is missing"
