"""Errors of alerts (another user's alert, or an account, portfolio or bot of theirs named
by one, answers exactly like a missing one)."""

from __future__ import annotations

from cryptotrader.errors import Conflict, InvalidRequest, NotFound


class AlertNotFound(NotFound):
    code = "alert_not_found"
    title = "Alert not found"


class AlertTargetNotFound(NotFound):
    """The account, portfolio or bot an alert names is not one of the caller's."""

    code = "alert_target_not_found"
    title = "Alert target not found"
    example_detail = "no account 0d9c2b6e-4f31-4e8a-b7a5-2c6e1f9d8a34 of yours"


class AlertInvalid(InvalidRequest):
    """A change that would leave the alert in a shape it cannot have."""

    code = "alert_invalid"
    title = "Invalid alert"
    example_detail = "value: confidence_below needs a value between 0 and 1 (exclusive)"


class AlertExpired(Conflict):
    code = "alert_expired"
    title = "Alert has expired"
    example_detail = "the alert expired; enable it with a future expires_at, or null for none"
