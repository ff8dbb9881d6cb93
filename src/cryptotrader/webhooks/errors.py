"""Errors of webhook delivery."""

from __future__ import annotations

from cryptotrader.errors import InvalidRequest


class UnsafeWebhookUrl(InvalidRequest):
    """The URL would make us call a host we must not reach (SSRF guard)."""

    code = "webhook_url_refused"
    title = "Webhook URL refused"
    example_detail = "http://10.0.0.1/ resolves to a private address"
