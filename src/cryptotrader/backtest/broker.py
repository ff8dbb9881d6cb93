"""The simulated broker of a backtest: orders in, fills, trades and cash out.

It applies the live engine's fill rules (``docs/trading.md``) to bars instead of ticks;
``docs/backtesting.md`` states the rules. The arithmetic is :mod:`.fills`, the SQL's
own functions in Decimal: the config's fill model (``private.slippage_bps``) prices a
taker's fill and ``private.fill_math`` gives every fill's money, buy or sell, in the one
booking path :meth:`Broker._book`. The strategy sees the account as floats.

The bar-by-bar loop (:mod:`.engine`) and the signal fast path (:mod:`.fast`) drive the
same :class:`Broker` through the same methods. The broker works under the wide decimal
context :data:`~.fills.EXACT` (so ``+`` and ``-`` on cash never round), which it enters
once, for the whole run: ``with Broker(bars, config) as broker: ...``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from types import TracebackType
from typing import Literal, Self

import numpy as np

from cryptotrader.backtest.fills import (
    DEFAULT_RANGE_24H,
    EXACT,
    QUOTIENT,
    ZERO,
    MarketWindow,
    Side,
    affordable,
    execution_price,
    fill_math,
    fill_model,
    round_money,
    slippage_factor,
    to_decimal,
)
from cryptotrader.backtest.orders import Order, order_from_decision
from cryptotrader.backtest.types import BacktestConfig, ExitReason, Fill, Trade
from cryptotrader.strategies.base import Bars, Decision, FloatArray

OrderType = Literal["market", "limit", "stop"]

_HUNDRED = Decimal(100)
_Q4 = Decimal("1e-4")
_Q8 = Decimal("1e-8")
_Q10 = Decimal("1e-10")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAST_MS = 4_000_000_000_000  # below 2**32 s: ms / 1000 as a float is within 0.48 µs


def exits_valid(stop_loss: Decimal | None, take_profit: Decimal | None, entry: Decimal) -> bool:
    """``private.check_exits``: the stop-loss below and the take-profit above the entry."""
    return (stop_loss is None or stop_loss < entry) and (take_profit is None or take_profit > entry)


# ---------------------------------------------------------------- the broker's records
@dataclass(kw_only=True, slots=True, eq=False)
class _Resting:
    """A limit order resting on the book; a buy holds ``reserved`` cash."""

    side: Side
    quantity: Decimal
    price: Decimal
    price_f: float
    reserved: Decimal = ZERO
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None


@dataclass(kw_only=True, slots=True, eq=False)
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


@dataclass(kw_only=True, slots=True)
class _Lot:
    """What is left of one buy fill, for the round trips (closed first in, first out)."""

    bar: int
    time: datetime
    price: Decimal
    quantity: Decimal
    value: Decimal
    fee: Decimal


# Calling a class with keywords costs a dict in CPython 3.11 (the type call packs them for
# __init__, which unpacks them): the records made for every fill are made by
# ``object.__new__`` and their own ``__init__``, in half the time.
_new = object.__new__
_init_fill = Fill.__init__
_init_lot = _Lot.__init__
_init_trade = Trade.__init__


# ---------------------------------------------------------------- the broker
class Broker:
    """One account trading one symbol over ``bars``, used as a context manager (its
    decimal context, once for the run). The loop calls :meth:`process_bar` for every bar
    in order and :meth:`submit` after the strategy decided; the fast path calls
    :meth:`market_buy` and :meth:`market_sell` only for the bars where a signal fills.
    Then :meth:`equity_curve` and :meth:`finish`, once."""

    def __init__(self, bars: Bars, config: BacktestConfig) -> None:
        self._n = len(bars)
        self._time_ms = bars.time
        self._open = bars.open
        self._high = bars.high
        self._low = bars.low
        self._close = bars.close
        self._taker = config.taker_fee_rate
        self._maker = config.maker_fee_rate
        self.model = fill_model(config.fill_model, config.slippage_bps)
        self._window = MarketWindow(bars) if self.model.sized else None
        # a model that ignores the order and the market slips every fill alike
        bps = self.model.slippage_bps(ZERO, ZERO, DEFAULT_RANGE_24H)
        self._buy_factor = slippage_factor(bps, "buy")
        self._sell_factor = slippage_factor(bps, "sell")
        self.initial_capital = config.initial_capital
        self.cash = config.initial_capital
        self.reserved = ZERO
        self.quantity = ZERO
        self.cost_basis = ZERO
        self.fills: list[Fill] = []
        self.trades: list[Trade] = []
        self._lots: deque[_Lot] = deque()
        self._pending: Order | None = None
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
        self._context = localcontext(EXACT)

    # ------------------------------------------------------------ driving it
    def __enter__(self) -> Self:
        """Enter the broker's decimal context (a copy of :data:`~.fills.EXACT`)."""
        self._context.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Restore the caller's decimal context."""
        self._context.__exit__(kind, error, traceback)

    def submit(self, i: int, decision: Decision) -> None:
        """Queue the decision taken on bar ``i``'s close for bar ``i + 1``. A decision on
        the last bar is checked but never executed."""
        order = order_from_decision(decision, i)
        if order is not None and i + 1 < self._n:
            self._pending = order

    def process_bar(self, i: int) -> None:
        """Everything that happens in bar ``i``: the queued order at the open, then the
        resting orders against the bar's range."""
        if self._pending is None and not self._exits and not self._limits:
            return
        order = self._pending
        if order is not None:
            self._pending = None
            self._place(i, order)
        if self._exits or self._limits:
            self._match_range(i)
        self._refresh()

    def market_buy(self, i: int) -> bool:
        """An all-in market buy at bar ``i``'s open. True if something was bought."""
        return self._taker_buy(i, self.cash, None, None, None, "market")

    def market_sell(self, i: int) -> bool:
        """An all-out market sell at bar ``i``'s open. True if something was sold."""
        return self._taker_sell(i, self.quantity, None, "market", "signal", None)

    # ------------------------------------------------------------ the open
    def _place(self, i: int, o: Order) -> None:
        # the latest order on a side replaces the plain limit orders resting on that side
        if self._limits:
            self._cancel_limits(o.side)
        if o.side == "buy":
            budget = self._share(self.cash, o.fraction)
            if o.limit is None:
                self._taker_buy(i, budget, o.stop_loss, o.take_profit, None, "market")
            elif o.limit >= to_decimal(self._open.item(i)):
                self._taker_buy(i, budget, o.stop_loss, o.take_profit, o.limit, "limit")
            else:
                self._rest_buy(budget, o, o.limit)
            return
        quantity = self._share(self.quantity, o.fraction)
        if o.limit is None:
            self._taker_sell(i, quantity, None, "market", "signal", None)
        elif o.limit <= to_decimal(self._open.item(i)):
            self._taker_sell(i, quantity, None, "limit", "signal", o.limit)
        elif quantity > 0:
            self._limits.append(
                _Resting(side="sell", quantity=quantity, price=o.limit, price_f=float(o.limit))
            )

    @staticmethod
    def _share(whole: Decimal, fraction: Decimal | None) -> Decimal:
        """``fraction`` of ``whole`` (cash or quantity), rounded down to 8 decimals."""
        return whole if fraction is None else (whole * fraction).quantize(_Q8, ROUND_FLOOR)

    def _fill_price(self, i: int, ref: Decimal, quantity: Decimal, side: Side) -> Decimal:
        """A taker's execution price for ``quantity`` at the reference price ``ref`` in
        bar ``i``, by the fill model (a sized one looks at the market's 24 hours)."""
        window = self._window
        if window is None:
            factor = self._buy_factor if side == "buy" else self._sell_factor
            return (ref * factor).quantize(_Q10, ROUND_HALF_UP)
        volume, range_frac = window.at(i, ref)
        bps = self.model.slippage_bps(ref * quantity, volume, range_frac)
        return execution_price(ref, bps, side)

    def _taker_buy(
        self,
        i: int,
        budget: Decimal,
        stop_loss: Decimal | None,
        take_profit: Decimal | None,
        cap: Decimal | None,
        order_type: OrderType,
    ) -> bool:
        """Buy at bar ``i``'s open, as a taker, with ``budget``; a marketable limit buy
        fills no worse than its limit ``cap``."""
        ref = Decimal(repr(self._open.item(i)))  # to_decimal(), inlined: a hot line
        if self._window is None:
            price = _capped(self._fill_price(i, ref, ZERO, "buy"), cap)
            quantity = affordable(budget, price, self._taker)[0]
        else:
            # the slippage depends on the size: size at the open (an upper bound), slip,
            # size again at that price (smaller, so its own slippage is no larger)
            quantity = affordable(budget, ref, self._taker)[0]
            if quantity <= 0:
                return False
            price = _capped(self._fill_price(i, ref, quantity, "buy"), cap)
            quantity = affordable(budget, price, self._taker)[0]
            if quantity > 0:
                price = _capped(self._fill_price(i, ref, quantity, "buy"), cap)
        if quantity <= 0:
            return False
        if (stop_loss or take_profit) and not exits_valid(stop_loss, take_profit, price):
            return False
        self._book(i, "buy", quantity, price, self._taker, order_type, "signal")
        if stop_loss is not None or take_profit is not None:
            self._protect(quantity, stop_loss, take_profit, i)
        return True

    def _rest_buy(self, budget: Decimal, o: Order, limit: Decimal) -> None:
        quantity, value, fee = affordable(budget, limit, self._maker)
        if quantity <= 0 or not exits_valid(o.stop_loss, o.take_profit, limit):
            return
        reserve = value + fee
        self.cash -= reserve
        self.reserved += reserve
        self._limits.append(
            _Resting(
                side="buy",
                quantity=quantity,
                price=limit,
                price_f=float(limit),
                reserved=reserve,
                stop_loss=o.stop_loss,
                take_profit=o.take_profit,
            )
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
            ref = Decimal(repr(self._open.item(i)))
        price = self._fill_price(i, ref, quantity, "sell")
        if floor is not None and price < floor:
            price = floor
        self._book(i, "sell", quantity, price, self._taker, order_type, reason)
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
                    self._book(i, "sell", quantity, order.price, self._maker, "limit", "signal")
        for order in [o for o in self._limits if o.side == "buy" and low <= o.price_f]:
            self._limits.remove(order)
            self._book(
                i, "buy", order.quantity, order.price, self._maker, "limit", "signal",
                release=order.reserved,
            )  # fmt: skip
            # the high may have come before the fill: take-profit from the next bar
            exits = self._protect(order.quantity, order.stop_loss, order.take_profit, i + 1)
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
                self._book(i, "sell", quantity, group.take_profit, self._maker, "limit",
                           "take_profit")  # fmt: skip

    def _protect(
        self,
        quantity: Decimal,
        stop_loss: Decimal | None,
        take_profit: Decimal | None,
        take_profit_from: int,
    ) -> _Exits | None:
        """Put a bought ``quantity`` under a stop-loss and/or a take-profit, if asked."""
        if stop_loss is None and take_profit is None:
            return None
        group = _Exits(
            quantity=quantity,
            stop=stop_loss,
            stop_f=math.nan if stop_loss is None else float(stop_loss),
            take_profit=take_profit,
            take_profit_f=math.nan if take_profit is None else float(take_profit),
            take_profit_from=take_profit_from,
        )
        self._exits.append(group)
        return group

    # ------------------------------------------------------------ fills
    def _book(
        self,
        i: int,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        fee_rate: Decimal,
        order_type: OrderType,
        reason: ExitReason,
        release: Decimal = ZERO,
    ) -> None:
        """Book a fill in bar ``i``, a buy or a sell (no more than the position), with
        ``private.fill_math``'s money; a limit buy's fill ``release``-s its reserve."""
        value, fee, cash_delta, basis_out, _, _, refused = fill_math(
            side, quantity, price, fee_rate, self.cash, release, self.quantity, ZERO,
            self.cost_basis, ZERO,
        )  # fmt: skip
        if refused is not None or cash_delta is None or basis_out is None:
            # the broker sizes every order to what the account has: not to happen
            raise AssertionError(f"bar {i}: {refused}")
        self.cash = self.cash + release + cash_delta
        if release:
            self.reserved -= release
        ms = self._time_ms.item(i)
        at = datetime.fromtimestamp(ms / 1000, UTC) if 0 <= ms < _FAST_MS else _utc(ms)
        fill = _new(Fill)
        _init_fill(fill, bar=i, time=at, side=side, order_type=order_type, price=price,
                   quantity=quantity, fee=fee, reason=reason)  # fmt: skip
        self.fills.append(fill)
        if side == "buy":
            self.quantity += quantity
            self.cost_basis += value
            lot = _new(_Lot)
            _init_lot(lot, bar=i, time=at, price=price, quantity=quantity, value=value, fee=fee)
            self._lots.append(lot)
        else:
            self.quantity -= quantity
            self.cost_basis -= basis_out
            self._close_lots(i, at, quantity, price, value, fee, reason)
            if not self.quantity:
                # nothing left to protect or to sell: no shorting
                self._exits.clear()
                if self._limits:
                    self._limits = [o for o in self._limits if o.side == "buy"]
        # the equity curve's step
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
        lots = self._lots
        if len(lots) == 1 and lots[0].quantity == quantity:  # all of a single buy: no shares
            lot = lots.pop()
            self.trades.append(
                _trade(lot, quantity, lot.value, lot.fee, i, at, price, value, fee, reason, True)
            )
            return
        left, value_left, fee_left = quantity, value, fee
        while left:
            lot = self._lots[0]
            take = min(lot.quantity, left)
            if take == left:
                exit_value, exit_fee = value_left, fee_left
            else:
                exit_value = round_money(QUOTIENT.divide(value * take, quantity))
                exit_fee = round_money(QUOTIENT.divide(fee * take, quantity))
            if take == lot.quantity:
                entry_value, entry_fee = lot.value, lot.fee
                self._lots.popleft()
            else:
                entry_value = round_money(QUOTIENT.divide(lot.value * take, lot.quantity))
                entry_fee = round_money(QUOTIENT.divide(lot.fee * take, lot.quantity))
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

    def finish(self) -> Decimal:
        """Report what is still open at the last bar as round trips with ``exit_reason
        "end"`` (marked at the last close, no exit fee) and return the final capital:
        cash, reserved cash and the position at the last close, rounded to 8 decimals."""
        last = self._n - 1
        close = to_decimal(self._close[last])
        at = _utc(self._time_ms.item(last))
        for lot in self._lots:
            mark = round_money(lot.quantity * close)
            self.trades.append(
                _trade(lot, lot.quantity, lot.value, lot.fee, last, at, close, mark, ZERO,
                       "end", False)
            )  # fmt: skip
        self._lots.clear()
        return round_money(self.cash + self.reserved + self.quantity * close)


def _utc(ms: int) -> datetime:
    """The UTC datetime of epoch milliseconds ``ms``. Through a float when that is exact
    (the rounding to microseconds absorbs the float's error), else by integers."""
    if 0 <= ms < _FAST_MS:
        return datetime.fromtimestamp(ms / 1000, UTC)
    return _EPOCH + timedelta(milliseconds=ms)


def _capped(price: Decimal, cap: Decimal | None) -> Decimal:
    return price if cap is None or price <= cap else cap


def _trade(
    lot: _Lot,
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
    """One round trip from the entry ``lot``; runs under the broker's context."""
    pnl = exit_value - entry_value - entry_fee - exit_fee
    cost = entry_value + entry_fee
    pct = QUOTIENT.divide(pnl * _HUNDRED, cost).quantize(_Q4, ROUND_HALF_UP) if cost else ZERO
    trade = _new(Trade)
    _init_trade(
        trade,
        entry_bar=lot.bar,
        entry_time=lot.time,
        entry_price=lot.price,
        exit_bar=exit_bar,
        exit_time=exit_time,
        exit_price=exit_price,
        quantity=quantity,
        entry_fee=entry_fee,
        exit_fee=exit_fee,
        pnl=pnl,
        return_pct=pct,
        exit_reason=reason,
        closed=closed,
    )
    return trade
