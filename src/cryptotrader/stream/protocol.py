"""The stream's protocol: JSON text frames, each an object with a ``type``; the messages
below are its vocabulary (a discriminated union each way), used to parse what clients send
and to write what the server sends.

- authenticate with ``?token=<access token>``, an ``Authorization: Bearer`` header, or a
  first message ``{"type": "auth", "token": ...}`` (the query string may end up in access
  logs; the first message does not). A missing, invalid or expired token closes with
  4401; so does the token's expiry, unless a fresh ``auth`` message for the same user
  arrives first (answer: ``authenticated``). The server first says ``ready``.
- ``{"type": "subscribe", "channels": ["prices", "orders", "notifications"],
  "symbols": ["BTC"]}``: adds channels; with ``prices`` among them, ``symbols`` replaces
  the price filter (absent or empty: every symbol). Answer: ``subscribed`` with the
  current channels and symbols.
- ``{"type": "unsubscribe", "channels": [...], "symbols": [...]}``: removes channels, and
  symbols from the price filter (removing its last symbol ends the prices subscription;
  an unfiltered one stays unfiltered). Answer: ``unsubscribed`` with the current state.
- ``{"type": "ping"}`` → ``{"type": "pong", "at": ...}`` (an ``id`` is echoed).
- server events: ``prices`` (filtered), ``order`` and ``notification`` (the caller's own
  only), ``heartbeat`` every ``stream_heartbeat_interval`` seconds, ``resync`` (after the
  listener reconnected: events may have been missed), and ``error`` for a message it
  cannot use.

Close codes: 1001 the server is stopping, 1011 an internal error, 1013 the client did not
read fast enough, 4401 unauthorized.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from cryptotrader.stream.errors import BadMessage
from cryptotrader.stream.schemas import (
    NotificationEvent,
    OrderEvent,
    PricesEvent,
    WireMessage,
)

# The client's channel names: prices come by NOTIFY, orders and notifications from the
# outbox private.stream_events (migration 0012 says why).
CHANNELS = ("prices", "orders", "notifications")

CLOSE_GOING_AWAY = 1001
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TOO_SLOW = 1013  # "try again later"
CLOSE_UNAUTHORIZED = 4401


def iso(moment: datetime) -> str:
    """ISO-8601 UTC, as the REST API writes times (``2025-01-15T14:30:00.123456Z``)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def now() -> str:
    return iso(datetime.now(UTC))


def epoch_iso(seconds: float) -> str:
    """A token's ``exp`` (epoch seconds) as ISO-8601 UTC."""
    return iso(datetime.fromtimestamp(seconds, UTC))


# ---------------------------------------------------------------- client -> server


def _names(value: object, what: str, limit: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    if len(value) > limit:
        raise ValueError(f"at most {limit} {what}")
    return value


class Auth(WireMessage):
    """A fresh access token (first message, or later to outlive the first token)."""

    type: Literal["auth"]
    token: Annotated[str, BeforeValidator(lambda v: str(v or ""))] = ""


class _Subscription(WireMessage):
    channels: frozenset[str] = frozenset()
    symbols: frozenset[str] = frozenset()  # upper case; empty: every symbol

    @field_validator("channels", mode="before")
    @classmethod
    def _known_channels(cls, value: object) -> frozenset[str]:
        channels = set(_names(value, "channels", len(CHANNELS)))
        unknown = channels - set(CHANNELS)
        if unknown:
            raise ValueError(f"unknown channels {sorted(unknown)}; known: {sorted(CHANNELS)}")
        return frozenset(channels)

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbols(cls, value: object, info: ValidationInfo) -> frozenset[str]:
        limit = int((info.context or {}).get("max_symbols", 500))
        return frozenset(s.strip().upper() for s in _names(value, "symbols", limit)) - {""}


class Subscribe(_Subscription):
    type: Literal["subscribe"]


class Unsubscribe(_Subscription):
    type: Literal["unsubscribe"]


class Ping(WireMessage):
    """Answered by a ``pong`` echoing ``id`` when there is one (any JSON value)."""

    type: Literal["ping"]
    id: Any = None


ClientMessage = Annotated[Auth | Subscribe | Unsubscribe | Ping, Field(discriminator="type")]
_CLIENT = TypeAdapter[Auth | Subscribe | Unsubscribe | Ping](ClientMessage)


def parse_client(raw: str, max_symbols: int) -> Auth | Subscribe | Unsubscribe | Ping:
    """A client's text frame as its message; BadMessage (with the ``error`` to answer)
    when it is not one. ``max_symbols`` caps a subscription's symbols."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's stack
        value = None
    if not isinstance(value, dict):
        raise BadMessage("messages must be JSON objects")
    try:
        return _CLIENT.validate_python(value, context={"max_symbols": max_symbols})
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
            raise BadMessage(f"unknown message type {value.get('type')!r}") from None
        cause = (first.get("ctx") or {}).get("error")
        raise BadMessage(str(cause) if cause is not None else first["msg"]) from None


# ---------------------------------------------------------------- server -> client


class Ready(WireMessage):
    """The first message after a successful authentication."""

    type: Literal["ready"] = "ready"
    user_id: str
    channels: list[str]
    heartbeat_interval: float
    expires_at: str


class Authenticated(WireMessage):
    """A fresh token was accepted: the stream lasts until its expiry."""

    type: Literal["authenticated"] = "authenticated"
    expires_at: str


class Subscribed(WireMessage):
    type: Literal["subscribed"] = "subscribed"
    channels: list[str]
    symbols: list[str]


class Unsubscribed(WireMessage):
    type: Literal["unsubscribed"] = "unsubscribed"
    channels: list[str]
    symbols: list[str]


class Pong(WireMessage):
    type: Literal["pong"] = "pong"
    at: str
    id: Any = None  # present when the ping had one, even null

    def wire(self) -> dict[str, Any]:
        # the echoed id is written as it came, whatever its depth (not through pydantic)
        message: dict[str, Any] = {"type": self.type, "at": self.at}
        if "id" in self.model_fields_set:
            message["id"] = self.id
        return message


class Heartbeat(WireMessage):
    type: Literal["heartbeat"] = "heartbeat"
    at: str


class Resync(WireMessage):
    """Events may have been missed (the listener reconnected): read the state again."""

    type: Literal["resync"] = "resync"
    at: str
    reason: str


class Error(WireMessage):
    """A message the server cannot use (the stream stays open)."""

    type: Literal["error"] = "error"
    error: str


ServerMessage = Annotated[
    Ready
    | Authenticated
    | Subscribed
    | Unsubscribed
    | Pong
    | Heartbeat
    | Resync
    | Error
    | PricesEvent
    | OrderEvent
    | NotificationEvent,
    Field(discriminator="type"),
]
server_messages: TypeAdapter[Any] = TypeAdapter(ServerMessage)


def parse_server(raw: str) -> WireMessage:
    """A server's text frame as its message (for clients: tests, benchmarks)."""
    message: WireMessage = server_messages.validate_json(raw)
    return message


def pong(ping: Ping) -> str:
    """The answer to a ping."""
    if "id" in ping.model_fields_set:
        return Pong(at=now(), id=ping.id).text()
    return Pong(at=now()).text()
