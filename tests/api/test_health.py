"""/health tells whether the platform can trade: degraded (200, with the reasons) without a
feed leader, with prices older than the strictest max_price_age_seconds, or without a
backtest worker; 503 without the database. /metrics shows the same states."""

import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from cryptotrader.api.app import create_app
from cryptotrader.config import Settings
from tests.api.conftest import api_settings, headers_for
from tests.support import APP_ROLE, TestDatabase, create_account, create_user
from tests.support_targets import target_for

WAIT_S = 20  # only to catch a hang
THIS_PROCESS = f"{socket.gethostname()}:{os.getpid()}"


def settings(**overrides: Any) -> Settings:
    return api_settings().model_copy(update={"pool_min_size": 1, "pool_max_size": 4} | overrides)


def fresh_prices(db: TestDatabase) -> None:
    with db.owner() as conn:
        conn.execute("UPDATE market_data_cache SET last_updated = now()")


def age_prices(db: TestDatabase, seconds: int) -> None:
    with db.owner() as conn:
        conn.execute(
            "UPDATE market_data_cache SET last_updated = now() - make_interval(secs => %s)",
            [seconds],
        )


def wait_for(client: TestClient, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        answer = client.get("/health")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if until(body):
            return body
        assert time.monotonic() < deadline, f"health never got there: {body}"
        time.sleep(0.1)


def gauges(client: TestClient) -> dict[str, float]:
    """The ``cryptotrader_health_status`` gauges of /metrics, by check."""
    found = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith('cryptotrader_health_status{check="'):
            labels, value = line.rsplit(" ", 1)
            found[labels.split('"')[1]] = float(value)
    return found


def failing(body: dict[str, Any]) -> set[str]:
    return {name for name, check in body["checks"].items() if not check["ok"]}


@pytest.fixture
def leader(db: TestDatabase) -> Iterator[TestClient]:
    """The app with its workers (a feed leader and a backtest worker), once all is ok. The
    feed refreshes once when it takes the lead, then not for an hour: prices aged by a test
    stay aged, while the leader lives."""
    app = create_app(settings(run_workers=True, market_interval=3600), target_for(db))
    with TestClient(app) as client:
        wait_for(client, lambda body: body["status"] == "ok")
        yield client


def test_without_workers_health_is_degraded_naming_the_feed_leader_and_the_workers(
    db: TestDatabase,
) -> None:
    fresh_prices(db)
    with db.owner() as conn:  # the row of a leader that died: it leads no more
        conn.execute(
            "INSERT INTO market_feed_status (leader, provider) VALUES ('gone:1', 'simulated')"
        )
    with TestClient(create_app(settings(run_workers=False), target_for(db))) as client:
        answer = client.get("/health")
        metrics = gauges(client)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["status"], body["database"]) == ("degraded", "ok")
    assert failing(body) == {"feed_leader", "workers"}
    feed, workers = body["checks"]["feed_leader"], body["checks"]["workers"]
    assert feed["leader"] is None
    assert feed["reason"] == "no process leads the market feed (its last leader was gone:1)"
    assert workers["backtest_workers"] == 0 and "no backtest worker" in workers["reason"]
    assert body["reasons"] == [feed["reason"], workers["reason"]]
    assert body["checks"]["prices"] | {"oldest_age_seconds": None} == {
        "ok": True,
        "reason": None,
        "max_price_age_seconds": 300,  # no account yet: what a new account gets
        "oldest_age_seconds": None,
        "stale_symbols": [],
    }
    assert metrics == {"database": 1, "feed_leader": 0, "prices": 1, "workers": 0}


def test_a_feed_leader_fresh_prices_and_a_worker_are_ok(leader: TestClient) -> None:
    body = leader.get("/health").json()
    assert (body["status"], body["reasons"]) == ("ok", [])
    assert body["checks"]["feed_leader"]["leader"] == THIS_PROCESS
    assert body["checks"]["workers"]["backtest_workers"] == 1
    assert body["checks"]["prices"]["stale_symbols"] == []
    assert gauges(leader) == {"database": 1, "feed_leader": 1, "prices": 1, "workers": 1}
    assert "cryptotrader_backtest_workers 1.0" in leader.get("/metrics").text


def test_prices_older_than_max_price_age_are_degraded_though_the_leader_lives(
    db: TestDatabase, leader: TestClient
) -> None:
    age_prices(db, 3600)
    body = leader.get("/health").json()
    assert body["status"] == "degraded" and failing(body) == {"prices"}
    assert body["checks"]["feed_leader"]["leader"] == THIS_PROCESS
    prices = body["checks"]["prices"]
    assert prices["max_price_age_seconds"] == 300 and prices["oldest_age_seconds"] >= 3600
    assert {"BTC", "ETH"} <= set(prices["stale_symbols"])
    assert body["reasons"] == [prices["reason"]] and "stale_price" in prices["reason"]
    assert gauges(leader) == {"database": 1, "feed_leader": 1, "prices": 0, "workers": 1}


def test_an_order_refused_as_stale_price_never_meets_an_ok_health(
    db: TestDatabase, leader: TestClient
) -> None:
    with db.owner() as conn:
        user = create_user(conn)
        strict = create_account(conn, user, max_price_age_seconds=60)
        create_account(conn, user, max_price_age_seconds=1, status="paused")  # cannot trade
    # older than this account's limit, younger than the default one
    age_prices(db, 120)
    order = {"account_id": str(strict), "symbol": "BTC", "side": "buy", "amount": "0.001"}
    refused = leader.post("/api/v1/orders", headers=headers_for(user), json=order)
    assert (refused.status_code, refused.json()["code"]) == (409, "stale_price"), refused.text
    body = leader.get("/health").json()
    assert body["status"] != "ok" and failing(body) == {"prices"}
    assert body["checks"]["prices"]["max_price_age_seconds"] == 60
    assert "BTC" in body["checks"]["prices"]["stale_symbols"]


def test_health_is_503_when_the_database_goes_away_then_answers_again(db: TestDatabase) -> None:
    with TestClient(create_app(settings(run_workers=False), target_for(db))) as client:
        ok = client.get("/health")
        assert ok.status_code == 200 and ok.json()["database"] == "ok"

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
        assert set(gauges(client).values()) == {0}

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
    app = create_app(settings(run_workers=True, market_interval=0.2), target_for(db))
    with TestClient(app) as client:
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
