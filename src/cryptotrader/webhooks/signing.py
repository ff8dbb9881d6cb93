"""Standard Webhooks signatures: receivers verify them with any conforming library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _secrets
import uuid
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's prefix, not a secret


def generate_secret() -> str:
    """A new signing secret: 24 random bytes, base64, with the spec's ``whsec_`` prefix."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(24)).decode()


def new_message_id() -> str:
    """A message id, stable across retries so receivers can deduplicate."""
    return f"msg_{uuid.uuid4().hex}"


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64 HMAC-SHA256>`` signature over ``{id}.{timestamp}.{body}``."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The request headers; one signature per secret, so a rotation never breaks a receiver."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets),
        "content-type": "application/json",
    }
