"""Errors of the caller's profile and settings."""

from __future__ import annotations

from cryptotrader.errors import InvalidRequest, NotFound
from cryptotrader.profiles.schemas import SETTINGS


class ProfileNotFound(NotFound):
    code = "profile_not_found"
    title = "Profile not found"


class UnknownSetting(NotFound):
    code = "unknown_setting"
    title = "Unknown setting"
    example_detail = f"no setting named 'colour'; known: {', '.join(SETTINGS)}"


class InvalidSetting(InvalidRequest):
    code = "invalid_setting"
    title = "Invalid setting value"
    example_detail = (
        'theme must be one of "light", "dark", "system" '
        "(Input should be 'light', 'dark' or 'system')"
    )
