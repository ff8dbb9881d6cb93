"""Errors of the caller's profile and settings."""

from __future__ import annotations

from cryptotrader.errors import InvalidRequest, NotFound


class ProfileNotFound(NotFound):
    code = "profile_not_found"
    title = "Profile not found"


class UnknownSetting(NotFound):
    code = "unknown_setting"
    title = "Unknown setting"


class InvalidSetting(InvalidRequest):
    code = "invalid_setting"
    title = "Invalid setting value"
