"""Rules of the code's shape that a reviewer would otherwise have to remember: one order path
(no route class of our own), no SQL in Python strings outside db/ (it lives in queries.sql
files), domain packages of one shape, small modules and functions, and applied migrations
never edited."""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "cryptotrader"
MIGRATIONS = SRC / "db" / "migrations"
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.S)
# A string that is a statement: what a query constant looks like, in either case.
STATEMENT = re.compile(
    r"^\s*("
    r"select\s.+\bfrom\b|select\s+[\w.]+\s*\(|insert\s+into\b|update\s+[\w.]+\s+set\b"
    r"|delete\s+from\b|with\s+(recursive\s+)?\w+\s+as\s*\(|merge\s+into\b"
    r"|(create|alter|drop)\s+(or\s+replace\s+)?(table|index|function|procedure|role|schema"
    r"|view|type|extension|policy|trigger|sequence|database)\b"
    r"|(listen|unlisten|notify)\s+\S|set\s+(local\s+)?(role|search_path|session)\b|reset\s+role\b"
    r"|(grant|revoke)\s.+\b(on|to|from)\b|copy\s+[\w.(]+.*\b(from|to)\b|truncate\s"
    r"|lock\s+table\b|(begin|commit|rollback)\s*;?\s*$|vacuum\b|analyze\s"
    r")",
    re.I | re.S,
)


def _is_statement(text: str) -> bool:
    """A statement's keyword is written all upper or all lower case; prose is capitalised."""
    first = text.split(None, 1)[0] if text.strip() else ""
    return bool(STATEMENT.match(text)) and first in (first.upper(), first.lower())


DOMAINS = (
    "accounts",
    "admin",
    "alerts",
    "auth",
    "backtest",
    "jobs",
    "market",
    "portfolios",
    "profiles",
    "stream",
    "strategies",
    "templates",
    "trading",
    "watchlists",
    "webhooks",
)
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_no_route_class_of_our_own() -> None:
    """Every route is FastAPI's own (a second way into a handler is a second code path)."""
    offenders = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
                if "APIRoute" in bases:
                    offenders.append(f"{path.relative_to(SRC)}: {node.name}")
    assert not offenders


def test_routers_hold_no_sql() -> None:
    """Routers parse, call a service and shape the answer; queries live in the services'
    queries.sql."""
    offenders = [
        f"{path.relative_to(SRC)}: {text[:60]!r}"
        for path in sorted(SRC.glob("*/router.py"))
        for text in _strings(path)
        if SQL.search(text)
    ]
    assert not offenders


def test_the_rules_see_sql_where_there_is_some() -> None:
    assert SQL.search("SELECT * FROM paper_trades WHERE id = %s")
    assert SQL.search("UPDATE profiles SET x = 1")
    assert not SQL.search("Select an account from the list")
    for statement in (
        "SELECT * FROM paper_trades",
        "select pg_try_advisory_lock(%s) AS ok",
        "SELECT set_config('role', 'service_role', false)",
        "  insert into t (a) values (1)",
        "UPDATE auth.users SET x = 1",
        "DELETE FROM t",
        "WITH recent AS (SELECT 1) SELECT 2",
        "LISTEN {}",
        "SET LOCAL ROLE authenticated",
        "CREATE TABLE x (a int)",
        "GRANT SELECT ON t TO anon",
        "COPY t (a) FROM STDIN",
    ):
        assert _is_statement(statement), statement
    for prose in (
        "Select an account from the list",
        "Create a user (with their default portfolio and paper account).",
        "Delete a backtest and its results",
        "With --user: create the session for the workers.",
        "delete",
        "Update an account's name",
        "Copy trading",
    ):
        assert not _is_statement(prose), prose


def test_no_sql_in_python_strings_outside_db() -> None:
    """SQL lives in each domain's queries.sql as named blocks (or, for the connection
    plumbing, in db/): a query in a Python string is a second place to look for it."""
    offenders = [
        f"{path.relative_to(SRC)}: {text.strip()[:60]!r}"
        for path in _modules()
        if path.relative_to(SRC).parts[0] != "db"
        for text in _strings(path)
        if _is_statement(text)
    ]
    assert not offenders


def test_domain_packages_have_one_shape() -> None:
    """router, service, schemas and errors in every domain, and queries.sql where it has SQL
    (the model: portfolios/)."""
    missing = [
        f"{domain}/{name}"
        for domain in DOMAINS
        for name in ("router.py", "service.py", "schemas.py", "errors.py", "__init__.py")
        if not (SRC / domain / name).is_file()
    ]
    assert not missing
    sql_without_file = [
        domain
        for domain in DOMAINS
        if not list((SRC / domain).glob("*.sql"))
        and any("load_queries(" in p.read_text() for p in (SRC / domain).glob("*.py"))
    ]
    assert not sql_without_file


