"""Test helpers: connections as the owner or as a user, and factories for rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from fastapi.routing import APIRoute
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from starlette.routing import BaseRoute

from cryptotrader.db.session import user_claims
from tests import cli_fork

APP_ROLE = "cryptotrader_app"
APP_PASSWORD = "test-app-password"  # loopback-only test cluster

Row = dict[str, Any]


@dataclass(frozen=True)
class PgServer:
    admin: str
    bin_dir: Path | None


@dataclass(frozen=True)
class TestDatabase:
    __test__ = False  # a fixture value, not a test class

    server: PgServer
    name: str

    @property
    def owner_conninfo(self) -> str:
        return make_conninfo(self.server.admin, dbname=self.name)

    @property
    def app_conninfo(self) -> str:
        return make_conninfo(
            self.server.admin, dbname=self.name, user=APP_ROLE, password=APP_PASSWORD
        )

    @contextmanager
    def owner(self) -> Iterator[psycopg.Connection[Row]]:
        """Autocommit connection as the schema owner (RLS does not stop it)."""
        with psycopg.connect(self.owner_conninfo, autocommit=True, row_factory=dict_row) as conn:
            yield conn

    @contextmanager
    def as_role(self, role: str, claims: dict[str, Any]) -> Iterator[psycopg.Connection[Row]]:
        """One transaction through the app's login role switched to ``role`` with ``claims``;
        rolled back at the end unless the block committed."""
        with psycopg.connect(self.app_conninfo, row_factory=dict_row) as conn:
            conn.execute(
                "SELECT set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                [role, json.dumps(claims)],
            )
            yield conn
            conn.rollback()

    @contextmanager
    def as_user(
        self, user_id: uuid.UUID, *, admin: bool = False
    ) -> Iterator[psycopg.Connection[Row]]:
        with self.as_role("authenticated", user_claims(user_id, admin=admin)) as conn:
            yield conn

    @contextmanager
    def as_anon(self) -> Iterator[psycopg.Connection[Row]]:
        with self.as_role("anon", {"role": "anon"}) as conn:
            yield conn

    @contextmanager
    def as_service(self) -> Iterator[psycopg.Connection[Row]]:
        with self.as_role("service_role", {"role": "service_role"}) as conn:
            yield conn


# ------------------------------------------------------------------ factories


def create_user(
    conn: psycopg.Connection[Row], email: str | None = None, display_name: str | None = None
) -> uuid.UUID:
    """A signed-up user: handle_new_user() gives them a profile, portfolio and default account."""
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.test"
    meta = {"display_name": display_name} if display_name else {}
    row = conn.execute(
        "INSERT INTO auth.users (email, raw_user_meta_data, email_confirmed_at)"
        " VALUES (%s, %s, now()) RETURNING id",
        [email, json.dumps(meta)],
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row["id"]))


def default_account(conn: psycopg.Connection[Row], user_id: uuid.UUID) -> uuid.UUID:
    row = conn.execute(
        "SELECT id FROM paper_trading_accounts WHERE user_id = %s AND is_default", [user_id]
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row["id"]))


def create_account(conn: psycopg.Connection[Row], user_id: uuid.UUID, **fields: Any) -> uuid.UUID:
    values: dict[str, Any] = {"account_name": f"Account {uuid.uuid4().hex[:6]}", **fields}
    cols = ", ".join(["user_id", *values])
    marks = ", ".join(["%s"] * (len(values) + 1))
    row = conn.execute(
        f"INSERT INTO paper_trading_accounts ({cols}) VALUES ({marks}) RETURNING id",  # type: ignore[arg-type]
        [user_id, *values.values()],
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row["id"]))


def create_trade(
    conn: psycopg.Connection[Row],
    user_id: uuid.UUID,
    account_id: uuid.UUID,
    *,
    symbol: str = "BTC",
    side: str = "buy",
    amount: Decimal = Decimal("0.01"),
    price: Decimal = Decimal("50000"),
    **fields: Any,
) -> uuid.UUID:
    """A raw trade row (owner connection); the trading engine's own path is tested elsewhere."""
    values: dict[str, Any] = {
        "user_id": user_id,
        "account_id": account_id,
        "symbol": symbol,
        "side": side,
        "amount": amount,
        "price": price,
        "execution_price": price,
        "total_value": amount * price,
        **fields,
    }
    cols = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    row = conn.execute(
        f"INSERT INTO paper_trades ({cols}) VALUES ({marks}) RETURNING id",  # type: ignore[arg-type]
        list(values.values()),
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row["id"]))


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``cryptotrader ARGS`` as a user runs it: a process of its own (see the ``cli_env``
    fixture), forked from a server that has the CLI imported (tests/cli_fork.py), or a
    plain ``python -m cryptotrader`` subprocess with ``CRYPTOTRADER_TEST_CLI_SUBPROCESS=1``."""
    if os.environ.get("CRYPTOTRADER_TEST_CLI_SUBPROCESS") == "1":
        return subprocess.run(
            [sys.executable, "-m", "cryptotrader", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=120,
            check=False,
        )
    code, out, err = cli_fork.run(args, env, cwd, timeout=120)
    return subprocess.CompletedProcess(["cryptotrader", *args], code, out, err)


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every route of an app, those of its included routers too (FastAPI includes them
    lazily: ``app.routes`` holds the router, not its routes)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)


def wait_for(check: Callable[[], object], timeout: float) -> None:
    """Poll ``check`` every 20 ms until it is true; an AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s")
