"""/webhooks: thin HTTP over the webhooks service."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, status

from cryptotrader.api.deps import SignedIn
from cryptotrader.api.pagination import Cursor, InvalidCursor, Limit, Page, decode_cursor, page_of
from cryptotrader.api.problems import responses
from cryptotrader.config import Settings
from cryptotrader.errors import InvalidRequest, NotAuthenticated
from cryptotrader.webhooks import service
from cryptotrader.webhooks.delivery import GuardSettings
from cryptotrader.webhooks.errors import (
    TooManyWebhookEndpoints,
    UnsafeWebhookUrl,
    WebhookDeliveryNotFound,
    WebhookEndpointDisabled,
    WebhookEndpointNotFound,
)
from cryptotrader.webhooks.schemas import (
    EXAMPLE_DELIVERY_ID,
    EXAMPLE_ENDPOINT_ID,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EndpointCreate,
    EndpointCreated,
    EndpointUpdate,
    SecretRotated,
)
from cryptotrader.webhooks.sender import guard_of

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
ONE = responses(NotAuthenticated, WebhookEndpointNotFound)
EndpointId = Annotated[UUID, Path(examples=[EXAMPLE_ENDPOINT_ID])]
DeliveryId = Annotated[UUID, Path(examples=[EXAMPLE_DELIVERY_ID])]
StatusFilter = Annotated[DeliveryStatus | None, Query(alias="status")]


def _guard(request: Request) -> GuardSettings:
    settings: Settings = request.app.state.settings
    return guard_of(settings)


@router.get(
    "",
    responses=responses(NotAuthenticated, InvalidCursor),
    summary="Your webhook endpoints, newest first (never their secrets)",
)
async def list_endpoints(
    caller: SignedIn, cursor: Cursor = None, limit: Limit = 100
) -> Page[Endpoint]:
    async with caller.unit() as conn:
        items = await service.list_endpoints(conn, after=decode_cursor(cursor), limit=limit)
    return page_of(items, limit)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        NotAuthenticated, InvalidRequest, UnsafeWebhookUrl, TooManyWebhookEndpoints
    ),
    summary="Register an endpoint; its signing secret is in this answer only",
)
async def create_endpoint(
    caller: SignedIn, body: EndpointCreate, request: Request
) -> EndpointCreated:
    async with caller.unit() as conn:
        return await service.create_endpoint(conn, caller.actor, body, _guard(request))


@router.get("/{endpoint_id}", responses=ONE, summary="One webhook endpoint")
async def get_endpoint(caller: SignedIn, endpoint_id: EndpointId) -> Endpoint:
    async with caller.unit() as conn:
        return await service.get_endpoint(conn, endpoint_id)


@router.patch(
    "/{endpoint_id}",
    responses=responses(
        NotAuthenticated, WebhookEndpointNotFound, InvalidRequest, UnsafeWebhookUrl
    ),
    summary="Change the URL, events, description, or enable/disable it",
)
async def update_endpoint(
    caller: SignedIn, endpoint_id: EndpointId, body: EndpointUpdate, request: Request
) -> Endpoint:
    async with caller.unit() as conn:
        return await service.update_endpoint(conn, caller.actor, endpoint_id, body, _guard(request))


@router.delete(
    "/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ONE,
    summary="Delete an endpoint and its delivery log",
)
async def delete_endpoint(caller: SignedIn, endpoint_id: EndpointId) -> None:
    async with caller.unit() as conn:
        await service.delete_endpoint(conn, caller.actor, endpoint_id)


@router.post(
    "/{endpoint_id}/rotate-secret",
    responses=ONE,
    summary="A new signing secret (shown once); the old one signs too for 24 hours",
)
async def rotate_secret(caller: SignedIn, endpoint_id: EndpointId) -> SecretRotated:
    async with caller.unit() as conn:
        return await service.rotate_secret(conn, caller.actor, endpoint_id)


@router.get(
    "/{endpoint_id}/deliveries",
    responses=responses(NotAuthenticated, WebhookEndpointNotFound, InvalidCursor, InvalidRequest),
    summary="The endpoint's delivery log, newest first, with every attempt",
)
async def list_deliveries(
    caller: SignedIn,
    endpoint_id: EndpointId,
    delivery_status: StatusFilter = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[Delivery]:
    async with caller.unit() as conn:
        items = await service.list_deliveries(
            conn, endpoint_id, status=delivery_status, after=decode_cursor(cursor), limit=limit
        )
    return page_of(items, limit)


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(NotAuthenticated, WebhookDeliveryNotFound, WebhookEndpointDisabled),
    summary="Send a delivery again now (same webhook-id and body)",
)
async def redeliver(caller: SignedIn, endpoint_id: EndpointId, delivery_id: DeliveryId) -> Delivery:
    async with caller.unit() as conn:
        return await service.redeliver(conn, caller.actor, endpoint_id, delivery_id)


@router.post(
    "/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(NotAuthenticated, WebhookEndpointNotFound, WebhookEndpointDisabled),
    summary="Send a webhook.test event to the endpoint",
)
async def send_test(caller: SignedIn, endpoint_id: EndpointId) -> Delivery:
    async with caller.unit() as conn:
        return await service.send_test(conn, caller.actor, endpoint_id)
