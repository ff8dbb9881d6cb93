"""The fast path gives exactly the bar-by-bar loop's result for signal-only strategies:
the same fills, trades, final capital and equity (to the float), on random candles with
price gaps, time gaps and zero-volume bars, under every fill model and random fees."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryptotrader.backtest import BacktestConfig, BacktestResult, run_backtest
from cryptotrader.strategies.base import (
    HOLD,
    Action,
    BarContext,
    Bars,
    Decision,
    FloatArray,
    SignalArray,
    Strategy,
    StrategyParams,
)
from cryptotrader.strategies.registry import STRATEGIES, build_strategy

DAY = 86_400_000


class NoParams(StrategyParams):
    pass


class GivenSignals(Strategy[NoParams]):
    """Signal-only: +1 buys all, -1 sells all, from a given array (its only indicator)."""

    name: ClassVar[str] = "given_signals"
    params_model: ClassVar[type[StrategyParams]] = NoParams
    signal_only: ClassVar[bool] = True

    def __init__(self, signals: np.ndarray[Any, Any]) -> None:
        super().__init__(NoParams())
        self._signals = np.asarray(signals, dtype=np.int8)

    def indicators(self, bars: Bars) -> dict[str, FloatArray]:
        return {"signal": self._signals.astype(np.float64)}

    def signals(self, bars: Bars, indicators: Mapping[str, FloatArray]) -> SignalArray:
        return indicators["signal"].astype(np.int8)

    def decide(self, ctx: BarContext) -> Decision:
        s = ctx.value("signal")
        if s > 0:
            return Decision(Action.BUY)
        if s < 0:
            return Decision(Action.SELL)
        return HOLD


def random_bars(seed: int, n: int, scale: float, rounded: bool) -> Bars:
    """A random walk with price gaps, time gaps (up to days) and zero-volume bars."""
    rng = np.random.default_rng(seed)
    jump = np.where(rng.random(n) < 0.1, rng.normal(0, 0.08, n), rng.normal(0, 0.003, n))
    opens = scale * np.exp(np.cumsum(jump))
    body = rng.normal(0, 0.015, n)
    closes = opens * np.exp(body)
    highs = np.maximum(opens, closes) * np.exp(np.abs(rng.normal(0, 0.01, n)))
    lows = np.minimum(opens, closes) * np.exp(-np.abs(rng.normal(0, 0.01, n)))
    if rounded and scale >= 1:  # cents, as most real data (rounding keeps the order)
        opens, highs, lows, closes = (np.round(x, 2) for x in (opens, highs, lows, closes))
    volume = np.where(rng.random(n) < 0.2, 0.0, rng.exponential(20, n))
    flat = volume == 0
    highs = np.where(flat & (rng.random(n) < 0.5), np.maximum(opens, closes), highs)
    steps = np.where(rng.random(n) < 0.05, rng.integers(1, 3 * DAY, n), 60_000)
    time = np.cumsum(steps).astype(np.int64)
    return Bars(time, opens, highs, lows, closes, volume)


def assert_same(loop: BacktestResult, fast: BacktestResult) -> None:
    assert not loop.fast_path
    assert fast.fast_path
    assert fast.fills == loop.fills
    assert fast.trades == loop.trades
    assert fast.final_capital == loop.final_capital
    assert np.array_equal(fast.equity, loop.equity)
    assert fast.exposure == loop.exposure
    assert fast.stats == loop.stats


def both(bars: Bars, strategy: Strategy[Any], config: BacktestConfig) -> BacktestResult:
    loop = run_backtest(bars, strategy, config, fast=False)
    fast = run_backtest(bars, strategy, config)
    assert_same(loop, fast)
    return fast


money = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1e9"), places=8)
rates = st.decimals(min_value=Decimal(0), max_value=Decimal("0.01"), places=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 160),
    scale=st.sampled_from([0.000123, 0.5, 97.0, 42_000.0]),
    rounded=st.booleans(),
    activity=st.floats(0.05, 0.9),
    model=st.sampled_from(["ideal", "fixed", "volume"]),
    capital=money,
    taker=rates,
    slippage=st.decimals(min_value=Decimal(0), max_value=Decimal(60), places=2),
)
def test_the_fast_path_equals_the_loop_on_random_markets(
    seed: int,
    n: int,
    scale: float,
    rounded: bool,
    activity: float,
    model: str,
    capital: Decimal,
    taker: Decimal,
    slippage: Decimal,
) -> None:
    bars = random_bars(seed, n, scale, rounded)
    rng = np.random.default_rng(seed + 1)
    draw = rng.random(n)
    signals = np.where(draw < activity / 2, 1, np.where(draw > 1 - activity / 2, -1, 0))
    config = BacktestConfig(
        initial_capital=capital,
        fill_model=model,  # type: ignore[arg-type]
        taker_fee_rate=taker,
        slippage_bps=slippage,
    )
    both(bars, GivenSignals(signals), config)


def test_leftover_cash_tops_a_position_up_in_both_paths() -> None:
    # 1000.0000015 buys 10.00000001 at 100 and leaves 0.0000005, which buys 1e-8 at 40
    n = 6
    opens = np.array([100.0, 100.0, 70.0, 40.0, 45.0, 45.0])
    bars = Bars(np.arange(n, dtype=np.int64) * 60_000, opens, opens, opens, opens, np.ones(n))
    config = BacktestConfig(
        initial_capital=Decimal("1000.0000015"), fill_model="ideal", taker_fee_rate=Decimal(0)
    )
    result = both(bars, GivenSignals(np.array([1, 1, 1, 0, -1, 0])), config)
    assert [(f.bar, f.side, f.quantity) for f in result.fills] == [
        (1, "buy", Decimal("10.00000001")),
        (3, "buy", Decimal("1E-8")),
        (5, "sell", Decimal("10.00000002")),
    ]
    assert len(result.trades) == 2  # one round trip per buy


def test_a_failed_entry_leaves_the_strategy_flat_for_the_next_signal() -> None:
    n = 6
    opens = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    bars = Bars(np.arange(n, dtype=np.int64) * 60_000, opens, opens, opens, opens, np.ones(n))
    config = BacktestConfig(initial_capital=Decimal("0.000000001"), fill_model="ideal")
    result = both(bars, GivenSignals(np.array([1, -1, 1, 1, -1, 1])), config)
    assert result.fills == []


SIGNAL_ONLY = sorted(name for name, cls in STRATEGIES.items() if cls.signal_only)


@pytest.mark.parametrize("name", SIGNAL_ONLY)
@pytest.mark.parametrize("model", ["ideal", "fixed", "volume"])
def test_every_signal_only_builtin_takes_the_fast_path_with_the_loops_result(
    name: str, model: str
) -> None:
    strategy = build_strategy(name, {})
    config = BacktestConfig(fill_model=model, slippage_bps=Decimal(7))  # type: ignore[arg-type]
    fills = 0
    for seed in range(4):
        bars = random_bars(seed, 600, 20_000.0, rounded=seed % 2 == 0)
        fills += len(both(bars, strategy, config).fills)
    assert fills > 0


@pytest.mark.parametrize("name", ["buy_and_hold", "given_signals"])
def test_a_position_held_to_the_end_is_one_open_trade_in_both_paths(name: str) -> None:
    bars = random_bars(7, 300, 20_000.0, rounded=True)
    strategy = (
        build_strategy(name, {}) if name in STRATEGIES else GivenSignals(np.eye(1, 300, 5)[0])
    )
    result = both(bars, strategy, BacktestConfig())
    (trade,) = result.trades
    assert trade.is_open and trade.exit_reason == "end" and trade.exit_bar == 299
    assert trade.exit_price == Decimal(repr(float(bars.close[-1])))
    assert (result.stats["total_trades"], result.stats["open_trades"]) == (1, 1)
    won = int(trade.pnl > 0)
    assert (result.stats["winning_trades"], result.stats["losing_trades"]) == (won, 1 - won)


def test_signals_of_the_wrong_shape_or_values_are_refused() -> None:
    bars = random_bars(1, 10, 100.0, rounded=True)
    config = BacktestConfig()

    class Wrong(GivenSignals):
        def signals(self, bars: Bars, indicators: Mapping[str, FloatArray]) -> SignalArray:
            return np.zeros(3, dtype=np.int8)

    with pytest.raises(ValueError, match="shape"):
        run_backtest(bars, Wrong(np.zeros(10)), config)
    with pytest.raises(ValueError, match="-1, 0 or 1"):
        run_backtest(bars, GivenSignals(np.full(10, 2)), config)
