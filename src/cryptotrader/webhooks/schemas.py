"""Webhook endpoints and deliveries as the services take and return them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

EXAMPLE_ENDPOINT_ID = "3f6d2a9e-81c4-4b7a-9e15-7a0c2d4b6e81"
EXAMPLE_DELIVERY_ID = "9a4c1e7b-2d58-4f03-b6a9-5e8d7c1f2a30"
EXAMPLE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - an example

Url = Annotated[
    str,
    Field(
        min_length=8,
        max_length=2000,
        pattern=r"^https?://[^\s\x00-\x1f\x7f]+$",
        examples=["https://hooks.example.com/cryptotrader"],
    ),
]
Description = Annotated[str, Field(max_length=500, examples=["Order fills to my bot"])]
EventPattern = Annotated[
    str,
    Field(
        min_length=3,
        max_length=100,
        pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?$",
        description="An event type (order.filled), or a family of them (order.*).",
    ),
]
EventTypes = Annotated[
    list[EventPattern],
    Field(max_length=50, description="The events to send; empty: all of them."),
]
DeliveryStatus = Literal["pending", "delivered", "failed", "gone", "refused"]
Outcome = Literal["delivered", "gone", "retry", "refused", "skipped"]
_ENDPOINT: JsonDict = {
    "id": EXAMPLE_ENDPOINT_ID,
    "url": "https://hooks.example.com/cryptotrader",
    "description": "Order fills to my bot",
    "event_types": ["order.filled", "alert.*"],
    "enabled": True,
    "disabled_reason": None,
    "created_at": "2025-01-15T09:00:00Z",
    "updated_at": "2025-01-15T09:00:00Z",
}


class EndpointCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hooks.example.com/cryptotrader",
                    "description": "Order fills to my bot",
                    "event_types": ["order.filled"],
                }
            ]
        },
    )

    url: Url
    description: Description = ""
    event_types: EventTypes = []
    enabled: bool = True


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"enabled": False}, {"event_types": ["alert.*"]}]},
    )

    url: Url | None = None
    description: Description | None = None
    event_types: EventTypes | None = None
    enabled: bool | None = None

    @field_validator("url", "description", "event_types", "enabled")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null")
        return value


class Endpoint(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ENDPOINT]})

    id: UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: Literal["gone", "user"] | None = Field(
        description="Why it is disabled: `gone` (it answered 410 Gone) or `user`."
    )
    created_at: datetime
    updated_at: datetime


class EndpointCreated(Endpoint):
    """The new endpoint with its signing secret, shown this once."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [_ENDPOINT | {"secret": EXAMPLE_SECRET}]}
    )

    secret: str = Field(description="The signing secret (whsec_...); it is not shown again.")


class SecretRotated(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "endpoint_id": EXAMPLE_ENDPOINT_ID,
                    "secret": EXAMPLE_SECRET,
                    "previous_expires_at": "2025-01-16T09:00:00Z",
                }
            ]
        }
    )

    endpoint_id: UUID
    secret: str = Field(description="The new signing secret; it is not shown again.")
    previous_expires_at: datetime | None = Field(
        description="Until then deliveries carry a signature by the previous secret too."
    )


class Attempt(BaseModel):
    attempt: int
    outcome: Outcome
    url: str
    status_code: int | None
    latency_ms: int
    error: str | None
    attempted_at: datetime


class Delivery(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_DELIVERY_ID,
                    "endpoint_id": EXAMPLE_ENDPOINT_ID,
                    "msg_id": "msg_2b7f0c1e9d8a4f6b8c3e5a7d9f1b2c4e",
                    "event_type": "webhook.test",
                    "payload": {
                        "type": "webhook.test",
                        "timestamp": "2025-01-15T09:00:00Z",
                        "data": {"endpoint_id": EXAMPLE_ENDPOINT_ID},
                    },
                    "status": "delivered",
                    "attempts": 1,
                    "next_attempt_at": None,
                    "last_status_code": 204,
                    "last_latency_ms": 84,
                    "last_error": None,
                    "created_at": "2025-01-15T09:00:00Z",
                    "delivered_at": "2025-01-15T09:00:00Z",
                    "attempt_log": [
                        {
                            "attempt": 1,
                            "outcome": "delivered",
                            "url": "https://hooks.example.com/cryptotrader",
                            "status_code": 204,
                            "latency_ms": 84,
                            "error": None,
                            "attempted_at": "2025-01-15T09:00:00Z",
                        }
                    ],
                }
            ]
        }
    )

    id: UUID
    endpoint_id: UUID
    msg_id: str = Field(description="The webhook-id header: the same on every attempt.")
    event_type: str
    payload: dict[str, Any]
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[Attempt]