def test_modules_and_functions_stay_small() -> None:
    """A module a newcomer can read in one sitting, a function on one screen."""
    long_modules = [
        f"{path.relative_to(SRC)}: {n} lines"
        for path in _modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    long_functions = [
        f"{path.relative_to(SRC)}:{node.lineno} {node.name}: {length} lines"
        for path in _modules()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and (length := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES
    ]
    assert not long_modules
    assert not long_functions


# Every migration that existed when the rule was set, by number and SHA-256: an applied migration
# is never edited (a changed function comes in a new migration, a changed signature under a
# versioned name). New migrations are added here as they land.
PINNED = {
    "0001": "0c8c5cd6afd484dd4dfc43bda583767b1f09d268f73179ff08279ddb0a33e3f5",
    "0002": "8f165d52cae6232fc341f9f482c52d722446afcbcda9d98496c7b23cea3e76b0",
    "0003": "27d73834f09fd4544eb4beca9b59483c7aea94f41fb38cc2ec16b7e09a05d87a",
    "0004": "be03f8f69c56ad370ac4336e0453556569e4deb2037abc73e6c6ab2c5cc1761d",
    "0005": "7b7418dfa00bf0106aa6cb995a852be4158549265677d2189500ba2ab0beab82",
    "0006": "259192663eca443cb282cf8c95aae34e6fea5049775d1becb5e17557d928c6fb",
    "0007": "114a51f11de9709ad7f7c3c575ae6b27c8e354b744ad30e2368a900966f96c1b",
    "0008": "19b310b176433f41acf6416a23c1b9c2e98bf01cfd331c553cda318c151ea203",
    "0010": "a466c4c7bcdcfab60ec9170e8e0829a713f6bcd6ac1e720ad50ce9c0ae2b5556",
    "0011": "f6eada3382d1b47178616df3da6cda9732dee821dbf90efa93abf8de2011d801",
    "0012": "6675185850e721ab1786b7e600b2861502770b1370c1b6970d1fae1f9c43f778",
    "0013": "2cbbf2d3ecce2878b976779fdd01f4b1db084380b21f47ace35426a0ba28d5da",
    "0014": "2c67034c4098320fc27a02e5be4b663dd7ce33205611d16df6a25164c9a27e50",
    "0016": "97d388527279a3f0c565de7665667db554606233b3619d34638b02dc744350f0",
    "0023": "6ad4f4461a1217a848e7cded2a9cca39c7eb8b44ce55f35ac1bd044fa627fccf",
    "0024": "782d5b13840fc8bad2d90d8d3f9a44c4b67397cc0ed78e951a76e29f160e1bf1",
    "0025": "06c5243aa9956e8a8c84597220a35449fb662e238dd75a5f5eb5461f56714a76",
    "0026": "4b9ff79e38b8225eb00cdb75be5bbfbecf7109424bd72b972b6678c5aa0973d9",
    "0027": "051472ac5869700379bc2043b367a7c1fa0382397e114b2b5c56e7e36ddda66e",
    "0029": "2a92d0f1293716beac53b1464c2b7638bf8d9c9c4d24b39a7a283510f913fd7f",
    "0030": "faa752ae4a51bd4b59f5f8948b2d952cb20ec125d67916f259c2c24fc6500fc4",
    "0031": "b646a4002678b0a7e8c9384866e91692e5c76d6850758a47c31e25cc9a20c643",
    "0032": "24cbe68e000a088d20fa8dd9a43c4cc1ffa1fb0840429dc595e209f70ce016dd",
    "0033": "daaeae51cad16ee51df0479f518c9cba78b512eaed61df6de3f7775e64653152",
    "0034": "4772765aca0a9a51f360fc1525c1f6d957cd272d3f38a75f3bb8a8c81c72cd60",
    "0035": "169923873082ab68d7ef7198b0dc6f0935c4da6c6e8adbbfefe6929d83c5e0a0",
    "0036": "f57607c10592390e079eef1dba4a3580f17b04a902f6b332f5fe6d5db3b722c2",
    "0037": "c2fbc00f3182168adb80dfcaf078c8ac536b3048891ba0ae549f6e1f6bff0570",
    "0038": "1c4d2519aa203b33ff8a90242819f353a76e529b447e1e4fe693d9ab01dd6183",
    "0039": "fdd6f6af9855b6d9a60da6048564432e43190edca1bb2d5d40188642e1b2a9d5",
    "0040": "bc901b6ad24f536166e527d2436c1d08c283bae3773bad2d1d96c5dfac8cfd84",
    "0041": "4d721bb14fc4390b96a46786283dbe9d1d8cb648432e9103b7a24071b3a5efd1",
}


def test_applied_migrations_are_never_edited() -> None:
    found = {
        p.name[:4]: hashlib.sha256(p.read_bytes()).hexdigest() for p in MIGRATIONS.glob("*.sql")
    }
    changed = [name for name, digest in PINNED.items() if found.get(name) != digest]
    assert not changed, f"edited or removed: {changed}; add a new migration instead"
    assert set(found) == set(PINNED), f"pin the new migrations: {sorted(set(found) - set(PINNED))}"
