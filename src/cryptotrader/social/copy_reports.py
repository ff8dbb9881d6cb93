"""The copy gap of a follow and the what-if of a trader, as the API, the CLI and the
dashboard ask for them (the arithmetic: ``gap.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from cryptotrader.db.calls import fetch_all, fetch_one, require
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn, as_service
from cryptotrader.social.copy_math import Copier
from cryptotrader.social.errors import FollowNotFound, TraderNotFound
from cryptotrader.social.gap import copy_gap as gap_of
from cryptotrader.social.gap import pct, replay
from cryptotrader.social.schemas import CopyGap, GapPart, WhatIf, WhatIfRequest

Q = load_queries("cryptotrader.social", "copy_queries.sql")
TAKER_FEE = Decimal("0.001")  # a new account's taker fee (migration 0006)


async def _prices(conn: Conn, symbols: set[str]) -> dict[str, Decimal]:
    rows = await fetch_all(conn, Q["prices"], {"symbols": sorted(symbols)})
    return {r["symbol"]: r["price_usd"] for r in rows}


async def copy_gap(conn: Conn, follow_id: UUID) -> CopyGap:
    """The caller's follow's copied return beside its trader's, over its copy log, with the
    difference split into skipped copies, slippage, fees and entry timing (docs/social.md,
    "Copy gap"). Raises FollowNotFound (also for another user's follow)."""
    follow = require(await fetch_one(conn, Q["gap_follow"], {"id": follow_id}), FollowNotFound())
    rows = await fetch_all(conn, Q["gap_rows"], {"id": follow_id})
    prices = await _prices(conn, {r["symbol"] for r in rows})
    gap = gap_of(rows, prices)
    base = follow["allocated"] or Decimal(0)
    cents = Decimal("0.01")
    return CopyGap(
        follow_id=follow_id,
        trader_id=follow["trader_id"],
        since=follow["started_at"],
        allocated_usd=base.quantize(cents),
        copies=gap.copies,
        skipped=gap.skipped,
        copied_pnl=gap.copied_pnl.quantize(cents),
        trader_pnl=gap.trader_pnl.quantize(cents),
        copied_return_pct=pct(gap.copied_pnl, base),
        trader_return_pct=pct(gap.trader_pnl, base),
        gap={
            name: GapPart(usd=value.quantize(cents), pct=pct(value, base))  # type: ignore[misc]
            for name, value in gap.parts.items()
        },
    )


def _template(request: WhatIfRequest) -> Copier:
    s = request.settings
    zero = Decimal(0)
    return Copier(
        mode=s.mode,
        allocation_pct=s.allocation_pct,
        fixed_amount=s.fixed_amount,
        min_order=s.min_order,
        max_per_trade=s.max_per_trade,
        slippage_pct=s.slippage_pct,
        account_active=True,
        cash=request.capital,
        taker_fee_rate=TAKER_FEE,
        equity=request.capital,
        quote=None,
        copied=zero,
        held=zero,
    )


async def what_if(pool: AsyncConnectionPool[Conn], request: WhatIfRequest) -> WhatIf:
    """What copying a listed trader over their last ``request.days`` would have done under
    ``request.settings`` on an account of ``request.capital``: the trader's fills replayed
    through the copy rules at the trader's prices with the taker fee, valued at today's
    prices. Reads the trader's track as the service role and returns only its totals.
    Raises TraderNotFound (also for a trader who is not listed)."""
    params: dict[str, Any] = {"trader_id": request.trader_id, "days": request.days}
    async with as_service(pool) as conn:
        listed = await fetch_one(conn, Q["trader_listed"], params)
        require(listed, TraderNotFound())
        events = await fetch_all(conn, Q["trader_track"], params)
        prices = await _prices(conn, {e["symbol"] for e in events})
    result = replay(events, prices, capital=request.capital, template=_template(request))
    cents = Decimal("0.01")
    pnl = result.final_equity - request.capital
    return WhatIf(
        trader_id=request.trader_id,
        days=request.days,
        since=datetime.now(UTC) - timedelta(days=request.days),
        capital=request.capital,
        final_equity=result.final_equity.quantize(cents),
        pnl=pnl.quantize(cents),
        return_pct=pct(pnl, request.capital),
        fees=result.fees.quantize(cents),
        fills=result.fills,
        copied=result.outcomes["copied"],
        reduced=result.outcomes["reduced"],
        skipped=result.outcomes["skipped"],
        skipped_by_reason=dict(result.skipped_by_reason),
    )
