"""Webhook settings: the endpoints (create, with the secret shown once; rotate; test;
enable / disable; delete) and each one's delivery log with its attempts and a redeliver
button, all through the webhooks service (audited there)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from cryptotrader.config import Settings
from cryptotrader.web.forms import FieldRefusal, go, invalid_form
from cryptotrader.web.render import page
from cryptotrader.web.session import SignedInForm, SignedInPage, Viewer, finish
from cryptotrader.webhooks import service
from cryptotrader.webhooks.errors import UnsafeWebhookUrl
from cryptotrader.webhooks.schemas import EndpointCreate, EndpointUpdate
from cryptotrader.webhooks.sender import guard_of

router = APIRouter(include_in_schema=False)
HOME = "/settings/webhooks"
LOG_SIZE = 20  # deliveries shown per endpoint


async def _render(
    request: Request, viewer: Viewer, shown: dict[str, Any] | None = None
) -> HTMLResponse:
    """The page; ``shown`` is a secret to show this once (endpoint id and secret)."""
    async with viewer.caller.unit() as conn:
        endpoints = await service.list_endpoints(conn)
        logs = {e.id: await service.list_deliveries(conn, e.id, limit=LOG_SIZE) for e in endpoints}
    context = {"endpoints": endpoints, "logs": logs, "shown": shown}
    return finish(request, page(request, "webhooks.html", context, viewer=viewer))


@router.get(HOME, response_class=HTMLResponse)
async def webhooks_page(request: Request, viewer: SignedInPage) -> HTMLResponse:
    return await _render(request, viewer)


@router.post(HOME, response_class=HTMLResponse)
async def create(
    request: Request,
    viewer: SignedInForm,
    url: Annotated[str, Form(max_length=2000)] = "",
    description: Annotated[str, Form(max_length=500)] = "",
    events: Annotated[str, Form(max_length=5000)] = "",
) -> HTMLResponse:
    """A new endpoint; the answer is the page with its secret, shown this once."""
    try:
        new = EndpointCreate(
            url=url, description=description, event_types=events.replace(",", " ").split()
        )
    except ValidationError as exc:
        raise invalid_form(exc) from exc
    settings: Settings = request.app.state.settings
    async with viewer.caller.unit() as conn:
        try:
            made = await service.create_endpoint(conn, viewer.caller.actor, new, guard_of(settings))
        except UnsafeWebhookUrl as exc:
            raise FieldRefusal.of(exc, "url", "This address may not be called") from exc
    return await _render(request, viewer, {"endpoint_id": made.id, "secret": made.secret})


@router.post(HOME + "/{endpoint_id}/rotate", response_class=HTMLResponse)
async def rotate(request: Request, viewer: SignedInForm, endpoint_id: UUID) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        rotated = await service.rotate_secret(conn, viewer.caller.actor, endpoint_id)
    shown = {
        "endpoint_id": endpoint_id,
        "secret": rotated.secret,
        "previous_expires_at": rotated.previous_expires_at,
    }
    return await _render(request, viewer, shown)


@router.post(HOME + "/{endpoint_id}/test")
async def send_test(request: Request, viewer: SignedInForm, endpoint_id: UUID) -> Response:
    async with viewer.caller.unit() as conn:
        await service.send_test(conn, viewer.caller.actor, endpoint_id)
    return go(request, HOME)


@router.post(HOME + "/{endpoint_id}/enabled")
async def set_enabled(
    request: Request,
    viewer: SignedInForm,
    endpoint_id: UUID,
    enabled: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    changes = EndpointUpdate(enabled=enabled == "true")
    settings: Settings = request.app.state.settings
    async with viewer.caller.unit() as conn:
        await service.update_endpoint(
            conn, viewer.caller.actor, endpoint_id, changes, guard_of(settings)
        )
    return go(request, HOME)


@router.post(HOME + "/{endpoint_id}/delete")
async def delete(request: Request, viewer: SignedInForm, endpoint_id: UUID) -> Response:
    async with viewer.caller.unit() as conn:
        await service.delete_endpoint(conn, viewer.caller.actor, endpoint_id)
    return go(request, HOME)


@router.post(HOME + "/{endpoint_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request, viewer: SignedInForm, endpoint_id: UUID, delivery_id: UUID
) -> Response:
    async with viewer.caller.unit() as conn:
        await service.redeliver(conn, viewer.caller.actor, endpoint_id, delivery_id)
    return go(request, HOME)
