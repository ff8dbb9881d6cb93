"""How the API writes decimals: one type per meaning, each with one scale.

Every decimal of a response is a JSON string in plain notation with exactly its type's
number of decimals (``"0.00000000"``, never ``"0E-8"`` nor ``"0"``), rounded like the
trading engine rounds (PostgreSQL's ``round(numeric, n)``: half away from zero,
docs/trading.md), so a value the engine stored is shown exactly. A not-yet-known number
is null, never 0. Inside Python a model keeps the exact value; only its JSON is rounded.

The scales follow the engine, which rounds cash values, fees and cost basis to 8
decimals and execution prices to 10 (migration 0006):

============  ======  ==========================================================
type          places  for
============  ======  ==========================================================
``Money``     8       balances, values, fees, PnL, capital (USD)
``Quantity``  8       amounts of an asset (orders, positions, candle volume)
``Price``     10      the price of one unit (fills, limits, stops, market prices)
``Percent``   6       percentages (``1.5`` is 1.5 %)
``Ratio``     8       unitless statistics and fractions (win rate, Sharpe, progress)
``FeeRate``   6       fee rates as fractions (``0.001`` is 0.1 %)
``Bps``       4       basis points (slippage)
``Score``     2       scores on 0-100 or 1-5 scales (risk, confidence, rating)
============  ======  ==========================================================

Request models keep plain ``Decimal`` (numbers or strings are accepted); those that are
stored and shown again limit their decimals to the scale they are shown with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Annotated, Any, Final, cast

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

ROUNDING: Final = ROUND_HALF_UP  # PostgreSQL's round(numeric): half away from zero

MONEY_PLACES: Final = 8
QUANTITY_PLACES: Final = 8
PRICE_PLACES: Final = 10
PERCENT_PLACES: Final = 6
RATIO_PLACES: Final = 8
FEE_RATE_PLACES: Final = 6
BPS_PLACES: Final = 4
SCORE_PLACES: Final = 2


def fixed(value: Decimal, places: int) -> str:
    """``value`` rounded half away from zero to ``places`` decimals, in plain notation
    (no exponent, no negative zero). Raises ValueError for NaN and infinities."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number")
    digits = max(value.adjusted(), 0) + places + 2
    rounded = value.quantize(
        Decimal(1).scaleb(-places), rounding=ROUNDING, context=Context(prec=max(digits, 28))
    )
    text = format(rounded, "f")
    return text[1:] if rounded.is_zero() and text.startswith("-") else text


def pattern(places: int) -> str:
    """The JSON schema pattern of a decimal with exactly ``places`` decimals."""
    return rf"^-?\d+\.\d{{{places}}}$"


@dataclass(frozen=True)
class Scale:
    """The metadata of this module's types: in JSON, a string with exactly ``places``
    decimals (see :func:`fixed`); in Python, the exact Decimal."""

    places: int
    meaning: str

    def serialize(self, value: Decimal) -> str:
        return fixed(value, self.places)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = dict(handler(source))
        schema["serialization"] = core_schema.plain_serializer_function_ser_schema(
            self.serialize, return_schema=core_schema.str_schema(), when_used="json"
        )
        return cast(core_schema.CoreSchema, schema)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        if handler.mode != "serialization":
            return handler(schema)  # requests: a number or a string, as pydantic takes it
        return {
            "type": "string",
            "pattern": pattern(self.places),
            "description": f"{self.meaning}: a decimal string with exactly {self.places} decimals",
            "examples": [fixed(Decimal(0), self.places)],
        }


Money = Annotated[Decimal, Scale(MONEY_PLACES, "Money (USD)")]
Quantity = Annotated[Decimal, Scale(QUANTITY_PLACES, "A quantity of the asset")]
Price = Annotated[Decimal, Scale(PRICE_PLACES, "A price per unit (USD)")]
Percent = Annotated[Decimal, Scale(PERCENT_PLACES, "A percentage")]
Ratio = Annotated[Decimal, Scale(RATIO_PLACES, "A ratio")]
FeeRate = Annotated[Decimal, Scale(FEE_RATE_PLACES, "A fee rate (0.001 is 0.1 %)")]
Bps = Annotated[Decimal, Scale(BPS_PLACES, "Basis points")]
Score = Annotated[Decimal, Scale(SCORE_PLACES, "A score")]


def as_fixed(value: object, places: int) -> object:
    """A decimal held in free-form JSON (a string or a number) as :func:`fixed` writes it;
    any other value (null, a boolean, text that is no number) as it is."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return value
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except ArithmeticError:
        return value
    return fixed(number, places) if number.is_finite() else value


def fixed_by_key(document: Any, scales: Mapping[str, int]) -> Any:
    """``document`` (free-form JSON) with every decimal string held under a key of
    ``scales`` written by :func:`fixed` with that key's places, at any depth. Numbers are
    left alone: in these documents they are float measurements, not decimals."""
    if isinstance(document, Mapping):
        return {
            k: as_fixed(v, scales[k])
            if k in scales and isinstance(v, str)
            else fixed_by_key(v, scales)
            for k, v in document.items()
        }
    if isinstance(document, list):
        return [fixed_by_key(v, scales) for v in document]
    return document
