"""Tear sheets: ``/accounts/{id}/performance``, ``/portfolios/{id}/performance`` and
``/backtests/{id}/performance``, thin HTTP over analytics/performance.py. One router for
the three, so the one answer shape (schemas.Performance) and its description live in one
place; each route is tagged with its subject's domain."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.accounts.schemas import EXAMPLE_ACCOUNT_ID
from cryptotrader.analytics import performance
from cryptotrader.analytics.schemas import Performance, Period
from cryptotrader.api.deps import SignedIn
from cryptotrader.api.problems import responses
from cryptotrader.backtest.errors import SessionNotFound
from cryptotrader.backtest.schemas import EXAMPLE_SESSION_ID
from cryptotrader.errors import NotAuthenticated
from cryptotrader.portfolios.errors import PortfolioNotFound
from cryptotrader.portfolios.schemas import EXAMPLE_PORTFOLIO_ID

router = APIRouter()
PeriodQuery = Annotated[
    Period,
    Query(
        description="What `series`, `rolling` and `drawdowns` cover: the last 30 or 90 days, "
        "the year to date, the last year, or everything. `stats` always has every window.",
        examples=["90d"],
    ),
]
DESCRIPTION = (
    "A tear sheet: the equity curve against BTC bought and held (scaled to the same start) "
    "and its drawdown, rolling 30-point Sharpe ratio and volatility, the year x month table "
    "of returns, the five deepest drawdowns, and for MTD, 3M, YTD, 1Y and All the "
    "statistics of the equity (metrics.summarize) and of the round trips closed in the "
    "window. {subject}"
)


@router.get(
    "/accounts/{account_id}/performance",
    tags=["accounts"],
    responses=responses(NotAuthenticated, AccountNotFound),
    summary="The account's tear sheet (its current epoch, daily closes)",
    description=DESCRIPTION.format(
        subject="Daily closes of the account's current epoch (a reset starts a new one), from "
        "the daily analytics: today is in it from tomorrow."
    ),
)
async def account_performance(
    caller: SignedIn,
    account_id: Annotated[UUID, Path(examples=[EXAMPLE_ACCOUNT_ID])],
    period: PeriodQuery = "all",
) -> Performance:
    async with caller.unit() as conn:
        return await performance.account_performance(conn, account_id, period)


@router.get(
    "/portfolios/{portfolio_id}/performance",
    tags=["portfolios"],
    responses=responses(NotAuthenticated, PortfolioNotFound),
    summary="The portfolio's tear sheet (its flow-adjusted equity index, daily closes)",
    description=DESCRIPTION.format(
        subject="The curve is the portfolio's equity index, which a member added or reset "
        "does not move; the round trips are the members' (current epochs) since they joined."
    ),
)
async def portfolio_performance(
    caller: SignedIn,
    portfolio_id: Annotated[UUID, Path(examples=[EXAMPLE_PORTFOLIO_ID])],
    period: PeriodQuery = "all",
) -> Performance:
    async with caller.unit() as conn:
        return await performance.portfolio_performance(conn, portfolio_id, period)


@router.get(
    "/backtests/{session_id}/performance",
    tags=["backtests"],
    responses=responses(NotAuthenticated, SessionNotFound),
    summary="The backtest's tear sheet (its bars; empty until it completes)",
    description=DESCRIPTION.format(
        subject="The stored equity curve at its bars, annualised for the timeframe; a curve "
        "stored thinned (over 2,000 bars) is taken at the last point of each UTC day. The "
        "windows end at the last bar."
    ),
)
async def backtest_performance(
    caller: SignedIn,
    session_id: Annotated[UUID, Path(examples=[EXAMPLE_SESSION_ID])],
    period: PeriodQuery = "all",
) -> Performance:
    async with caller.unit() as conn:
        return await performance.backtest_performance(conn, session_id, period)
