"""Portfolios: the list (each with its members and value), and one portfolio's page: its
members and their equity, its daily snapshots and its tear sheet."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cryptotrader.analytics import performance
from cryptotrader.portfolios import service as portfolios
from cryptotrader.web import tearsheet
from cryptotrader.web.display import display_of
from cryptotrader.web.render import page
from cryptotrader.web.session import SignedInPage

router = APIRouter(include_in_schema=False)
SNAPSHOTS = 90


@router.get("/portfolios", response_class=HTMLResponse)
async def portfolios_page(request: Request, viewer: SignedInPage) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        mine = await portfolios.list_portfolios(conn)
        display = await display_of(conn)
    return page(request, "portfolios.html", {"portfolios": mine} | display.context(), viewer=viewer)


@router.get("/portfolios/{portfolio_id}", response_class=HTMLResponse)
async def portfolio_page(
    request: Request,
    viewer: SignedInPage,
    portfolio_id: UUID,
    period: tearsheet.PeriodParam = "all",
) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        portfolio = await portfolios.get_portfolio(conn, portfolio_id)
        snapshots = await portfolios.list_snapshots(conn, portfolio_id, limit=SNAPSHOTS)
        sheet = await performance.portfolio_performance(conn, portfolio_id, period)
        display = await display_of(conn)
    context = {"portfolio": portfolio, "snapshots": snapshots}
    context |= tearsheet.context(sheet, f"/portfolios/{portfolio_id}/tearsheet")
    return page(request, "portfolio.html", context | display.context(), viewer=viewer)
