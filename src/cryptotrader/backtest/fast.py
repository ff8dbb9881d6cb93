"""The fast path for signal-only strategies: vectorised signals, a loop over trades only.

A signal-only strategy buys with all its free cash on +1 and sells its whole position on
-1, with market orders, whatever its account holds (``Strategy.signals``). So the
account's path is decided by the signals alone, and it changes only where a signal can
fill:

* flat, the first +1 buys (at the next bar's open); -1s are ignored (no shorting);
* holding, the first -1 sells everything; a +1 in between is another all-in buy with
  the cash left over, which almost always rounds to nothing. Those few bars are checked
  with a float bound and, where the leftover might buy 1e-8, sent to the broker;
* a signal on the last bar is never executed.

Each fill goes through the broker's market orders, the loop's own booking path, and the
equity curve is built from the broker's steps as for the loop, so fills, trades, final
capital and equity are identical to the loop's (property-tested in
``tests/backtest/test_fast_path.py``). What the fast path saves is the loop's work on
every bar: no context, no ``decide()`` call, no order for the bars where nothing fills.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from cryptotrader.backtest.broker import Broker
from cryptotrader.strategies.base import Bars, FloatArray, Strategy

# A buy of the minimum quantity (1e-8) costs at least open * 1e-8: below that the leftover
# cash cannot buy anything. The margin covers the float conversion of the cash.
_MIN_QUANTITY = 1e-8
_MARGIN = 1 - 1e-9


def run_signals(
    bars: Bars,
    strategy: Strategy[Any],
    indicators: Mapping[str, FloatArray],
    broker: Broker,
) -> None:
    """Drive ``broker`` with the strategy's signals; raises ValueError for signals that
    are not one value in {-1, 0, 1} per bar."""
    n = len(bars)
    signals = np.asarray(strategy.signals(bars, indicators))
    if signals.shape != (n,):
        raise ValueError(f"{strategy.name}: signals have shape {signals.shape}, not ({n},)")
    executable = signals[: n - 1]  # a decision on the last bar is not executed
    if executable.dtype.kind in "biu":  # integers: a range check is enough
        valid = not executable.size or (executable.min() >= -1 and executable.max() <= 1)
    else:
        valid = bool(np.isin(executable, (-1, 0, 1)).all())
    if not valid:
        raise ValueError(f"{strategy.name}: signals must be -1, 0 or 1")
    buys: list[int] = np.flatnonzero(executable > 0).tolist()
    sells: list[int] = np.flatnonzero(executable < 0).tolist()
    with _no_cycle_collection():
        _trade_signals(broker, buys, sells, bars.open, n)


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector while the trades are booked. The loop runs no
    strategy code and creates only acyclic records (fills, trades, decimals), which
    reference counting frees; left on, the collector would scan every live object in the
    process again and again as those records pile up (a tenth of a second per run on a
    million bars once a few results are alive). Restores the caller's setting."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            # the records made meanwhile would all be scanned by the first collection
            # after this (the youngest generation holds them all, tens of ms for a
            # million bars): move them, with every other tracked object, to the oldest
            # generation, where they are scanned as long-lived objects are, seldom
            gc.freeze()
            gc.enable()
            gc.unfreeze()


def _trade_signals(
    broker: Broker, buys: list[int], sells: list[int], opens: FloatArray, n: int
) -> None:
    """Drive ``broker`` on its own (its decimal context entered by the caller)."""
    b = 0  # the next buy signal to look at
    while b < len(buys):
        entry = buys[b]
        b += 1
        s = bisect.bisect_right(sells, entry)
        exit_at = sells[s] if s < len(sells) else n - 1  # n - 1: held to the end
        end = bisect.bisect_left(buys, exit_at, lo=b)
        if not broker.market_buy(entry + 1):
            continue  # nothing affordable: still flat, the next +1 tries again
        if end > b:  # +1s while holding
            _top_ups(broker, buys[b:end], opens)
        b = end
        if exit_at == n - 1:
            return
        broker.market_sell(exit_at + 1)


def _top_ups(broker: Broker, repeats: list[int], opens: FloatArray) -> None:
    """+1 signals while holding: all-in buys with what the last buy left over. The
    cheapest possible fill of 1e-8 at bar ``i`` costs more than ``(open - 1e-10) * 1e-8``
    (the price is rounded to 10 decimals, slippage and fees only add), so bars below that
    bound are skipped without asking the broker."""
    fill_at = np.asarray(repeats, dtype=np.int64) + 1
    floor = (opens[fill_at] - 1e-10) * _MIN_QUANTITY * _MARGIN
    for i in fill_at[float(broker.cash) >= floor].tolist():
        if float(broker.cash) >= (float(opens[i]) - 1e-10) * _MIN_QUANTITY * _MARGIN:
            broker.market_buy(i)
