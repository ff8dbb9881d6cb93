"""The API on a test database: an in-process client, and a real server for concurrency."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cryptotrader.api.app import create_app
from cryptotrader.auth.tokens import issue_access_token
from cryptotrader.config import Settings
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
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
