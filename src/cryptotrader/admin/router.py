"""/admin: thin HTTP over the admin service. To a caller who is not an administrator every
route answers the 404 of an unknown route (the service decides, ``AdminOnly``)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query
from fastapi import status as http

from cryptotrader.accounts.errors import AccountArchived, AccountNotFound
from cryptotrader.accounts.schemas import EXAMPLE_ACCOUNT_ID, AccountStatus
from cryptotrader.admin import service
from cryptotrader.admin.errors import (
    AccountAlreadySuspended,
    AccountNotSuspended,
    AdminOnly,
    CannotBanYourself,
    TemplateAlreadyRetired,
    TemplateNameTaken,
    UserNotBanned,
    UserNotFound,
)
from cryptotrader.admin.schemas import (
    AdminAccount,
    AdminTemplateCreate,
    AdminUser,
    BanRequest,
    PlatformStatus,
    SuspendRequest,
    TemplateUpdate,
)
from cryptotrader.api.deps import SignedIn
from cryptotrader.api.pagination import Cursor, InvalidCursor, Limit, Page, decode_cursor, page_of
from cryptotrader.api.problems import responses
from cryptotrader.auth.schemas import EXAMPLE_USER_ID
from cryptotrader.db.session import as_service
from cryptotrader.errors import InvalidRequest, NotAuthenticated
from cryptotrader.templates.errors import TemplateNotFound
from cryptotrader.templates.schemas import EXAMPLE_TEMPLATE_ID, Template

router = APIRouter(prefix="/admin", tags=["admin"])
UserId = Annotated[UUID, Path(examples=[EXAMPLE_USER_ID])]
AccountId = Annotated[UUID, Path(examples=[EXAMPLE_ACCOUNT_ID])]
TemplateId = Annotated[UUID, Path(examples=[EXAMPLE_TEMPLATE_ID])]
ADMIN = responses(NotAuthenticated, AdminOnly)
LIST = responses(ADMIN, InvalidCursor)
_ADMINS_ONLY = " Administrators only: anyone else gets the `not_found` of an unknown route."


@router.get(
    "/users",
    responses=responses(LIST, InvalidRequest),
    summary="Users, newest first, with their ban state and accounts",
    description="`q` matches a part of the email or display name (any case); `banned`"
    " keeps the banned users (true) or the others (false)." + _ADMINS_ONLY,
)
async def list_users(
    caller: SignedIn,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="A part of the email or name."),
    ] = None,
    banned: Annotated[bool | None, Query(description="Only the banned, or the others.")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[AdminUser]:
    after = decode_cursor(cursor)
    async with as_service(caller.pool) as conn:  # the auth tables are the service's
        items = await service.list_users(
            conn, caller.actor, search=q, banned=banned, after=after, limit=limit
        )
    return page_of(items, limit)


@router.post(
    "/users/{user_id}/ban",
    responses=responses(ADMIN, UserNotFound, CannotBanYourself, InvalidRequest),
    summary="Ban a user until a time or for good; their sessions are revoked",
    description="Signing in and refreshing a session are refused while the ban lasts;"
    " banning a banned user again sets the new end. Audited `admin.user_banned` with the"
    " reason." + _ADMINS_ONLY,
)
async def ban_user(caller: SignedIn, user_id: UserId, body: BanRequest) -> AdminUser:
    async with as_service(caller.pool) as conn:
        return await service.ban_user(conn, caller.actor, user_id, body)


@router.post(
    "/users/{user_id}/unban",
    responses=responses(ADMIN, UserNotFound, UserNotBanned),
    summary="Lift a user's ban",
    description="Audited `admin.user_unbanned`." + _ADMINS_ONLY,
)
async def unban_user(caller: SignedIn, user_id: UserId) -> AdminUser:
    async with as_service(caller.pool) as conn:
        return await service.unban_user(conn, caller.actor, user_id)


@router.get(
    "/accounts",
    responses=responses(LIST, InvalidRequest),
    summary="Every user's accounts, newest first",
    description="By `status` and by the owner's email (exact, any case)." + _ADMINS_ONLY,
)
async def list_accounts(
    caller: SignedIn,
    status: Annotated[AccountStatus | None, Query(description="Only this status.")] = None,
    owner_email: Annotated[
        str | None, Query(max_length=320, description="Only this owner's accounts.")
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[AdminAccount]:
    after = decode_cursor(cursor)
    async with caller.unit() as conn:
        items = await service.list_accounts(
            conn, caller.actor, status=status, owner_email=owner_email, after=after, limit=limit
        )
    return page_of(items, limit)


@router.post(
    "/accounts/{account_id}/suspend",
    responses=responses(ADMIN, AccountNotFound, AccountAlreadySuspended, AccountArchived),
    summary="Suspend an account: its owner can place no order and cannot lift it",
    description="An active or paused account; archiving is final. Audited"
    " `admin.account_suspended` with the reason." + _ADMINS_ONLY,
)
async def suspend_account(
    caller: SignedIn, account_id: AccountId, body: SuspendRequest
) -> AdminAccount:
    async with caller.unit() as conn:
        return await service.suspend_account(conn, caller.actor, account_id, body.reason)


@router.post(
    "/accounts/{account_id}/unsuspend",
    responses=responses(ADMIN, AccountNotFound, AccountNotSuspended),
    summary="Lift a suspension: the account is active again",
    description="Audited `admin.account_unsuspended`." + _ADMINS_ONLY,
)
async def unsuspend_account(caller: SignedIn, account_id: AccountId) -> AdminAccount:
    async with caller.unit() as conn:
        return await service.unsuspend_account(conn, caller.actor, account_id)


@router.get(
    "/templates",
    responses=LIST,
    summary="The platform's templates and users' shared ones, newest first",
    description="`retired` keeps those no longer offered (true) or the offered ones (false)."
    + _ADMINS_ONLY,
)
async def list_templates(
    caller: SignedIn,
    retired: Annotated[bool | None, Query(description="Only the retired, or the offered.")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[Template]:
    after = decode_cursor(cursor)
    async with caller.unit() as conn:
        items = await service.list_templates(
            conn, caller.actor, retired=retired, after=after, limit=limit
        )
    return page_of(items, limit)


@router.post(
    "/templates",
    status_code=http.HTTP_201_CREATED,
    responses=responses(ADMIN, TemplateNameTaken, InvalidRequest),
    summary="Create a template of the platform's, offered to every user",
    description="Audited `admin.template_created`." + _ADMINS_ONLY,
)
async def create_template(caller: SignedIn, body: AdminTemplateCreate) -> Template:
    async with caller.unit() as conn:
        return await service.create_template(conn, caller.actor, body)


@router.patch(
    "/templates/{template_id}",
    responses=responses(ADMIN, TemplateNotFound, TemplateNameTaken, InvalidRequest),
    summary="Edit one of the platform's templates",
    description="`is_public: true` offers a retired template again. Audited"
    " `admin.template_updated` with the changes." + _ADMINS_ONLY,
)
async def update_template(
    caller: SignedIn, template_id: TemplateId, body: TemplateUpdate
) -> Template:
    async with caller.unit() as conn:
        return await service.update_template(conn, caller.actor, template_id, body)


@router.post(
    "/templates/{template_id}/retire",
    responses=responses(ADMIN, TemplateNotFound, TemplateAlreadyRetired),
    summary="Stop offering a template (the platform's or a user's shared one)",
    description="No new account can be opened from it; accounts opened from it stay."
    " Audited `admin.template_retired`." + _ADMINS_ONLY,
)
async def retire_template(caller: SignedIn, template_id: TemplateId) -> Template:
    async with caller.unit() as conn:
        return await service.retire_template(conn, caller.actor, template_id)


@router.get(
    "/status",
    responses=ADMIN,
    summary="The platform's state: market feed, backtest queue, database",
    description="Read-only." + _ADMINS_ONLY,
)
async def platform_status(caller: SignedIn) -> PlatformStatus:
    async with caller.unit() as conn:
        return await service.platform_status(conn, caller.actor)
