"""The overview: every account with its equity, PnL, cash, a sparkline and its status;
the totals in the display currency; a new account, blank or from a template."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from cryptotrader.accounts import service as accounts
from cryptotrader.accounts.schemas import AccountCreate, AccountFromTemplate
from cryptotrader.market import service as market
from cryptotrader.templates import service as templates
from cryptotrader.web.display import display_of
from cryptotrader.web.forms import go, invalid_form
from cryptotrader.web.render import page
from cryptotrader.web.session import SignedInForm, SignedInPage

router = APIRouter(include_in_schema=False)
SPARK_POINTS = 40


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, viewer: SignedInPage) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        mine = await accounts.list_accounts(conn)
        prices = await market.list_prices(conn)
        display = await display_of(conn, prices)
        curves = await accounts.equity_curves(conn, mine, points=SPARK_POINTS)
        offered = await templates.list_templates(conn, signed_in=True, limit=24)
    sparks = {
        account_id: [str(p.equity) for p in curve.points] for account_id, curve in curves.items()
    }
    return page(
        request,
        "overview.html",
        {
            "accounts": mine,
            "totals": accounts.totals(mine),
            "sparks": sparks,
            "templates": offered,
            "stream_symbols": ",".join(p.symbol for p in prices[:20]),
        }
        | display.context(),
        viewer=viewer,
    )


@router.post("/accounts")
async def create(
    request: Request,
    viewer: SignedInForm,
    account_name: Annotated[str, Form(max_length=200)] = "",
    template_id: Annotated[str, Form(max_length=64)] = "",
    initial_balance: Annotated[str, Form(max_length=40)] = "",
    risk_level: Annotated[str, Form(max_length=20)] = "medium",
) -> Response:
    """A new account (blank, or from the template chosen), then its page."""
    balance = initial_balance.strip() or None
    try:
        if template_id:
            data_t = AccountFromTemplate(
                template_id=UUID(template_id),
                account_name=account_name.strip() or "From template",
                initial_balance=Decimal(balance) if balance else None,
            )
            async with viewer.caller.unit() as conn:
                account = await accounts.create_from_template(conn, viewer.caller.actor, data_t)
        else:
            fields: dict[str, object] = {
                "account_name": account_name.strip(),
                "risk_level": risk_level,
            }
            if balance:
                fields["initial_balance"] = balance
            data = AccountCreate.model_validate(fields)
            async with viewer.caller.unit() as conn:
                account = await accounts.create_account(conn, viewer.caller.actor, data)
    except (ValidationError, ValueError, ArithmeticError) as exc:
        raise invalid_form(exc) from exc
    return go(request, f"/accounts/{account.id}")
