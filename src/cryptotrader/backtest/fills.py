"""The fill arithmetic of a backtest: the live engine's SQL, in Decimal.

Three pieces of ``db/migrations/0006_trading_engine.sql``, under the same names:

* the fill models (``private.slippage_bps``): :class:`Ideal`, :class:`Fixed` and
  :class:`Volume`, chosen by name with :func:`fill_model` (the backtest config's
  ``fill_model``); each gives the slippage in basis points of an order (a bar's
  :class:`MarketWindow` is the volume model's 24-hour market);
* the execution price, ``round(price * (1 ± bps / 10000), 10)``: :func:`execution_price`;
* the money of one fill (``private.fill_math``): :func:`fill_math`.

``tests/backtest/test_fills_sql.py`` runs these and the SQL functions on the same grid of
inputs and compares them to the last digit. Money is rounded as PostgreSQL's ``round()``
on numeric rounds, half away from zero (``ROUND_HALF_UP``): prices to 10 decimals,
values and fees to 8, slippage to 4.

These functions run under the decimal context :data:`EXACT` (their ``+``, ``-`` and ``*``
are the thread context's, the cheapest way to do decimal arithmetic in CPython): the
broker enters it once per run, a caller elsewhere enters it with
``decimal.localcontext(EXACT)``. Quotients go through :data:`QUOTIENT` explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal
from typing import ClassVar, Literal, Protocol

import numpy as np

from cryptotrader.backtest.types import FillModelName
from cryptotrader.strategies.base import Bars

Side = Literal["buy", "sell"]

EXACT = Context(prec=80, rounding=ROUND_HALF_UP)
"""Wide enough that no sum or product of our figures is rounded before the explicit
quantize (PostgreSQL's numeric arithmetic is exact)."""
QUOTIENT = Context(prec=34, rounding=ROUND_HALF_UP)
"""For quotients (sizing, pro-rata shares, ratios, square roots): right to well past the
digit they are then rounded at; 80 digits of a non-terminating one cost microseconds."""

ZERO = Decimal(0)
_ONE = Decimal(1)
_BPS = Decimal(10000)
_Q4 = Decimal("1e-4")
_Q8 = Decimal("1e-8")
_Q10 = Decimal("1e-10")
_UP = ROUND_HALF_UP
MAX_SLIPPAGE_BPS = Decimal(500)
DEFAULT_RANGE_24H = Decimal("0.05")
DAY_MS = 86_400_000


# ---------------------------------------------------------------- rounding
def to_decimal(x: float) -> Decimal:
    """A float price as the decimal it was written as: ``repr`` is the shortest text
    that reads back as the same float, so a CSV's ``56738.76`` stays ``56738.76``."""
    return Decimal(repr(float(x)))


def round_money(x: Decimal) -> Decimal:
    """Values, fees, cash: 8 decimals, half away from zero (PostgreSQL's ``round``)."""
    return x.quantize(_Q8, _UP)


def round_price(x: Decimal) -> Decimal:
    """Execution prices: 10 decimals, half away from zero."""
    return x.quantize(_Q10, _UP)


# ---------------------------------------------------------------- the fill models
class FillModel(Protocol):
    """How far a taker's fill moves from the reference price (``private.slippage_bps``)."""

    name: ClassVar[FillModelName]
    sized: ClassVar[bool]
    """Whether the slippage depends on the order's notional and the market's 24 hours
    (only then are :meth:`slippage_bps`'s arguments read)."""

    def slippage_bps(
        self, notional: Decimal, volume_24h_usd: Decimal, range_24h: Decimal
    ) -> Decimal:
        """The slippage in basis points of an order of ``notional`` (quantity times the
        reference price) in a market that traded ``volume_24h_usd`` over 24 hours with a
        high-low ``range_24h`` (a fraction of the price)."""
        ...


@dataclass(frozen=True, slots=True)
class Ideal:
    """``ideal``: fills at the reference price (``base_bps`` is not used)."""

    name: ClassVar[FillModelName] = "ideal"
    sized: ClassVar[bool] = False
    base_bps: Decimal = ZERO

    def slippage_bps(
        self, notional: Decimal, volume_24h_usd: Decimal, range_24h: Decimal
    ) -> Decimal:
        return ZERO


@dataclass(frozen=True, slots=True)
class Fixed:
    """``fixed``: the account's ``slippage_bps``, whatever the order."""

    name: ClassVar[FillModelName] = "fixed"
    sized: ClassVar[bool] = False
    base_bps: Decimal

    def slippage_bps(
        self, notional: Decimal, volume_24h_usd: Decimal, range_24h: Decimal
    ) -> Decimal:
        return self.base_bps


@dataclass(frozen=True, slots=True)
class Volume:
    """``volume``: ``base + 10000 * range_24h * sqrt(notional / volume_24h_usd)``, rounded
    to 4 decimals and capped at 500 bps; ``base`` alone when the 24-hour volume is zero
    (or unknown)."""

    name: ClassVar[FillModelName] = "volume"
    sized: ClassVar[bool] = True
    base_bps: Decimal

    def slippage_bps(
        self, notional: Decimal, volume_24h_usd: Decimal, range_24h: Decimal
    ) -> Decimal:
        if volume_24h_usd <= 0:
            return self.base_bps
        root = QUOTIENT.divide(notional, volume_24h_usd).sqrt(QUOTIENT)
        slipped = (self.base_bps + _BPS * range_24h * root).quantize(_Q4, _UP)
        return min(MAX_SLIPPAGE_BPS, slipped)


FILL_MODELS: dict[FillModelName, type[Ideal | Fixed | Volume]] = {
    model.name: model for model in (Ideal, Fixed, Volume)
}


def fill_model(name: FillModelName, base_bps: Decimal) -> FillModel:
    """The fill model called ``name`` (the config's ``fill_model``) with the base
    slippage ``base_bps`` (the config's ``slippage_bps``, which ``ideal`` ignores)."""
    return FILL_MODELS[name](base_bps)


def range_24h(high: Decimal | None, low: Decimal | None, price: Decimal) -> Decimal:
    """The 24-hour high-low range as a fraction of ``price``; 5% when it is unknown."""
    if high is None or low is None:
        return DEFAULT_RANGE_24H
    return QUOTIENT.divide(high - low, price)


class MarketWindow:
    """What the volume model knows before bar ``i``: the quote volume (``sum close *
    volume``) and the high-low range of the bars of the 24 hours before it (bars
    ``j`` with ``time[i] - 24h <= time[j] < time[i]``; gaps simply hold fewer bars)."""

    def __init__(self, bars: Bars) -> None:
        self._high = bars.high
        self._low = bars.low
        # running sums, so every query is O(1) and the same wherever it is asked from
        self._quote = np.concatenate(([0.0], np.cumsum(bars.close * bars.volume)))
        self._start = np.searchsorted(bars.time, bars.time - DAY_MS, side="left")

    def at(self, i: int, price: Decimal) -> tuple[Decimal, Decimal]:
        """``(volume_24h_usd, range_24h)`` seen by an order filling at ``price`` in bar ``i``."""
        start = int(self._start[i])
        if start >= i:
            return ZERO, DEFAULT_RANGE_24H
        volume = max(0.0, float(self._quote[i] - self._quote[start]))
        high = to_decimal(float(self._high[start:i].max()))
        low = to_decimal(float(self._low[start:i].min()))
        return to_decimal(volume), range_24h(high, low, price)


# ---------------------------------------------------------------- prices and sizes
def slippage_factor(bps: Decimal, side: Side) -> Decimal:
    """``1 + bps / 10000`` for a buy, ``1 - bps / 10000`` for a sell (exact)."""
    move = bps / _BPS
    return _ONE + move if side == "buy" else _ONE - move


def execution_price(price: Decimal, bps: Decimal, side: Side) -> Decimal:
    """``price`` moved against the taker by ``bps``: up for a buy, down for a sell, rounded
    to 10 decimals (``round(price * (1 ± bps / 10000), 10)`` in the SQL)."""
    return (price * slippage_factor(bps, side)).quantize(_Q10, _UP)


def fill_value(quantity: Decimal, price: Decimal, fee_rate: Decimal) -> tuple[Decimal, Decimal]:
    """``(total_value, fee)`` of a fill, as ``private.fill_math`` computes them."""
    value = (quantity * price).quantize(_Q8, _UP)
    return value, (value * fee_rate).quantize(_Q8, _UP)


def affordable(
    budget: Decimal, price: Decimal, fee_rate: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """The largest quantity (8 decimals) whose value plus fee, rounded as the fill rounds
    them, is at most ``budget`` (an all-in buy never takes cash below zero), with that
    quantity's ``fill_value``; zeros when not even 1e-8 is affordable."""
    if budget > 0:
        unit = price * (_ONE + fee_rate)
        qty = QUOTIENT.divide(budget, unit).quantize(_Q8, ROUND_FLOOR)
        while qty > 0:
            # fill_value(), inlined: this is the fast path's hottest line
            value = (qty * price).quantize(_Q8, _UP)
            fee = (value * fee_rate).quantize(_Q8, _UP)
            over = value + fee - budget
            if over <= 0:
                return qty, value, fee
            # rounding put it a little over: step down by at least one unit of 1e-8
            steps = QUOTIENT.divide(over, unit * _Q8).to_integral_value(ROUND_CEILING)
            qty -= _Q8 * max(_ONE, steps)
    return ZERO, ZERO, ZERO


# ---------------------------------------------------------------- one fill's money
FillMath = tuple[
    Decimal, Decimal, Decimal | None, Decimal | None, Decimal | None, str | None, str | None
]
"""What ``private.fill_math`` returns, its OUT columns in their order: ``(total_value,
fee, cash_delta, basis_out, realized, refused_code, refused)``, ``None`` where the SQL
leaves NULL (a refused sell stops after the value and the fee). A plain tuple: one is
made for every fill of every backtest."""


def _text(x: Decimal) -> str:
    """A numeric as PostgreSQL prints it (``format('%s')``): no exponent."""
    return format(x, "f")


def fill_math(
    side: Side,
    qty: Decimal,
    price: Decimal,
    fee_rate: Decimal,
    cash: Decimal,
    release_cash: Decimal,
    pos_qty: Decimal | None,
    pos_reserved: Decimal | None,
    pos_basis: Decimal | None,
    release_qty: Decimal,
) -> FillMath:
    """``private.fill_math``: the money of a fill of ``qty`` at ``price`` by an account
    holding ``cash`` (plus ``release_cash`` its order reserved) and ``pos_qty`` of the
    symbol (``pos_reserved`` of it reserved, ``release_qty`` of that for this order)
    bought for ``pos_basis``: the value, the fee, the change in cash, the cost basis the
    sell removes, its realized PnL, or why the fill cannot happen."""
    # fill_value(), inlined: every fill of every backtest passes here
    total_value = (qty * price).quantize(_Q8, _UP)
    fee = (total_value * fee_rate).quantize(_Q8, _UP)
    if side == "buy":
        cost = total_value + fee
        if cash + release_cash - cost >= 0:
            return total_value, fee, -cost, ZERO, ZERO, None, None
        funds = _text(cash + release_cash)
        refused = f"needs {_text(cost)} including fees, {funds} available"
        return total_value, fee, -cost, ZERO, ZERO, "insufficient_funds", refused
    available = (pos_qty or ZERO) - (pos_reserved or ZERO) + release_qty
    if available < qty:
        refused = f"sell of {_text(qty)} exceeds the {_text(available)} available"
        return total_value, fee, None, None, None, "insufficient_position", refused
    if pos_qty is None or pos_basis is None:  # NULL in, NULL out, as in SQL
        return total_value, fee, total_value - fee, None, None, None, None
    if qty == pos_qty:
        basis_out = pos_basis
    else:
        basis_out = QUOTIENT.divide(pos_basis * qty, pos_qty).quantize(_Q8, _UP)
    return total_value, fee, total_value - fee, basis_out, total_value - basis_out, None, None
