"""No look-ahead: changing any bar after bar ``i`` never changes a decision at or before
``i``, for every registered strategy, nor an indicator value or signal up to ``i``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptotrader.strategies import STRATEGIES, Action, Bars, build_strategy
from cryptotrader.strategies import indicators as ta
from tests.strategies.test_builtins import SMALL_PARAMS, random_bars, simulate

N_BARS = 160


def with_new_future(bars: Bars, i: int, seed: int) -> Bars:
    """``bars`` up to ``i`` followed by a different random future of the same length."""
    future = random_bars(np.random.default_rng(seed), len(bars) - i - 1, float(bars.close[i]))

    def splice(past: np.ndarray, new: np.ndarray) -> np.ndarray:
        return np.concatenate([past[: i + 1], new])

    return Bars(
        time=bars.time,
        open=splice(bars.open, future.open),
        high=splice(bars.high, future.high),
        low=splice(bars.low, future.low),
        close=splice(bars.close, future.close),
        volume=splice(bars.volume, future.volume),
    )


def assert_prefix_equal(a: np.ndarray, b: np.ndarray, i: int) -> None:
    """Bit for bit, NaN included."""
    np.testing.assert_array_equal(a[: i + 1], b[: i + 1], strict=True)


cases = given(
    seed=st.integers(0, 2**32 - 1),
    cut=st.integers(0, N_BARS - 2),
    other_seed=st.integers(0, 2**32 - 1),
)


@pytest.mark.parametrize("name", list(STRATEGIES))
@pytest.mark.parametrize("small", [True, False], ids=["small", "defaults"])
@settings(max_examples=30, deadline=None)
@cases
def test_decisions_up_to_i_ignore_every_later_bar(
    name: str, small: bool, seed: int, cut: int, other_seed: int
) -> None:
    strategy = build_strategy(name, SMALL_PARAMS[name] if small else {})
    bars = random_bars(np.random.default_rng(seed), N_BARS)
    changed = with_new_future(bars, cut, other_seed)
    assert not np.array_equal(bars.close[cut + 1 :], changed.close[cut + 1 :])

    assert simulate(strategy, bars)[: cut + 1] == simulate(strategy, changed)[: cut + 1]

    before, after = strategy.indicators(bars), strategy.indicators(changed)
    assert before.keys() == after.keys()
    for key in before:
        assert_prefix_equal(before[key], after[key], cut)
    if strategy.signal_only:
        assert_prefix_equal(strategy.signals(bars, before), strategy.signals(changed, after), cut)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_the_lookahead_test_sees_trades(name: str) -> None:
    """The random series above are not all holds: each strategy buys (and the ones that
    sell, sell) on them, so the look-ahead test compares real decisions."""
    strategy = build_strategy(name, SMALL_PARAMS[name])
    seen = {
        d.action
        for seed in range(5)
        for d in simulate(strategy, random_bars(np.random.default_rng(seed), N_BARS))
    }
    never_sells = {"dca", "buy_and_hold"}
    assert Action.BUY in seen
    assert (Action.SELL in seen) == (name not in never_sells)


IndicatorCall = Callable[[Bars], tuple[np.ndarray, ...]]

INDICATORS: dict[str, IndicatorCall] = {
    "sma": lambda b: (ta.sma(b.close, 7),),
    "ema": lambda b: (ta.ema(b.close, 7),),
    "rsi": lambda b: (ta.rsi(b.close, 7),),
    "macd": lambda b: tuple(ta.macd(b.close, 4, 9, 3)),
    "bollinger": lambda b: tuple(ta.bollinger(b.close, 10, 2.0)),
    "atr": lambda b: (ta.atr(b.high, b.low, b.close, 7),),
    "vwap": lambda b: (ta.vwap(b.high, b.low, b.close, b.volume, 7),),
    "session_vwap": lambda b: (
        ta.session_vwap(b.time * 1000, b.high, b.low, b.close, b.volume, ta.DAY_MS),
    ),
}


@pytest.mark.parametrize("name", list(INDICATORS))
@settings(max_examples=40, deadline=None)
@cases
def test_every_indicator_is_causal(name: str, seed: int, cut: int, other_seed: int) -> None:
    """The value at ``i`` is the same whatever follows, and the same as computed on the
    bars known at ``i`` alone."""
    compute = INDICATORS[name]
    bars = random_bars(np.random.default_rng(seed), N_BARS)
    whole = compute(bars)
    for other in (compute(with_new_future(bars, cut, other_seed)), compute(bars.upto(cut))):
        for full, part in zip(whole, other, strict=True):
            assert_prefix_equal(full, part, cut)
