"""``cryptotrader social copy|copies|gap|what-if`` as the users they name: copying started,
changed (the options not given are kept) and stopped, each audited as the follower's, and
refused clearly (no account, a bad value, another user's follow); the copy log after the
copy worker ran, with its filters and under RLS; the copy gap and a what-if replay.

The helpers (a member with a wide-limit account, a trade through the one order path, the
copy worker run until idle) are shared with tests/web/test_copy_pages.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.audit.schemas import Actor
from cryptotrader.db.session import Conn, open_pool, user_claims
from cryptotrader.social.copying import CopyWorker
from cryptotrader.trading import service as trading
from cryptotrader.trading.schemas import OrderRequest
from tests.support import TestDatabase, create_account, create_user, run_cli
from tests.trading.helpers import set_price

ANN, BOB = "ann@example.test", "bob@example.test"
T = TypeVar("T")


# ------------------------------------------------------------------ shared helpers
def member_account(db: TestDatabase, user: UUID, balance: str = "100000") -> UUID:
    """An account of ``user`` on the ideal fill model (fills at the quote), wide limits."""
    with db.owner() as conn:
        account = create_account(
            conn,
            user,
            initial_balance=Decimal(balance),
            max_position_size=Decimal(10_000_000),
            max_daily_loss=Decimal(10_000_000),
        )
        conn.execute(
            "UPDATE paper_trading_accounts SET fill_model = 'ideal', balance = initial_balance"
            " WHERE id = %s",
            [account],
        )
        set_price(conn, "BTC", "50000")
    return account


def with_pool(db: TestDatabase, work: Callable[[AsyncConnectionPool[Conn]], Awaitable[T]]) -> T:
    async def run() -> T:
        pool = open_pool(db.app_conninfo, min_size=1, max_size=4)
        await pool.open()
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(run())


def trade(db: TestDatabase, user: UUID, account: UUID, side: str, amount: str) -> None:
    """A market order of ``user``'s through the one order path (its fill is copied)."""
    order = OrderRequest.model_validate(
        {"account_id": account, "symbol": "BTC", "side": side, "amount": amount}
    )

    async def place(pool: AsyncConnectionPool[Conn]) -> None:
        await trading.place_order(pool, Actor(claims=user_claims(user)), order)

    with_pool(db, place)


def fan_out(db: TestDatabase) -> None:
    """The copy worker, until it has nothing left to copy."""

    async def drain(pool: AsyncConnectionPool[Conn]) -> None:
        worker = CopyWorker(pool, concurrency=2, identity="test")
        while await worker.run_once():
            pass

    with_pool(db, drain)


# ------------------------------------------------------------------ the CLI
@pytest.fixture
def cli(cli_env: dict[str, str], tmp_path: Path) -> Callable[..., Any]:
    def run(*args: str, code: int = 0) -> Any:
        out = run_cli(["social", *args], cli_env, tmp_path)
        assert out.returncode == code, (args, out.stdout, out.stderr)
        return out

    return run


def listed_and_followed(db: TestDatabase, cli: Callable[..., Any]) -> tuple[UUID, UUID, str]:
    """Ann listed, Bob following her: their ids and the follow's."""
    with db.owner() as conn:
        ann, bob = create_user(conn, email=ANN), create_user(conn, email=BOB)
    cli("profile", "--user", ANN, "--name", "Ann", "--listed")
    follow = cli("follow", str(ann), "--user", BOB).stdout.split()[-1]
    return ann, bob, follow


def copy_actions(db: TestDatabase) -> list[dict[str, Any]]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT p.email, a.resource_id, a.details FROM audit_logs a"
            " JOIN profiles p ON p.id = a.user_id WHERE a.action = 'follow.copy'"
            " ORDER BY a.timestamp, a.id"
        ).fetchall()


