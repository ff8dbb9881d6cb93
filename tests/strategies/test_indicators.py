"""Indicators against values computed by hand and against plain-Python references that
spell out each convention (seeding, Wilder's smoothing, ddof=0), within 1e-9 relative."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cryptotrader.strategies import indicators as ta

NAN = math.nan
T, F = True, False
REL = 1e-9


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def assert_close(actual: np.ndarray, expected: np.ndarray | list[float]) -> None:
    np.testing.assert_allclose(actual, np.asarray(expected, dtype=np.float64), rtol=REL, atol=0)


def random_walk(seed: int, n: int = 300) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))


# Plain-Python references: one loop each, no library


def ref_sma(x: list[float], n: int) -> list[float]:
    return [NAN if i < n - 1 else sum(x[i - n + 1 : i + 1]) / n for i in range(len(x))]


def ref_ema(x: list[float], n: int, seed_at: int | None = None) -> list[float]:
    """EMA seeded at ``seed_at`` (default ``n - 1``) with the SMA of the n values ending
    there; NaN in ``x`` before the first defined value is skipped."""
    first = next(i for i, v in enumerate(x) if not math.isnan(v))
    start = first + n - 1 if seed_at is None else seed_at
    alpha = 2 / (n + 1)
    out = [NAN] * len(x)
    e = sum(x[start - n + 1 : start + 1]) / n
    out[start] = e
    for i in range(start + 1, len(x)):
        e = e + alpha * (x[i] - e)
        out[i] = e
    return out


def ref_wilder(values: list[float], n: int) -> list[float]:
    """Wilder's smoothing of values[1:] (values[0] is undefined), from index n."""
    out = [NAN] * len(values)
    avg = sum(values[1 : n + 1]) / n
    out[n] = avg
    for i in range(n + 1, len(values)):
        avg = (avg * (n - 1) + values[i]) / n
        out[i] = avg
    return out


def ref_rsi(x: list[float], n: int) -> list[float]:
    changes = [0.0] + [x[i] - x[i - 1] for i in range(1, len(x))]
    gain = ref_wilder([max(c, 0.0) for c in changes], n)
    loss = ref_wilder([max(-c, 0.0) for c in changes], n)
    return [NAN if math.isnan(g) else 100 * g / (g + lo) for g, lo in zip(gain, loss, strict=True)]


def ref_atr(h: list[float], lo: list[float], c: list[float], n: int) -> list[float]:
    tr = [NAN] + [
        max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(c))
    ]
    return ref_wilder(tr, n)


def ref_macd(
    x: list[float], fast: int, slow: int, signal: int
) -> tuple[list[float], list[float], list[float]]:
    """TA-Lib's MACD: both EMAs seeded at bar slow - 1; all lines from slow + signal - 2."""
    line = [
        f - s for f, s in zip(ref_ema(x, fast, seed_at=slow - 1), ref_ema(x, slow), strict=True)
    ]
    sig = ref_ema(line, signal)
    start = slow + signal - 2
    line = [NAN if i < start else v for i, v in enumerate(line)]
    hist = [a - b for a, b in zip(line, sig, strict=True)]
    return line, sig, hist


# SMA / EMA


def test_sma_by_hand() -> None:
    assert_close(ta.sma(arr(1, 2, 3, 4, 5), 3), [NAN, NAN, 2, 3, 4])


def test_sma_of_one_bar_is_a_copy_of_the_series() -> None:
    x = arr(1, 2, 3)
    out = ta.sma(x, 1)
    assert_close(out, x)
    assert out is not x


def test_ema_is_seeded_with_the_sma_of_the_first_period() -> None:
    # alpha = 2 / (3 + 1) = 0.5; seed (2 + 4 + 6) / 3 = 4; then e += 0.5 * (x - e)
    out = ta.ema(arr(2, 4, 6, 8, 12, 14, 16), 3)
    assert_close(out, [NAN, NAN, 4, 6, 9, 11.5, 13.75])


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("n", [2, 5, 30])
def test_sma_and_ema_match_the_references(seed: int, n: int) -> None:
    x = random_walk(seed)
    assert_close(ta.sma(x, n), ref_sma(x.tolist(), n))
    assert_close(ta.ema(x, n), ref_ema(x.tolist(), n))


# RSI

