"""Alerts: the viewer's alerts (each with its state, what it watches, how often it fired
and its firing history), enable / disable / delete buttons, a form for a price alert; and
the account page's form for an alert on that account. Every change is the alerts
service's, as the signed-in user (audited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from cryptotrader.accounts import service as accounts
from cryptotrader.alerts import service as alerts
from cryptotrader.alerts.errors import AlertTargetNotFound
from cryptotrader.alerts.schemas import ALERT_CREATE, PriceCondition
from cryptotrader.web.display import display_of
from cryptotrader.web.forms import FieldRefusal, go, invalid_form
from cryptotrader.web.render import page
from cryptotrader.web.session import SignedInForm, SignedInPage

router = APIRouter(include_in_schema=False)
LISTED = 200
HISTORY = 20
# the alert forms' "Expires" choices (this page's, the account page's, the chart's)
EXPIRIES: dict[str, timedelta | None] = {
    "": None,
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
Step = Literal["enable", "disable", "delete"]
ACCOUNT_CONDITIONS = {
    "drawdown_pct": "Drawdown from the equity peak (%)",
    "daily_loss_pct": "Daily loss, of the max daily loss (%)",
    "position_pct": "Any position, of equity (%)",
    "cash_below": "Cash below (USD)",
}


def alert_form(fields: dict[str, Any], expires_in: str) -> Any:
    """A form's alert, as the alerts service takes it (a refusal at its field)."""
    if expires_in not in EXPIRIES:
        raise FieldRefusal(
            422, "validation_error", "Invalid value", "Expires: unknown choice", "expires_in"
        )
    span = EXPIRIES[expires_in]
    given = {k: v.strip() if isinstance(v, str) else v for k, v in fields.items()}
    given = {k: v for k, v in given.items() if v not in ("", None)}
    if span is not None:
        given["expires_at"] = datetime.now(UTC) + span
    try:
        return ALERT_CREATE.validate_python(given)
    except ValidationError as exc:
        raise invalid_form(exc) from exc


@router.get("/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request, viewer: SignedInPage) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        mine = await alerts.list_alerts(conn, limit=LISTED)
        history = {
            a.id: await alerts.list_firings(conn, a.id, limit=HISTORY)
            for a in mine
            if a.fire_count > 0
        }
        owned = await accounts.list_accounts(conn)
        display = await display_of(conn)
    context = {
        "alerts": mine,
        "history": history,
        "accounts": owned,
        "account_names": {a.id: a.account_name for a in owned},
        "conditions": [c.value for c in PriceCondition],
    }
    return page(request, "alerts.html", context | display.context(), viewer=viewer)


@router.post("/alerts")
async def create_price_alert(
    request: Request,
    viewer: SignedInForm,
    symbol: Annotated[str, Form(max_length=20)],
    condition: Annotated[str, Form(max_length=20)],
    value: Annotated[str, Form(max_length=40)],
    window_seconds: Annotated[str, Form(max_length=10)] = "",
    frequency: Annotated[str, Form(max_length=20)] = "once",
    expires_in: Annotated[str, Form(max_length=5)] = "",
    account_id: Annotated[str, Form(max_length=36)] = "",
) -> Response:
    """A price alert from the page's form, then the page again."""
    fields = {"type": "price", "symbol": symbol.upper(), "condition": condition}
    fields |= {"value": value.replace(",", ""), "window_seconds": window_seconds}
    fields |= {"frequency": frequency, "account_id": account_id}
    data = alert_form(fields, expires_in)
    async with viewer.caller.unit() as conn:
        try:
            await alerts.create_alert(conn, viewer.caller.actor, data)
        except AlertTargetNotFound as exc:
            raise FieldRefusal.of(exc, "account_id", "That account is not one of yours.") from exc
    return go(request, "/alerts")


@router.post("/accounts/{account_id}/alerts")
async def create_account_alert(
    request: Request,
    viewer: SignedInForm,
    account_id: UUID,
    condition: Annotated[str, Form(max_length=20)],
    value: Annotated[str, Form(max_length=40)],
    frequency: Annotated[str, Form(max_length=20)] = "once",
    expires_in: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """An alert on this account (another user's: not found, like a missing one)."""
    fields = {"type": "account", "account_id": str(account_id), "condition": condition}
    fields |= {"value": value.replace(",", ""), "frequency": frequency}
    data = alert_form(fields, expires_in)
    async with viewer.caller.unit() as conn:
        await alerts.create_alert(conn, viewer.caller.actor, data)
    return go(request, f"/accounts/{account_id}")


@router.post("/alerts/{alert_id}/{step}")
async def change_alert(
    request: Request, viewer: SignedInForm, alert_id: UUID, step: Step
) -> Response:
    """Enable (re-armed), disable or delete; an expired alert is refused its enabling
    (the service's AlertExpired, said on the page)."""
    async with viewer.caller.unit() as conn:
        actor = viewer.caller.actor
        if step == "enable":
            await alerts.enable_alert(conn, actor, alert_id)
        elif step == "disable":
            await alerts.disable_alert(conn, actor, alert_id)
        else:
            await alerts.delete_alert(conn, actor, alert_id)
    return go(request, "/alerts")
