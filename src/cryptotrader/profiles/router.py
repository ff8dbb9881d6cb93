"""/me: the caller's profile and settings, thin HTTP over the profiles service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from cryptotrader.accounts.errors import AccountArchived, AccountNotFound
from cryptotrader.api.deps import SignedIn
from cryptotrader.api.pagination import Cursor, InvalidCursor, Limit, Page, decode_key, page_by
from cryptotrader.api.problems import responses
from cryptotrader.errors import InvalidRequest, NotAuthenticated
from cryptotrader.profiles import service
from cryptotrader.profiles.errors import InvalidSetting, ProfileNotFound, UnknownSetting
from cryptotrader.profiles.schemas import SETTINGS, Profile, ProfileUpdate, Setting, SettingValue

router = APIRouter(prefix="/me", tags=["profile"])
SETTING_NAMES = ", ".join(f"`{name}`" for name in SETTINGS)
SettingName = Annotated[
    str,
    Path(max_length=64, description=f"One of {SETTING_NAMES}.", examples=["display_currency"]),
]
ONE_SETTING = responses(NotAuthenticated, UnknownSetting)


@router.get("", responses=responses(NotAuthenticated, ProfileNotFound), summary="Your profile")
async def get_profile(caller: SignedIn) -> Profile:
    async with caller.unit() as conn:
        return await service.get_profile(conn)


@router.patch(
    "",
    responses=responses(NotAuthenticated, ProfileNotFound, InvalidRequest),
    summary="Change your display name or avatar",
)
async def update_profile(caller: SignedIn, body: ProfileUpdate) -> Profile:
    async with caller.unit() as conn:
        return await service.update_profile(conn, caller.actor, body)


def _setting_name(text: str) -> str:
    if text not in SETTINGS:
        raise ValueError(f"not a setting: {text!r}")
    return text


@router.get(
    "/settings",
    responses=responses(NotAuthenticated, InvalidCursor),
    summary="All your settings, defaults included",
)
async def list_settings(
    caller: SignedIn, cursor: Cursor = None, limit: Limit = 100
) -> Page[Setting]:
    key = decode_key(cursor, _setting_name)
    async with caller.unit() as conn:
        items = await service.list_settings(conn, after=key[0] if key else None, limit=limit)
    return page_by(items, limit, lambda setting: (setting.name,))


@router.get("/settings/{name}", responses=ONE_SETTING, summary="One setting")
async def get_setting(caller: SignedIn, name: SettingName) -> Setting:
    async with caller.unit() as conn:
        return await service.get_setting(conn, name)


@router.put(
    "/settings/{name}",
    responses=responses(
        NotAuthenticated, UnknownSetting, InvalidSetting, AccountNotFound, AccountArchived
    ),
    summary="Set one setting",
    description='Each setting has its own rule: `display_currency` is "USD" or "AUD"; '
    "`default_account_id` is one of your accounts, not an archived one (it also becomes your "
    "default account); "
    '`theme` is "light", "dark" or "system"; `fee_overrides` is '
    '`{"taker_fee_rate", "maker_fee_rate"}` with rates from 0 to 0.05; `notifications` is '
    '`{"email": bool, "push": bool}`. A value breaking the rule is `invalid_setting`.',
)
async def put_setting(caller: SignedIn, name: SettingName, body: SettingValue) -> Setting:
    async with caller.unit() as conn:
        return await service.put_setting(conn, caller.actor, name, body.value)


@router.delete("/settings/{name}", responses=ONE_SETTING, summary="Reset a setting to its default")
async def reset_setting(caller: SignedIn, name: SettingName) -> Setting:
    async with caller.unit() as conn:
        return await service.reset_setting(conn, caller.actor, name)