WILDER_CLOSES = [
    44.3389, 44.0902, 44.1497, 43.6124, 44.3278, 44.8264, 45.0955, 45.4245, 45.8433,
    46.0826, 45.8931, 46.0328, 45.6140, 46.2820, 46.2820, 46.0028, 46.0328, 46.4116,
    46.2222, 45.6439, 46.2122, 46.2521, 45.7137, 46.4515, 45.7835, 45.3548, 44.0288,
    44.1783, 44.2181, 44.5672, 43.4205, 42.6628, 43.1314,
]  # fmt: skip
"""The textbook RSI(14) example (StockCharts' worked spreadsheet of Wilder's method)."""
WILDER_RSI = [
    70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42,
    39.99, 41.46, 41.87, 45.46, 37.30, 33.08, 37.77,
]  # fmt: skip
"""Its published RSI from bar 14 on, rounded to two decimals."""


def test_rsi_by_hand() -> None:
    # changes +1 +1 -1 -1 -1 +1 +1; n = 2: seed gain 1, loss 0 -> 100;
    # then avg = (avg + x) / 2: (0.5, 0.5) -> 50, (0.25, 0.75) -> 25, (0.125, 0.875) -> 12.5,
    # (0.5625, 0.4375) -> 56.25, (0.78125, 0.21875) -> 78.125
    out = ta.rsi(arr(10, 11, 12, 11, 10, 9, 10, 11), 2)
    assert_close(out, [NAN, NAN, 100, 50, 25, 12.5, 56.25, 78.125])


def test_rsi_on_wilders_textbook_series() -> None:
    out = ta.rsi(arr(*WILDER_CLOSES), 14)
    assert np.isnan(out[:14]).all()
    np.testing.assert_allclose(out[14:], WILDER_RSI, atol=0.006)
    assert_close(out, ref_rsi(WILDER_CLOSES, 14))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("n", [2, 14])
def test_rsi_matches_the_reference(seed: int, n: int) -> None:
    x = random_walk(seed)
    assert_close(ta.rsi(x, n), ref_rsi(x.tolist(), n))


def test_rsi_of_a_series_that_never_moved_is_zero_as_in_ta_lib() -> None:
    assert_close(ta.rsi(arr(5, 5, 5, 5), 2), [NAN, NAN, 0, 0])


# MACD


def test_macd_by_hand() -> None:
    # slow EMA(3), alpha 1/2, seeded at bar 2 with (1+2+4)/3: 7/3, 14/3, 47/6, 143/12
    # fast EMA(2), alpha 2/3, seeded at bar 2 with (2+4)/2:  3, 17/3, 83/9, 371/27
    # line: 2/3, 1, 25/18, 197/108; signal EMA(2) seeded at bar 3 with (2/3+1)/2:
    # 5/6, 65/54, 131/81
    line, signal, hist = ta.macd(arr(1, 2, 4, 7, 11, 16), fast=2, slow=3, signal=2)
    assert_close(line, [NAN, NAN, NAN, 1, 25 / 18, 197 / 108])
    assert_close(signal, [NAN, NAN, NAN, 5 / 6, 65 / 54, 131 / 81])
    assert_close(hist, [NAN, NAN, NAN, 1 / 6, 25 / 18 - 65 / 54, 197 / 108 - 131 / 81])


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (3, 7, 1), (2, 3, 4)])
def test_macd_matches_the_reference(seed: int, fast: int, slow: int, signal: int) -> None:
    x = random_walk(seed)
    got = ta.macd(x, fast, slow, signal)
    want = ref_macd(x.tolist(), fast, slow, signal)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9 * float(np.max(np.abs(x))))


def test_macd_refuses_fast_not_below_slow() -> None:
    with pytest.raises(ValueError, match="below slow"):
        ta.macd(arr(1, 2, 3), fast=5, slow=5)


# Bollinger


def test_bollinger_by_hand_uses_the_population_deviation() -> None:
    # windows [10 10 13] and [10 13 13]: deviation sqrt(6/3) = sqrt(2); [13 13 13]: 0;
    # [13 13 9]: mean 35/3, deviation sqrt(32)/3
    upper, middle, lower = ta.bollinger(arr(10, 10, 13, 13, 13, 9), period=3, std_dev=1.0)
    dev = [NAN, NAN, math.sqrt(2), math.sqrt(2), 0.0, math.sqrt(32) / 3]
    mid = [NAN, NAN, 11, 12, 13, 35 / 3]
    assert_close(middle, mid)
    assert_close(upper, [m + d for m, d in zip(mid, dev, strict=True)])
    assert_close(lower, [m - d for m, d in zip(mid, dev, strict=True)])


