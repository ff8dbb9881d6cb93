"""The backtesting engine: a strategy over bars through the simulated broker.

Timing: the strategy decides on bar ``i``'s close, seeing bars ``0..i`` only; a market
order from that decision fills at bar ``i + 1``'s open, a limit order rests from bar
``i + 1`` on. Decisions on the last bar are not executed. The broker
(:mod:`.broker`) applies the live engine's fill rules; ``docs/backtesting.md`` has them all.

Signal-only strategies take the vectorised fast path (:mod:`.fast`) by default; it gives
exactly the loop's fills, trades and equity (property-tested). The same inputs always
give the same result: nothing here reads a clock or a random source.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from cryptotrader.analytics.metrics import periods_per_year, summarize
from cryptotrader.backtest.broker import Broker
from cryptotrader.backtest.errors import InvalidCandles
from cryptotrader.backtest.fast import run_signals
from cryptotrader.backtest.fills import DAY_MS
from cryptotrader.backtest.types import BacktestConfig, BacktestResult, Progress
from cryptotrader.strategies.base import (
    Action,
    BarContext,
    Bars,
    FloatArray,
    IntArray,
    Strategy,
)

PROGRESS_REPORTS = 100
"""At most about this many ``progress(done, total)`` calls per run."""


class _IndicatorsUpTo(Mapping[str, FloatArray]):
    """The indicators cut at the current bar: a view is made only for the names asked."""

    __slots__ = ("_arrays", "_end")

    def __init__(self, arrays: dict[str, FloatArray], end: int) -> None:
        self._arrays = arrays
        self._end = end

    def __getitem__(self, key: str) -> FloatArray:
        return self._arrays[key][: self._end]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)


def run_backtest(
    bars: Bars,
    strategy: Strategy[Any],
    config: BacktestConfig,
    *,
    progress: Progress | None = None,
    fast: bool | None = None,
    benchmark: FloatArray | None = None,
) -> BacktestResult:
    """Run ``strategy`` over ``bars`` with ``config``'s broker and return every fill,
    round trip, the equity at each bar's close and the statistics.

    ``fast=None`` takes the fast path when the strategy is ``signal_only``; ``fast=True``
    on any other strategy raises ValueError, ``fast=False`` forces the loop.
    ``benchmark`` (one price per bar) defaults to the bars' close, i.e. buy-and-hold of
    the traded symbol. ``progress(done, total)`` is called about 100 times at most.
    Raises :class:`~.errors.InvalidCandles` without bars, ValueError for indicators or
    signals of the wrong shape, :class:`~.errors.InvalidDecision` for a malformed
    decision; an exception raised by the strategy itself propagates unchanged.
    """
    n = len(bars)
    if n == 0:
        raise InvalidCandles("there are no candles to backtest")
    use_fast = strategy.signal_only if fast is None else fast
    if use_fast and not strategy.signal_only:
        raise ValueError(f"{strategy.name} is not signal-only: it has no fast path")
    if benchmark is not None and np.shape(benchmark) != (n,):
        raise ValueError("benchmark must have one value per bar")
    indicators = _indicators(strategy, bars)
    with Broker(bars, config) as broker:  # its decimal context, once for the run
        if use_fast:
            run_signals(bars, strategy, indicators, broker)
            if progress is not None:
                progress(n, n)
        else:
            _run_loop(bars, strategy, indicators, broker, progress)
        return _result(bars, strategy, config, broker, use_fast, benchmark)


def _indicators(strategy: Strategy[Any], bars: Bars) -> dict[str, FloatArray]:
    n = len(bars)
    indicators = dict(strategy.indicators(bars))
    for name, values in indicators.items():
        if np.shape(values) != (n,):
            raise ValueError(
                f"{strategy.name}: indicator {name!r} has shape {np.shape(values)}, not ({n},)"
            )
    return indicators


def _run_loop(
    bars: Bars,
    strategy: Strategy[Any],
    indicators: dict[str, FloatArray],
    broker: Broker,
    progress: Progress | None,
) -> None:
    n = len(bars)
    closes: list[float] = bars.close.tolist()
    step = max(1, -(-n // PROGRESS_REPORTS))
    decide = strategy.decide
    process_bar = broker.process_bar
    submit = broker.submit
    hold = Action.HOLD
    for i in range(n):
        process_bar(i)
        ctx = BarContext(
            i,
            bars.upto(i),
            _IndicatorsUpTo(indicators, i + 1),
            broker.cash_f,
            broker.quantity_f,
            broker.total_cash_f + broker.quantity_f * closes[i],
            broker.avg_entry_f,
            broker.open_orders,
        )
        decision = decide(ctx)
        if getattr(decision, "action", None) is not hold:
            submit(i, decision)
        if progress is not None and ((i + 1) % step == 0 or i + 1 == n):
            progress(i + 1, n)


def _bar_ms(time: IntArray) -> int:
    """The median spacing of the bars (checked for the common regular series first)."""
    if time.shape[0] < 2:
        return DAY_MS
    steps = np.diff(time)
    first = int(steps[0])
    if bool((steps == first).all()):
        return max(1, first)
    return max(1, int(np.median(steps)))


def _result(
    bars: Bars,
    strategy: Strategy[Any],
    config: BacktestConfig,
    broker: Broker,
    fast: bool,
    benchmark: FloatArray | None,
) -> BacktestResult:
    equity, exposure = broker.equity_curve()
    final_capital = broker.finish()
    # the position still open at the end counts as a trade, valued at the last close (as
    # backtesting.py's finalize_trades does): buy-and-hold is one trade, not none
    stats = summarize(
        equity,
        periods_per_year=periods_per_year(_bar_ms(bars.time)),
        trade_pnls=[float(t.pnl) for t in broker.trades],
        exposure=exposure,
        benchmark=bars.close if benchmark is None else benchmark,
    ) | {"open_trades": sum(1 for t in broker.trades if not t.closed)}
    return BacktestResult(
        strategy=strategy.name,
        parameters=strategy.params.model_dump(mode="json"),
        config=config,
        time=bars.time,
        equity=equity,
        initial_capital=config.initial_capital,
        final_capital=final_capital,
        fills=broker.fills,
        trades=broker.trades,
        exposure=exposure,
        stats=dict(stats),
        fast_path=fast,
    )
