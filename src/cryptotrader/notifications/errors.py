"""Errors of notifications (another user's notification is NotificationNotFound)."""

from __future__ import annotations

from cryptotrader.errors import NotFound


class NotificationNotFound(NotFound):
    code = "notification_not_found"
    title = "Notification not found"
