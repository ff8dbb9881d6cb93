"""Alerts: making, listing and changing the caller's alerts (price, account, portfolio and
bot alerts), recording each refresh's changed prices, and evaluating them. The evaluation
is one SQL function (migration 0037): every alert of the changed symbols in one statement,
each firing under a unique key, so any number of workers fire an alert once.

Another user's alert is not visible: AlertNotFound, exactly like a missing one. The
account, portfolio or bot an alert names must be the caller's own, looked up before the
insert (the foreign keys would accept another user's row: they bypass row level security):
AlertTargetNotFound otherwise. Every change is audited (``alert.*``, resource ``alert``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, LiteralString
from uuid import UUID

from pydantic import ValidationError

from cryptotrader.alerts.errors import (
    AlertExpired,
    AlertInvalid,
    AlertNotFound,
    AlertTargetNotFound,
)
from cryptotrader.alerts.schemas import (
    ALERT_CREATE,
    AccountAlertIn,
    Alert,
    AlertEnable,
    AlertFiring,
    AlertSchedule,
    AlertStatus,
    AlertType,
    AlertUpdate,
    BotAlertIn,
    EvaluationRound,
    PortfolioAlertIn,
    PriceAlertCreate,
    PriceAlertIn,
)
from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.calls import execute, fetch_all, fetch_one, require
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn

Q = load_queries("cryptotrader.alerts")
AnyAlertIn = PriceAlertIn | AccountAlertIn | PortfolioAlertIn | BotAlertIn
_OWN: dict[str, LiteralString] = {
    "account": Q["own_account"],
    "portfolio": Q["own_portfolio"],
    "bot": Q["own_bot"],
}


async def _require_own(conn: Conn, kind: str, target_id: UUID | None) -> None:
    if target_id is None:
        return
    if await fetch_one(conn, _OWN[kind], {"id": target_id}) is None:
        raise AlertTargetNotFound(f"no {kind} {target_id} of yours")


def _row_of(kind: str, body: AlertSchedule) -> dict[str, Any]:
    """The insert's parameters: type, condition and value in their columns."""
    fields = body.model_dump()
    symbol = fields.get("symbol")
    return {
        "type": kind,
        "condition": str(fields["condition"]),
        "value": fields.get("value"),
        "symbol": symbol.upper() if symbol else None,
        "account_id": body.account_id,
        "portfolio_id": fields.get("portfolio_id"),
        "bot_id": fields.get("bot_id"),
        "frequency": body.frequency.value,
        "bar_seconds": body.bar_seconds,
        "cooldown_seconds": body.cooldown_seconds,
        "window_seconds": fields.get("window_seconds"),
        "expires_at": body.expires_at,
    }


async def _insert(conn: Conn, row: dict[str, Any]) -> Alert:
    await _require_own(conn, "account", row["account_id"])
    await _require_own(conn, "portfolio", row["portfolio_id"])
    await _require_own(conn, "bot", row["bot_id"])
    return Alert.model_validate(await fetch_one(conn, Q["insert_alert"], row))


async def create_alert(conn: Conn, actor: Actor, body: AnyAlertIn) -> Alert:
    """A new active alert of the caller's. Raises AlertTargetNotFound when the account,
    portfolio or bot it names is not the caller's. Audited ``alert.create``."""
    row = _row_of(body.type, body)
    made = await _insert(conn, row)
    details = {k: row[k] for k in ("type", "condition", "value", "symbol")}
    await audit.record(conn, actor, "alert.create", "alert", made.id, details)
    return made


async def create_price_alert(conn: Conn, alert: PriceAlertCreate) -> Alert:
    """A price alert of the caller's, made the same way, for the services' own callers
    (replays and tests in market time): its expiry is not checked and nothing is audited.
    Raises AlertTargetNotFound for an account not the caller's."""
    return await _insert(conn, _row_of("price", alert))


async def list_alerts(
    conn: Conn,
    *,
    status: AlertStatus | None = None,
    alert_type: AlertType | None = None,
    symbol: str | None = None,
    account_id: UUID | None = None,
    after: tuple[datetime, UUID] | None = None,
    limit: int | None = None,
) -> list[Alert]:
    """The caller's alerts, newest first, by status, type, symbol and account when given.
    ``after`` is the (created_at, id) of the previous page's last one; ``limit`` None: all."""
    at, row_id = after if after is not None else (None, None)
    params = {
        "status": status,
        "type": alert_type,
        "symbol": symbol,
        "account_id": account_id,
        "after_at": at,
        "after_id": row_id,
        "limit": limit,
    }
    return [Alert.model_validate(r) for r in await fetch_all(conn, Q["list_alerts"], params)]


