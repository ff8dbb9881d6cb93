"""Backup and restore the way an operator runs them, judged by what the platform can do after.

Seed and trade through the real commands and the API, `cryptotrader db backup`, then `db
restore` into the same database or into a new server; the catalog (every grant, default
privilege, policy, function, RLS flag, partition, sequence, trigger, the app role's
memberships) and every row must be as before, and the API's smoke path (sign in as the demo
user, every order type, a cancel, every read) must work on the restored database.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from cryptotrader.api.app import create_app
from cryptotrader.db import migrate
from cryptotrader.db.embedded import embedded_bin_dir, start_embedded
from cryptotrader.seed import DEMO_EMAIL, DEMO_PASSWORD
from tests.api.conftest import api_settings
from tests.db.catalog import Catalog, assert_same, row_fingerprints, server_major, snapshot
from tests.support import APP_ROLE, PgServer, TestDatabase, run_cli
from tests.support_targets import target_for

API = "/api/v1"


def catalog_of(db: TestDatabase, *, as_of: TestDatabase | None = None) -> Catalog:
    """``db``'s catalog; ``as_of``: as far as that database's server version records it."""
    with psycopg.connect(db.owner_conninfo, autocommit=True) as conn:
        if as_of is None:
            return snapshot(conn, APP_ROLE)
        with psycopg.connect(as_of.owner_conninfo, autocommit=True) as other:
            major = min(server_major(conn), server_major(other))
        return snapshot(conn, APP_ROLE, as_of_major=major)


def cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    out = run_cli(args, env, cwd)
    assert out.returncode == 0, out.stderr
    return out.stdout


def items(body: Any) -> list[Any]:
    """A list route's rows, whether it answers a bare list or a page."""
    return list(body["items"] if isinstance(body, dict) else body)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json()


def fresh_prices(db: TestDatabase) -> None:
    """No feed runs here: the reference prices are made current, as the feed would."""
    with db.owner() as conn:
        conn.execute("UPDATE market_data_cache SET last_updated = now()")


def platform(db: TestDatabase) -> TestClient:
    return TestClient(create_app(api_settings(), target_for(db)))


