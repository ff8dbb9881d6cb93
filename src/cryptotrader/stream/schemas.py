"""The events the stream carries, parsed from what the database sends: price chunks by
NOTIFY ``ct_prices`` (market/cache.sql), order and notification events from the outbox
private.stream_events (migration 0012's triggers).

Parsing writes their decimals like the REST API (cryptotrader.numbers). A field an event
lacks stays absent on the wire and a field these models do not name passes through, so
the database decides what an event says; these models fix its decimals and its shape.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from cryptotrader.numbers import PRICE_PLACES, QUANTITY_PLACES, as_fixed


def dumps(message: dict[str, Any]) -> str:
    """A message as the stream writes it: compact JSON, ASCII only."""
    return json.dumps(message, separators=(",", ":"))


class WireMessage(BaseModel):
    """A message of the stream, to or from the client: JSON with a ``type``."""

    type: str

    def wire(self) -> dict[str, Any]:
        """The JSON object: ``type`` first, then the fields the message was given."""
        return {"type": self.type, **self.model_dump(mode="json", exclude_unset=True)}

    def text(self) -> str:
        """The text frame."""
        return dumps(self.wire())


class Event(WireMessage):
    """An event from the database, fanned out by the hub."""

    model_config = ConfigDict(extra="allow")


class PricesEvent(Event):
    """A chunk of prices: ``{SYMBOL: [usd, aud]}``, each price with the REST API's places
    (a value that is no number is passed on as it came)."""

    type: Literal["prices"] = "prices"
    at: Any = None
    prices: dict[str, Any]

    @field_validator("prices")
    @classmethod
    def _fixed(cls, prices: dict[str, Any]) -> dict[str, Any]:
        return {
            symbol: [as_fixed(p, PRICE_PLACES) for p in pair] if isinstance(pair, list) else pair
            for symbol, pair in prices.items()
        }

    def only(self, symbols: frozenset[str]) -> PricesEvent | None:
        """The same event with only these symbols' prices; None when it has none of them."""
        subset = {s: p for s, p in self.prices.items() if s in symbols}
        return self.model_copy(update={"prices": subset}) if subset else None


class OrderEvent(Event):
    """An order was placed (any status) or changed status. ``amount`` and
    ``execution_price`` come as SQL's numeric text; a price is null until the order fills
    (the column's default 0 is no price)."""

    type: Literal["order"] = "order"
    user_id: str | None = None
    account_id: str | None = None
    id: str | None = None
    symbol: str | None = None
    side: str | None = None
    order_type: str | None = None
    status: str | None = None
    amount: Any = None
    execution_price: Any = None
    status_reason: str | None = None
    at: str | None = None

    @field_validator("amount")
    @classmethod
    def _quantity(cls, value: object) -> object:
        return as_fixed(value, QUANTITY_PLACES)

    @field_validator("execution_price")
    @classmethod
    def _price(cls, value: object) -> object:
        return as_fixed(value, PRICE_PLACES)

    @model_validator(mode="after")
    def _no_price_until_filled(self) -> OrderEvent:
        if self.status != "completed" and "execution_price" in self.model_fields_set:
            self.execution_price = None
        return self


class NotificationEvent(Event):
    """A notification for one of the user's accounts (a risk limit, a fill, ...)."""

    type: Literal["notification"] = "notification"
    user_id: str | None = None
    id: str | None = None
    account_id: str | None = None
    notification_type: str | None = None
    title: str | None = None
    severity: str | None = None
    at: str | None = None
