"""The copy worker: fans each trader's fills out to their copiers, in order, exactly once.

Each fill of a trader with copiers left an event in the outbox in the fill's own
transaction (migration 0035), so the trader's order never waits for a follower. A round:

1. **claim** each trader's oldest unfinished event that no live worker holds (a lease);
   a trader's next event waits until this one is done, so copies keep the trader's order;
2. **size** the copies of every follow that has none yet (one statement reads them all;
   ``copy_math`` sizes them) and write them, planned or skipped, in one transaction:
   the unique (event, follow) key makes this once per follow even if two workers race;
3. **place** the planned copies, many at once, each through the one order path
   (``trading.service.place_order``) as its follower, with the Idempotency-Key
   ``copy:<copy id>``: a worker that dies here leaves planned rows, which the next worker
   places again under the same keys, so each replays instead of trading twice;
4. **record** what each did and tell the followers of every copy reduced or skipped, then
   mark the event done (one transaction).

Chains propagate (a copy is a fill of its follower, who may have copiers: its event names
the traders it came through, from the ``copy_event`` claim the copy was placed under) and
cycles stop (a follower already in the chain is skipped, ``cycle``). Every few seconds the
worker also stops the copies whose loss reached their stop-loss and closes their copied
positions when asked to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import AsyncConnectionPool

from cryptotrader.audit.schemas import Actor
from cryptotrader.db.calls import execute, fetch_all
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn, as_service, user_claims
from cryptotrader.errors import DomainError
from cryptotrader.social.copy_math import Copier, Fill, Plan, size_copy
from cryptotrader.trading import service as trading
from cryptotrader.trading.schemas import OrderRequest, Trade

log = logging.getLogger(__name__)
Q = load_queries("cryptotrader.social", "copy_queries.sql")

# the engine's refusals, as the copy log names them
REFUSALS: Mapping[str, str] = {
    "insufficient_funds": "insufficient_funds",
    "insufficient_position": "insufficient_position",
    "max_position_size": "risk_limit",
    "max_daily_loss": "risk_limit",
    "account_not_active": "account_paused",
    "account_not_found": "account_paused",
    "stale_price": "stale_price",
}


@dataclass(frozen=True, kw_only=True)
class Event:
    id: int
    leader_id: UUID
    symbol: str
    side: str
    price: Decimal
    fraction: Decimal

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Event:
        return cls(
            **{k: row[k] for k in ("id", "leader_id", "symbol", "side", "price", "fraction")}
        )

    @property
    def fill(self) -> Fill:
        if self.side == "buy":
            return Fill(side="buy", price=self.price, fraction=self.fraction)
        return Fill(side="sell", price=self.price, fraction=self.fraction)


def copier_from_row(row: Mapping[str, Any]) -> Copier:
    return Copier(
        mode="fixed" if row["mode"] == "fixed" else "ratio",
        allocation_pct=row["allocation_pct"] or Decimal(0),
        fixed_amount=row["fixed_amount"],
        min_order=row["min_order"],
        max_per_trade=row["max_per_trade"],
        slippage_pct=row["slippage_pct"],
        account_active=row["account_active"],
        cash=row["cash"],
        taker_fee_rate=row["taker_fee_rate"],
        equity=row["equity"],
        quote=row["quote"],
        copied=row["copied"],
        held=row["held"],
        listed=row["listed"],
        in_chain=row["in_chain"],
    )


def plan_row(row: Mapping[str, Any], plan: Plan) -> dict[str, Any]:
    return {
        "user_id": row["user_id"],
        "follow_id": row["follow_id"],
        "account_id": row["account_id"],
        "quote_price": row["quote"],
        "target_value": plan.target_value,
        "quantity": plan.quantity,
        "limit_price": plan.limit_price,
        "status": "skipped" if plan.skipped else "planned",
        "reason": plan.reason,
        "message": plan.message,
    }


def copy_order(copy: Mapping[str, Any]) -> OrderRequest:
    """The order a planned copy places: a buy as an IOC limit at the slippage cap (it fills
    at the market's price, never over the cap, or not at all), a sell at market."""
    buy = copy["side"] == "buy"
    return OrderRequest(
        account_id=copy["account_id"],
        symbol=copy["symbol"],
        side="buy" if buy else "sell",
        amount=copy["quantity"],
        order_type="limit" if buy else "market",
        limit_price=copy["limit_price"] if buy else None,
        time_in_force="ioc" if buy else "gtc",
        trade_category="copy",
        tags=["copy"],
    )


def outcome(
    copy: Mapping[str, Any], trade: Trade | None, error: DomainError | None
) -> dict[str, Any]:
    """What the copy log records for a placed copy."""
    row: dict[str, Any] = {"id": copy["id"]}
    if error is not None:
        reason = REFUSALS.get(error.code, "rejected")
        return row | {"status": "skipped", "reason": reason, "message": error.detail}
    assert trade is not None
    if trade.status != "completed":  # an IOC buy the market had moved past
        return row | {
            "status": "skipped",
            "reason": "slippage_cap",
            "message": "the price moved over the slippage cap before the copy could fill",
            "trade_id": trade.id,
            "trade_created_at": trade.created_at,
        }
    return row | {
        "status": "reduced" if copy["reason"] else "filled",
        "reason": copy["reason"],
        "message": None,
        "trade_id": trade.id,
        "trade_created_at": trade.created_at,
        "filled_quantity": trade.amount,
        "execution_price": trade.execution_price,
        "total_value": trade.total_value,
        "fee": trade.fee,
    }


class CopyWorker:
    """Runs copy rounds until stopped; any number of workers may run side by side."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Conn],
        *,
        poll: float = 0.2,
        lease: float = 60.0,
        concurrency: int = 4,
        stop_loss_every: float = 5.0,
        identity: str | None = None,
    ) -> None:
        self.pool = pool
        self.poll = poll
        self.lease = lease
        self.stop_loss_every = stop_loss_every
        self.identity = identity or f"{socket.gethostname()}:{os.getpid()}"
        self._slots = asyncio.Semaphore(concurrency)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_stop_loss = 0.0
        while not stop.is_set():
            busy = 0
            try:
                busy = await self.run_once()
                if loop.time() >= next_stop_loss:
                    await self.check_stop_losses()
                    next_stop_loss = loop.time() + self.stop_loss_every
            except (psycopg.OperationalError, DomainError) as exc:
                log.warning("copies: round failed (%s); retrying", exc)
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll)

    async def run_once(self) -> int:
        """Claim and fan out each trader's next event; returns how many were done."""
        async with as_service(self.pool) as conn:
            rows = await fetch_all(
                conn, Q["claim_copy_events"], {"lease": self.lease, "worker": self.identity}
            )
        events = [Event.from_row(r) for r in rows]
        await asyncio.gather(*(self.fan_out(e) for e in events))
        return len(events)

    async def fan_out(self, event: Event) -> None:
        """Every copy of one event, placed and recorded; the event is done after."""
        await self._size(event)
        async with as_service(self.pool) as conn:
            planned = await fetch_all(
                conn, Q["planned_copies"], {"event_id": event.id, "older_than": 0}
            )
        results = await self._place_all(planned, event.id)
        async with as_service(self.pool) as conn:
            await self._record(conn, results)
            await execute(conn, Q["finish_copy_event"], {"event_id": event.id})

    async def _size(self, event: Event) -> None:
        async with as_service(self.pool) as conn:
            inputs = await fetch_all(conn, Q["copy_inputs"], {"event_id": event.id})
            if not inputs:
                return
            rows = [plan_row(r, size_copy(event.fill, copier_from_row(r))) for r in inputs]
            written = await fetch_all(
                conn,
                Q["insert_copies"],
                {"event_id": event.id, "rows": json.dumps(rows, default=str)},
            )
            skipped = [w["id"] for w in written if w["status"] == "skipped"]
            if skipped:
                await execute(conn, Q["notify_skips"], {"ids": skipped})

    async def _place_all(
        self, planned: list[dict[str, Any]], event_id: int | None
    ) -> list[dict[str, Any]]:
        """Place the copies in batches (one statement each), several batches at once."""
        step = trading.BATCH
        chunks = [planned[i : i + step] for i in range(0, len(planned), step)]
        done = await asyncio.gather(*(self._place_chunk(c, event_id) for c in chunks))
        return [row for chunk in done for row in chunk]

    async def _place_chunk(
        self, copies: list[dict[str, Any]], event_id: int | None
    ) -> list[dict[str, Any]]:
        items = [self._item(c, event_id) for c in copies]
        async with self._slots:
            placed = await trading.place_orders(self.pool, items)
        return [
            outcome(c, None, p) if isinstance(p, DomainError) else outcome(c, p.trade, None)
            for c, p in zip(copies, placed, strict=True)
        ]

    def _item(self, copy: Mapping[str, Any], event_id: int | None) -> trading.OrderItem:
        claims = user_claims(copy["user_id"])
        if event_id is not None:
            claims["copy_event"] = event_id  # so a copy of this copy knows its chain
        return trading.OrderItem(
            actor=Actor(claims=claims, user_agent=f"copy-worker {self.identity}"),
            order=copy_order(copy),
            idempotency_key=f"copy:{copy['id']}",
        )

    async def _record(self, conn: Conn, results: list[dict[str, Any]]) -> None:
        for start in range(0, len(results), 1000):
            part = json.dumps(results[start : start + 1000], default=str)
            await execute(conn, Q["record_copies"], {"rows": part})

    # ------------------------------------------------------------ the copy stop-loss
    async def check_stop_losses(self) -> int:
        """Stop each copy whose loss reached its stop-loss (closing its copied positions when
        it asks), and place any closes a dead worker left planned. Returns copies stopped."""
        async with as_service(self.pool) as conn:
            due = await fetch_all(conn, Q["stop_losses_due"])
        for row in due:
            async with as_service(self.pool) as conn:
                await fetch_all(conn, Q["stop_copy"], {"follow_id": row["follow_id"]})
        async with as_service(self.pool) as conn:
            older = 0 if due else self.lease
            planned = await fetch_all(
                conn, Q["planned_copies"], {"event_id": None, "older_than": older}
            )
        if planned:
            results = await self._place_all(planned, None)
            async with as_service(self.pool) as conn:
                await self._record(conn, results)
        return len(due)