def test_copying_is_started_changed_and_stopped_and_audited(
    db: TestDatabase, cli: Callable[..., Any]
) -> None:
    _, bob, follow = listed_and_followed(db, cli)
    account = member_account(db, bob)
    refused = cli("copy", follow, "--user", BOB, code=2)
    assert "copying needs account_id" in refused.stderr
    bad = cli(
        "copy", follow, "--user", BOB, "--account", str(account), "--allocation", "150", code=2
    )
    assert "allocation_pct" in bad.stderr
    stranger = cli("copy", follow, "--user", ANN, "--account", str(account), code=2)
    assert "Follow not found" in stranger.stderr
    assert copy_actions(db) == []

    started = cli(
        "copy",
        follow,
        "--user",
        BOB,
        "--account",
        str(account),
        "--allocation",
        "25",
        "--min-order",
        "100",
        "--stop-loss",
        "20",
        "--stop-closes",
    ).stdout
    assert f"Ann: copying into account {account}, ratio, 25% allocated (25,000.00 USD)" in started
    # an option not given keeps its setting; none removes a limit
    changed = json.loads(
        cli(
            "copy",
            follow,
            "--user",
            BOB,
            "--max-per-trade",
            "3000",
            "--stop-loss",
            "none",
            "--json",
        ).stdout
    )
    state = changed["copying"]
    assert changed["copy_trading_enabled"] is True
    assert (state["account_id"], Decimal(state["allocation_pct"])) == (str(account), 25)
    assert (Decimal(state["min_order"]), Decimal(state["max_per_trade"])) == (100, 3000)
    assert state["stop_loss_pct"] is None and state["stop_closes"] is True
    assert "Ann: not copying" in cli("copy", follow, "--user", BOB, "--stop").stdout
    [stopped] = json.loads(cli("follows", "--user", BOB, "--json").stdout)
    assert stopped["copy_trading_enabled"] is False
    assert stopped["copying"]["stop_reason"] == "by_follower"
    assert Decimal(stopped["copying"]["allocation_pct"]) == 25  # kept for next time

    audited = copy_actions(db)
    assert [(a["email"], str(a["resource_id"])) for a in audited] == [(BOB, follow)] * 3
    first, second, last = (a["details"] for a in audited)
    assert (first["enabled"], first["allocation_pct"], first["stop_loss_pct"]) == (True, "25", "20")
    assert second["max_per_trade"] == "3000" and second["stop_loss_pct"] is None
    assert last["enabled"] is False


def start_copying(db: TestDatabase, cli: Callable[..., Any]) -> tuple[UUID, UUID, str]:
    """Bob copies Ann (10%, minimum 100 USD); Ann buys 0.01 BTC (a 50 USD copy: skipped)
    and then 0.5 BTC (filled), and the worker copies both."""
    ann, bob, follow = listed_and_followed(db, cli)
    ann_account, account = member_account(db, ann), member_account(db, bob)
    cli("copy", follow, "--user", BOB, "--account", str(account), "--min-order", "100")
    trade(db, ann, ann_account, "buy", "0.01")
    trade(db, ann, ann_account, "buy", "0.5")
    fan_out(db)
    return ann, bob, follow


def test_the_copy_log_its_filters_and_rls(db: TestDatabase, cli: Callable[..., Any]) -> None:
    _, _, follow = start_copying(db, cli)
    table = cli("copies", "--user", BOB).stdout
    for text in ("Ann", "BTC", "buy", "skipped", "below_minimum", "filled", "50,000.00"):
        assert text in table, text
    [skipped] = json.loads(cli("copies", "--user", BOB, "--status", "skipped", "--json").stdout)
    assert (skipped["reason"], Decimal(skipped["filled_quantity"])) == ("below_minimum", 0)
    [newest] = json.loads(
        cli("copies", "--user", BOB, "--follow", follow, "--limit", "1", "--json").stdout
    )
    assert newest["status"] == "filled" and newest["follow_id"] == follow
    assert Decimal(newest["filled_quantity"]) > 0
    assert "no copy yet" in cli("copies", "--user", ANN).stdout  # the follower's rows only
    wrong = cli("copies", "--user", BOB, "--status", "lost", code=2)
    assert "lost" in wrong.stderr


def test_the_copy_gap_and_a_what_if(db: TestDatabase, cli: Callable[..., Any]) -> None:
    ann, _, follow = start_copying(db, cli)
    gap = json.loads(cli("gap", follow, "--user", BOB, "--json").stdout)
    assert gap["follow_id"] == follow and gap["trader_id"] == str(ann)
    assert set(gap["gap"]) == {"skipped", "slippage", "fees", "timing"}
    parts = sum(Decimal(p["usd"]) for p in gap["gap"].values())
    assert parts == Decimal(gap["copied_pnl"]) - Decimal(gap["trader_pnl"])
    table = cli("gap", follow, "--user", BOB).stdout
    for text in ("copies", "copied", "trader", "gap: skipped", "gap: fees", "gap: timing"):
        assert text in table, text
    assert "Follow not found" in cli("gap", follow, "--user", ANN, code=2).stderr

    replay = json.loads(
        cli(
            "what-if",
            str(ann),
            "--user",
            BOB,
            "--days",
            "30",
            "--capital",
            "20000",
            "--allocation",
            "50",
            "--min-order",
            "100",
            "--json",
        ).stdout
    )
    assert replay["trader_id"] == str(ann) and replay["days"] == 30
    assert Decimal(replay["capital"]) == 20000 and replay["fills"] == 2
    assert replay["copied"] + replay["reduced"] + replay["skipped"] == replay["fills"]
    shown = cli("what-if", str(ann), "--user", BOB).stdout
    for text in ("final equity", "trader's fills", "copied / reduced / skipped"):
        assert text in shown, text
    too_short = cli("what-if", str(ann), "--user", BOB, "--days", "0", code=2)
    assert "--days" in too_short.stderr
    cli("profile", "--user", ANN, "--name", "Ann")  # private again
    assert "not found" in cli("what-if", str(ann), "--user", BOB, code=2).stderr.lower()
