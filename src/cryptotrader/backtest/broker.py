"""The simulated broker of a backtest: orders in, fills, trades and cash out.

It applies the live engine's fill rules (``docs/trading.md``,
``db/migrations/0006_trading_engine.sql``: ``private.fill_math`` and
``private.slippage_bps``) to bars instead of ticks; ``docs/backtesting.md`` states the
rules. Money (cash, quantities, prices of fills, fees, PnL) is :class:`~decimal.Decimal`,
rounded as the SQL rounds (``round()`` on numeric is half away from zero, so
``ROUND_HALF_UP``): prices to 10 decimals, values and fees to 8. The strategy sees the
account as floats.

The bar-by-bar loop (:mod:`.engine`) and the signal fast path (:mod:`.fast`) drive the
same :class:`Broker` with the same fill arithmetic (the functions below); the fast path
books most trades through :meth:`Broker.round_trip`, which the property tests hold equal
to the loop's orders to the last digit.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_UP,
    Context,
    Decimal,
    getcontext,
    setcontext,
)
from typing import Concatenate, Literal, ParamSpec, TypeVar

import numpy as np

from cryptotrader.backtest.errors import InvalidDecision
from cryptotrader.backtest.types import BacktestConfig, ExitReason, Fill, Trade
from cryptotrader.strategies.base import Action, Bars, Decision, FloatArray, OrderKind

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop"]

# Wide enough that no sum or product of our figures is rounded before the explicit
# quantize (PostgreSQL's numeric arithmetic is exact); the broker runs under it.
_CTX = Context(prec=80, rounding=ROUND_HALF_UP)
# Quotients (sizing, pro-rata shares, ratios) only need to be right to well past the
# digit they are then rounded at; 80 digits of a non-terminating one cost microseconds.
_DIV = Context(prec=34, rounding=ROUND_HALF_UP)
_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
_UP = ROUND_HALF_UP
_BPS = Decimal(10000)
_Q4 = Decimal("1e-4")
_Q8 = Decimal("1e-8")
_Q10 = Decimal("1e-10")
MAX_SLIPPAGE_BPS = Decimal(500)
DEFAULT_RANGE_24H = Decimal("0.05")
DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------- the fill math
def to_decimal(x: float) -> Decimal:
    """A float price as the decimal it was written as: ``repr`` is the shortest text
    that reads back as the same float, so a CSV's ``56738.76`` stays ``56738.76``."""
    return Decimal(repr(float(x)))


def round_money(x: Decimal) -> Decimal:
    """Values, fees, cash: 8 decimals, half away from zero (PostgreSQL's ``round``)."""
    return x.quantize(_Q8, ROUND_HALF_UP, _CTX)


def round_price(x: Decimal) -> Decimal:
    """Execution prices: 10 decimals, half away from zero."""
    return x.quantize(_Q10, ROUND_HALF_UP, _CTX)


def fill_value(quantity: Decimal, price: Decimal, fee_rate: Decimal) -> tuple[Decimal, Decimal]:
    """``(total_value, fee)`` of a fill, as ``private.fill_math`` computes them."""
    value = _CTX.multiply(quantity, price).quantize(_Q8, ROUND_HALF_UP, _CTX)
    return value, _CTX.multiply(value, fee_rate).quantize(_Q8, ROUND_HALF_UP, _CTX)


def affordable_quantity(budget: Decimal, price: Decimal, fee_rate: Decimal) -> Decimal:
    """The largest quantity (8 decimals) whose value plus fee, rounded as the fill rounds
    them, is at most ``budget``: an all-in buy never takes cash below zero."""
    return _affordable(budget, price, fee_rate)[0]