def sign_in(client: TestClient) -> dict[str, str]:
    body = ok(
        client.post(f"{API}/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    )
    return {"Authorization": f"Bearer {body['access_token']}"}


def price(client: TestClient, symbol: str) -> Decimal:
    return Decimal(ok(client.get(f"{API}/market/prices/{symbol}"))["price_usd"])


def order(client: TestClient, h: dict[str, str], **body: Any) -> dict[str, Any]:
    body = {k: str(v) if isinstance(v, Decimal) else v for k, v in body.items()}
    placed: dict[str, Any] = ok(client.post(f"{API}/orders", headers=h, json=body), 201)
    return placed


def trade_before_backup(db: TestDatabase) -> str:
    """A resting limit order of the demo user, to be cancelled after the restore."""
    fresh_prices(db)
    with platform(db) as client:
        h = sign_in(client)
        main = next(
            a for a in items(ok(client.get(f"{API}/accounts", headers=h))) if a["is_default"]
        )
        eth = price(client, "ETH")
        resting = order(
            client,
            h,
            account_id=main["id"],
            symbol="ETH",
            side="buy",
            amount="0.1",
            order_type="limit",
            limit_price=(eth * Decimal("0.8")).quantize(Decimal("0.01")),
        )
        assert resting["status"] == "pending"
        return str(resting["id"])


def exercise_platform(db: TestDatabase, pending_id: str) -> None:
    """The API's smoke path as the demo user: sign in, open an account, every order type
    (market buy and sell, limit, stop, exits, IOC, FOK, an idempotent retry), cancel the
    order that rested across the restore, and read everything back."""
    fresh_prices(db)
    with platform(db) as client:
        h = sign_in(client)
        assert ok(client.get(f"{API}/auth/me", headers=h))["email"] == DEMO_EMAIL
        assert ok(client.get(f"{API}/me", headers=h))["email"] == DEMO_EMAIL
        accounts = items(ok(client.get(f"{API}/accounts", headers=h)))
        assert len(accounts) == 4  # the default one and three from templates, restored
        acct = ok(
            client.post(f"{API}/accounts", headers=h, json={"account_name": "Restore drill"}), 201
        )["id"]
        btc, eth = price(client, "BTC"), price(client, "ETH")
        cent = Decimal("0.01")

        def place(**body: Any) -> dict[str, Any]:
            return order(client, h, account_id=acct, **body)

        bought = place(symbol="BTC", side="buy", amount="0.01")
        sold = place(symbol="BTC", side="sell", amount="0.004")
        limit = place(
            symbol="ETH",
            side="buy",
            amount="0.1",
            order_type="limit",
            limit_price=(eth * Decimal("0.9")).quantize(cent),
        )
        stop = place(
            symbol="BTC",
            side="sell",
            amount="0.002",
            order_type="stop",
            stop_price=(btc * Decimal("0.9")).quantize(cent),
        )
        exits = place(
            symbol="ETH",
            side="buy",
            amount="0.1",
            stop_loss=(eth * Decimal("0.92")).quantize(cent),
            take_profit=(eth * Decimal("1.15")).quantize(cent),
        )
        far = (eth * Decimal("0.5")).quantize(cent)
        ioc = place(
            symbol="ETH", side="buy", amount="0.1", order_type="limit", limit_price=far,
            time_in_force="ioc",
        )  # fmt: skip
        fok = place(
            symbol="ETH", side="buy", amount="0.1", order_type="limit", limit_price=far,
            time_in_force="fok",
        )  # fmt: skip
        assert [o["status"] for o in (bought, sold, limit, stop, exits, ioc, fok)] == [
            "completed", "completed", "pending", "pending", "completed", "expired", "expired",
        ]  # fmt: skip

        keyed = {"account_id": acct, "symbol": "ETH", "side": "buy", "amount": "0.01"}
        key = {**h, "Idempotency-Key": "restore-drill-1"}
        first = ok(client.post(f"{API}/orders", headers=key, json=keyed), 201)
        again = client.post(f"{API}/orders", headers=key, json=keyed)
        assert ok(again, 201)["id"] == first["id"]
        assert again.headers.get("Idempotent-Replayed") == "true"

        # the order that rested across the backup and the restore, and one placed now
        for pending in (pending_id, limit["id"]):
            cancelled = ok(client.post(f"{API}/orders/{pending}/cancel", headers=h))
            assert cancelled["status"] == "cancelled"

        got = ok(client.get(f"{API}/orders/{bought['id']}", headers=h))
        assert got["id"] == bought["id"] and got["status"] == "completed"
        waiting = items(ok(client.get(f"{API}/orders", headers=h, params={"status": "pending"})))
        waiting_ids = {o["id"] for o in waiting}
        assert stop["id"] in waiting_ids and limit["id"] not in waiting_ids
        assert pending_id not in waiting_ids
        assert any(o["parent_trade_id"] == exits["id"] for o in waiting)  # its exits
        fills = items(
            ok(client.get(f"{API}/trades", headers=h, params={"account_id": acct, "limit": 100}))
        )
        assert {bought["id"], sold["id"], exits["id"], first["id"]} <= {t["id"] for t in fills}
        history = items(ok(client.get(f"{API}/trades", headers=h, params={"limit": 100})))
        assert {t["trade_category"] for t in history} >= {"demo", "manual"}  # the seeded ones
        positions = {
            p["symbol"]: Decimal(p["quantity"])
            for p in items(ok(client.get(f"{API}/accounts/{acct}/positions", headers=h)))
        }
        assert positions == {"BTC": Decimal("0.006"), "ETH": Decimal("0.11")}
        audit = items(ok(client.get(f"{API}/accounts/{acct}/audit", headers=h)))
        assert len(audit) >= 5  # opened, and a balance change per fill
        assert (
            ok(client.get(f"{API}/accounts/{acct}", headers=h))["account_name"] == "Restore drill"
        )
        assert items(ok(client.get(f"{API}/portfolios", headers=h)))
        watchlists = items(ok(client.get(f"{API}/watchlists", headers=h)))
        assert [w["name"] for w in watchlists] == ["Majors"]
        assert items(ok(client.get(f"{API}/market/prices")))


def seeded_and_traded(db: TestDatabase, env: dict[str, str], cwd: Path) -> str:
    assert "demo@cryptotrader.local created" in cli(["db", "seed"], env, cwd)
    return trade_before_backup(db)


def take_restore_record(conninfo: str) -> None:
    """The restore is audited in the restored database (one ``db.restore`` row by the
    system, after the dump's rows): check it and take it out, so what is left compares with
    the backed-up rows."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        taken = conn.execute(
            "DELETE FROM audit_logs WHERE action = 'db.restore' RETURNING user_id, details"
        ).fetchall()
    assert taken == [(None, {"file": "ct.dump"})]


def test_restore_into_the_same_database_gives_back_a_working_platform(
    db: TestDatabase, cli_env: dict[str, str], tmp_path: Path
) -> None:
    pending = seeded_and_traded(db, cli_env, tmp_path)
    catalog, rows = catalog_of(db), row_fingerprints(db.owner_conninfo)
    dump = tmp_path / "ct.dump"
    assert "backup written to" in cli(["db", "backup", str(dump)], cli_env, tmp_path)
    # the platform moves on after the backup; the restore takes it back
    with db.owner() as conn:
        conn.execute("DELETE FROM watchlists")
    assert "restored" in cli(["db", "restore", str(dump), "--yes"], cli_env, tmp_path)

    assert_same(catalog, catalog_of(db))
    take_restore_record(db.owner_conninfo)
    assert row_fingerprints(db.owner_conninfo) == rows
    assert migrate.migrate(db.owner_conninfo) == []  # `serve` after a restore migrates nothing
    exercise_platform(db, pending)


@pytest.fixture
def fresh_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[PgServer]:
    """A second embedded PostgreSQL in a data dir of its own: a new machine."""
    # start_embedded points XDG_RUNTIME_DIR into its data dir; put it back afterwards
    if "XDG_RUNTIME_DIR" in os.environ:
        monkeypatch.setenv("XDG_RUNTIME_DIR", os.environ["XDG_RUNTIME_DIR"])
    else:
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    data_dir = Path(tempfile.mkdtemp(prefix="ct-test-fresh-pg-"))
    try:
        server = start_embedded(data_dir)
        yield PgServer(admin=server.conninfo(), bin_dir=embedded_bin_dir())
        server.handle.cleanup()  # stops it (its exit handler then finds nothing to do)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_restore_into_a_fresh_server_gives_back_a_working_platform(
    db: TestDatabase, fresh_server: PgServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    pending = seeded_and_traded(db, cli_env, tmp_path)
    dump = tmp_path / "ct.dump"
    cli(["db", "backup", str(dump)], cli_env, tmp_path)

    fresh = TestDatabase(server=fresh_server, name="cryptotrader")
    with psycopg.connect(fresh_server.admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(fresh.name)))
        known = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()}
    assert not known & {APP_ROLE, "anon", "authenticated", "service_role"}  # a new machine
    env = {**cli_env, "DATABASE_URL": fresh.owner_conninfo}
    assert "restored" in cli(["db", "restore", str(dump), "--yes"], env, tmp_path)

    # with DATABASE_URL naming an older server, the new one is a newer version: compared in
    # what both record
    assert_same(catalog_of(db, as_of=fresh), catalog_of(fresh, as_of=db))
    take_restore_record(fresh.owner_conninfo)
    assert row_fingerprints(fresh.owner_conninfo) == row_fingerprints(db.owner_conninfo)
    assert migrate.migrate(fresh.owner_conninfo) == []
    exercise_platform(fresh, pending)
