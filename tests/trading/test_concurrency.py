"""Concurrency of the trading engine: many connections on one account, concurrent ticks,
and cancels racing ticks. Each thread has its own autocommit connection (every engine call
is a transaction of its own, as in the API); errors are collected, never raised in threads.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from tests.support import TestDatabase, create_account, create_user
from tests.trading.helpers import (
    Conn,
    account,
    cancel,
    check_invariants,
    fresh_prices,
    place,
    position,
    service_session,
    set_price,
    tick,
    update_account,
    user_session,
)

JOIN_TIMEOUT = 60.0


@dataclass
class Outcomes:
    """What the threads saw, under a lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    codes: Counter[str] = field(default_factory=Counter)
    results: list[Any] = field(default_factory=list)
    unexpected: list[BaseException] = field(default_factory=list)

    def ok(self, result: Any) -> None:
        with self.lock:
            self.codes["ok"] += 1
            self.results.append(result)

    def refused(self, error: psycopg.Error) -> None:
        with self.lock:
            if error.diag.sqlstate and error.diag.sqlstate.startswith("CT"):
                self.codes[str(error.diag.message_hint)] += 1
                self.results.append(error)
            else:  # a deadlock, a serialization or constraint failure: never expected
                self.unexpected.append(error)

    def crashed(self, error: BaseException) -> None:
        with self.lock:
            self.unexpected.append(error)


