"""Whether this deployment can trade: the one assessment behind ``/health`` and ``/metrics``.

``ok`` means an order placed now meets no refusal of the platform's own making: the
database answers, a process leads the market feed, no cached price is older than the
strictest ``max_price_age_seconds`` of the accounts that can trade (the engine's own
stale-price rule, so an order refused as ``stale_price`` never meets an ``ok``), and a
backtest worker is running. The feed's leader and the workers are seen through the
advisory locks they hold on their connections, so a process that dies stops counting the
moment its connection goes.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import BaseModel, ConfigDict, Field

from cryptotrader.backtest.tasks import WORKER_LOCK_KEY
from cryptotrader.db.calls import fetch_one
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn, as_service
from cryptotrader.market.feed import FEED_LOCK_KEY
from cryptotrader.market.service import feed_status

Q = load_queries("cryptotrader.api", "health.sql")
HEALTH_TIMEOUT_S = 2.0
CHECKS = ("database", "feed_leader", "prices", "workers")
_SHOWN_SYMBOLS = 5  # stale symbols named in a reason


class Check(BaseModel):
    ok: bool
    reason: str | None = Field(description="Why the check fails; null when it passes.")


class FeedLeaderCheck(Check):
    leader: str | None = Field(
        description="The process leading the market feed now (host:pid); null when none does."
    )
    lag_seconds: float | None = Field(description="Seconds since the feed's last good refresh.")
    error_count: int = Field(description="Failed refreshes so far.")


class PricesCheck(Check):
    max_price_age_seconds: int = Field(
        description="The strictest price age an order meets: the smallest"
        " `max_price_age_seconds` of the accounts that can trade (the default of a new"
        " account when there is none). An order on an older price is refused as `stale_price`."
    )
    oldest_age_seconds: float | None = Field(description="Age of the oldest cached price.")
    stale_symbols: list[str] = Field(description="Symbols whose price is older than that.")


class WorkersCheck(Check):
    backtest_workers: int = Field(description="Backtest worker processes connected now.")


class HealthChecks(BaseModel):
    feed_leader: FeedLeaderCheck
    prices: PricesCheck
    workers: WorkersCheck


_OK_CHECKS: dict[str, Any] = {
    "feed_leader": {
        "ok": True,
        "reason": None,
        "leader": "api-1:4127",
        "lag_seconds": 0.8,
        "error_count": 0,
    },
    "prices": {
        "ok": True,
        "reason": None,
        "max_price_age_seconds": 300,
        "oldest_age_seconds": 0.8,
        "stale_symbols": [],
    },
    "workers": {"ok": True, "reason": None, "backtest_workers": 2},
}
_NO_LEADER = "no process leads the market feed (its last leader was api-1:4127)"
_STALE = (
    "2 of 30 prices are older than 300 s (max_price_age_seconds), orders on them are"
    " refused as stale_price: ARB, OP"
)
_NO_WORKERS = "no backtest worker is running: backtest sessions stay pending"


class Health(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "ok", "database": "ok", "checks": _OK_CHECKS, "reasons": []},
                {
                    "status": "degraded",
                    "database": "ok",
                    "checks": {
                        "feed_leader": _OK_CHECKS["feed_leader"]
                        | {"ok": False, "reason": _NO_LEADER, "leader": None, "lag_seconds": 412.9},
                        "prices": _OK_CHECKS["prices"]
                        | {
                            "ok": False,
                            "reason": _STALE,
                            "oldest_age_seconds": 412.9,
                            "stale_symbols": ["ARB", "OP"],
                        },
                        "workers": {"ok": False, "reason": _NO_WORKERS, "backtest_workers": 0},
                    },
                    "reasons": [_NO_LEADER, _STALE, _NO_WORKERS],
                },
            ]
        }
    )

    status: Literal["ok", "degraded"] = Field(
        description="`ok` when every check passes; `degraded` (still HTTP 200) otherwise."
    )
    database: Literal["ok"]
    checks: HealthChecks
    reasons: list[str] = Field(description="The reasons of the failing checks, in check order.")


class HealthUnavailable(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "unavailable",
                    "database": "unavailable",
                    "reason": "couldn't get a connection after 2.00 sec",
                }
            ]
        }
    )

    status: Literal["unavailable"]
    database: Literal["unavailable"]
    reason: str = Field(description="The first line of the error that made the check fail.")


async def lock_holders(conn: Conn, key: int) -> int:
    """How many sessions of this database hold the advisory lock ``key`` (a bigint)."""
    row = await fetch_one(conn, Q["lock_holders"], {"key": key})
    return int(row["holders"]) if row else 0


async def assess(pool: AsyncConnectionPool[Conn]) -> Health | HealthUnavailable:
    """The checks, in one transaction as the service role; :class:`HealthUnavailable`
    when the database does not answer within :data:`HEALTH_TIMEOUT_S`. Never raises for
    that."""
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S), as_service(pool) as conn:
            checks = HealthChecks(
                feed_leader=await _feed_leader(conn),
                prices=await _prices(conn),
                workers=await _workers(conn),
            )
    except (TimeoutError, PoolTimeout, psycopg.Error) as exc:
        text = str(exc).strip()
        return HealthUnavailable(
            status="unavailable",
            database="unavailable",
            reason=text.splitlines()[0] if text else type(exc).__name__,
        )
    reasons = [c.reason for c in (checks.feed_leader, checks.prices, checks.workers) if c.reason]
    return Health(
        status="degraded" if reasons else "ok", database="ok", checks=checks, reasons=reasons
    )


def check_states(report: Health | HealthUnavailable) -> dict[str, bool]:
    """Each of :data:`CHECKS` passed or not (none passes when the database is down)."""
    if isinstance(report, HealthUnavailable):
        return dict.fromkeys(CHECKS, False)
    checks = report.checks
    return {
        "database": True,
        "feed_leader": checks.feed_leader.ok,
        "prices": checks.prices.ok,
        "workers": checks.workers.ok,
    }


async def _feed_leader(conn: Conn) -> FeedLeaderCheck:
    row = await feed_status(conn)
    leading = await lock_holders(conn, FEED_LOCK_KEY) > 0
    lag = round(row.lag_seconds, 3) if row and row.lag_seconds is not None else None
    reason = None
    if not leading:
        reason = "no process leads the market feed" + (
            f" (its last leader was {row.leader})" if row else " (none ever did)"
        )
    return FeedLeaderCheck(
        ok=leading,
        reason=reason,
        leader=row.leader if leading and row else None,
        lag_seconds=lag,
        error_count=row.error_count if row else 0,
    )


async def _prices(conn: Conn) -> PricesCheck:
    row = await fetch_one(conn, Q["price_freshness"])
    if row is None:  # pragma: no cover - one row, even with no account and no price
        raise RuntimeError("price_freshness returned no row")
    max_age, stale = row["max_price_age_seconds"], list(row["stale_symbols"])
    oldest = row["oldest_age_seconds"]
    reason = None
    if row["symbols"] == 0:
        reason = "no price is cached: every order is refused as unknown_symbol"
    elif stale:
        shown = ", ".join(stale[:_SHOWN_SYMBOLS]) + (
            f" and {len(stale) - _SHOWN_SYMBOLS} more" if len(stale) > _SHOWN_SYMBOLS else ""
        )
        reason = (
            f"{len(stale)} of {row['symbols']} prices are older than {max_age} s"
            f" (max_price_age_seconds), orders on them are refused as stale_price: {shown}"
        )
    return PricesCheck(
        ok=reason is None,
        reason=reason,
        max_price_age_seconds=max_age,
        oldest_age_seconds=round(oldest, 3) if oldest is not None else None,
        stale_symbols=stale,
    )


async def _workers(conn: Conn) -> WorkersCheck:
    count = await lock_holders(conn, WORKER_LOCK_KEY)
    reason = None if count else "no backtest worker is running: backtest sessions stay pending"
    return WorkersCheck(ok=count > 0, reason=reason, backtest_workers=count)
