"""The caller's webhook endpoints, their secrets and their delivery log.

Another user's endpoint or delivery is not visible (RLS): WebhookEndpointNotFound or
WebhookDeliveryNotFound, exactly like a missing one. A secret is generated here and
returned once, by create and rotate; it is stored where only the sender reads it
(private.webhook_secrets). Events reach the endpoints through
private.enqueue_webhook_event, called in the transaction of the event (docs/alerts.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.calls import fetch_all, fetch_one, require
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.errors import InvalidRequest
from cryptotrader.webhooks import signing
from cryptotrader.webhooks.delivery import GuardSettings
from cryptotrader.webhooks.errors import (
    TooManyWebhookEndpoints,
    WebhookDeliveryNotFound,
    WebhookEndpointNotFound,
)
from cryptotrader.webhooks.guard import check_url
from cryptotrader.webhooks.schemas import (
    Delivery,
    DeliveryStatus,
    Endpoint,
    EndpointCreate,
    EndpointCreated,
    EndpointUpdate,
    SecretRotated,
)

Q = load_queries("cryptotrader.webhooks")
MAX_ENDPOINTS = 20  # per user
ROTATION_GRACE = 24 * 3600  # seconds the previous secret keeps signing after a rotation


async def _check(url: str, guard: GuardSettings) -> None:
    await check_url(url, allow_private=guard.allow_private, allow_loopback=guard.allow_loopback)


async def list_endpoints(
    conn: Conn, *, after: tuple[datetime, UUID] | None = None, limit: int | None = None
) -> list[Endpoint]:
    """The caller's endpoints, newest first (never their secrets)."""
    at, row_id = after if after is not None else (None, None)
    params = {"after_at": at, "after_id": row_id, "limit": limit}
    return [Endpoint.model_validate(r) for r in await fetch_all(conn, Q["list_endpoints"], params)]


async def get_endpoint(conn: Conn, endpoint_id: UUID) -> Endpoint:
    """Raises WebhookEndpointNotFound."""
    row = await fetch_one(conn, Q["get_endpoint"], {"id": endpoint_id})
    return Endpoint.model_validate(require(row, WebhookEndpointNotFound()))


async def create_endpoint(
    conn: Conn, actor: Actor, new: EndpointCreate, guard: GuardSettings
) -> EndpointCreated:
    """A new endpoint and its signing secret (returned this once). The URL must pass the
    SSRF guard now (and again at every delivery). Raises UnsafeWebhookUrl,
    TooManyWebhookEndpoints. Audited ``webhook.create``."""
    await _check(new.url, guard)
    count = await fetch_one(conn, Q["count_endpoints"], {})
    if count is not None and int(count["n"]) >= MAX_ENDPOINTS:
        raise TooManyWebhookEndpoints(f"at most {MAX_ENDPOINTS} webhook endpoints per user")
    params = new.model_dump() | {"event_types": sorted(set(new.event_types))}
    row = require(await fetch_one(conn, Q["create_endpoint"], params), WebhookEndpointNotFound())
    secret = signing.generate_secret()
    await fetch_one(conn, Q["set_secret"], {"id": row["id"], "secret": secret, "grace_seconds": 0})
    details = {"url": new.url, "event_types": params["event_types"]}
    await audit.record(conn, actor, "webhook.create", "webhook", row["id"], details)
    return EndpointCreated.model_validate(row | {"secret": secret})


async def update_endpoint(
    conn: Conn, actor: Actor, endpoint_id: UUID, changes: EndpointUpdate, guard: GuardSettings
) -> Endpoint:
    """Change the URL (guarded again), events, description or enabled. Raises
    WebhookEndpointNotFound, UnsafeWebhookUrl, InvalidRequest when nothing is given.
    Audited ``webhook.update`` with the changes."""
    fields = changes.model_dump(exclude_unset=True)
    await get_endpoint(conn, endpoint_id)
    if not fields:
        raise InvalidRequest("no field to change")
    if "url" in fields:
        await _check(fields["url"], guard)
    params: dict[str, Any] = {"id": endpoint_id}
    for name in ("url", "description", "event_types", "enabled"):
        params[f"set_{name}"] = name in fields
        params[name] = fields.get(name)
    if params["event_types"] is not None:
        params["event_types"] = sorted(set(params["event_types"]))
    row = await fetch_one(conn, Q["update_endpoint"], params)
    endpoint = Endpoint.model_validate(require(row, WebhookEndpointNotFound()))
    details = changes.model_dump(mode="json", exclude_unset=True)
    await audit.record(conn, actor, "webhook.update", "webhook", endpoint_id, details)
    return endpoint


