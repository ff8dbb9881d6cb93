"""Copy trading on a real database: the trader's fills (market, limit, copies) become
copies in the follower's account through the one order path, sized exactly, with skips
recorded and told; chains propagate, cycles stop; allocations, the stop-loss and opening
the trader's positions; and the outbox and the copy log under RLS, tested in SQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.session import Conn, as_user, user_claims
from cryptotrader.social import service
from cryptotrader.social.copying import CopyWorker
from cryptotrader.social.errors import AllocationOver100
from cryptotrader.social.schemas import CopySettings, TraderProfileUpdate
from cryptotrader.trading import service as trading
from cryptotrader.trading.schemas import OrderRequest
from tests.support import TestDatabase, create_account, create_user
from tests.trading.helpers import set_price, tick

D = Decimal

pytestmark = pytest.mark.anyio
Pool = AsyncConnectionPool[Conn]


def member(db: TestDatabase, balance: str = "100000") -> tuple[UUID, UUID]:
    """A user with an account on the ideal fill model (fills at the quote) and wide limits."""
    with db.owner() as conn:
        user = create_user(conn)
        account = create_account(
            conn,
            user,
            initial_balance=D(balance),
            max_position_size=D(10_000_000),
            max_daily_loss=D(10_000_000),
        )
        conn.execute(
            "UPDATE paper_trading_accounts SET fill_model = 'ideal', balance = initial_balance"
            " WHERE id = %s",
            [account],
        )
    return user, account


async def as_member(pool: Pool, user: UUID, fn: Any, *args: Any, **kw: Any) -> Any:
    async with as_user(pool, user_claims(user)) as conn:
        return await fn(conn, Actor(claims=user_claims(user)), *args, **kw)


async def list_as_leader(pool: Pool, user: UUID, name: str) -> None:
    profile = TraderProfileUpdate(is_listed=True, display_name=name)
    await as_member(pool, user, service.put_own_profile, profile)


async def copy(pool: Pool, follower: UUID, leader: UUID, account: UUID, **settings: Any) -> UUID:
    made = await as_member(pool, follower, service.follow, leader)
    chosen = CopySettings.model_validate({"account_id": account} | settings)
    await as_member(pool, follower, service.set_copy, made.id, chosen)
    return UUID(str(made.id))


async def trade(pool: Pool, user: UUID, account: UUID, side: str, amount: str, **kw: Any) -> Any:
    order = OrderRequest.model_validate(
        {"account_id": account, "symbol": "BTC", "side": side, "amount": amount} | kw
    )
    placed = await trading.place_order(pool, Actor(claims=user_claims(user)), order)
    return placed.trade


async def drain(worker: CopyWorker) -> None:
    while await worker.run_once():
        pass


def copies(db: TestDatabase, follower: UUID) -> list[dict[str, Any]]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT c.*, t.trade_category, t.amount AS traded FROM copy_trades c"
            " LEFT JOIN paper_trades t ON t.id = c.trade_id"
            " WHERE c.user_id = %s ORDER BY c.created_at, c.id",
            [follower],
        ).fetchall()


def holding(db: TestDatabase, account: UUID, symbol: str = "BTC") -> D:
    with db.owner() as conn:
        row = conn.execute(
            "SELECT quantity FROM account_positions WHERE account_id = %s AND symbol = %s",
            [account, symbol],
        ).fetchone()
    return D(0) if row is None else D(row["quantity"])


@pytest.fixture
def worker(pool: Pool) -> CopyWorker:
    return CopyWorker(pool, concurrency=4, identity="test")


@pytest.fixture(autouse=True)
def btc_at_50k(db: TestDatabase) -> None:
    with db.owner() as conn:
        set_price(conn, "BTC", "50000")


async def test_ratio_copies_buys_and_sells_only_the_copied_position(
    db: TestDatabase, pool: Pool, worker: CopyWorker
) -> None:
    leader, leader_acct = member(db)
    follower, acct = member(db, "20000")
    await list_as_leader(pool, leader, "Alice")
    await trade(pool, follower, acct, "buy", "0.1")  # the follower's own BTC
    follow = await copy(pool, follower, leader, acct, allocation_pct="25")

    bought = await trade(pool, leader, leader_acct, "buy", "0.1")  # 5,000 of 100,000: 5%
    await drain(worker)
    # follower equity 20,000 - 5 (the fee of their own buy) = 19,995;
    # 0.05 x 25% x 19,995 = 249.9375 USD = 0.00499875 BTC at 50,000
    [first] = copies(db, follower)
    assert first["status"] == "filled" and first["follow_id"] == follow
    assert first["leader_trade_id"] == bought.id and first["fraction"] == D("0.05")
    assert first["filled_quantity"] == D("0.00499875") and first["trade_category"] == "copy"
    assert first["execution_price"] == D("50000") and first["limit_price"] == D("50500")

    await trade(pool, leader, leader_acct, "sell", "0.04")  # 40% of the position
    await drain(worker)
    await trade(pool, leader, leader_acct, "sell", "0.06")  # the rest
    await drain(worker)
    rows = copies(db, follower)
    # 0.4 x 0.00499875 = 0.0019995; then the rest, 0.00299925
    assert [(r["side"], r["filled_quantity"]) for r in rows] == [
        ("buy", D("0.00499875")),
        ("sell", D("0.00199950")),
        ("sell", D("0.00299925")),
    ]
    assert holding(db, acct) == D("0.1")  # the follower's own BTC untouched


async def test_fixed_amount_limits_and_skips_are_recorded_and_told(
    db: TestDatabase, pool: Pool, worker: CopyWorker
) -> None:
    leader, leader_acct = member(db)
    follower, acct = member(db, "850")
    await list_as_leader(pool, leader, "Bob")
    await copy(pool, follower, leader, acct, mode="fixed", fixed_amount="600", max_per_trade="400")
    for _ in range(4):
        await trade(pool, leader, leader_acct, "buy", "0.01")
        await drain(worker)
    rows = copies(db, follower)
    assert [(r["status"], r["reason"]) for r in rows] == [
        ("reduced", "max_per_trade"),
        ("reduced", "max_per_trade"),
        ("reduced", "insufficient_funds"),
        ("skipped", "insufficient_funds"),
    ]
    # 400 / 50,000 = 0.008 BTC, 400.40 with the fee, twice: 49.20 of cash is left, which
    # pays 49.20 / (50,500 x 1.001) = 0.00097328 BTC at the cap; then 0.49 is left
    assert [r["filled_quantity"] for r in rows] == [D("0.008"), D("0.008"), D("0.00097328"), D("0")]
    with db.owner() as conn:
        notes = conn.execute(
            "SELECT notification_type, metadata->>'reason' AS reason FROM account_notifications"
            " WHERE user_id = %s AND notification_type LIKE 'copy.%%' ORDER BY created_at",
            [follower],
        ).fetchall()
    assert [(n["notification_type"], n["reason"]) for n in notes] == [
        ("copy.reduced", "max_per_trade"),
        ("copy.reduced", "max_per_trade"),
        ("copy.reduced", "insufficient_funds"),
        ("copy.skipped", "insufficient_funds"),
    ]


async def test_a_limit_fill_is_copied_and_a_paused_account_skips(
    db: TestDatabase, pool: Pool, worker: CopyWorker
) -> None:
    leader, leader_acct = member(db)
    follower, acct = member(db)
    await list_as_leader(pool, leader, "Carol")
    await copy(pool, follower, leader, acct, allocation_pct="10")
    await trade(pool, leader, leader_acct, "buy", "0.2", order_type="limit", limit_price="49000")
    await drain(worker)
    assert copies(db, follower) == []  # resting: nothing to copy yet
    with db.owner() as conn:
        set_price(conn, "BTC", "48900")
        conn.execute("SET ROLE service_role")
        tick(conn, "BTC", "48900")
        conn.execute("RESET ROLE")
    await drain(worker)
    [filled] = copies(db, follower)
    assert filled["status"] == "filled" and filled["leader_price"] == D("49000")
    with db.owner() as conn:
        conn.execute("UPDATE paper_trading_accounts SET status = 'paused' WHERE id = %s", [acct])
    await trade(pool, leader, leader_acct, "sell", "0.2")
    await drain(worker)
    last = copies(db, follower)[-1]
    assert (last["status"], last["reason"]) == ("skipped", "account_paused")


async def test_chains_propagate_and_cycles_stop(
    db: TestDatabase, pool: Pool, worker: CopyWorker
) -> None:
    (a, a_acct), (b, b_acct), (c, c_acct) = member(db), member(db), member(db)
    for user, name in ((a, "A"), (b, "B"), (c, "C")):
        await list_as_leader(pool, user, name)
    await copy(pool, b, c, b_acct, allocation_pct="50")  # B copies C
    await copy(pool, a, b, a_acct, allocation_pct="50")  # A copies B
    await copy(pool, c, a, c_acct, allocation_pct="50")  # C copies A: a cycle
    await trade(pool, c, c_acct, "buy", "0.2")  # 10% of C
    await drain(worker)
    [b_copy] = copies(db, b)
    [a_copy] = copies(db, a)
    [c_copy] = copies(db, c)
    assert b_copy["status"] == "filled" and a_copy["status"] == "filled"
    assert (c_copy["status"], c_copy["reason"]) == ("skipped", "cycle")
    # 10% x 50% of B's 100,000 = 5,000 = 0.1 BTC; B's buy is 5% of B, A copies 2.5%
    assert b_copy["filled_quantity"] == D("0.1")
    assert a_copy["fraction"] == D("0.05") and a_copy["filled_quantity"] == D("0.05")
    with db.owner() as conn:
        events = conn.execute(
            "SELECT count(*) AS n, count(done_at) AS done FROM private.copy_events"
        ).fetchone()
    assert events == {"n": 3, "done": 3}  # C's fill, B's copy, A's copy: then it stops


async def test_allocations_add_up_to_100_percent_at_most(db: TestDatabase, pool: Pool) -> None:
    (l1, _), (l2, _) = member(db), member(db)
    follower, acct = member(db)
    await list_as_leader(pool, l1, "One")
    await list_as_leader(pool, l2, "Two")
    await copy(pool, follower, l1, acct, allocation_pct="70")
    with pytest.raises(AllocationOver100):
        await copy(pool, follower, l2, acct, allocation_pct="40")
    l3, other_acct = member(db)
    await list_as_leader(pool, l3, "Three")
    with pytest.raises(AccountNotFound):  # another user's account
        await copy(pool, follower, l3, other_acct, allocation_pct="10")


async def test_the_stop_loss_stops_the_copy_and_closes_it(
    db: TestDatabase, pool: Pool, worker: CopyWorker
) -> None:
    leader, leader_acct = member(db)
    follower, acct = member(db)
    await list_as_leader(pool, leader, "Dave")
    follow = await copy(
        pool, follower, leader, acct, allocation_pct="20", stop_loss_pct="10", stop_closes=True
    )
    await trade(pool, leader, leader_acct, "buy", "1")  # 50% of the trader
    await drain(worker)
    assert holding(db, acct) == D("0.2")  # 50% x 20% x 100,000 = 10,000 = 0.2 BTC
    with db.owner() as conn:
        set_price(conn, "BTC", "45000")
    assert await worker.check_stop_losses() == 0  # lost 1,000 + fees: 5% of 20,000
    with db.owner() as conn:
        set_price(conn, "BTC", "39900")
    assert await worker.check_stop_losses() == 1  # lost 2,020 + fees: over 10%
    assert holding(db, acct) == D("0")
    with db.owner() as conn:
        row = conn.execute(
            "SELECT copy_trading_enabled, copy_stop_reason FROM trader_follows WHERE id = %s",
            [follow],
        ).fetchone()
    assert row == {"copy_trading_enabled": False, "copy_stop_reason": "stop_loss"}
    assert copies(db, follower)[-1]["kind"] == "stop_close"
    assert await worker.check_stop_losses() == 0
    await trade(pool, leader, leader_acct, "sell", "1")
    await drain(worker)
    assert copies(db, follower)[-1]["kind"] == "stop_close"  # no longer copying


async def test_starting_a_copy_can_open_the_traders_positions(
    db: TestDatabase, pool: Pool, worker: CopyWorker
) -> None:
    leader, leader_acct = member(db)
    follower, acct = member(db)
    await list_as_leader(pool, leader, "Erin")
    await trade(pool, leader, leader_acct, "buy", "0.4")  # 20,000 of 99,980 equity now
    await copy(pool, follower, leader, acct, allocation_pct="50", open_positions=True)
    await drain(worker)
    [mirror] = copies(db, follower)
    assert mirror["kind"] == "mirror" and mirror["status"] == "filled"
    # 20,000 / 99,980 of 50% of 100,000
    expected = (D("20000") / D("99980") * D("50000") / D("50000")).quantize(D("1e-8"), "ROUND_DOWN")
    assert mirror["filled_quantity"] == expected


async def test_the_outbox_and_the_copy_log_under_rls(
    db: TestDatabase, pool: Pool, worker: CopyWorker
) -> None:
    leader, leader_acct = member(db)
    follower, acct = member(db)
    stranger, _ = member(db)
    await list_as_leader(pool, leader, "Fay")
    follow = await copy(pool, follower, leader, acct, allocation_pct="10")
    await trade(pool, leader, leader_acct, "buy", "0.1")
    await drain(worker)
    with db.as_user(follower) as conn:
        assert conn.execute("SELECT count(*) AS n FROM copy_trades").fetchone() == {"n": 1}
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM private.copy_events")
    for someone in (leader, stranger):
        with db.as_user(someone) as conn:
            assert conn.execute("SELECT count(*) AS n FROM copy_trades").fetchone() == {"n": 0}
            with pytest.raises(psycopg.Error) as caught:
                conn.execute("SELECT copy_open_positions(%s)", [follow])
            assert caught.value.diag.message_hint == "follow_not_found"
    # the copy log is the worker's to write
    with db.as_user(follower) as conn, pytest.raises(psycopg.Error):
        conn.execute("UPDATE copy_trades SET status = 'skipped', reason = 'x'")


async def test_the_slippage_cap_and_the_accounts_risk_limits_skip_and_tell(
    db: TestDatabase, pool: Pool, worker: CopyWorker
) -> None:
    leader, leader_acct = member(db)
    capped, capped_acct = member(db)
    limited, limited_acct = member(db)
    await list_as_leader(pool, leader, "Gus")
    await copy(pool, capped, leader, capped_acct, allocation_pct="10", slippage_pct="0.1")
    await copy(pool, limited, leader, limited_acct, allocation_pct="10")
    with db.owner() as conn:  # a position limit the copy (1,000 USD) would break
        conn.execute(
            "UPDATE paper_trading_accounts SET max_position_size = 500 WHERE id = %s",
            [limited_acct],
        )
    await trade(pool, leader, leader_acct, "buy", "0.2")  # at 50,000
    with db.owner() as conn:  # the market moves before the copies are placed
        set_price(conn, "BTC", "50100")
    await drain(worker)
    [skipped] = copies(db, capped)
    assert (skipped["status"], skipped["reason"]) == ("skipped", "slippage_cap")
    assert skipped["trade_id"] is None  # refused before any order: 50,100 > 50,050
    [refused] = copies(db, limited)
    assert (refused["status"], refused["reason"]) == ("skipped", "risk_limit")
    assert "over the limit" in refused["message"]
    with db.owner() as conn:
        told = conn.execute(
            "SELECT user_id, metadata->>'reason' AS reason FROM account_notifications"
            " WHERE notification_type = 'copy.skipped' ORDER BY metadata->>'reason'"
        ).fetchall()
    assert told == [
        {"user_id": limited, "reason": "risk_limit"},
        {"user_id": capped, "reason": "slippage_cap"},
    ]
