import time

import psycopg
from fastapi.testclient import TestClient
from psycopg import sql

from cryptotrader.api.app import create_app
from cryptotrader.config import Settings
from tests.support import APP_ROLE, TestDatabase
from tests.support_targets import target_for


def test_health_is_ok_then_503_when_the_database_goes_away_then_ok_again(db: TestDatabase) -> None:
    app = create_app(Settings(pool_min_size=1, pool_max_size=2, run_workers=False), target_for(db))
    with TestClient(app) as client:
        ok = client.get("/health")
        assert ok.status_code == 200
        assert ok.json() == {"status": "ok", "database": "ok"}

        with psycopg.connect(db.server.admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(db.name))
            )
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                [APP_ROLE],
            )
        down = client.get("/health")
        assert down.status_code == 503
        body = down.json()
        assert body["status"] == "unavailable" and body["database"] == "unavailable"
        assert body["reason"]

        with psycopg.connect(db.server.admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(db.name))
            )
        deadline = time.monotonic() + 15
        while client.get("/health").status_code != 200:
            assert time.monotonic() < deadline, "health did not recover"
            time.sleep(0.2)


def test_the_app_runs_the_market_feed_unless_told_not_to(db: TestDatabase) -> None:
    with db.owner() as conn:
        conn.execute("UPDATE market_data_cache SET last_updated = now() - interval '1 hour'")
    settings = Settings(run_workers=True, market_interval=0.2, pool_min_size=1, pool_max_size=4)
    with TestClient(create_app(settings, target_for(db))) as client:
        deadline = time.monotonic() + 15
        while True:
            feed = client.get("/api/v1/market/feed").json()
            if feed and feed["refresh_count"] >= 2:
                break
            assert time.monotonic() < deadline, f"the feed did not run: {feed}"
            time.sleep(0.2)
        btc = client.get("/api/v1/market/prices/BTC").json()
    assert feed["provider"] == "simulated" and feed["last_error"] is None
    assert btc["exchange"] == "simulated" and not btc["stale"]
