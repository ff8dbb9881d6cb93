"""Alerts: making price alerts, recording each refresh's changed prices, and evaluating
them. The evaluation is one SQL function (migration 0037): every alert of the changed
symbols in one statement, each firing under a unique key, so any number of workers fire
an alert once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from cryptotrader.alerts.schemas import EvaluationRound, PriceAlertCreate
from cryptotrader.db.calls import execute, fetch_one
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn

Q = load_queries("cryptotrader.alerts")


async def create_price_alert(conn: Conn, user_id: UUID, alert: PriceAlertCreate) -> dict[str, Any]:
    """A price alert of ``user_id``'s (``conn`` acts as that user, under RLS)."""
    row = await fetch_one(
        conn,
        Q["create_price_alert"],
        {
            "user_id": user_id,
            "account_id": alert.account_id,
            "symbol": alert.symbol.upper(),
            "condition": alert.condition.value,
            "value": alert.value,
            "frequency": alert.frequency.value,
            "bar_seconds": alert.bar_seconds,
            "cooldown_seconds": alert.cooldown_seconds,
            "window_seconds": alert.window_seconds,
            "expires_at": alert.expires_at,
        },
    )
    assert row is not None
    return row


async def record_tick(
    conn: Conn,
    changed: Mapping[str, tuple[Decimal | None, Decimal, datetime | None]],
    as_of: datetime | None = None,
) -> None:
    """The refresh's changed prices (symbol: previous, new, the quote's time) for the
    evaluator, in the refresh's transaction: a rolled back refresh fires nothing."""
    if not changed:
        return
    symbols: Sequence[str] = list(changed)
    await execute(
        conn,
        Q["record_tick"],
        {
            "symbols": symbols,
            "prev": [changed[s][0] for s in symbols],
            "prices": [changed[s][1] for s in symbols],
            "quoted_at": [changed[s][2] or as_of or datetime.now().astimezone() for s in symbols],
            "as_of": as_of,
        },
    )


async def evaluate(conn: Conn, *, limit: int = 20, stale_after: float = 120.0) -> EvaluationRound:
    """Evaluate up to ``limit`` open ticks (``conn`` is the service role's, in a
    transaction); prices older than ``stale_after`` seconds fire nothing."""
    row = await fetch_one(conn, Q["evaluate_ticks"], {"limit": limit, "stale": stale_after})
    assert row is not None
    return EvaluationRound(ticks=row["ticks"], fired=row["fired"])


async def prune(conn: Conn) -> int:
    """Delete the ticks evaluated over an hour ago."""
    return await execute(conn, Q["prune_ticks"])