def run_threads(workers: list[Callable[[threading.Barrier], None]], outcomes: Outcomes) -> None:
    """Starts the workers together (each opens its connection first, then waits at a
    barrier) and requires them all to finish within JOIN_TIMEOUT."""
    barrier = threading.Barrier(len(workers))

    def guarded(work: Callable[[threading.Barrier], None]) -> None:
        try:
            work(barrier)
        except BaseException as error:  # reported by the test, not by the thread
            barrier.abort()
            outcomes.crashed(error)

    threads = [threading.Thread(target=guarded, args=(w,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "threads still running: a deadlock or a hang"
    assert outcomes.unexpected == [], outcomes.unexpected


def call(outcomes: Outcomes, fn: Callable[[], Any]) -> None:
    try:
        result = fn()
    except psycopg.Error as error:
        outcomes.refused(error)
    else:
        outcomes.ok(result)


# ------------------------------------------------------------------ one account, 16 connections


@pytest.mark.timeout(120)
def test_sixteen_connections_spend_exactly_the_cash(db: TestDatabase) -> None:
    threads, per_thread = 16, 200
    price, amount = Decimal(100), Decimal(1)
    cost = Decimal("100.1")  # ideal fill: 100 + 0.10% taker fee, no slippage
    affordable = 1234  # N: the cash covers exactly this many buys
    with db.owner() as owner:
        fresh_prices(owner)
        set_price(owner, "SOL", price)
        user_id = create_user(owner)
        acct = create_account(
            owner, user_id, balance=cost * affordable, initial_balance=cost * affordable
        )
        update_account(
            owner,
            acct,
            fill_model="ideal",
            max_position_size=Decimal(10**12),
            max_daily_loss=Decimal(10**12),  # fees count toward the daily loss
        )
        outcomes = Outcomes()

        def buyer(barrier: threading.Barrier) -> None:
            with user_session(db, user_id) as conn:
                barrier.wait()
                for _ in range(per_thread):
                    call(outcomes, lambda c=conn: place(c, acct, "SOL", "buy", amount))

        run_threads([buyer] * threads, outcomes)

        assert outcomes.codes == {
            "ok": affordable,
            "insufficient_funds": threads * per_thread - affordable,
        }
        assert all(t["status"] == "completed" for t in outcomes.results if isinstance(t, dict))
        final = account(owner, acct)
        assert (final["balance"], final["reserved_balance"]) == (0, 0)
        assert final["fees_paid"] == Decimal("0.1") * affordable
        pos = position(owner, acct, "SOL")
        assert pos is not None
        assert (pos["quantity"], pos["cost_basis"]) == (affordable, price * affordable)
        counts = owner.execute(
            "SELECT (SELECT count(*) FROM paper_trades WHERE account_id = %(a)s) AS trades,"
            " (SELECT count(*) FROM paper_account_audit WHERE account_id = %(a)s"
            "    AND action = 'trade_buy') AS audits",
            {"a": acct},
        ).fetchone()
        assert counts == {"trades": affordable, "audits": affordable}
        check_invariants(owner, acct)


# ------------------------------------------------------------------ concurrent ticks


@pytest.mark.timeout(120)
def test_concurrent_ticks_fill_each_order_exactly_once(db: TestDatabase) -> None:
    accounts_n, orders_per_account, tickers = 8, 25, 4
    maker = Decimal("0.0008")
    with db.owner() as owner:
        fresh_prices(owner)
        set_price(owner, "SOL", 100)
        expected_cost: dict[uuid.UUID, Decimal] = {}
        order_ids: set[uuid.UUID] = set()
        accounts: list[uuid.UUID] = []
        for i in range(accounts_n):
            user_id = create_user(owner)
            acct = create_account(
                owner,
                user_id,
                balance=Decimal(50000),
                initial_balance=Decimal(50000),
                max_position_size=Decimal(10**9),
            )
            accounts.append(acct)
            expected_cost[acct] = Decimal(0)
            with user_session(db, user_id) as conn:
                for k in range(orders_per_account):
                    limit = Decimal(95) - Decimal(k) / 7  # prices with many decimals
                    limit = limit.quantize(Decimal("0.0001"))
                    qty = Decimal(1) + Decimal(i) / 3
                    qty = qty.quantize(Decimal("0.00000001"))
                    o = place(conn, acct, "SOL", "buy", qty, order_type="limit", limit_price=limit)
                    assert o["status"] == "pending"
                    order_ids.add(o["id"])
                    notional = (qty * limit).quantize(Decimal("1e-8"))
                    expected_cost[acct] += notional + (notional * maker).quantize(Decimal("1e-8"))
        outcomes = Outcomes()

        def ticker(barrier: threading.Barrier) -> None:
            with service_session(db) as conn:
                barrier.wait()
                call(outcomes, lambda: tick(conn, "SOL", Decimal(80)))

        run_threads([ticker] * tickers, outcomes)

        assert outcomes.codes == {"ok": tickers}
        assert sum(outcomes.results) == len(order_ids) == accounts_n * orders_per_account
        rows = owner.execute(
            "SELECT id, status, filled_at FROM paper_trades WHERE symbol = 'SOL'"
        ).fetchall()
        assert {r["id"] for r in rows} == order_ids
        assert all(r["status"] == "completed" and r["filled_at"] for r in rows)
        fills = owner.execute(
            "SELECT metadata ->> 'trade_id' AS trade_id, count(*) AS n FROM paper_account_audit"
            " WHERE action = 'trade_buy' GROUP BY 1"
        ).fetchall()
        assert {uuid.UUID(f["trade_id"]) for f in fills} == order_ids
        assert all(f["n"] == 1 for f in fills)  # one cash movement per order
        for acct in accounts:
            final = account(owner, acct)
            assert final["balance"] == Decimal(50000) - expected_cost[acct]
            assert final["reserved_balance"] == 0
            check_invariants(owner, acct)


# ------------------------------------------------------------------ cancels racing ticks


@dataclass
class Book:
    user_id: uuid.UUID
    account_id: uuid.UUID
    plain: list[uuid.UUID]  # limit orders on their own
    groups: dict[uuid.UUID, list[uuid.UUID]]  # one-cancels-other pairs


def open_book(db: TestDatabase, owner: Conn) -> Book:
    user_id = create_user(owner)
    acct = create_account(
        owner,
        user_id,
        balance=Decimal(100000),
        initial_balance=Decimal(100000),
        max_position_size=Decimal(10**9),
        fill_model="ideal",
    )
    plain: list[uuid.UUID] = []
    with user_session(db, user_id) as conn:
        place(conn, acct, "ETH", "buy", 5)
        for _ in range(5):  # each buy leaves a stop-loss / take-profit pair
            place(conn, acct, "ETH", "buy", 1, stop_loss=2800, take_profit=3100)
        for _ in range(5):
            o = place(conn, acct, "ETH", "sell", "0.5", order_type="limit", limit_price=3050)
            plain.append(o["id"])
        for k in range(10):
            o = place(conn, acct, "SOL", "buy", 1, order_type="limit", limit_price=95 - k)
            plain.append(o["id"])
    groups: dict[uuid.UUID, list[uuid.UUID]] = {}
    for row in owner.execute(
        "SELECT id, oco_group_id FROM paper_trades WHERE account_id = %s"
        " AND oco_group_id IS NOT NULL",
        [acct],
    ).fetchall():
        groups.setdefault(row["oco_group_id"], []).append(row["id"])
    assert len(groups) == 5 and all(len(legs) == 2 for legs in groups.values())
    return Book(user_id, acct, plain, groups)


@pytest.mark.timeout(120)
def test_cancels_racing_ticks_end_each_order_exactly_once(db: TestDatabase) -> None:
    rng = random.Random(20240607)
    with db.owner() as owner:
        fresh_prices(owner)
        set_price(owner, "ETH", 3000)
        set_price(owner, "SOL", 100)
        books = [open_book(db, owner) for _ in range(4)]
        cancelled_by: dict[uuid.UUID, Outcomes] = {}
        ticks = Outcomes()
        workers: list[Callable[[threading.Barrier], None]] = []

        for book in books:
            targets = book.plain + [leg for legs in book.groups.values() for leg in legs]
            rng.shuffle(targets)
            for target in targets:
                cancelled_by[target] = Outcomes()

            def canceller(barrier: threading.Barrier, b: Book = book, ids: Any = targets) -> None:
                with user_session(db, b.user_id) as conn:
                    barrier.wait()
                    for order_id in ids:
                        call(cancelled_by[order_id], lambda o=order_id: cancel(conn, o))

            workers.append(canceller)

        def ticker(symbol: str, price: Decimal) -> Callable[[threading.Barrier], None]:
            def work(barrier: threading.Barrier) -> None:
                with service_session(db) as conn:
                    barrier.wait()
                    for _ in range(3):
                        call(ticks, lambda: tick(conn, symbol, price))

            return work

        workers += [ticker("ETH", Decimal(3200)), ticker("ETH", Decimal(3150))]
        workers += [ticker("SOL", Decimal(80)), ticker("SOL", Decimal(85))]
        run_threads(workers, ticks)
        for seen in cancelled_by.values():
            assert seen.unexpected == []

        assert ticks.codes == {"ok": 12}
        statuses = {
            r["id"]: r["status"]
            for r in owner.execute(
                "SELECT id, status FROM paper_trades WHERE order_type <> 'market'"
            ).fetchall()
        }
        assert set(statuses) == set(cancelled_by)

        def cancelled_ok(order_id: uuid.UUID) -> bool:
            seen = cancelled_by[order_id]
            assert sum(seen.codes.values()) == 1
            if seen.codes["ok"]:
                assert seen.results[0]["status"] == "cancelled"
                return True
            assert seen.codes == {"order_not_cancellable": 1}
            return False

        completed = 0
        for book in books:
            for order_id in book.plain:
                # exactly one of: the user's cancel went through, or a tick filled it
                assert statuses[order_id] in ("completed", "cancelled")
                assert cancelled_ok(order_id) == (statuses[order_id] == "cancelled")
                completed += statuses[order_id] == "completed"
            for legs in book.groups.values():
                ended = [statuses[leg] for leg in legs]
                by_user = [cancelled_ok(leg) for leg in legs]
                # one leg filled and its sibling cancelled, or the pair cancelled by one call
                assert sorted(ended) in (["cancelled", "completed"], ["cancelled", "cancelled"])
                assert sum(by_user) == (1 if ended.count("cancelled") == 2 else 0)
                completed += ended.count("completed")
            final = account(owner, book.account_id)
            assert final["reserved_balance"] == 0
            for symbol in ("ETH", "SOL"):
                pos = position(owner, book.account_id, symbol)
                assert pos is None or pos["reserved_quantity"] == 0
            check_invariants(owner, book.account_id)
        assert sum(ticks.results) == completed
        # the race really was a race: both ways of ending happened
        assert 0 < completed < len(statuses)
