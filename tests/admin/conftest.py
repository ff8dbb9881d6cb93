"""The API fixtures of tests/api (an in-process client on a test database) for the admin
tests."""

from __future__ import annotations

from tests.api.conftest import api, app

__all__ = ["api", "app"]