async def get_alert(conn: Conn, alert_id: UUID) -> Alert:
    """One of the caller's alerts. Raises AlertNotFound."""
    row = await fetch_one(conn, Q["get_alert"], {"id": alert_id})
    return Alert.model_validate(require(row, AlertNotFound()))


async def _locked(conn: Conn, alert_id: UUID) -> Alert:
    row = await fetch_one(conn, Q["lock_alert"], {"id": alert_id})
    return Alert.model_validate(require(row, AlertNotFound()))


def _reshaped(alert: Alert, changes: Mapping[str, Any]) -> None:
    """Check the alert with ``changes`` as a whole, as a new one would be (its expiry is
    checked on its own: an unchanged past one stays). Raises AlertInvalid."""
    shape: dict[str, Any] = {
        "type": alert.type,
        "condition": alert.condition,
        "value": alert.value,
        "frequency": alert.frequency,
        "bar_seconds": alert.bar_seconds,
        "cooldown_seconds": alert.cooldown_seconds,
        "account_id": alert.account_id,
    }
    if alert.type == "price":
        shape |= {"symbol": alert.symbol, "window_seconds": alert.window_seconds}
    elif alert.type == "portfolio":
        shape["portfolio_id"] = alert.portfolio_id
    elif alert.type == "bot":
        shape["bot_id"] = alert.bot_id
    shape |= {k: v for k, v in changes.items() if k != "expires_at"}
    if shape["value"] is None:
        del shape["value"]
    try:
        ALERT_CREATE.validate_python(shape)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "alert"
        raise AlertInvalid(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None


async def update_alert(conn: Conn, actor: Actor, alert_id: UUID, changes: AlertUpdate) -> Alert:
    """Change its value, expiry, frequency, cooldown or bar; the result must be an alert
    that could be made. Raises AlertNotFound, AlertInvalid. Audited ``alert.update``."""
    alert = await _locked(conn, alert_id)
    given = changes.model_dump(exclude_unset=True)
    _reshaped(alert, given)
    merged = alert.model_dump() | given
    params = {k: merged[k] for k in ("value", "expires_at", "cooldown_seconds", "bar_seconds")}
    params |= {"id": alert_id, "frequency": str(merged["frequency"])}
    row = await fetch_one(conn, Q["update_alert"], params)
    await audit.record(conn, actor, "alert.update", "alert", alert_id, given)
    return Alert.model_validate(row)


async def enable_alert(
    conn: Conn, actor: Actor, alert_id: UUID, body: AlertEnable | None = None
) -> Alert:
    """Active again and re-armed (from disabled, triggered or expired; an active one stays
    as it is). An alert whose expiry has passed needs a new one (``body.expires_at``, or
    null for none). Raises AlertNotFound, AlertExpired. Audited ``alert.enable``."""
    alert = await _locked(conn, alert_id)
    given = body.model_dump(exclude_unset=True) if body is not None else {}
    expires_at = given.get("expires_at", alert.expires_at)
    if alert.status == "active" and not given:
        return alert
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise AlertExpired(
            "the alert expired; enable it with a future expires_at, or null for none"
        )
    row = await fetch_one(conn, Q["enable_alert"], {"id": alert_id, "expires_at": expires_at})
    await audit.record(conn, actor, "alert.enable", "alert", alert_id, {"from": alert.status})
    return Alert.model_validate(row)


async def disable_alert(conn: Conn, actor: Actor, alert_id: UUID) -> Alert:
    """It fires nothing until enabled. Raises AlertNotFound. Audited ``alert.disable``."""
    row = await fetch_one(conn, Q["disable_alert"], {"id": alert_id})
    alert = Alert.model_validate(require(row, AlertNotFound()))
    await audit.record(conn, actor, "alert.disable", "alert", alert_id)
    return alert


async def delete_alert(conn: Conn, actor: Actor, alert_id: UUID) -> None:
    """The alert and its history. Raises AlertNotFound. Audited ``alert.delete``."""
    require(await fetch_one(conn, Q["delete_alert"], {"id": alert_id}), AlertNotFound())
    await audit.record(conn, actor, "alert.delete", "alert", alert_id)


async def list_firings(
    conn: Conn,
    alert_id: UUID,
    *,
    after: tuple[datetime, UUID] | None = None,
    limit: int | None = None,
) -> list[AlertFiring]:
    """One alert's firings, newest first. ``after`` is the (fired_at, id) of the previous
    page's last one. Raises AlertNotFound."""
    await get_alert(conn, alert_id)
    at, row_id = after if after is not None else (None, None)
    params = {"alert_id": alert_id, "after_at": at, "after_id": row_id, "limit": limit}
    rows = await fetch_all(conn, Q["list_firings"], params)
    return [AlertFiring.model_validate(r) for r in rows]


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
