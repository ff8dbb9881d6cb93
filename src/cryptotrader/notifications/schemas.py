"""Notifications as the services take and return them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args
from uuid import UUID

from pydantic import BaseModel, ConfigDict

EXAMPLE_NOTIFICATION_ID = "5b1e8c3a-7d2f-4a69-9e04-c8f1a2b3d4e5"
EXAMPLE_ACCOUNT_ID = "0d9c2b6e-4f31-4e8a-b7a5-2c6e1f9d8a34"
Severity = Literal["info", "success", "warning", "error", "critical"]


class Notification(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_NOTIFICATION_ID,
                    "account_id": EXAMPLE_ACCOUNT_ID,
                    "notification_type": "risk.daily_loss",
                    "title": "Daily loss limit reached",
                    "message": "Trading is paused until tomorrow.",
                    "severity": "warning",
                    "is_read": False,
                    "metadata": {},
                    "expires_at": None,
                    "created_at": "2025-01-15T09:02:10Z",
                }
            ]
        }
    )

    id: UUID
    account_id: UUID
    notification_type: str
    title: str
    message: str
    severity: Severity
    is_read: bool
    metadata: dict[str, Any]
    expires_at: datetime | None
    created_at: datetime


class UnreadCount(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"unread": 3}]})

    unread: int


class ReadAllResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"changed": 3}]})

    changed: int


# The events the platform tells a trader about: a notification's type is its event's name,
# the same in the app, on the stream, in webhooks and here (docs/alerts.md).
EventType = Literal[
    "order.filled",
    "order.triggered",
    "order.expired",
    "order.rejected",
    "risk.daily_loss",
    "account.reset",
    "alert.triggered",
    "bot.error",
    "bot.paused",
    "bot.stopped",
    "bot.budget_spent",
    "copy.skipped",
    "copy.reduced",
    "copy.stopped",
    "backtest.finished",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
Channel = Literal["in_app", "webhook"]
CHANNELS: tuple[Channel, ...] = ("in_app", "webhook")
# The setting (profiles.schemas.SETTINGS) a user's choices are stored in: per event, the
# channels it goes to, ``in_app`` (the rows, and the live stream that announces them) and
# ``webhook`` (their endpoints that take the event). An event left out goes everywhere; an
# empty list silences it. private.route_notification() (migration 0039) reads it.
PREFERENCES_SETTING = "notification_preferences"
Preferences = dict[EventType, list[Channel]]
