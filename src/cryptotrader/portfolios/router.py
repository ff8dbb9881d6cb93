"""/portfolios: thin HTTP over the portfolios service."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, status

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.accounts.schemas import EXAMPLE_ACCOUNT_ID
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
from cryptotrader.errors import InvalidRequest, NotAuthenticated
from cryptotrader.portfolios import service
from cryptotrader.portfolios.errors import PortfolioIsDefault, PortfolioNotFound
from cryptotrader.portfolios.schemas import (
    EXAMPLE_PORTFOLIO_ID,
    MemberAdd,
    Portfolio,
    PortfolioCreate,
    PortfolioUpdate,
)

router = APIRouter(prefix="/portfolios", tags=["portfolios"])
PortfolioId = Annotated[UUID, Path(examples=[EXAMPLE_PORTFOLIO_ID])]
AccountId = Annotated[UUID, Path(examples=[EXAMPLE_ACCOUNT_ID])]
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
        return await service.create_portfolio(conn, caller.actor, body)


@router.get("/{portfolio_id}", responses=ONE, summary="One portfolio, valued at current prices")
async def get_portfolio(caller: SignedIn, portfolio_id: PortfolioId) -> Portfolio:
    async with caller.unit() as conn:
        return await service.get_portfolio(conn, portfolio_id)


@router.patch(
    "/{portfolio_id}",
    responses=responses(NotAuthenticated, PortfolioNotFound, InvalidRequest),
    summary="Rename, change mode, or make it your default",
)
async def update_portfolio(
    caller: SignedIn, portfolio_id: PortfolioId, body: PortfolioUpdate
) -> Portfolio:
    async with caller.unit() as conn:
        return await service.update_portfolio(conn, caller.actor, portfolio_id, body)


@router.delete(
    "/{portfolio_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(NotAuthenticated, PortfolioNotFound, PortfolioIsDefault),
    summary="Delete a portfolio (its accounts stay); not the default one",
)
async def delete_portfolio(caller: SignedIn, portfolio_id: PortfolioId) -> None:
    async with caller.unit() as conn:
        await service.delete_portfolio(conn, caller.actor, portfolio_id)


@router.post(
    "/{portfolio_id}/accounts",
    responses=MEMBERS,
    summary="Add one of your accounts (already a member: nothing changes)",
)
async def add_account(caller: SignedIn, portfolio_id: PortfolioId, body: MemberAdd) -> Portfolio:
    async with caller.unit() as conn:
        return await service.add_account(conn, caller.actor, portfolio_id, body.account_id)


@router.delete(
    "/{portfolio_id}/accounts/{account_id}",
    responses=MEMBERS,
    summary="Take an account out of the portfolio (the account stays)",
)
async def remove_account(
    caller: SignedIn, portfolio_id: PortfolioId, account_id: AccountId
) -> Portfolio:
    async with caller.unit() as conn:
        return await service.remove_account(conn, caller.actor, portfolio_id, account_id)
