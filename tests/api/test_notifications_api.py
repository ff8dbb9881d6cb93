"""/notifications over HTTP: newest first, filters, expired never shown, read/unread,
read-all, delete; another user's notification is a 404 like a missing one."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from tests.api.conftest import Api
from tests.notifications.helpers import notify
from tests.support import create_account, default_account

V1 = "/api/v1"


def seeded(api: Api) -> tuple[UUID, UUID, dict[str, str], list[UUID]]:
    user, h = api.user()
    with api.db.owner() as conn:
        account = default_account(conn, user)
        ids = [
            notify(conn, account, user, ago="3 minutes"),
            notify(conn, account, user, notification_type="risk.daily_loss", ago="2 minutes"),
            notify(conn, account, user, ago="1 minute"),
        ]
        notify(conn, account, user, expired=True)
    return user, account, h, ids


def listed(api: Api, h: dict[str, str], **params: Any) -> list[str]:
    r = api.client.get(f"{V1}/notifications", headers=h, params=params)
    assert r.status_code == 200, r.text
    return [n["id"] for n in r.json()["items"]]


def test_list_newest_first_filters_and_pages(api: Api) -> None:
    _, account, h, ids = seeded(api)
    assert listed(api, h) == [str(i) for i in reversed(ids)]
    assert listed(api, h, type="risk.daily_loss") == [str(ids[1])]
    assert listed(api, h, account_id=str(uuid.uuid4())) == []
    assert listed(api, h, account_id=str(account)) == [str(i) for i in reversed(ids)]
    first = api.client.get(f"{V1}/notifications", headers=h, params={"limit": 2}).json()
    assert [n["id"] for n in first["items"]] == [str(ids[2]), str(ids[1])]
    rest = listed(api, h, limit=2, cursor=first["next_cursor"])
    assert rest == [str(ids[0])]
    count = api.client.get(f"{V1}/notifications/unread-count", headers=h)
    assert count.json() == {"unread": 3}


def test_read_unread_read_all_and_delete(api: Api) -> None:
    _, account, h, ids = seeded(api)
    r = api.client.post(f"{V1}/notifications/{ids[0]}/read", headers=h)
    assert (r.status_code, r.json()["is_read"]) == (200, True)
    assert listed(api, h, unread=True) == [str(ids[2]), str(ids[1])]
    r = api.client.post(f"{V1}/notifications/{ids[0]}/unread", headers=h)
    assert r.json()["is_read"] is False
    r = api.client.post(f"{V1}/notifications/read-all", headers=h)
    assert r.json() == {"changed": 3}
    r = api.client.post(f"{V1}/notifications/read-all", headers=h, params={"account_id": account})
    assert r.json() == {"changed": 0}
    assert api.client.get(f"{V1}/notifications/unread-count", headers=h).json() == {"unread": 0}
    assert api.client.delete(f"{V1}/notifications/{ids[0]}", headers=h).status_code == 204
    assert str(ids[0]) not in listed(api, h)


def test_another_users_notification_is_not_found(api: Api) -> None:
    _, _, h, ids = seeded(api)
    _, stranger = api.user()
    for path in (f"{ids[0]}/read", f"{ids[0]}/unread", f"{uuid.uuid4()}/read"):
        r = api.client.post(f"{V1}/notifications/{path}", headers=stranger)
        assert (r.status_code, r.json()["code"]) == (404, "notification_not_found")
    r = api.client.delete(f"{V1}/notifications/{ids[0]}", headers=stranger)
    assert (r.status_code, r.json()["code"]) == (404, "notification_not_found")
    assert listed(api, stranger) == []
    assert api.client.post(f"{V1}/notifications/read-all", headers=stranger).json() == {
        "changed": 0
    }
    assert len(listed(api, h, unread=True)) == 3


def test_per_account_read_all(api: Api) -> None:
    user, account, h, _ = seeded(api)
    with api.db.owner() as conn:
        side = create_account(conn, user)
        notify(conn, side, user)
    r = api.client.post(f"{V1}/notifications/read-all", headers=h, params={"account_id": side})
    assert r.json() == {"changed": 1}
    assert len(listed(api, h, unread=True, account_id=str(account))) == 3


def test_preferences_are_a_validated_setting(api: Api) -> None:
    _, h = api.user()
    path = f"{V1}/me/settings/notification_preferences"
    assert api.client.get(path, headers=h).json()["value"] == {}  # everything, everywhere
    chosen = {"order.filled": ["webhook"], "order.expired": []}
    put = api.client.put(path, headers=h, json={"value": chosen})
    assert put.status_code == 200 and put.json()["value"] == chosen
    for bad in ({"order.nope": []}, {"order.filled": ["sms"]}, ["order.filled"]):
        refused = api.client.put(path, headers=h, json={"value": bad})
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert api.client.get(path, headers=h).json()["value"] == chosen
