"""Signatures checked by the Standard Webhooks reference library; the SSRF guard's ranges."""

from __future__ import annotations

import json

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cryptotrader.webhooks import signing
from cryptotrader.webhooks.errors import UnsafeWebhookUrl
from cryptotrader.webhooks.guard import check_url


def _message() -> tuple[str, int, bytes]:
    import time

    body = json.dumps({"type": "order.filled", "data": {"id": 1}}, separators=(",", ":"))
    return signing.new_message_id(), int(time.time()), body.encode()


def test_secret_format() -> None:
    secret = signing.generate_secret()
    assert secret.startswith("whsec_")
    assert len(signing._key(secret)) >= 24
    assert signing.generate_secret() != secret


def test_reference_library_verifies() -> None:
    secret = signing.generate_secret()
    msg_id, ts, body = _message()
    hdrs = signing.headers([secret], msg_id, ts, body)
    assert hdrs["content-type"] == "application/json"
    assert Webhook(secret).verify(body, hdrs) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.generate_secret()).verify(body, hdrs)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", hdrs)


def test_rotation_each_secret_verifies_alone() -> None:
    old, new = signing.generate_secret(), signing.generate_secret()
    msg_id, ts, body = _message()
    hdrs = signing.headers([old, new], msg_id, ts, body)
    assert len(hdrs["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, hdrs) == json.loads(body)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[fc00::1]/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::ffff:10.0.0.1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://127.0.0.1/",
        "ftp://127.0.0.1/",
        "http://user:pw@127.0.0.1/",
    ],
)
async def test_guard_refuses(url: str) -> None:
    with pytest.raises(UnsafeWebhookUrl) as info:
        await check_url(url)
    assert info.value.code == "webhook_url_refused" and info.value.status == 422


@pytest.mark.anyio
async def test_guard_opens_loopback_only_when_asked() -> None:
    assert [str(a) for a in await check_url("http://127.0.0.1:8080/", allow_loopback=True)] == [
        "127.0.0.1"
    ]
    for url in ("http://10.0.0.1/", "http://169.254.169.254/", "ftp://127.0.0.1/"):
        with pytest.raises(UnsafeWebhookUrl):
            await check_url(url, allow_loopback=True)


@pytest.mark.anyio
async def test_guard_allow_private() -> None:
    assert await check_url("http://10.0.0.1/", allow_private=True)
    assert await check_url("http://100.64.0.1/", allow_private=True)
    with pytest.raises(UnsafeWebhookUrl):
        await check_url("http://169.254.169.254/", allow_private=True)
