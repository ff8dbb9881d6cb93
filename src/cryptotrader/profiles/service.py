"""The calling user's profile and settings.

Every call runs as the caller (RLS applies) and its queries name the caller too, so an
administrator, who may read every row, still gets their own profile and settings here.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb
from pydantic import JsonValue, ValidationError

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.calls import execute, fetch_all, fetch_one, require
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.errors import InvalidRequest
from cryptotrader.profiles.errors import InvalidSetting, ProfileNotFound, UnknownSetting
from cryptotrader.profiles.schemas import SETTINGS, Profile, ProfileUpdate, Setting, SettingRule

Q = load_queries("cryptotrader.profiles")


async def get_profile(conn: Conn) -> Profile:
    """The caller's profile. Raises ProfileNotFound (a token outliving its user)."""
    row = await fetch_one(conn, Q["get_profile"])
    return Profile.model_validate(require(row, ProfileNotFound()))


async def update_profile(conn: Conn, actor: Actor, changes: ProfileUpdate) -> Profile:
    """Change the display name and/or avatar. Raises InvalidRequest when nothing is given.
    Audited ``profile.update`` with the changes."""
    fields = changes.model_dump(exclude_unset=True)
    if not fields:
        raise InvalidRequest("no field to change")
    params = {
        "set_display_name": "display_name" in fields,
        "display_name": fields.get("display_name"),
        "set_avatar_url": "avatar_url" in fields,
        "avatar_url": fields.get("avatar_url"),
    }
    row = await fetch_one(conn, Q["update_profile"], params)
    profile = Profile.model_validate(require(row, ProfileNotFound()))
    details = changes.model_dump(mode="json", exclude_unset=True)
    await audit.record(conn, actor, "profile.update", "profile", profile.id, details)
    return profile


def _rule(name: str) -> SettingRule:
    rule = SETTINGS.get(name)
    if rule is None:
        raise UnknownSetting(f"no setting named {name!r}; known: {', '.join(SETTINGS)}")
    return rule


async def _default_value(conn: Conn, name: str) -> JsonValue:
    if name == "default_account_id":
        row = await fetch_one(conn, Q["default_account"])
        return None if row is None else str(row["id"])
    return SETTINGS[name].default


async def _setting(conn: Conn, name: str, stored: dict[str, Any] | None) -> Setting:
    if stored is None:
        return Setting(
            name=name, value=await _default_value(conn, name), is_default=True, updated_at=None
        )
    return Setting(
        name=name, value=stored["value"], is_default=False, updated_at=stored["updated_at"]
    )


async def list_settings(
    conn: Conn, *, after: str | None = None, limit: int | None = None
) -> list[Setting]:
    """Every known setting in a fixed order (the one ``SETTINGS`` lists), after the one
    named ``after``: its value, or its default when the caller never set it."""
    names = list(SETTINGS)
    names = names[names.index(after) + 1 :] if after in SETTINGS else names
    names = names[:limit] if limit is not None else names
    rows = await fetch_all(conn, Q["list_settings"], {"names": names})
    stored = {r["name"]: r for r in rows}
    return [await _setting(conn, name, stored.get(name)) for name in names]


async def get_setting(conn: Conn, name: str) -> Setting:
    """One setting. Raises UnknownSetting."""
    _rule(name)
    row = await fetch_one(conn, Q["list_settings"], {"names": [name]})
    return await _setting(conn, name, row)


async def put_setting(conn: Conn, actor: Actor, name: str, value: JsonValue) -> Setting:
    """Set one setting after checking the value against that setting's rule.

    Raises UnknownSetting, InvalidSetting (the detail names the rule), and for
    ``default_account_id`` AccountNotFound, AccountArchived; that account also becomes the
    default one. Audited ``setting.update`` with the value stored.
    """
    rule = _rule(name)
    try:
        stored = rule.validate(value)
    except ValidationError as exc:
        raise InvalidSetting(f"{name} must be {rule.rule} ({_first_problem(exc)})") from exc
    if name == "default_account_id":
        account = await fetch_one(conn, Q["make_default_account"], {"id": UUID(str(stored))})
        require(account, AccountNotFound())
    row = await fetch_one(conn, Q["upsert_setting"], {"name": name, "value": Jsonb(stored)})
    setting = await _setting(conn, name, require(row, UnknownSetting()))
    await audit.record(conn, actor, "setting.update", "setting", name, {"value": setting.value})
    return setting


async def reset_setting(conn: Conn, actor: Actor, name: str) -> Setting:
    """Forget the caller's value: the setting reads as its default again. Raises
    UnknownSetting. Audited ``setting.reset``."""
    _rule(name)
    await execute(conn, Q["delete_setting"], {"name": name})
    setting = await _setting(conn, name, None)
    await audit.record(conn, actor, "setting.reset", "setting", name)
    return setting


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
