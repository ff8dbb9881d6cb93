"""Rendering pages: the Jinja2 templates, the number and time filters, the layout's data.

Numbers are formatted here and nowhere else, from the Decimals the services return:
money with two places, quantities and prices with the precision their size needs. A page
never computes a figure; it formats the services' ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from cryptotrader import __version__
from cryptotrader.web.session import CSRF_FIELD, Viewer, csrf_token, finish

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
SYMBOLS = {"USD": "$", "AUD": "A$"}


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None


def _grouped(value: Decimal, places: int) -> str:
    quantum = Decimal(1).scaleb(-places)
    return f"{value.quantize(quantum, rounding=ROUND_HALF_EVEN):,.{places}f}"


def price_places(value: Decimal) -> int:
    """Decimal places a price of this size is shown with (BTC at 2, a coin at 0.0004 at 6)."""
    size = abs(value)
    if size >= 1000:
        return 2
    if size >= 1:
        return 4
    if size == 0:
        return 2
    return min(10, max(6, -size.adjusted() + 3))


def money(value: Any, currency: str = "USD", rate: Any = 1) -> str:
    """An amount in USD shown in ``currency`` (at ``rate`` per USD), with two places."""
    number = _decimal(value)
    if number is None:
        return "—"
    number *= _decimal(rate) or Decimal(1)
    sign = "−" if number < 0 else ""
    return f"{sign}{SYMBOLS.get(currency, '')}{_grouped(abs(number), 2)}"


def price(value: Any, currency: str = "USD", rate: Any = 1) -> str:
    number = _decimal(value)
    if number is None:
        return "—"
    number *= _decimal(rate) or Decimal(1)
    return f"{SYMBOLS.get(currency, '')}{_grouped(number, price_places(number))}"


def quantity(value: Any) -> str:
    """A quantity with up to eight places, trailing zeros dropped."""
    number = _decimal(value)
    if number is None:
        return "—"
    text = _grouped(number, 8).rstrip("0").rstrip(".")
    return text or "0"


def percent(value: Any, places: int = 2, signed: bool = True) -> str:
    """A percentage; with its sign (+/−) unless ``signed`` is false (a rate)."""
    number = _decimal(value)
    if number is None:
        return "—"
    sign = (
        ("+" if number > 0 else "−" if number < 0 else "")
        if signed
        else ("−" if number < 0 else "")
    )
    return f"{sign}{_grouped(abs(number), places)}%"


def cost(value: Any) -> str:
    """Model spend in USD: up to six places (a call costs a fraction of a cent), at least
    two, trailing zeros dropped."""
    number = _decimal(value)
    if number is None:
        return "—"
    whole, _, places = _grouped(abs(number), 6).partition(".")
    sign = "−" if number < 0 else ""
    return f"{sign}${whole}.{places.rstrip('0').ljust(2, '0')}"


def tone(value: Any) -> str:
    """The CSS class of a signed figure: up, down or flat."""
    number = _decimal(value)
    if number is None or number == 0:
        return "flat"
    return "up" if number > 0 else "down"


def when(value: datetime | None, fmt: str = "datetime") -> Markup:
    """A <time> the browser shows in its own zone, with UTC on hover (web/static/js/app.js)."""
    if value is None:
        return Markup("—")
    utc = value.astimezone(UTC)
    iso = utc.isoformat().replace("+00:00", "Z")
    text = utc.strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}" data-format="{}" title="{} UTC">{}</time>').format(
        iso, fmt, iso, text
    )


def csrf_input(viewer_or_token: Viewer | str) -> Markup:
    token = viewer_or_token if isinstance(viewer_or_token, str) else viewer_or_token.csrf
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)


TEMPLATES.env.filters.update(
    money=money, price=price, qty=quantity, pct=percent, tone=tone, when=when, cost=cost
)
TEMPLATES.env.globals.update(csrf_input=csrf_input, version=__version__)


def page(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    viewer: Viewer | None = None,
    csrf: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """A page (or an htmx fragment) rendered with the layout's data: who is signed in,
    the CSRF token, the display currency and theme."""
    token = viewer.csrf if viewer is not None else csrf or csrf_token(request)
    base = {
        "viewer": viewer,
        "csrf": token,
        "currency": "USD",
        "rate": Decimal(1),
        "theme": "dark",
        "path": request.url.path,
    }
    response = TEMPLATES.TemplateResponse(request, name, base | context, status_code=status_code)
    return finish(request, response)