async def delete_endpoint(conn: Conn, actor: Actor, endpoint_id: UUID) -> None:
    """Delete an endpoint with its secret and delivery log. Raises WebhookEndpointNotFound.
    Audited ``webhook.delete``."""
    require(
        await fetch_one(conn, Q["delete_endpoint"], {"id": endpoint_id}), WebhookEndpointNotFound()
    )
    await audit.record(conn, actor, "webhook.delete", "webhook", endpoint_id)


async def rotate_secret(conn: Conn, actor: Actor, endpoint_id: UUID) -> SecretRotated:
    """A new signing secret (returned this once); the previous one keeps signing beside it
    for :data:`ROTATION_GRACE`. Raises WebhookEndpointNotFound. Audited
    ``webhook.rotate_secret``."""
    await get_endpoint(conn, endpoint_id)
    secret = signing.generate_secret()
    params = {"id": endpoint_id, "secret": secret, "grace_seconds": ROTATION_GRACE}
    row = require(await fetch_one(conn, Q["set_secret"], params), WebhookEndpointNotFound())
    await audit.record(conn, actor, "webhook.rotate_secret", "webhook", endpoint_id)
    return SecretRotated(
        endpoint_id=endpoint_id, secret=secret, previous_expires_at=row["previous_expires_at"]
    )


async def list_deliveries(
    conn: Conn,
    endpoint_id: UUID,
    *,
    status: DeliveryStatus | None = None,
    after: tuple[datetime, UUID] | None = None,
    limit: int | None = None,
) -> list[Delivery]:
    """One endpoint's deliveries, newest first, each with its attempts. Raises
    WebhookEndpointNotFound."""
    await get_endpoint(conn, endpoint_id)
    at, row_id = after if after is not None else (None, None)
    params = {
        "endpoint_id": endpoint_id,
        "id": None,
        "status": status,
        "after_at": at,
        "after_id": row_id,
        "limit": limit,
    }
    return [Delivery.model_validate(r) for r in await fetch_all(conn, Q["list_deliveries"], params)]


async def get_delivery(conn: Conn, endpoint_id: UUID, delivery_id: UUID) -> Delivery:
    """Raises WebhookDeliveryNotFound."""
    params = {
        "endpoint_id": endpoint_id,
        "id": delivery_id,
        "status": None,
        "after_at": None,
        "after_id": None,
        "limit": 1,
    }
    row = await fetch_one(conn, Q["list_deliveries"], params)
    return Delivery.model_validate(require(row, WebhookDeliveryNotFound()))


async def redeliver(conn: Conn, actor: Actor, endpoint_id: UUID, delivery_id: UUID) -> Delivery:
    """Send a delivery again now, with the same webhook-id and body. Raises
    WebhookDeliveryNotFound, WebhookEndpointDisabled. Audited ``webhook.redeliver``."""
    await fetch_one(conn, Q["redeliver"], {"endpoint_id": endpoint_id, "id": delivery_id})
    details = {"delivery_id": str(delivery_id)}
    await audit.record(conn, actor, "webhook.redeliver", "webhook", endpoint_id, details)
    return await get_delivery(conn, endpoint_id, delivery_id)


async def send_test(conn: Conn, actor: Actor, endpoint_id: UUID) -> Delivery:
    """A ``webhook.test`` event to this endpoint (whatever it subscribes to). Raises
    WebhookEndpointNotFound, WebhookEndpointDisabled. Audited ``webhook.test``."""
    row = await fetch_one(conn, Q["send_test"], {"endpoint_id": endpoint_id})
    delivery_id = require(row, WebhookEndpointNotFound())["id"]
    details = {"delivery_id": str(delivery_id)}
    await audit.record(conn, actor, "webhook.test", "webhook", endpoint_id, details)
    return await get_delivery(conn, endpoint_id, delivery_id)


async def enqueue_event(conn: Conn, user_id: UUID, event_type: str, data: dict[str, Any]) -> int:
    """As the service role: event ``event_type`` to every enabled endpoint of ``user_id``
    that takes it, in ``conn``'s transaction (what the engine's triggers do in SQL). Returns
    how many deliveries. Raises InvalidWebhookEvent."""
    params = {"user_id": user_id, "type": event_type, "data": Jsonb(data)}
    row = await fetch_one(conn, Q["enqueue_event"], params)
    return int(row["deliveries"]) if row else 0
