"""/alerts: thin HTTP over the alerts service."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Path, Query, status

from cryptotrader.accounts.schemas import EXAMPLE_ACCOUNT_ID
from cryptotrader.alerts import service
from cryptotrader.alerts.errors import (
    AlertExpired,
    AlertInvalid,
    AlertNotFound,
    AlertTargetNotFound,
)
from cryptotrader.alerts.schemas import (
    EXAMPLE_ALERT_ID,
    Alert,
    AlertCreate,
    AlertEnable,
    AlertFiring,
    AlertStatus,
    AlertType,
    AlertUpdate,
)
from cryptotrader.api.deps import SignedIn
from cryptotrader.api.pagination import (
    Cursor,
    InvalidCursor,
    Limit,
    Page,
    decode_cursor,
    page_by,
    page_of,
)
from cryptotrader.api.problems import responses
from cryptotrader.errors import InvalidRequest, NotAuthenticated

router = APIRouter(prefix="/alerts", tags=["alerts"])
ONE = responses(NotAuthenticated, AlertNotFound)
AlertId = Annotated[UUID, Path(examples=[EXAMPLE_ALERT_ID])]
TypeFilter = Annotated[AlertType | None, Query(alias="type")]
SymbolFilter = Annotated[
    str | None, Query(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9._-]+$", examples=["BTC"])
]
AccountFilter = Annotated[UUID | None, Query(examples=[EXAMPLE_ACCOUNT_ID])]


@router.get(
    "",
    responses=responses(NotAuthenticated, InvalidCursor),
    summary="Your alerts, newest first",
)
async def list_alerts(
    caller: SignedIn,
    alert_status: Annotated[AlertStatus | None, Query(alias="status")] = None,
    alert_type: TypeFilter = None,
    symbol: SymbolFilter = None,
    account_id: AccountFilter = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[Alert]:
    async with caller.unit() as conn:
        items = await service.list_alerts(
            conn,
            status=alert_status,
            alert_type=alert_type,
            symbol=symbol,
            account_id=account_id,
            after=decode_cursor(cursor),
            limit=limit,
        )
    return page_of(items, limit)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=responses(NotAuthenticated, AlertTargetNotFound, InvalidRequest),
    summary="Create an alert: on a price, an account, a portfolio or a bot",
    description="`type` says which; the account, portfolio or bot must be yours.",
)
async def create_alert(caller: SignedIn, body: Annotated[AlertCreate, Body()]) -> Alert:
    async with caller.unit() as conn:
        return await service.create_alert(conn, caller.actor, body)


@router.get("/{alert_id}", responses=ONE, summary="One of your alerts")
async def get_alert(caller: SignedIn, alert_id: AlertId) -> Alert:
    async with caller.unit() as conn:
        return await service.get_alert(conn, alert_id)


@router.patch(
    "/{alert_id}",
    responses=responses(NotAuthenticated, AlertNotFound, AlertInvalid),
    summary="Change its value, expiry, frequency, cooldown or bar",
)
async def update_alert(caller: SignedIn, alert_id: AlertId, body: AlertUpdate) -> Alert:
    async with caller.unit() as conn:
        return await service.update_alert(conn, caller.actor, alert_id, body)


@router.post(
    "/{alert_id}/enable",
    responses=responses(NotAuthenticated, AlertNotFound, AlertExpired),
    summary="Enable it again, re-armed (an expired one with a new expiry)",
)
async def enable_alert(
    caller: SignedIn, alert_id: AlertId, body: Annotated[AlertEnable | None, Body()] = None
) -> Alert:
    async with caller.unit() as conn:
        return await service.enable_alert(conn, caller.actor, alert_id, body)


@router.post("/{alert_id}/disable", responses=ONE, summary="Disable it: it fires nothing")
async def disable_alert(caller: SignedIn, alert_id: AlertId) -> Alert:
    async with caller.unit() as conn:
        return await service.disable_alert(conn, caller.actor, alert_id)


@router.delete(
    "/{alert_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ONE,
    summary="Delete an alert and its history",
)
async def delete_alert(caller: SignedIn, alert_id: AlertId) -> None:
    async with caller.unit() as conn:
        await service.delete_alert(conn, caller.actor, alert_id)


@router.get(
    "/{alert_id}/firings",
    responses=responses(NotAuthenticated, AlertNotFound, InvalidCursor),
    summary="When the alert fired, newest first",
)
async def list_firings(
    caller: SignedIn, alert_id: AlertId, cursor: Cursor = None, limit: Limit = 100
) -> Page[AlertFiring]:
    async with caller.unit() as conn:
        items = await service.list_firings(conn, alert_id, after=decode_cursor(cursor), limit=limit)
    return page_by(items, limit, lambda f: (f.fired_at, f.id))