def _affordable(
    budget: Decimal, price: Decimal, fee_rate: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """:func:`affordable_quantity` and that quantity's ``fill_value``."""
    if budget > 0:
        unit = _CTX.multiply(price, _CTX.add(_ONE, fee_rate))
        qty = _DIV.divide(budget, unit).quantize(_Q8, ROUND_FLOOR, _CTX)
        while qty > 0:
            # fill_value(), inlined: this is the fast path's hottest line
            value = _CTX.multiply(qty, price).quantize(_Q8, _UP, _CTX)
            fee = _CTX.multiply(value, fee_rate).quantize(_Q8, _UP, _CTX)
            over = _CTX.subtract(_CTX.add(value, fee), budget)
            if over <= 0:
                return qty, value, fee
            # rounding put it a little over: step down by at least one unit of 1e-8
            steps = _DIV.divide(over, _CTX.multiply(unit, _Q8)).to_integral_value(ROUND_CEILING)
            qty = _CTX.subtract(qty, _CTX.multiply(_Q8, max(_ONE, steps)))
    return _ZERO, _ZERO, _ZERO


def volume_slippage_bps(
    base_bps: Decimal, notional: Decimal, volume_24h_usd: Decimal, range_24h: Decimal
) -> Decimal:
    """The live engine's ``volume`` model: ``base + 10000 * range_24h * sqrt(notional /
    volume_24h_usd)``, rounded to 4 decimals and capped at 500 bps; ``base`` alone when
    the 24-hour volume is zero (``private.slippage_bps``)."""
    if volume_24h_usd <= 0:
        return base_bps
    impact = _CTX.multiply(
        _CTX.multiply(_BPS, range_24h), _DIV.divide(notional, volume_24h_usd).sqrt(_DIV)
    )
    slipped = _CTX.add(base_bps, impact).quantize(_Q4, ROUND_HALF_UP, _CTX)
    return min(MAX_SLIPPAGE_BPS, slipped)


def slippage_factor(bps: Decimal, side: Side) -> Decimal:
    """``1 + bps / 10000`` for a buy, ``1 - bps / 10000`` for a sell (exact)."""
    move = _CTX.divide(bps, _BPS)
    return _CTX.add(_ONE, move) if side == "buy" else _CTX.subtract(_ONE, move)


def execution_price(price: Decimal, bps: Decimal, side: Side) -> Decimal:
    """``price`` moved against the taker by ``bps``: up for a buy, down for a sell, rounded
    to 10 decimals (``round(price * (1 ± bps / 10000), 10)`` in the SQL)."""
    return round_price(_CTX.multiply(price, slippage_factor(bps, side)))


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
            return _ZERO, DEFAULT_RANGE_24H
        volume = max(0.0, float(self._quote[i] - self._quote[start]))
        high = float(self._high[start:i].max())
        low = float(self._low[start:i].min())
        spread = _CTX.subtract(to_decimal(high), to_decimal(low))
        return to_decimal(volume), _DIV.divide(spread, price)


def exits_valid(stop_loss: Decimal | None, take_profit: Decimal | None, entry: Decimal) -> bool:
    """``private.check_exits``: the stop-loss below and the take-profit above the entry."""
    return (stop_loss is None or stop_loss < entry) and (take_profit is None or take_profit > entry)


# ---------------------------------------------------------------- the broker's records
@dataclass(slots=True)
class _Order:
    """A decision turned into an order, executed (or placed) at the next bar's open."""

    side: Side
    fraction: Decimal | None
    limit: Decimal | None
    stop_loss: Decimal | None
    take_profit: Decimal | None


@dataclass(slots=True, eq=False)
class _Resting:
    """A limit order resting on the book; a buy holds ``reserved`` cash."""

    side: Side
    quantity: Decimal
    price: Decimal
    price_f: float
    reserved: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None


@dataclass(slots=True, eq=False)
class _Exits:
    """A stop-loss / take-profit pair protecting a bought quantity (one cancels other)."""

    quantity: Decimal
    stop: Decimal | None
    stop_f: float
    take_profit: Decimal | None
    take_profit_f: float
    take_profit_from: int

    @property
    def legs(self) -> int:
        return (self.stop is not None) + (self.take_profit is not None)


@dataclass(slots=True)
class _Lot:
    """What is left of one buy fill, for the round trips (closed first in, first out)."""

    bar: int
    time: datetime
    price: Decimal
    quantity: Decimal
    value: Decimal
    fee: Decimal


def _fraction(value: float | None, i: int) -> Decimal | None:
    if value is None:
        return None
    if not (math.isfinite(value) and 0 < value <= 1):
        raise InvalidDecision(f"bar {i}: size must be in (0, 1], got {value!r}")
    return Decimal(repr(float(value)))


def _price(value: float | None, what: str, i: int) -> Decimal | None:
    if value is None:
        return None
    if not (math.isfinite(value) and value > 0):
        raise InvalidDecision(f"bar {i}: {what} must be a positive finite price, got {value!r}")
    return to_decimal(value)


def order_from_decision(decision: Decision, i: int) -> _Order | None:
    """The order a (non-hold) decision on bar ``i`` asks for; raises
    :class:`InvalidDecision` for a decision the live engine would refuse as malformed."""
    if not isinstance(decision, Decision):
        raise InvalidDecision(f"bar {i}: decide() returned {type(decision).__name__}")
    if decision.action is Action.HOLD:
        return None
    side: Side = "buy" if decision.action is Action.BUY else "sell"
    if side == "sell" and (decision.stop_loss is not None or decision.take_profit is not None):
        raise InvalidDecision(f"bar {i}: stop-loss and take-profit go with a buy")
    if decision.order_type is OrderKind.LIMIT and decision.limit_price is None:
        raise InvalidDecision(f"bar {i}: a limit order needs a limit price")
    if decision.order_type is OrderKind.MARKET and decision.limit_price is not None:
        raise InvalidDecision(f"bar {i}: a limit price is only for limit orders")
    return _Order(
        side,
        _fraction(decision.size, i),
        _price(decision.limit_price, "limit price", i),
        _price(decision.stop_loss, "stop-loss", i),
        _price(decision.take_profit, "take-profit", i),
    )


# ---------------------------------------------------------------- the broker
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _exact(
    method: Callable[Concatenate[Broker, _P], _R],
) -> Callable[Concatenate[Broker, _P], _R]:
    """Run a broker method under the broker's wide decimal context (so ``+`` and ``-``
    on cash never round), restoring the caller's context after. Inside
    :meth:`Broker.exact` the switch is skipped."""

    @functools.wraps(method)
    def exact(self: Broker, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if getcontext() is self._ctx:
            return method(self, *args, **kwargs)
        with self.exact():
            return method(self, *args, **kwargs)

    return exact


class Broker:
    """One account trading one symbol over ``bars``. The loop calls :meth:`process_bar`
    for every bar in order and :meth:`submit` after the strategy decided; the fast path
    calls :meth:`round_trip`, :meth:`market_buy` and :meth:`market_sell` only for the
    bars where a signal fills. Then :meth:`equity_curve` and :meth:`finish`, once."""

    def __init__(self, bars: Bars, config: BacktestConfig) -> None:
        self._ctx = _CTX.copy()
        self._n = len(bars)
        self._time_ms = bars.time
        self._open = bars.open
        self._high = bars.high
        self._low = bars.low
        self._close = bars.close
        self._taker = config.taker_fee_rate
        self._maker = config.maker_fee_rate
        bps = _ZERO if config.fill_model == "ideal" else config.slippage_bps
        self._base_bps = bps
        self._window = MarketWindow(bars) if config.fill_model == "volume" else None
        self._buy_factor = slippage_factor(bps, "buy")
        self._sell_factor = slippage_factor(bps, "sell")
        self.initial_capital = config.initial_capital
        self.cash = config.initial_capital
        self.reserved = _ZERO
        self.quantity = _ZERO
        self.cost_basis = _ZERO
        self.fills: list[Fill] = []
        self.trades: list[Trade] = []
        self._lots: deque[_Lot] = deque()
        self._pending: _Order | None = None
        self._limits: list[_Resting] = []
        self._exits: list[_Exits] = []
        # the equity curve's steps: after every fill, its bar, cash + reserved, quantity
        # (three flat lists: no tuple per fill for the cycle collector to track)
        self._step_bar: list[int] = []
        self._step_cash: list[Decimal] = []
        self._step_qty: list[Decimal] = []
        # the account as the strategy sees it
        self.cash_f = float(self.cash)
        self.total_cash_f = self.cash_f
        self.quantity_f = 0.0
        self.avg_entry_f: float | None = None
        self.open_orders = 0

    # ------------------------------------------------------------ driving it
    @contextlib.contextmanager
    def exact(self) -> Iterator[None]:
        """The broker's decimal context for a stretch of calls (the fast path's loop)."""
        outer = getcontext()
        setcontext(self._ctx)
        try:
            yield
        finally:
            setcontext(outer)

    def submit(self, i: int, decision: Decision) -> None:
        """Queue the decision taken on bar ``i``'s close for bar ``i + 1``. A decision on
        the last bar is checked but never executed."""
        order = order_from_decision(decision, i)
        if order is not None and i + 1 < self._n:
            self._pending = order

    def process_bar(self, i: int) -> None:
        """Everything that happens in bar ``i``: the queued order at the open, then the
        resting orders against the bar's range."""
        if self._pending is not None or self._exits or self._limits:
            self._process_bar(i)

    @_exact
    def _process_bar(self, i: int) -> None:
        order = self._pending
        if order is not None:
            self._pending = None
            self._place(i, order)
        if self._exits or self._limits:
            self._match_range(i)
        self._refresh()

    def market_buy(self, i: int) -> bool:
        """An all-in market buy at bar ``i``'s open. True if something was bought."""
        if getcontext() is not self._ctx:
            with self.exact():
                return self.market_buy(i)
        return self._taker_buy(i, None, None, None, None, "market")

    def market_sell(self, i: int) -> bool:
        """An all-out market sell at bar ``i``'s open. True if something was sold."""
        if getcontext() is not self._ctx:
            with self.exact():
                return self.market_sell(i)
        return self._taker_sell(i, self.quantity, None, "market", "signal", None)

    @property
    def can_round_trip(self) -> bool:
        """Whether :meth:`round_trip` applies now: flat, nothing resting, no volume model."""
        return (
            self._window is None
            and not self.quantity
            and not self.reserved
            and not self._limits
            and not self._exits
        )

    def round_trip(self, entry: int, exit_: int | None) -> bool:
        """An all-in market buy at bar ``entry``'s open and, unless ``exit_`` is None, an
        all-out market sell at bar ``exit_``'s open: the fast path's whole trade in one
        call (it is most of a long backtest's work). The same arithmetic as
        :meth:`market_buy` then :meth:`market_sell` (the shared functions above), booked
        with fewer steps; the property tests hold the two equal. Only when
        :attr:`can_round_trip`. True if something was bought."""
        if getcontext() is not self._ctx:
            with self.exact():
                return self.round_trip(entry, exit_)
        price = (Decimal(repr(self._open.item(entry))) * self._buy_factor).quantize(_Q10, _UP)
        quantity, value, fee = _affordable(self.cash, price, self._taker)
        if not quantity:
            return False
        cash = self.cash - value - fee
        ms = self._time_ms.item(entry)
        at = datetime.fromtimestamp(ms / 1000, UTC) if 0 <= ms < _FAST_MS else _utc(ms)
        bought = Fill(entry, at, "buy", "market", price, quantity, fee, "signal")
        self.fills.append(bought)
        self._step_bar.append(entry)
        self._step_cash.append(cash)
        self._step_qty.append(quantity)
        if exit_ is None:
            self.cash = cash
            self.quantity = quantity
            self.cost_basis = value
            self._lots.append(_Lot(entry, at, price, quantity, value, fee))
            return True
        sell = (Decimal(repr(self._open.item(exit_))) * self._sell_factor).quantize(_Q10, _UP)
        sold, sold_fee = fill_value(quantity, sell, self._taker)
        self.cash = cash = cash + sold - sold_fee
        ms = self._time_ms.item(exit_)
        at = datetime.fromtimestamp(ms / 1000, UTC) if 0 <= ms < _FAST_MS else _utc(ms)
        self.fills.append(Fill(exit_, at, "sell", "market", sell, quantity, sold_fee, "signal"))
        self.trades.append(
            _trade(bought, quantity, value, fee, exit_, at, sell, sold, sold_fee, "signal", True)
        )
        self._step_bar.append(exit_)
        self._step_cash.append(cash)
        self._step_qty.append(_ZERO)
        return True

    # ------------------------------------------------------------ the open
    def _place(self, i: int, o: _Order) -> None:
        # the latest order on a side replaces the plain limit orders resting on that side
        if self._limits:
            self._cancel_limits(o.side)
        if o.side == "buy":
            if o.limit is None:
                self._taker_buy(i, o.fraction, o.stop_loss, o.take_profit, None, "market")
            elif o.limit >= to_decimal(self._open.item(i)):
                self._taker_buy(i, o.fraction, o.stop_loss, o.take_profit, o.limit, "limit")
            else:
                self._rest_buy(o, o.limit)
            return
        quantity = self.quantity
        if o.fraction is not None:
            quantity = (quantity * o.fraction).quantize(_Q8, ROUND_FLOOR)
        if o.limit is None:
            self._taker_sell(i, quantity, None, "market", "signal", None)
        elif o.limit <= to_decimal(self._open.item(i)):
            self._taker_sell(i, quantity, None, "limit", "signal", o.limit)
        elif quantity > 0:
            self._limits.append(
                _Resting("sell", quantity, o.limit, float(o.limit), _ZERO, None, None)
            )

    def _budget(self, fraction: Decimal | None) -> Decimal:
        if fraction is None:
            return self.cash
        return (self.cash * fraction).quantize(_Q8, ROUND_FLOOR)

    def _slipped(
        self, window: MarketWindow, i: int, ref: Decimal, quantity: Decimal, side: Side
    ) -> Decimal:
        """The volume model's execution price for ``quantity`` at the reference price
        ``ref`` (the fixed models use ``ref * self._buy_factor`` or ``_sell_factor``)."""
        volume, range_24h = window.at(i, ref)
        bps = volume_slippage_bps(self._base_bps, quantity * ref, volume, range_24h)
        return execution_price(ref, bps, side)

    def _taker_buy(
        self,
        i: int,
        fraction: Decimal | None,
        stop_loss: Decimal | None,
        take_profit: Decimal | None,
        cap: Decimal | None,
        order_type: OrderType,
    ) -> bool:
        """Buy at bar ``i``'s open, as a taker, with (a fraction of) the free cash; a
        marketable limit buy fills no worse than its limit ``cap``."""
        budget = self.cash if fraction is None else self._budget(fraction)
        ref = to_decimal(self._open.item(i))
        window = self._window
        if window is None:
            price = round_price(ref * self._buy_factor)
            if cap is not None and price > cap:
                price = cap
            quantity, value, fee = _affordable(budget, price, self._taker)
        else:
            # the slippage depends on the size: size at the open (an upper bound), slip,
            # size again at that price (smaller, so its own slippage is no larger)
            quantity = affordable_quantity(budget, ref, self._taker)
            if quantity <= 0:
                return False
            price = _capped(self._slipped(window, i, ref, quantity, "buy"), cap)
            quantity = affordable_quantity(budget, price, self._taker)
            if quantity > 0:
                price = _capped(self._slipped(window, i, ref, quantity, "buy"), cap)
            value, fee = fill_value(quantity, price, self._taker)
        if quantity <= 0:
            return False
        if (stop_loss or take_profit) and not exits_valid(stop_loss, take_profit, price):
            return False
        self._buy(i, quantity, price, value, fee, order_type, stop_loss, take_profit, i)
        return True

    def _rest_buy(self, o: _Order, limit: Decimal) -> None:
        quantity, value, fee = _affordable(self._budget(o.fraction), limit, self._maker)
        if quantity <= 0 or not exits_valid(o.stop_loss, o.take_profit, limit):
            return
        reserve = value + fee
        self.cash -= reserve
        self.reserved += reserve
        self._limits.append(
            _Resting("buy", quantity, limit, float(limit), reserve, o.stop_loss, o.take_profit)
        )

    def _taker_sell(
        self,
        i: int,
        quantity: Decimal,
        ref: Decimal | None,
        order_type: OrderType,
        reason: ExitReason,
        floor: Decimal | None,
    ) -> bool:
        """Sell at ``ref`` (default: bar ``i``'s open) as a taker, no more than the
        position; a marketable limit sell fills no worse than its limit ``floor``."""
        quantity = min(quantity, self.quantity)
        if quantity <= 0:
            return False
        if ref is None:
            ref = to_decimal(self._open.item(i))
        if self._window is None:
            price = round_price(ref * self._sell_factor)
        else:
            price = self._slipped(self._window, i, ref, quantity, "sell")
        if floor is not None and price < floor:
            price = floor
        self._sell(i, quantity, price, self._taker, order_type, reason)
        return True

    def _cancel_limits(self, side: Side) -> None:
        kept = []
        for order in self._limits:
            if order.side == side:
                self.cash += order.reserved
                self.reserved -= order.reserved
            else:
                kept.append(order)
        self._limits = kept

    # ------------------------------------------------------------ the range
    def _match_range(self, i: int) -> None:
        """Resting orders against bar ``i``'s range, most conservative first: stop-losses,
        then take-profits and limit sells, then limit buys."""
        low = float(self._low[i])
        high = float(self._high[i])
        for group in list(self._exits):
            if group in self._exits:
                self._check_exits(i, group, low, high)
        for order in [o for o in self._limits if o.side == "sell" and high >= o.price_f]:
            if order in self._limits:
                self._limits.remove(order)
                quantity = min(order.quantity, self.quantity)
                if quantity > 0:
                    self._sell(i, quantity, order.price, self._maker, "limit", "signal")
        for order in [o for o in self._limits if o.side == "buy" and low <= o.price_f]:
            self._limits.remove(order)
            self.cash += order.reserved
            self.reserved -= order.reserved
            value, fee = fill_value(order.quantity, order.price, self._maker)
            exits = self._buy(
                i,
                order.quantity,
                order.price,
                value,
                fee,
                "limit",
                order.stop_loss,
                order.take_profit,
                i + 1,  # the high may have come before the fill: take-profit from next bar
            )
            if exits is not None:
                # the price passed the limit on its way down to any low below the stop
                self._check_exits(i, exits, low, high)

    def _check_exits(self, i: int, group: _Exits, low: float, high: float) -> None:
        if group.stop is not None and low <= group.stop_f:
            # both legs touched in one bar: assume the stop-loss came first (conservative)
            self._exits.remove(group)
            gap = self._open.item(i) <= group.stop_f
            ref = to_decimal(self._open.item(i)) if gap else group.stop
            self._taker_sell(i, group.quantity, ref, "stop", "stop_loss", None)
        elif (
            group.take_profit is not None
            and i >= group.take_profit_from
            and high >= group.take_profit_f
        ):
            self._exits.remove(group)
            quantity = min(group.quantity, self.quantity)
            if quantity > 0:
                self._sell(i, quantity, group.take_profit, self._maker, "limit", "take_profit")

    # ------------------------------------------------------------ fills
    def _time(self, i: int) -> datetime:
        return _utc(self._time_ms.item(i))

    def _buy(
        self,
        i: int,
        quantity: Decimal,
        price: Decimal,
        value: Decimal,
        fee: Decimal,
        order_type: OrderType,
        stop_loss: Decimal | None,
        take_profit: Decimal | None,
        take_profit_from: int,
    ) -> _Exits | None:
        """Book a buy of ``quantity`` at ``price`` costing ``value`` plus ``fee``."""
        self.cash -= value + fee
        self.quantity += quantity
        self.cost_basis += value
        at = _utc(self._time_ms.item(i))
        self.fills.append(Fill(i, at, "buy", order_type, price, quantity, fee, "signal"))
        self._lots.append(_Lot(i, at, price, quantity, value, fee))
        self._step(i)
        if stop_loss is None and take_profit is None:
            return None
        group = _Exits(
            quantity,
            stop_loss,
            math.nan if stop_loss is None else float(stop_loss),
            take_profit,
            math.nan if take_profit is None else float(take_profit),
            take_profit_from,
        )
        self._exits.append(group)
        return group

    def _sell(
        self,
        i: int,
        quantity: Decimal,
        price: Decimal,
        fee_rate: Decimal,
        order_type: OrderType,
        reason: ExitReason,
    ) -> None:
        """Book a sell of ``quantity`` (at most the position) at ``price``."""
        value, fee = fill_value(quantity, price, fee_rate)
        if quantity == self.quantity:
            self.cost_basis = _ZERO
        else:
            basis_out = _DIV.divide(self.cost_basis * quantity, self.quantity)
            self.cost_basis -= basis_out.quantize(_Q8, ROUND_HALF_UP)
        self.cash += value - fee
        self.quantity -= quantity
        at = _utc(self._time_ms.item(i))
        self.fills.append(Fill(i, at, "sell", order_type, price, quantity, fee, reason))
        lots = self._lots
        if len(lots) == 1 and lots[0].quantity == quantity:  # all of a single buy
            lot = lots.pop()
            self.trades.append(
                _trade(lot, quantity, lot.value, lot.fee, i, at, price, value, fee, reason, True)
            )
        else:
            self._close_lots(i, at, quantity, price, value, fee, reason)
        if not self.quantity:
            # nothing left to protect or to sell: no shorting
            self._exits.clear()
            if self._limits:
                self._limits = [o for o in self._limits if o.side == "buy"]
        self._step(i)

    def _step(self, i: int) -> None:
        """Record the equity curve's state after a fill in bar ``i``."""
        self._step_bar.append(i)
        self._step_cash.append(self.cash + self.reserved)
        self._step_qty.append(self.quantity)

    def _close_lots(
        self,
        i: int,
        at: datetime,
        quantity: Decimal,
        price: Decimal,
        value: Decimal,
        fee: Decimal,
        reason: ExitReason,
    ) -> None:
        """Round trips, first in first out; a split lot or fill shares its value and fee
        pro rata (rounded to 8 decimals, the last piece taking the remainder)."""
        left, value_left, fee_left = quantity, value, fee
        while left:
            lot = self._lots[0]
            take = min(lot.quantity, left)
            if take == left:
                exit_value, exit_fee = value_left, fee_left
            else:
                exit_value = round_money(_DIV.divide(value * take, quantity))
                exit_fee = round_money(_DIV.divide(fee * take, quantity))
            if take == lot.quantity:
                entry_value, entry_fee = lot.value, lot.fee
                self._lots.popleft()
            else:
                entry_value = round_money(_DIV.divide(lot.value * take, lot.quantity))
                entry_fee = round_money(_DIV.divide(lot.fee * take, lot.quantity))
                lot.quantity -= take
                lot.value -= entry_value
                lot.fee -= entry_fee
            self.trades.append(
                _trade(lot, take, entry_value, entry_fee, i, at, price, exit_value, exit_fee,
                       reason, True)
            )  # fmt: skip
            left -= take
            value_left -= exit_value
            fee_left -= exit_fee

    def _refresh(self) -> None:
        """The account as the strategy sees it, after a bar's orders."""
        self.cash_f = float(self.cash)
        self.total_cash_f = float(self.cash + self.reserved) if self.reserved else self.cash_f
        self.quantity_f = float(self.quantity)
        self.avg_entry_f = float(self.cost_basis) / self.quantity_f if self.quantity else None
        self.open_orders = len(self._limits) + sum(g.legs for g in self._exits)

    # ------------------------------------------------------------ the end
    def equity_curve(self) -> tuple[FloatArray, float]:
        """Equity at every bar's close (``cash + reserved + quantity * close`` in float64,
        the state after the bar's fills) and the share of bars that end with a position."""
        n = self._n
        # step k holds from its bar up to the next step's bar (zero bars when both fall
        # in the same bar: the later one wins)
        bounds = np.asarray([0, *self._step_bar, n], dtype=np.int64)
        lengths = bounds[1:] - bounds[:-1]
        cash = np.fromiter(map(float, self._step_cash), np.float64, len(self._step_cash))
        qty = np.fromiter(map(float, self._step_qty), np.float64, len(self._step_qty))
        cash_at = np.repeat(np.concatenate(([float(self.initial_capital)], cash)), lengths)
        qty_at = np.repeat(np.concatenate(([0.0], qty)), lengths)
        equity: FloatArray = cash_at + qty_at * self._close
        return equity, float(np.count_nonzero(qty_at)) / n

    @_exact
    def finish(self) -> Decimal:
        """Report what is still open at the last bar as round trips with ``exit_reason
        "end"`` (marked at the last close, no exit fee) and return the final capital:
        cash, reserved cash and the position at the last close, rounded to 8 decimals."""
        last = self._n - 1
        close = to_decimal(self._close[last])
        at = self._time(last)
        for lot in self._lots:
            mark = round_money(lot.quantity * close)
            self.trades.append(
                _trade(lot, lot.quantity, lot.value, lot.fee, last, at, close, mark, _ZERO,
                       "end", False)
            )  # fmt: skip
        self._lots.clear()
        return round_money(self.cash + self.reserved + self.quantity * close)


_FAST_MS = 4_000_000_000_000  # below 2**32 s: ms / 1000 as a float is within 0.48 µs


def _utc(ms: int) -> datetime:
    """The UTC datetime of epoch milliseconds ``ms``. Through a float when that is exact
    (the rounding to microseconds absorbs the float's error), else by integers."""
    if 0 <= ms < _FAST_MS:
        return datetime.fromtimestamp(ms / 1000, UTC)
    return _EPOCH + timedelta(milliseconds=ms)


def _capped(price: Decimal, cap: Decimal | None) -> Decimal:
    return price if cap is None or price <= cap else cap


def _trade(
    lot: _Lot | Fill,
    quantity: Decimal,
    entry_value: Decimal,
    entry_fee: Decimal,
    exit_bar: int,
    exit_time: datetime,
    exit_price: Decimal,
    exit_value: Decimal,
    exit_fee: Decimal,
    reason: ExitReason,
    closed: bool,
) -> Trade:
    """One round trip from the entry ``lot`` (or the entry's fill); runs under the
    broker's context."""
    pnl = exit_value - entry_value - entry_fee - exit_fee
    cost = entry_value + entry_fee
    pct = _DIV.divide(pnl * _HUNDRED, cost).quantize(_Q4, ROUND_HALF_UP) if cost else _ZERO
    return Trade(
        lot.bar,
        lot.time,
        lot.price,
        exit_bar,
        exit_time,
        exit_price,
        quantity,
        entry_fee,
        exit_fee,
        pnl,
        pct,
        reason,
        closed,
    )
