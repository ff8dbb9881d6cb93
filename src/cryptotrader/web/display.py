"""How a viewer wants figures shown: display currency (with its rate per USD) and theme,
read from their settings through the profiles service."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cryptotrader.db.session import Conn
from cryptotrader.market import service as market
from cryptotrader.profiles import service as profiles


@dataclass(frozen=True)
class Display:
    currency: str
    rate: Decimal
    theme: str

    def context(self) -> dict[str, Any]:
        return {"currency": self.currency, "rate": self.rate, "theme": self.theme}


async def display_of(conn: Conn, prices: list[market.Price] | None = None) -> Display:
    """The viewer's display settings; the rate comes from the cached quotes (``prices``
    when the page has read them already)."""
    settings = {s.name: s.value for s in await profiles.list_settings(conn)}
    currency = str(settings.get("display_currency") or "USD")
    theme = str(settings.get("theme") or "dark")
    rate = Decimal(1)
    if currency != "USD":
        quotes = prices if prices is not None else await market.list_prices(conn)
        rate = market.usd_rate(quotes, currency)
    return Display(currency=currency, rate=rate, theme=theme)
