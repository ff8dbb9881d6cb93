"""Errors of webhooks (another user's endpoint or delivery is not found, like a missing one)."""

from __future__ import annotations

from cryptotrader.errors import DomainError, InvalidRequest, NotFound


class UnsafeWebhookUrl(InvalidRequest):
    """The URL would make us call a host we must not reach (SSRF guard)."""

    code = "webhook_url_refused"
    title = "Webhook URL refused"
    example_detail = "http://10.0.0.1/ resolves to a private address"


class InvalidWebhookEvent(InvalidRequest):
    code = "invalid_webhook_event"
    title = "Invalid webhook event"
    example_detail = "event type 'Order' is not dotted lowercase (order.filled)"


class WebhookEndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"
    title = "Webhook endpoint not found"


class WebhookDeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
    title = "Webhook delivery not found"


class WebhookEndpointDisabled(DomainError):
    status = 409
    code = "webhook_endpoint_disabled"
    title = "Webhook endpoint disabled"
    example_detail = "the endpoint is disabled"


class TooManyWebhookEndpoints(DomainError):
    status = 409
    code = "too_many_webhook_endpoints"
    title = "Too many webhook endpoints"
    example_detail = "at most 20 webhook endpoints per user"
