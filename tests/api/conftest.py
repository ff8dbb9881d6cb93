"""The API on a test database: an in-process client, and a real server for concurrency."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cryptotrader.api.app import create_app
from cryptotrader.auth.tokens import issue_access_token
from cryptotrader.config import Settings
from tests.serve import serving
from tests.support import TestDatabase, create_user
from tests.support_targets import target_for

JWT_SECRET = "test-secret-for-loopback-only-0123456789"


def api_settings() -> Settings:
    return Settings(jwt_secret=SecretStr(JWT_SECRET), run_workers=False, pool_max_size=20)


def headers_for(
    user_id: UUID, *, email: str = "user@example.test", admin: bool = False
) -> dict[str, str]:
    token, _ = issue_access_token(JWT_SECRET, user_id, email=email, admin=admin)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Api:
    client: TestClient
    db: TestDatabase

    def user(self) -> tuple[UUID, dict[str, str]]:
        with self.db.owner() as conn:
            uid = create_user(conn)
        return uid, headers_for(uid)


@pytest.fixture
def app(db: TestDatabase) -> FastAPI:
    return create_app(api_settings(), target_for(db))


@pytest.fixture
def api(app: FastAPI, db: TestDatabase) -> Iterator[Api]:
    with db.owner() as conn:
        conn.execute("UPDATE market_data_cache SET last_updated = now()")
    with TestClient(app) as client:
        yield Api(client, db)


@pytest.fixture
def live_url(app: FastAPI, db: TestDatabase) -> Iterator[str]:
    """The app served by uvicorn on a loopback port, for real concurrent clients."""
    with db.owner() as conn:
        conn.execute("UPDATE market_data_cache SET last_updated = now()")
    with serving(app) as url:
        yield url
