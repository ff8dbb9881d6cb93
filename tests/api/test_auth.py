"""The auth API end to end: the app on a test database through TestClient, checked over
HTTP and, where it matters, in the tables as the owner."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from cryptotrader.api.app import create_app
from cryptotrader.auth import passwords, service
from cryptotrader.auth.tokens import decode_access_token, issue_access_token
from cryptotrader.config import Settings
from cryptotrader.db.session import Conn, as_service
from tests.support import Row, TestDatabase, create_user
from tests.support_targets import target_for

SECRET = "test-jwt-secret-with-at-least-32-bytes!"
IP = "203.0.113.7"
OTHER_IP = "198.51.100.9"
MAX_ATTEMPTS = 3
WINDOW_S = 900
PASSWORD = "s3cret-passw0rd"
AUTH = "/api/v1/auth"


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "pool_min_size": 1,
        "pool_max_size": 4,
        "run_workers": False,
        "jwt_secret": SECRET,
        "login_max_attempts": MAX_ATTEMPTS,
        "login_window_seconds": WINDOW_S,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def client(db: TestDatabase) -> Iterator[TestClient]:
    app = create_app(make_settings(), target_for(db))
    with TestClient(app, client=(IP, 50000)) as c:
        yield c


def from_ip(client: TestClient, ip: str) -> TestClient:
    """Another client of the same running app (same event loop and pool), from ``ip``."""
    other = TestClient(client.app, client=(ip, 50001))
    other.portal = client.portal
    return other


def signup(client: TestClient, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    r = client.post(f"{AUTH}/signup", json={"email": email, "password": password, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def login(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post(f"{AUTH}/login", json={"email": email, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me(client: TestClient, token: str) -> Any:
    return client.get(f"{AUTH}/me", headers=bearer(token))


def refresh(client: TestClient, token: str) -> Any:
    return client.post(f"{AUTH}/refresh", json={"refresh_token": token})


def token_rows(db: TestDatabase, user_id: str) -> list[Row]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT * FROM auth.refresh_tokens WHERE user_id = %s ORDER BY created_at, id",
            [user_id],
        ).fetchall()


def audit_actions(db: TestDatabase, user_id: str | None = None) -> list[str]:
    with db.owner() as conn:
        rows = conn.execute(
            "SELECT action FROM audit_logs WHERE user_id IS NOT DISTINCT FROM %s"
            " ORDER BY timestamp, id",
            [user_id],
        ).fetchall()
    return [r["action"] for r in rows]


# ------------------------------------------------------------------ sign-up and sign-in


def test_signup_then_login_then_me(client: TestClient, db: TestDatabase) -> None:
    made = signup(client, "  Alice@Example.COM ", display_name=" Alice ")
    user = made["user"]
    assert user["email"] == "alice@example.com"
    assert user["display_name"] == "Alice" and user["is_admin"] is False
    assert made["token_type"] == "bearer" and made["expires_in"] == 15 * 60
    assert made["refresh_token"] and made["access_token"]
    assert me(client, made["access_token"]).json() == user

    r = login(client, "ALICE@example.com")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "user"}
    assert body["user"] == user and body["token_type"] == "bearer"
    claims = decode_access_token(SECRET, body["access_token"])
    assert claims["sub"] == user["id"] and claims["role"] == "authenticated"
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert me(client, body["access_token"]).json() == user

    with db.owner() as conn:
        row = conn.execute(
            "SELECT u.last_sign_in_at IS NOT NULL AS signed_in, u.email_confirmed_at IS NOT NULL"
            " AS confirmed, (SELECT count(*) FROM paper_trading_accounts a"
            "   WHERE a.user_id = u.id AND a.is_default) AS accounts,"
            " (SELECT count(*) FROM portfolios p WHERE p.user_id = u.id) AS portfolios"
            " FROM auth.users u WHERE u.id = %s",
            [user["id"]],
        ).fetchone()
    assert row == {"signed_in": True, "confirmed": True, "accounts": 1, "portfolios": 1}
    # each sign-in is a session of its own, named in its access token
    families = {r["family_id"] for r in token_rows(db, user["id"])}
    assert claims["session_id"] in {str(f) for f in families} and len(families) == 2


def test_me_needs_a_valid_token(client: TestClient, db: TestDatabase) -> None:
    made = signup(client, "bob@example.com")
    user_id = uuid.UUID(made["user"]["id"])

    anonymous = client.get(f"{AUTH}/me")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    assert anonymous.json()["code"] == "not_authenticated"

    expired, _ = issue_access_token(
        SECRET, user_id, email="bob@example.com", ttl=timedelta(minutes=-5)
    )
    r = me(client, expired)
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"

    header, payload, signature = made["access_token"].split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    for tampered in (
        f"{header}.{payload}.{flipped}",
        f"{header}.{payload[:-3]}xyz.{signature}",
        issue_access_token("another-secret-of-32-bytes-or-more!!", user_id, email="x@y.zz")[0],
        "not-a-jwt",
    ):
        r = me(client, tampered)
        assert r.status_code == 401 and r.json()["code"] == "invalid_token", tampered

    with db.owner() as conn:
        conn.execute("DELETE FROM auth.users WHERE id = %s", [user_id])
    r = me(client, made["access_token"])
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"


def test_duplicate_email_is_409_whatever_its_case(client: TestClient) -> None:
    signup(client, "carol@example.com")
    r = client.post(f"{AUTH}/signup", json={"email": "CAROL@Example.com", "password": PASSWORD})
    assert r.status_code == 409
    assert r.json()["code"] == "email_taken"


@pytest.mark.parametrize(
    ("body", "field", "kind"),
    [
        ({"email": "dan@example.com", "password": "short1"}, "body.password", "weak_password"),
        ({"email": "dan@example.com", "password": "lettersonly"}, "body.password", "weak_password"),
        ({"email": "dan@example.com", "password": "12345678901"}, "body.password", "weak_password"),
        ({"email": "dan@example.com", "password": "a1" * 65}, "body.password", "weak_password"),
        ({"email": "not-an-email", "password": PASSWORD}, "body.email", "invalid_email"),
        (
            {"email": "dan@example.com", "password": PASSWORD, "role": "admin"},
            "body.role",
            "extra_forbidden",
        ),
    ],
)
def test_signup_rejects_bad_input_naming_the_field(
    client: TestClient, db: TestDatabase, body: dict[str, str], field: str, kind: str
) -> None:
    r = client.post(f"{AUTH}/signup", json=body)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "validation_error"
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [(field, kind)]
    assert PASSWORD not in r.text and "short1" not in r.text
    with db.owner() as conn:
        assert conn.execute("SELECT count(*) AS n FROM auth.users").fetchone() == {"n": 0}


def test_wrong_password_and_unknown_email_answer_alike(client: TestClient) -> None:
    signup(client, "erin@example.com")
    wrong = login(client, "erin@example.com", "wrong-passw0rd")
    unknown = login(client, "nobody@example.com", "wrong-passw0rd")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["code"] == "invalid_credentials"
    assert wrong.headers["content-type"] == unknown.headers["content-type"]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def production_server(cli_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, int]]:
    """`cryptotrader serve` with the production password cost (none of the suite's
    CRYPTOTRADER_PASSWORD_HASH_* overrides), no workers; its URL and pid."""
    env = {k: v for k, v in cli_env.items() if not k.startswith("CRYPTOTRADER_PASSWORD_HASH_")}
    env.update(
        CRYPTOTRADER_JWT_SECRET=SECRET,
        CRYPTOTRADER_RUN_WORKERS="false",
        CRYPTOTRADER_LOGIN_MAX_ATTEMPTS="100",
        CRYPTOTRADER_LOG_LEVEL="WARNING",
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "cryptotrader", "serve", "--host", "127.0.0.1"]
    with subprocess.Popen(
        [*args, "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the server did not start"
                try:
                    if httpx2.get(f"{url}/health", timeout=2).status_code < 500:
                        break
                except httpx2.TransportError:
                    time.sleep(0.1)
            yield url, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_an_unknown_email_costs_the_same_argon2_work_as_a_wrong_password(
    production_server: tuple[str, int], db: TestDatabase
) -> None:
    """Timing equalisation, observed from outside: the server's own CPU time per login.
    An unknown email is checked against a dummy hash of the current cost, so it costs one
    argon2id verification like a wrong password does; without that it would cost a few
    milliseconds against the verification's hundreds (RFC 9106's cost, t=3, m=64 MiB, p=4).
    CPU time is the process's own work, not elapsed time: a loaded machine slows both
    alike and does not change the ratio."""
    url, pid = production_server
    with httpx2.Client(base_url=f"{url}{AUTH}", timeout=60) as http:
        made = http.post("/signup", json={"email": "erin@example.com", "password": PASSWORD})
        assert made.status_code == 201, made.text
        with db.owner() as conn:
            row = conn.execute(
                "SELECT encrypted_password FROM auth.users WHERE email = 'erin@example.com'"
            ).fetchone()
        assert row is not None
        assert row["encrypted_password"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")

        def attempt(email: str) -> tuple[float, httpx2.Response]:
            before = _cpu_seconds(pid)
            r = http.post("/login", json={"email": email, "password": "wrong-passw0rd"})
            return _cpu_seconds(pid) - before, r

        attempt("nobody@example.com")  # the first one also makes the dummy hash, once
        wrong = [attempt("erin@example.com") for _ in range(3)]
        unknown = [attempt("nobody@example.com") for _ in range(3)]
    for _, r in wrong + unknown:
        assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
    assert {r.text for _, r in wrong} == {r.text for _, r in unknown}
    wrong_cpu, unknown_cpu = sum(c for c, _ in wrong), sum(c for c, _ in unknown)
    assert unknown_cpu >= 0.5 * wrong_cpu, (unknown_cpu, wrong_cpu)
    assert wrong_cpu >= 0.5 * unknown_cpu, (unknown_cpu, wrong_cpu)


def test_user_without_password_cannot_sign_in(client: TestClient, db: TestDatabase) -> None:
    with db.owner() as conn:
        create_user(conn, "nopass@example.com")
    r = login(client, "nopass@example.com", "")
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    r = login(client, "nopass@example.com", PASSWORD)
    assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"


def test_banned_user_gets_403_only_with_the_right_password(
    client: TestClient, db: TestDatabase
) -> None:
    made = signup(client, "frank@example.com")
    with db.owner() as conn:
        conn.execute(
            "UPDATE auth.users SET banned_until = now() + interval '1 day' WHERE id = %s",
            [made["user"]["id"]],
        )
    r = login(client, "frank@example.com")
    assert r.status_code == 403 and r.json()["code"] == "user_banned"
    r = login(client, "frank@example.com", "wrong-passw0rd")
    assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
    r = refresh(client, made["refresh_token"])
    assert r.status_code == 403 and r.json()["code"] == "user_banned"

    with db.owner() as conn:
        conn.execute(
            "UPDATE auth.users SET banned_until = now() - interval '1 second' WHERE id = %s",
            [made["user"]["id"]],
        )
    assert login(client, "frank@example.com").status_code == 200
    assert "auth.login_refused" in audit_actions(db, made["user"]["id"])


def test_login_rehashes_a_password_hashed_with_old_parameters(
    client: TestClient, db: TestDatabase
) -> None:
    made = signup(client, "gina@example.com")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert passwords.needs_rehash(weak)
    with db.owner() as conn:
        conn.execute(
            "UPDATE auth.users SET encrypted_password = %s WHERE id = %s",
            [weak, made["user"]["id"]],
        )
    assert login(client, "gina@example.com").status_code == 200
    with db.owner() as conn:
        row = conn.execute(
            "SELECT encrypted_password FROM auth.users WHERE id = %s", [made["user"]["id"]]
        ).fetchone()
    assert row is not None
    stored = row["encrypted_password"]
    assert stored != weak and not passwords.needs_rehash(stored)
    assert passwords.verify_password(stored, PASSWORD)
    assert login(client, "gina@example.com").status_code == 200


# ------------------------------------------------------------------ rate limit


def test_rate_limit_after_n_failures_per_email_and_ip(client: TestClient, db: TestDatabase) -> None:
    signup(client, "hank@example.com")
    for _ in range(MAX_ATTEMPTS):
        r = login(client, "hank@example.com", "wrong-passw0rd")
        assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"

    for password in ("wrong-passw0rd", PASSWORD):  # refused whatever the password
        r = login(client, "hank@example.com", password)
        assert r.status_code == 429, r.text
        assert r.json()["code"] == "rate_limited"
        assert r.headers["content-type"].startswith("application/problem+json")
        assert 0 < int(r.headers["Retry-After"]) <= WINDOW_S

    # another address, or another email from this one, is not limited
    other = from_ip(client, OTHER_IP)
    assert login(other, "hank@example.com").status_code == 200
    assert login(client, "someone-else@example.com", "wrong-passw0rd").status_code == 401

    with db.owner() as conn:
        rows = conn.execute(
            "SELECT host(ip) AS ip, succeeded FROM auth.login_attempts"
            " WHERE email_lower = 'hank@example.com' ORDER BY id"
        ).fetchall()
    # refused attempts check no password and are not recorded
    assert [(r["ip"], r["succeeded"]) for r in rows] == [(IP, False)] * MAX_ATTEMPTS + [
        (OTHER_IP, True)
    ]
    assert audit_actions(db).count("auth.login_rate_limited") == 2

    # once the failures leave the window, logins are accepted again
    with db.owner() as conn:
        conn.execute(
            "UPDATE auth.login_attempts SET attempted_at = attempted_at - %s"
            " WHERE email_lower = 'hank@example.com'",
            [timedelta(seconds=WINDOW_S + 1)],
        )
    assert login(client, "hank@example.com").status_code == 200


def test_retry_after_counts_down_from_the_oldest_counted_failure(
    client: TestClient, db: TestDatabase
) -> None:
    for _ in range(MAX_ATTEMPTS):
        login(client, "ivy@example.com", "wrong-passw0rd")
    with db.owner() as conn:  # the oldest failure is 600 s old: 300 s to wait
        conn.execute(
            "UPDATE auth.login_attempts SET attempted_at = attempted_at - interval '600 seconds'"
            " WHERE id = (SELECT min(id) FROM auth.login_attempts)"
        )
    r = login(client, "ivy@example.com")
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert 295 <= int(r.headers["Retry-After"]) <= 300


def test_a_successful_login_resets_the_count(client: TestClient) -> None:
    signup(client, "jack@example.com")
    for _ in range(3):
        for _ in range(MAX_ATTEMPTS - 1):
            assert login(client, "jack@example.com", "wrong-passw0rd").status_code == 401
        assert login(client, "jack@example.com").status_code == 200
    for _ in range(MAX_ATTEMPTS):
        assert login(client, "jack@example.com", "wrong-passw0rd").status_code == 401
    assert login(client, "jack@example.com").status_code == 429


@pytest.mark.anyio
async def test_concurrent_attempts_are_all_counted(pool: AsyncConnectionPool[Conn]) -> None:
    """The check and the record are one step under a per-key lock, so attempts racing from
    many processes (here: connections) cannot slip past the limit together."""

    async def attempt() -> int | None:
        async with as_service(pool) as conn:
            gate = await service.open_login_attempt(
                conn,
                "race@example.com",
                IP,
                max_attempts=MAX_ATTEMPTS,
                window=timedelta(seconds=WINDOW_S),
            )
            await asyncio.sleep(0.05)  # hold the transaction open a little
            return gate.attempt_id

    results = await asyncio.gather(*(attempt() for _ in range(8)))
    assert sum(r is not None for r in results) == MAX_ATTEMPTS


# ------------------------------------------------------------------ refresh tokens


def test_refresh_rotates_within_the_family(client: TestClient, db: TestDatabase) -> None:
    made = signup(client, "kate@example.com")
    first = made["refresh_token"]
    r = refresh(client, first)
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first
    assert second["user"] == made["user"]
    assert me(client, second["access_token"]).status_code == 200
    third = refresh(client, second["refresh_token"]).json()

    rows = token_rows(db, made["user"]["id"])
    assert len(rows) == 3 and len({r["family_id"] for r in rows}) == 1
    a, b, c = rows
    assert a["revoked_at"] is not None and a["replaced_by"] == b["id"] and b["parent_id"] == a["id"]
    assert b["revoked_at"] is not None and b["replaced_by"] == c["id"] and c["parent_id"] == b["id"]
    assert c["revoked_at"] is None and c["replaced_by"] is None
    assert all(str(r["ip"]) == IP and r["user_agent"] == "testclient" for r in rows)
    assert decode_access_token(SECRET, third["access_token"])["session_id"] == str(a["family_id"])
    assert audit_actions(db, made["user"]["id"]) == ["auth.signup", "auth.refresh", "auth.refresh"]


def test_refresh_ignores_an_expired_bearer_token(client: TestClient, db: TestDatabase) -> None:
    made = signup(client, "liam@example.com")
    expired, _ = issue_access_token(
        SECRET,
        uuid.UUID(made["user"]["id"]),
        email="liam@example.com",
        ttl=timedelta(minutes=-1),
    )
    r = client.post(
        f"{AUTH}/refresh", json={"refresh_token": made["refresh_token"]}, headers=bearer(expired)
    )
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["user"] == made["user"] and rotated["refresh_token"] != made["refresh_token"]
    assert me(client, rotated["access_token"]).status_code == 200
    first, second = token_rows(db, made["user"]["id"])  # rotated once, in the same family
    assert first["revoked_at"] is not None and first["replaced_by"] == second["id"]
    assert second["revoked_at"] is None and second["family_id"] == first["family_id"]


def test_reusing_a_rotated_token_revokes_the_whole_family(
    client: TestClient, db: TestDatabase
) -> None:
    made = signup(client, "mia@example.com")
    elsewhere = login(client, "mia@example.com").json()  # another session of the same user
    stolen = made["refresh_token"]
    newest = refresh(client, stolen).json()["refresh_token"]

    r = refresh(client, stolen)
    assert r.status_code == 401 and r.json()["code"] == "refresh_token_reused"
    r = refresh(client, newest)
    assert r.status_code == 401 and r.json()["code"] == "invalid_refresh_token"
    r = refresh(client, stolen)  # and it stays refused
    assert r.status_code == 401 and r.json()["code"] == "refresh_token_reused"

    family = decode_access_token(SECRET, made["access_token"])["session_id"]
    rows = token_rows(db, made["user"]["id"])
    assert all(r["revoked_at"] is not None for r in rows if str(r["family_id"]) == family)
    # the other session is untouched
    assert refresh(client, elsewhere["refresh_token"]).status_code == 200
    actions = audit_actions(db, made["user"]["id"])
    assert actions.count("auth.refresh_token_reused") == 2


def test_unknown_and_expired_refresh_tokens(client: TestClient, db: TestDatabase) -> None:
    r = refresh(client, "no-such-token")
    assert r.status_code == 401 and r.json()["code"] == "invalid_refresh_token"
    made = signup(client, "noah@example.com")
    with db.owner() as conn:
        conn.execute(
            "UPDATE auth.refresh_tokens SET created_at = now() - interval '31 days',"
            " expires_at = now() - interval '1 day' WHERE user_id = %s",
            [made["user"]["id"]],
        )
    before = token_rows(db, made["user"]["id"])
    # with a valid access token too: the refresh token alone decides
    r = client.post(
        f"{AUTH}/refresh",
        json={"refresh_token": made["refresh_token"]},
        headers=bearer(made["access_token"]),
    )
    assert r.status_code == 401 and r.json()["code"] == "invalid_refresh_token"
    assert "access_token" not in r.json() and "refresh_token" not in r.json()
    assert token_rows(db, made["user"]["id"]) == before  # nothing rotated, nothing issued
    assert len(before) == 1 and before[0]["revoked_at"] is None
    r = client.post(f"{AUTH}/refresh", json={"refresh_token": "x", "extra": 1})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    assert [e["field"] for e in r.json()["errors"]] == ["body.extra"]


def test_refresh_tokens_are_stored_hashed(client: TestClient, db: TestDatabase) -> None:
    made = signup(client, "olga@example.com")
    rotated = refresh(client, made["refresh_token"]).json()["refresh_token"]
    with db.owner() as conn:
        dump = conn.execute("SELECT to_jsonb(t)::text AS row FROM auth.refresh_tokens t").fetchall()
        hashes = {
            r["token_hash"]
            for r in conn.execute("SELECT token_hash FROM auth.refresh_tokens").fetchall()
        }
    text = "\n".join(r["row"] for r in dump)
    for raw in (made["refresh_token"], rotated):
        assert raw not in text
        assert hashlib.sha256(raw.encode()).hexdigest() in hashes


# ------------------------------------------------------------------ logout


def test_logout_revokes_the_session_and_is_idempotent(client: TestClient, db: TestDatabase) -> None:
    made = signup(client, "paul@example.com")
    second = refresh(client, made["refresh_token"]).json()

    r = client.post(f"{AUTH}/logout", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 204 and r.content == b""
    r = refresh(client, second["refresh_token"])
    assert r.status_code == 401 and r.json()["code"] == "invalid_refresh_token"
    assert all(r["revoked_at"] is not None for r in token_rows(db, made["user"]["id"]))

    again = client.post(f"{AUTH}/logout", json={"refresh_token": second["refresh_token"]})
    assert again.status_code == 204
    unknown = client.post(f"{AUTH}/logout", json={"refresh_token": "no-such-token"})
    assert unknown.status_code == 401 and unknown.json()["code"] == "invalid_refresh_token"
    assert audit_actions(db, made["user"]["id"]).count("auth.logout") == 2


# ------------------------------------------------------------------ records and privileges


def test_audit_logs_record_every_auth_call(client: TestClient, db: TestDatabase) -> None:
    made = signup(client, "quinn@example.com")
    uid = made["user"]["id"]
    assert login(client, "quinn@example.com", "wrong-passw0rd").status_code == 401
    session = login(client, "quinn@example.com").json()
    refreshed = refresh(client, session["refresh_token"]).json()
    client.post(f"{AUTH}/logout", json={"refresh_token": refreshed["refresh_token"]})

    assert audit_actions(db, uid) == ["auth.signup", "auth.login", "auth.refresh", "auth.logout"]
    with db.owner() as conn:
        failed = conn.execute(
            "SELECT user_id, resource_type, details, host(ip_address) AS ip, user_agent"
            " FROM audit_logs WHERE action = 'auth.login_failed'"
        ).fetchall()
        login_row = conn.execute(
            "SELECT resource_id FROM audit_logs WHERE action = 'auth.login' AND user_id = %s",
            [uid],
        ).fetchone()
    assert failed == [
        {
            "user_id": None,
            "resource_type": "session",
            "details": {"email": "quinn@example.com", "reason": "invalid_credentials"},
            "ip": IP,
            "user_agent": "testclient",
        }
    ]
    assert login_row == {
        "resource_id": decode_access_token(SECRET, session["access_token"])["session_id"]
    }


@pytest.mark.parametrize("table", ["refresh_tokens", "login_attempts"])
def test_api_roles_cannot_touch_the_auth_tables(
    client: TestClient, db: TestDatabase, table: str
) -> None:
    made = signup(client, f"rose-{table[:5]}@example.com")
    uid = uuid.UUID(made["user"]["id"])
    select = sql.SQL("SELECT * FROM {}").format(sql.Identifier("auth", table))
    delete = sql.SQL("DELETE FROM {}").format(sql.Identifier("auth", table))
    with db.as_user(uid) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(select)
    with db.as_user(uid, admin=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(select)
    with db.as_anon() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(delete)
    with db.as_service() as conn:  # the service can
        conn.execute(select).fetchall()


def test_openapi_documents_the_auth_errors(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    login_responses = paths[f"{AUTH}/login"]["post"]["responses"]
    assert {"200", "401", "403", "429"} <= set(login_responses)
    assert "invalid_credentials" in login_responses["401"]["description"]
    assert "Retry-After" in login_responses["429"]["headers"]
    signup_responses = paths[f"{AUTH}/signup"]["post"]["responses"]
    assert "email_taken" in signup_responses["409"]["description"]
    assert "weak_password" in signup_responses["422"]["description"]
    assert "application/problem+json" in signup_responses["422"]["content"]
    refresh_401 = paths[f"{AUTH}/refresh"]["post"]["responses"]["401"]["description"]
    assert "refresh_token_reused" in refresh_401 and "invalid_refresh_token" in refresh_401
    assert "204" in paths[f"{AUTH}/logout"]["post"]["responses"]
    assert "401" in paths[f"{AUTH}/me"]["get"]["responses"]
