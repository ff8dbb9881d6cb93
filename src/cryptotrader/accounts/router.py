"""/accounts and /account-templates: thin HTTP over the accounts service."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Path, Query, status

from cryptotrader.accounts import service
from cryptotrader.accounts.errors import (
    AccountArchived,
    AccountNotFound,
    AccountSuspensionForbidden,
)
from cryptotrader.accounts.schemas import (
    EXAMPLE_ACCOUNT_ID,
    Account,
    AccountCreate,
    AccountFromTemplate,
    AccountStatus,
    AccountUpdate,
    AuditEntry,
    EquityCurve,
    Position,
    ResetRequest,
)
from cryptotrader.api.deps import SignedIn
from cryptotrader.api.pagination import (
    Cursor,
    InvalidCursor,
    Limit,
    Page,
    decode_cursor,
    decode_default_first,
    decode_key,
    default_first_key,
    page_by,
    page_of,
)
from cryptotrader.api.problems import responses
from cryptotrader.errors import InvalidRequest, NotAuthenticated
from cryptotrader.templates.errors import TemplateNotFound
from cryptotrader.trading.schemas import Trade

router = APIRouter(prefix="/accounts", tags=["accounts"])
AccountId = Annotated[UUID, Path(examples=[EXAMPLE_ACCOUNT_ID])]
COMMON = responses(NotAuthenticated)
ONE = responses(NotAuthenticated, AccountNotFound)


@router.get(
    "",
    responses=responses(COMMON, InvalidCursor),
    summary="Your accounts, valued at current prices",
    description="The default account first, then the oldest first; archived ones only with "
    "`include_archived`.",
)
async def list_accounts(
    caller: SignedIn,
    include_archived: Annotated[bool, Query()] = False,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[Account]:
    async with caller.unit() as conn:
        items = await service.list_accounts(
            conn,
            include_archived=include_archived,
            after=decode_default_first(cursor),
            limit=limit,
        )
    return page_by(items, limit, default_first_key)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=responses(NotAuthenticated, InvalidRequest),
    summary="Open an account",
)
async def create_account(caller: SignedIn, body: AccountCreate) -> Account:
    async with caller.unit() as conn:
        return await service.create_account(conn, caller.actor, body)


@router.post(
    "/from-template",
    status_code=status.HTTP_201_CREATED,
    responses=responses(NotAuthenticated, TemplateNotFound, InvalidRequest),
    summary="Open an account from a template",
)
async def create_from_template(caller: SignedIn, body: AccountFromTemplate) -> Account:
    async with caller.unit() as conn:
        return await service.create_from_template(conn, caller.actor, body)


@router.get("/{account_id}", responses=ONE, summary="One account, valued at current prices")
async def get_account(caller: SignedIn, account_id: AccountId) -> Account:
    async with caller.unit() as conn:
        return await service.get_account(conn, account_id)


@router.patch(
    "/{account_id}",
    responses=responses(NotAuthenticated, AccountNotFound, InvalidRequest),
    summary="Rename, recolour, tag, or change limits and fill settings",
)
async def update_account(caller: SignedIn, account_id: AccountId, body: AccountUpdate) -> Account:
    async with caller.unit() as conn:
        return await service.update_account(conn, caller.actor, account_id, body)


async def _set_status(caller: SignedIn, account_id: AccountId, new: AccountStatus) -> Account:
    async with caller.unit() as conn:
        return await service.set_status(conn, caller.actor, account_id, new)


STATUS_ERRORS = responses(
    NotAuthenticated, AccountNotFound, AccountSuspensionForbidden, AccountArchived
)


@router.post(
    "/{account_id}/pause",
    responses=STATUS_ERRORS,
    summary="Pause trading (resume it later)",
    description="An archived account cannot be paused: `account_archived`.",
)
async def pause(caller: SignedIn, account_id: AccountId) -> Account:
    return await _set_status(caller, account_id, "paused")


@router.post(
    "/{account_id}/resume",
    responses=STATUS_ERRORS,
    summary="Resume trading of a paused account",
    description="Archiving is final: an archived account cannot be resumed (`account_archived`).",
)
async def resume(caller: SignedIn, account_id: AccountId) -> Account:
    return await _set_status(caller, account_id, "active")


@router.post(
    "/{account_id}/archive",
    responses=STATUS_ERRORS,
    summary="Archive for good (history is kept)",
    description="Final: an archived account is never resumed. Archiving your default "
    "account makes your oldest active account the default one (and the "
    "`default_account_id` setting names it); with no active account left the setting is "
    "cleared.",
)
async def archive(caller: SignedIn, account_id: AccountId) -> Account:
    return await _set_status(caller, account_id, "archived")


@router.post(
    "/{account_id}/default",
    responses=responses(ONE, AccountArchived),
    summary="Make this your default account (not an archived one)",
)
async def set_default(caller: SignedIn, account_id: AccountId) -> Account:
    async with caller.unit() as conn:
        return await service.set_default(conn, caller.actor, account_id)


@router.post(
    "/{account_id}/reset",
    responses=responses(ONE, InvalidRequest),
    summary="Reset to the initial balance",
    description="Cancels pending orders, clears positions, restores the initial balance and "
    "starts a new epoch. Trades and audit history are kept.",
)
async def reset(
    caller: SignedIn, account_id: AccountId, body: Annotated[ResetRequest | None, Body()] = None
) -> Account:
    async with caller.unit() as conn:
        reason = body.reason if body else None
        return await service.reset_account(conn, caller.actor, account_id, reason)


@router.get(
    "/{account_id}/positions",
    responses=responses(ONE, InvalidCursor),
    summary="Open positions at current prices, the largest first",
    description="Pages are cut at the value of the previous page's last position: when "
    "prices move between two requests a position can move across the cut.",
)
async def positions(
    caller: SignedIn, account_id: AccountId, cursor: Cursor = None, limit: Limit = 100
) -> Page[Position]:
    async with caller.unit() as conn:
        items = await service.list_positions(
            conn,
            account_id,
            after=decode_key(cursor, Decimal, str),
            limit=limit,
        )
    return page_by(items, limit, service.position_key)


@router.get(
    "/{account_id}/equity",
    responses=ONE,
    summary="The equity curve: after each fill, then now",
    description="One point after every fill of the account's current epoch (cash from the "
    "fills, positions valued at each symbol's last fill price), thinned to about `points`, "
    "then the equity now at current prices; with the drawdown from the running high.",
)
async def equity(
    caller: SignedIn,
    account_id: AccountId,
    points: Annotated[int, Query(ge=2, le=service.MAX_CURVE_POINTS)] = 1000,
) -> EquityCurve:
    async with caller.unit() as conn:
        return await service.equity_curve(conn, account_id, points=points)


@router.get(
    "/{account_id}/trades",
    responses=responses(ONE, InvalidCursor),
    summary="This account's fills, newest first",
)
async def trades(
    caller: SignedIn, account_id: AccountId, cursor: Cursor = None, limit: Limit = 100
) -> Page[Trade]:
    async with caller.unit() as conn:
        items = await service.list_trades(
            conn, account_id, after=decode_cursor(cursor), limit=limit
        )
    return page_of(items, limit)


@router.get(
    "/{account_id}/audit",
    responses=responses(ONE, InvalidCursor),
    summary="Balance history, newest first",
)
async def audit(
    caller: SignedIn, account_id: AccountId, cursor: Cursor = None, limit: Limit = 100
) -> Page[AuditEntry]:
    async with caller.unit() as conn:
        items = await service.list_audit(conn, account_id, after=decode_cursor(cursor), limit=limit)
    return page_of(items, limit)
