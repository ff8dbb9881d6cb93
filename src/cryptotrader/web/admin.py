"""Admin pages, for users with the admin claim: users (search, ban, unban), accounts
(suspend and unsuspend with a reason), the platform's templates (create, retire) and the
platform's state. Every action is the admin service's (audited); for anyone else these
pages are the 404 of a missing page, exactly as ``/api/v1/admin`` answers."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from cryptotrader.admin import service as admin
from cryptotrader.admin.schemas import AdminTemplateCreate, BanRequest
from cryptotrader.db.session import as_service
from cryptotrader.web.forms import go, invalid_form
from cryptotrader.web.render import page
from cryptotrader.web.session import SignedInForm, SignedInPage, Viewer

router = APIRouter(prefix="/admin", include_in_schema=False)


async def _users(viewer: Viewer, search: str) -> list[Any]:
    async with as_service(viewer.caller.pool) as conn:  # the auth tables are the service's
        return await admin.list_users(conn, viewer.caller.actor, search=search or None, limit=50)


@router.get("", response_class=HTMLResponse)
async def admin_page(
    request: Request,
    viewer: SignedInPage,
    q: Annotated[str, Query(max_length=200)] = "",
    owner: Annotated[str, Query(max_length=320)] = "",
) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        status = await admin.platform_status(conn, viewer.caller.actor)  # AdminOnly: a 404
        accounts = await admin.list_accounts(
            conn, viewer.caller.actor, owner_email=owner or None, limit=100
        )
        templates = await admin.list_templates(conn, viewer.caller.actor, limit=100)
    context = {
        "status": status,
        "users": await _users(viewer, q),
        "accounts": accounts,
        "templates": templates,
        "q": q,
        "owner": owner,
    }
    return page(request, "admin.html", context, viewer=viewer)


@router.post("/users/{user_id}/ban")
async def ban(
    request: Request,
    viewer: SignedInForm,
    user_id: UUID,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        body = BanRequest.model_validate({"reason": reason.strip()})
    except ValidationError as exc:
        raise invalid_form(exc) from exc
    async with as_service(viewer.caller.pool) as conn:
        await admin.ban_user(conn, viewer.caller.actor, user_id, body)
    return go(request, "/admin")


@router.post("/users/{user_id}/unban")
async def unban(request: Request, viewer: SignedInForm, user_id: UUID) -> Response:
    async with as_service(viewer.caller.pool) as conn:
        await admin.unban_user(conn, viewer.caller.actor, user_id)
    return go(request, "/admin")


@router.post("/accounts/{account_id}/suspend")
async def suspend(
    request: Request,
    viewer: SignedInForm,
    account_id: UUID,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    if not reason.strip():
        raise invalid_form(ValueError("a reason is required"))
    async with viewer.caller.unit() as conn:
        await admin.suspend_account(conn, viewer.caller.actor, account_id, reason.strip())
    return go(request, "/admin")


@router.post("/accounts/{account_id}/unsuspend")
async def unsuspend(request: Request, viewer: SignedInForm, account_id: UUID) -> Response:
    async with viewer.caller.unit() as conn:
        await admin.unsuspend_account(conn, viewer.caller.actor, account_id)
    return go(request, "/admin")


@router.post("/templates")
async def create_template(
    request: Request,
    viewer: SignedInForm,
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    risk_level: Annotated[str, Form(max_length=20)] = "medium",
    account_type: Annotated[str, Form(max_length=30)] = "balanced",
    initial_balance: Annotated[str, Form(max_length=40)] = "100000",
) -> Response:
    fields = {
        "name": name.strip(),
        "description": description.strip() or None,
        "risk_level": risk_level,
        "account_type": account_type,
        "initial_balance": initial_balance.strip() or "100000",
    }
    try:
        data = AdminTemplateCreate.model_validate(fields)
    except ValidationError as exc:
        raise invalid_form(exc) from exc
    async with viewer.caller.unit() as conn:
        await admin.create_template(conn, viewer.caller.actor, data)
    return go(request, "/admin")


@router.post("/templates/{template_id}/retire")
async def retire_template(request: Request, viewer: SignedInForm, template_id: UUID) -> Response:
    async with viewer.caller.unit() as conn:
        await admin.retire_template(conn, viewer.caller.actor, template_id)
    return go(request, "/admin")
