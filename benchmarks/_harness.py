"""Shared plumbing for the benchmark scripts: a throwaway server, scratch databases, users.

Not a benchmark itself (``make bench`` runs it too, and it does nothing when run).

The server is the embedded PostgreSQL started in a temporary directory, stopped and
deleted when the script ends; with DATABASE_URL set, that server is used instead (its
role must be allowed to create databases and roles) and only the scratch databases
the scripts create are dropped again.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cryptotrader.db import migrate
from cryptotrader.db.embedded import embedded_bin_dir, start_embedded
from cryptotrader.db.target import ensure_database

APP_ROLE = "cryptotrader_bench"
APP_PASSWORD = secrets.token_urlsafe(18)

# generous limits so that no benchmark order is refused by a risk check
BIG_BALANCE = Decimal("100000000000")  # 1e11
BIG_LIMIT = Decimal("1000000000000")  # 1e12
PRICE_AGE_S = 86400  # the maximum the schema allows


@dataclass(frozen=True)
class Server:
    """Where to connect as a superuser-ish admin, and the client binaries to use."""

    admin: str
    bin_dir: Path
    embedded: bool

    def describe(self) -> str:
        params = conninfo_to_dict(self.admin)
        kind = "embedded" if self.embedded else "DATABASE_URL"
        return f"{kind} server, host={params.get('host')} port={params.get('port') or 5432}"

    def client_args(self) -> tuple[list[str], dict[str, str]]:
        """``-h -p -U`` for libpq command-line tools, and the environment (password)."""
        params = conninfo_to_dict(self.admin)
        args = []
        if params.get("host"):
            args += ["-h", str(params["host"])]
        args += ["-p", str(params.get("port") or 5432)]
        args += ["-U", str(params.get("user") or "postgres")]
        env = dict(os.environ)
        if params.get("password"):
            env["PGPASSWORD"] = str(params["password"])
        return args, env


def _stop_embedded(handle: Any) -> None:
    """Stop the embedded server now (its own at-exit hook would do it, but only after
    we want to delete its directory)."""
    handle.cleanup()
    atexit.unregister(handle._cleanup)


@contextlib.contextmanager
def server() -> Iterator[Server]:
    """The server the benchmark runs against, cleaned up on exit."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield Server(admin=url, bin_dir=embedded_bin_dir(), embedded=False)
        return
    tmp = Path(tempfile.mkdtemp(prefix="ctbench-"))
    try:
        srv = start_embedded(tmp)
        try:
            yield Server(admin=srv.conninfo(), bin_dir=srv.bin_dir, embedded=True)
        finally:
            _stop_embedded(srv.handle)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def scratch_database(srv: Server, prefix: str) -> Iterator[str]:
    """A new, empty database; yields its name and drops it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    ensure_database(srv.admin, name)
    try:
        yield name
    finally:
        with psycopg.connect(srv.admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@dataclass(frozen=True)
class AppDatabase:
    """A migrated database: the owner's conninfo and the app login role's."""

    name: str
    owner: str
    app: str


@contextlib.contextmanager
def app_database(srv: Server, prefix: str) -> Iterator[AppDatabase]:
    """A freshly migrated scratch database with the benchmark's app login role."""
    with psycopg.connect(srv.admin, autocommit=True) as conn:
        role_existed = (
            conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE]).fetchone()
            is not None
        )
    try:
        with scratch_database(srv, prefix) as name:
            owner = make_conninfo(srv.admin, dbname=name)
            migrate.migrate(owner)
            migrate.ensure_app_role(owner, APP_ROLE, APP_PASSWORD, name)
            yield AppDatabase(
                name=name,
                owner=owner,
                app=make_conninfo(owner, user=APP_ROLE, password=APP_PASSWORD),
            )
    finally:
        if not role_existed and not srv.embedded:
            # leave a shared server as we found it (the embedded one is deleted anyway)
            with psycopg.connect(srv.admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(APP_ROLE)))


def create_accounts(owner: str, count: int, symbol: str = "BTC") -> list[tuple[str, str]]:
    """``count`` users (the sign-up trigger opens each one's default account), with limits
    raised so nothing is refused and the symbol's price kept fresh. Returns
    ``(user_id, account_id)`` pairs."""
    with psycopg.connect(owner) as conn, conn.transaction():
        tag = uuid.uuid4().hex[:6]
        rows = conn.execute(
            "INSERT INTO auth.users (email)"
            " SELECT format('bench%%s-%%s@example.com', %s::text, g)"
            "   FROM generate_series(1, %s) g"
            " RETURNING id",
            [tag, count],
        ).fetchall()
        user_ids = [r[0] for r in rows]
        pairs = conn.execute(
            "UPDATE paper_trading_accounts"
            "   SET balance = %(bal)s, initial_balance = %(bal)s, max_position_size = %(lim)s,"
            "       max_daily_loss = %(lim)s, max_price_age_seconds = %(age)s"
            " WHERE user_id = ANY(%(users)s) AND is_default"
            " RETURNING user_id, id",
            {"bal": BIG_BALANCE, "lim": BIG_LIMIT, "age": PRICE_AGE_S, "users": user_ids},
        ).fetchall()
        conn.execute(
            "UPDATE market_data_cache SET last_updated = now() WHERE symbol = %s", [symbol]
        )
    if len(pairs) != count:
        raise RuntimeError(f"expected {count} default accounts, found {len(pairs)}")
    order = {u: i for i, u in enumerate(user_ids)}
    pairs.sort(key=lambda p: order[p[0]])
    return [(str(u), str(a)) for u, a in pairs]


def market_price(owner: str, symbol: str = "BTC") -> Decimal:
    with psycopg.connect(owner) as conn:
        row = conn.execute(
            "SELECT price_usd FROM market_data_cache WHERE symbol = %s", [symbol]
        ).fetchone()
    if row is None:
        raise RuntimeError(f"no cached price for {symbol}")
    return Decimal(row[0])


def connect_as_user(app: str, user_id: str) -> psycopg.Connection[Any]:
    """An autocommit connection of the app role switched, for the whole session, to
    ``authenticated`` with this user's claims (each statement is its own transaction)."""
    conn = psycopg.connect(app, autocommit=True)
    conn.execute(
        "SELECT set_config('role', 'authenticated', false),"
        " set_config('request.jwt.claims', %s, false)",
        [json.dumps({"sub": user_id, "role": "authenticated"})],
    )
    return conn


def connect_as_service(app: str) -> psycopg.Connection[Any]:
    """An autocommit connection of the app role switched to ``service_role``."""
    conn = psycopg.connect(app, autocommit=True)
    conn.execute(
        "SELECT set_config('role', 'service_role', false),"
        " set_config('request.jwt.claims', %s, false)",
        [json.dumps({"role": "service_role"})],
    )
    return conn


def checkpoint(admin: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"nproc={len(os.sched_getaffinity(0))}, {model}"


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0..1) of already sorted values, nearest-rank."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q * len(sorted_values))))
    return sorted_values[rank - 1]


def emit(result: dict[str, Any]) -> None:
    """The machine-readable result: one JSON object, always the last line printed."""
    print(json.dumps(result), flush=True)
