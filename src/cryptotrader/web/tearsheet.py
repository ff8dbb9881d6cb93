"""The tear sheet partial (templates/_tearsheet.html): one component for an account, a
portfolio and a backtest, over the API's answer (analytics/performance.py). Each subject's
fragment is re-read by the period switch (htmx), and the account and backtest pages load
it once they are shown."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from cryptotrader.analytics import performance
from cryptotrader.analytics.schemas import PERIODS, Performance, Period
from cryptotrader.web.display import Display, display_of
from cryptotrader.web.render import page
from cryptotrader.web.session import SignedInPage

router = APIRouter(include_in_schema=False)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PeriodParam = Annotated[Period, Query()]
# The stats table's rows: label, WindowStats field, how it is shown (pct: a signed
# percentage, rate: an unsigned one).
STAT_ROWS = (
    ("Total return", "total_return", "pct"),
    ("Annual return", "annual_return", "pct"),
    ("Volatility", "volatility", "rate"),
    ("Sharpe", "sharpe_ratio", "ratio"),
    ("Sortino", "sortino_ratio", "ratio"),
    ("Max drawdown", "max_drawdown", "rate"),
    ("Calmar", "calmar_ratio", "ratio"),
    ("Alpha", "alpha", "pct"),
    ("Beta", "beta", "ratio"),
    ("Correlation", "correlation", "ratio"),
    ("Round trips", "total_trades", "count"),
    ("Win rate", "win_rate", "rate"),
    ("Profit factor", "profit_factor", "ratio"),
    ("Expectancy", "expectancy", "money"),
    ("Best trade", "best_trade", "money"),
    ("Worst trade", "worst_trade", "money"),
)


def _iso(at: Any) -> str:
    return str(at.isoformat()).replace("+00:00", "Z")


def chart_data(sheet: Performance) -> dict[str, Any]:
    """The equity chart's JSON (web/static/js/charts.js, kind ``equity``): the equity, its
    drawdown and the benchmark line."""
    points = [(_iso(p.at), p) for p in sheet.series]
    return {
        "points": [[t, str(p.equity)] for t, p in points],
        "drawdown": [[t, str(p.drawdown)] for t, p in points],
        "benchmark": [[t, str(p.benchmark)] for t, p in points if p.benchmark is not None],
    }


def heatmap_data(sheet: Performance) -> dict[str, Any]:
    """The monthly returns as charts.js's ``heatmap`` (percent, years down, months across)."""
    return {
        "x": {"name": "Month", "values": list(MONTHS)},
        "y": {"name": "Year", "values": [row.year for row in sheet.monthly_returns]},
        "metric": "return %",
        "cells": [
            [None if m.total_return is None else str(m.total_return * 100) for m in row.months]
            for row in sheet.monthly_returns
        ],
    }


def context(sheet: Performance, url: str) -> dict[str, Any]:
    """What the partial needs: the sheet, its charts' JSON, the period switch's URL."""
    return {
        "sheet": sheet,
        "sheet_url": url,
        "sheet_chart": chart_data(sheet),
        "sheet_heatmap": heatmap_data(sheet),
        "sheet_rows": STAT_ROWS,
        "sheet_periods": PERIODS,
    }


def fragment(
    request: Request, viewer: SignedInPage, sheet: Performance, url: str, display: Display
) -> HTMLResponse:
    """The partial alone, as the period switch swaps it in."""
    return page(request, "_tearsheet.html", context(sheet, url) | display.context(), viewer=viewer)


@router.get("/accounts/{account_id}/tearsheet", response_class=HTMLResponse)
async def account_fragment(
    request: Request, viewer: SignedInPage, account_id: UUID, period: PeriodParam = "all"
) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        sheet = await performance.account_performance(conn, account_id, period)
        display = await display_of(conn)
    return fragment(request, viewer, sheet, f"/accounts/{account_id}/tearsheet", display)


@router.get("/portfolios/{portfolio_id}/tearsheet", response_class=HTMLResponse)
async def portfolio_fragment(
    request: Request, viewer: SignedInPage, portfolio_id: UUID, period: PeriodParam = "all"
) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        sheet = await performance.portfolio_performance(conn, portfolio_id, period)
        display = await display_of(conn)
    return fragment(request, viewer, sheet, f"/portfolios/{portfolio_id}/tearsheet", display)


@router.get("/backtests/{session_id}/tearsheet", response_class=HTMLResponse)
async def backtest_fragment(
    request: Request, viewer: SignedInPage, session_id: UUID, period: PeriodParam = "all"
) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        sheet = await performance.backtest_performance(conn, session_id, period)
        display = await display_of(conn)
    return fragment(request, viewer, sheet, f"/backtests/{session_id}/tearsheet", display)