@pytest.mark.parametrize("seed", [1, 2])
def test_bollinger_matches_numpy(seed: int) -> None:
    x = random_walk(seed)
    upper, middle, lower = ta.bollinger(x, period=20, std_dev=2.5)
    windows = np.lib.stride_tricks.sliding_window_view(x, 20)
    mean, std = windows.mean(axis=1), windows.std(axis=1, ddof=0)
    assert np.isnan(middle[:19]).all()
    np.testing.assert_allclose(middle[19:], mean, rtol=REL)
    np.testing.assert_allclose(upper[19:], mean + 2.5 * std, rtol=REL)
    np.testing.assert_allclose(lower[19:], mean - 2.5 * std, rtol=REL)


# ATR


def test_atr_by_hand() -> None:
    # true ranges of bars 1..4: max(1, 1.5, 0.5) = 1.5, max(1, 4.5, 3.5) = 4.5,
    # max(4, 2.5, 6.5) = 6.5, max(2, 0, 2) = 2; ATR(2): seed (1.5 + 4.5) / 2 = 3, then
    # (3 + 6.5) / 2 = 4.75, (4.75 + 2) / 2 = 3.375
    high, low = arr(10, 11, 15, 12, 9), arr(9, 10, 14, 8, 7)
    close = arr(9.5, 10.5, 14.5, 9, 8)
    assert_close(ta.atr(high, low, close, 2), [NAN, NAN, 3, 4.75, 3.375])


@pytest.mark.parametrize("seed", [1, 2])
def test_atr_matches_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    close = random_walk(seed)
    high = close * (1 + rng.uniform(0, 0.02, close.shape[0]))
    low = close * (1 - rng.uniform(0, 0.02, close.shape[0]))
    got = ta.atr(high, low, close, 14)
    assert_close(got, ref_atr(high.tolist(), low.tolist(), close.tolist(), 14))


# VWAP


def test_rolling_vwap_by_hand() -> None:
    # typical prices 2, 4, 6 with volumes 1, 2, 3
    high, low, close, volume = arr(3, 6, 9), arr(1, 2, 3), arr(2, 4, 6), arr(1, 2, 3)
    assert_close(ta.vwap(high, low, close, volume, 2), [NAN, 10 / 3, 26 / 5])
    assert_close(ta.vwap(high, low, close, volume, 1), [2, 4, 6])
    assert_close(ta.vwap(high, low, close, volume, 3), [NAN, NAN, 28 / 6])
    assert np.isnan(ta.vwap(high, low, close, volume, 4)).all()


def test_rolling_vwap_is_nan_where_the_window_has_no_volume() -> None:
    price = arr(1, 2, 3, 4)
    out = ta.vwap(price, price, price, arr(0, 0, 1, 0), 2)
    assert_close(out, [NAN, NAN, 3, 3])


def test_session_vwap_restarts_each_utc_day() -> None:
    hour = 3_600_000
    time = np.array([ta.DAY_MS - 2 * hour, ta.DAY_MS - hour, ta.DAY_MS, ta.DAY_MS + hour])
    price, volume = arr(2, 4, 6, 8), arr(1, 2, 0, 1)
    out = ta.session_vwap(time, price, price, price, volume)
    # day 0: 2, (2 + 8) / 3; day 1: no volume yet, then 8
    assert_close(out, [2, 10 / 3, NAN, 8])


# crossover


def test_crossover_is_strict_on_both_sides() -> None:
    b = arr(2, 2, 2, 2, 2, 2)
    assert ta.crossover(arr(1, 3, 2, 2, 3, 1), b).tolist() == [F, T, F, F, F, F]
    # touching (2 == 2) and then going above is not a cross: backtesting.py's rule
    assert ta.crossover(b, arr(1, 3, 2, 2, 3, 1)).tolist() == [F, F, F, F, F, T]


def test_crossover_is_false_around_nan() -> None:
    assert ta.crossover(arr(NAN, 3, 1, NAN), arr(2, 2, 2, 0)).tolist() == [F, F, F, F]
    assert ta.crossover(arr(), arr()).tolist() == []


@pytest.mark.parametrize(
    "call",
    [
        lambda: ta.sma(arr(1, 2), 0),
        lambda: ta.ema(arr(1, 2), 100_001),
        lambda: ta.rsi(arr(1, 2), 1),
        lambda: ta.bollinger(arr(1, 2), 20, 0.0),
        lambda: ta.vwap(arr(1), arr(1), arr(1), arr(1), 0),
        lambda: ta.session_vwap(np.array([0]), arr(1), arr(1), arr(1), arr(1), 0),
    ],
)
def test_bad_periods_are_refused(call: object) -> None:
    with pytest.raises(ValueError, match="must be"):
        call()  # type: ignore[operator]
