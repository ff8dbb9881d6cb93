"""Settings: display currency, theme, fee overrides, notifications, and the profile; each
saved through the profiles service (validated by each setting's own rule, audited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import JsonValue, ValidationError

from cryptotrader.errors import DomainError
from cryptotrader.notifications.schemas import CHANNELS, EVENT_TYPES, PREFERENCES_SETTING
from cryptotrader.profiles import service as profiles
from cryptotrader.profiles.schemas import ProfileUpdate
from cryptotrader.web.display import display_of
from cryptotrader.web.forms import FieldRefusal, go, invalid_form
from cryptotrader.web.render import page
from cryptotrader.web.session import SignedInForm, SignedInPage

router = APIRouter(include_in_schema=False)


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(request: Request, viewer: SignedInPage) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        profile = await profiles.get_profile(conn)
        settings = {s.name: s.value for s in await profiles.list_settings(conn)}
        display = await display_of(conn)
    chosen = settings.get(PREFERENCES_SETTING) or {}
    events = [
        (event, chosen.get(event, list(CHANNELS)) if isinstance(chosen, dict) else CHANNELS)
        for event in EVENT_TYPES
    ]
    context = {"profile": profile, "settings": settings, "events": events, "channels": CHANNELS}
    return page(request, "settings.html", context | display.context(), viewer=viewer)


def _fees(taker: str, maker: str) -> dict[str, Any]:
    return {
        name: value.strip()
        for name, value in (("taker_fee_rate", taker), ("maker_fee_rate", maker))
        if value.strip()
    }


@router.post("/settings")
async def save_settings(
    request: Request,
    viewer: SignedInForm,
    display_currency: Annotated[str, Form(max_length=10)] = "USD",
    theme: Annotated[str, Form(max_length=10)] = "dark",
    taker_fee_rate: Annotated[str, Form(max_length=20)] = "",
    maker_fee_rate: Annotated[str, Form(max_length=20)] = "",
    notify_email: Annotated[str, Form(max_length=5)] = "",
    notify_push: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    values: dict[str, Any] = {
        "display_currency": display_currency,
        "theme": theme,
        "fee_overrides": _fees(taker_fee_rate, maker_fee_rate),
        "notifications": {"email": notify_email == "on", "push": notify_push == "on"},
    }
    async with viewer.caller.unit() as conn:
        current = {s.name: s.value for s in await profiles.list_settings(conn)}
        for name, value in values.items():
            if current.get(name) == value:
                continue  # unchanged: no write, no audit row
            try:
                await profiles.put_setting(conn, viewer.caller.actor, name, value)
            except DomainError as exc:
                field = "taker_fee_rate" if name == "fee_overrides" else name
                raise FieldRefusal.of(exc, field) from exc
    return go(request, "/settings")


@router.post("/settings/profile")
async def save_profile(
    request: Request,
    viewer: SignedInForm,
    display_name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        changes = ProfileUpdate.model_validate({"display_name": display_name.strip() or None})
    except ValidationError as exc:
        raise invalid_form(exc) from exc
    async with viewer.caller.unit() as conn:
        await profiles.update_profile(conn, viewer.caller.actor, changes)
    return go(request, "/settings")


@router.post("/settings/notifications")
async def save_notification_preferences(request: Request, viewer: SignedInForm) -> Response:
    """Each event's checked channels (``<channel>:<event>`` boxes); the events left with every
    channel are not stored (they follow the default, every channel)."""
    form = await request.form()
    chosen: dict[str, JsonValue] = {}
    for event in EVENT_TYPES:
        channels: list[JsonValue] = [c for c in CHANNELS if form.get(f"{c}:{event}") == "on"]
        if channels != list(CHANNELS):
            chosen[event] = channels
    async with viewer.caller.unit() as conn:
        current = {s.name: s.value for s in await profiles.list_settings(conn)}
        if current.get(PREFERENCES_SETTING) != chosen:
            await profiles.put_setting(conn, viewer.caller.actor, PREFERENCES_SETTING, chosen)
    return go(request, "/settings")
