"""/api/v1/admin/jobs end to end: administrators see the queue and retry a failed job,
everyone else gets the 404 of an unknown route, and the refusals have stable codes."""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.conftest import Api, headers_for
from tests.jobs.conftest import run_to_the_end
from tests.support import create_user

V1 = "/api/v1"
PROBLEM = "application/problem+json"


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert (r.status_code, r.json().get("code")) == (status, code), r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    return body


def admin_headers(api: Api) -> dict[str, str]:
    with api.db.owner() as conn:
        uid = create_user(conn, email=f"admin-{uuid.uuid4().hex[:6]}@example.test")
    return headers_for(uid, admin=True)


def test_to_non_admins_the_jobs_routes_are_unknown_routes(api: Api) -> None:
    _, user = api.user()
    for method, path in (("GET", "/admin/jobs"), ("POST", "/admin/jobs/1/retry")):
        answer = api.client.request(method, V1 + path, headers=user)
        unknown = api.client.request(method, f"{V1}/no-such-route", headers=user)
        assert answer.status_code == unknown.status_code == 404, answer.text
        assert answer.json() | {"instance": None} == unknown.json() | {"instance": None}
        problem(api.client.request(method, V1 + path), 401, "not_authenticated")


def test_an_admin_sees_the_failures_and_retries_a_failed_job(api: Api) -> None:
    broken, ok = run_to_the_end(api.db, ("sample.broken", {"reason": "a bug"}), ("sample.ok", {}))
    h = admin_headers(api)

    state = api.client.get(f"{V1}/admin/jobs", headers=h)
    assert state.status_code == 200, state.text
    body = state.json()
    [failure] = body["failures"]
    assert (failure["id"], failure["task"], failure["attempts"]) == (broken, "sample.broken", 1)
    assert failure["error"] == "ValueError: a bug" and failure["args"] == {"reason": "a bug"}
    counts = {t["task"]: t for t in body["tasks"]}
    assert (counts["sample.ok"]["succeeded"], counts["sample.broken"]["failed"]) == (1, 1)
    assert {p["task"] for p in body["periodic"]} >= {"maintenance.prune"}
    assert body["stalled"] == [] and body["workers"] == 0  # the worker has stopped

    problem(api.client.post(f"{V1}/admin/jobs/999999/retry", headers=h), 404, "job_not_found")
    refused = problem(
        api.client.post(f"{V1}/admin/jobs/{ok}/retry", headers=h), 409, "job_not_failed"
    )
    assert refused["detail"] == f"job {ok} is succeeded, not failed: only a failed job is retried"
    too_big = api.client.post(f"{V1}/admin/jobs/{2**63}/retry", headers=h)
    assert too_big.status_code == 422, too_big.text

    retried = api.client.post(f"{V1}/admin/jobs/{broken}/retry", headers=h)
    assert retried.status_code == 200, retried.text
    assert retried.json() | {"scheduled_at": None} == {
        "id": broken,
        "task": "sample.broken",
        "queue": "default",
        "status": "todo",
        "args": {"reason": "a bug"},
        "attempts": 2,
        "scheduled_at": None,
    }
    again = api.client.post(f"{V1}/admin/jobs/{broken}/retry", headers=h)
    problem(again, 409, "job_not_failed")
    assert api.client.get(f"{V1}/admin/jobs", headers=h).json()["failures"] == []
    with api.db.owner() as conn:
        audit = conn.execute(
            "SELECT resource_type, resource_id, details FROM audit_logs"
            " WHERE action = 'admin.job_retried'"
        ).fetchall()
    assert audit == [
        {"resource_type": "job", "resource_id": str(broken), "details": {"task": "sample.broken"}}
    ]
