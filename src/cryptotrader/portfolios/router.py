"""/portfolios: thin HTTP over the portfolios service."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, status

from cryptotrader.api.deps import SignedIn
from cryptotrader.api.pagination import (
    Cursor,
    InvalidCursor,
    Limit,
    Page,
    decode_default_first,
    default_first_key,
    page_by,
)
from cryptotrader.api.problems import responses
from cryptotrader.errors import AccountNotFound, InvalidRequest, NotAuthenticated
from cryptotrader.portfolios import service
from cryptotrader.portfolios.errors import PortfolioIsDefault, PortfolioNotFound
from cryptotrader.portfolios.schemas import MemberAdd, Portfolio, PortfolioCreate, PortfolioUpdate

router = APIRouter(prefix="/portfolios", tags=["portfolios"])
ONE = responses(NotAuthenticated, PortfolioNotFound)
MEMBERS = responses(NotAuthenticated, PortfolioNotFound, AccountNotFound)


@router.get(
    "",
    responses=responses(NotAuthenticated, InvalidCursor),
    summary="Your portfolios, with member accounts and value at current prices",
    description="The default portfolio first, then the oldest first.",
)
async def list_portfolios(
    caller: SignedIn, cursor: Cursor = None, limit: Limit = 100
) -> Page[Portfolio]:
    async with caller.unit() as conn:
        items = await service.list_portfolios(conn, after=decode_default_first(cursor), limit=limit)
    return page_by(items, limit, default_first_key)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=responses(NotAuthenticated, InvalidRequest),
    summary="Create an empty portfolio",
)
async def create_portfolio(caller: SignedIn, body: PortfolioCreate) -> Portfolio:
    async with caller.unit() as conn:
        portfolio = await service.create_portfolio(conn, body)
        await caller.audit(
            conn, "portfolio.create", "portfolio", portfolio.id, body.model_dump(mode="json")
        )
        return portfolio


@router.get("/{portfolio_id}", responses=ONE, summary="One portfolio, valued at current prices")
async def get_portfolio(caller: SignedIn, portfolio_id: UUID) -> Portfolio:
    async with caller.unit() as conn:
        return await service.get_portfolio(conn, portfolio_id)


@router.patch(
    "/{portfolio_id}",
    responses=responses(NotAuthenticated, PortfolioNotFound, InvalidRequest),
    summary="Rename, change mode, or make it your default",
)
async def update_portfolio(
    caller: SignedIn, portfolio_id: UUID, body: PortfolioUpdate
) -> Portfolio:
    async with caller.unit() as conn:
        portfolio = await service.update_portfolio(conn, portfolio_id, body)
        await caller.audit(
            conn,
            "portfolio.update",
            "portfolio",
            portfolio_id,
            body.model_dump(mode="json", exclude_unset=True),
        )
        return portfolio


@router.delete(
    "/{portfolio_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(NotAuthenticated, PortfolioNotFound, PortfolioIsDefault),
    summary="Delete a portfolio (its accounts stay); not the default one",
)
async def delete_portfolio(caller: SignedIn, portfolio_id: UUID) -> None:
    async with caller.unit() as conn:
        await service.delete_portfolio(conn, portfolio_id)
        await caller.audit(conn, "portfolio.delete", "portfolio", portfolio_id)


@router.post(
    "/{portfolio_id}/accounts",
    responses=MEMBERS,
    summary="Add one of your accounts (already a member: nothing changes)",
)
async def add_account(caller: SignedIn, portfolio_id: UUID, body: MemberAdd) -> Portfolio:
    async with caller.unit() as conn:
        portfolio, changed = await service.add_account(conn, portfolio_id, body.account_id)
        await caller.audit(
            conn,
            "portfolio.add_account",
            "portfolio",
            portfolio_id,
            {"account_id": str(body.account_id), "changed": changed},
        )
        return portfolio


@router.delete(
    "/{portfolio_id}/accounts/{account_id}",
    responses=MEMBERS,
    summary="Take an account out of the portfolio (the account stays)",
)
async def remove_account(caller: SignedIn, portfolio_id: UUID, account_id: UUID) -> Portfolio:
    async with caller.unit() as conn:
        portfolio = await service.remove_account(conn, portfolio_id, account_id)
        await caller.audit(
            conn,
            "portfolio.remove_account",
            "portfolio",
            portfolio_id,
            {"account_id": str(account_id)},
        )
        return portfolio
