"""Technical indicators over float64 arrays, vectorised and causal.

Every function takes float64 arrays (oldest first) and returns arrays of the same length,
NaN while the indicator warms up. Every value at bar ``i`` depends only on bars ``0..i``,
so an indicator computed once over the whole series and then cut at ``i`` is exactly the
indicator computed on the data known at ``i`` (the look-ahead test relies on this).

SMA, EMA, RSI, MACD, Bollinger bands and ATR come from TA-Lib (the C reference
implementation); VWAP is numpy. TA-Lib's conventions, which differ between libraries:

* EMA is seeded with the SMA of its first ``period`` values, so it starts at bar
  ``period - 1``; smoothing ``alpha = 2 / (period + 1)``.
* RSI and ATR use Wilder's smoothing (``alpha = 1 / period``), each seeded with the simple
  mean of its first ``period`` changes (true ranges), so both start at bar ``period``.
* Bollinger bands use the population standard deviation (``ddof = 0``).
* MACD seeds both EMAs at bar ``slow - 1`` (the fast one with the SMA of the ``fast``
  closes ending there), and reports all three lines from bar ``slow + signal - 2``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import talib
from numpy.lib.stride_tricks import sliding_window_view

from cryptotrader.strategies.base import FloatArray, IntArray

BoolArray = npt.NDArray[np.bool_]

DAY_MS = 86_400_000
"""One UTC day in epoch milliseconds: the default VWAP session."""

_MAX_PERIOD = 100_000  # TA-Lib's own upper bound on every period


class Macd(NamedTuple):
    macd: FloatArray
    signal: FloatArray
    hist: FloatArray


class Bands(NamedTuple):
    upper: FloatArray
    middle: FloatArray
    lower: FloatArray


def _f64(x: npt.ArrayLike) -> FloatArray:
    """``x`` as a contiguous float64 array (no copy when it already is one)."""
    return np.ascontiguousarray(x, dtype=np.float64)


def _check_period(name: str, period: int, minimum: int) -> None:
    if not minimum <= period <= _MAX_PERIOD:
        raise ValueError(f"{name} must be between {minimum} and {_MAX_PERIOD}, got {period}")


def sma(close: FloatArray, period: int) -> FloatArray:
    """Simple moving average of the last ``period`` values; NaN before bar ``period - 1``.
    ``period = 1`` is the series itself (a copy)."""
    _check_period("period", period, 1)
    if period == 1:
        return _f64(close).copy()
    return _f64(talib.SMA(_f64(close), timeperiod=period))


def ema(close: FloatArray, period: int) -> FloatArray:
    """Exponential moving average, ``alpha = 2 / (period + 1)``, seeded at bar
    ``period - 1`` with the SMA of the first ``period`` values (TA-Lib). ``period = 1``
    is the series itself (a copy)."""
    _check_period("period", period, 1)
    if period == 1:
        return _f64(close).copy()
    return _f64(talib.EMA(_f64(close), timeperiod=period))


def rsi(close: FloatArray, period: int = 14) -> FloatArray:
    """Wilder's relative strength index in [0, 100], from bar ``period`` on.

    Average gain and loss are seeded with the simple means of the first ``period``
    changes, then smoothed ``avg = (avg * (period - 1) + x) / period``;
    ``RSI = 100 * avg_gain / (avg_gain + avg_loss)``. While the series has not moved at
    all (both averages zero) TA-Lib reports 0.
    """
    _check_period("period", period, 2)
    return _f64(talib.RSI(_f64(close), timeperiod=period))


def macd(close: FloatArray, fast: int = 12, slow: int = 26, signal: int = 9) -> Macd:
    """MACD line ``EMA(fast) - EMA(slow)``, its signal line ``EMA(signal)`` of the MACD
    line, and the histogram ``macd - signal`` (TA-Lib's MACD: see the module docstring
    for its seeding). All three are NaN before bar ``slow + signal - 2``."""
    _check_period("fast", fast, 2)
    _check_period("slow", slow, 2)
    _check_period("signal", signal, 1)
    if fast >= slow:
        raise ValueError(f"fast ({fast}) must be below slow ({slow})")
    line, sig, hist = talib.MACD(_f64(close), fastperiod=fast, slowperiod=slow, signalperiod=signal)
    return Macd(_f64(line), _f64(sig), _f64(hist))


def bollinger(close: FloatArray, period: int = 20, std_dev: float = 2.0) -> Bands:
    """Bollinger bands: the SMA of ``period`` closes plus and minus ``std_dev`` population
    standard deviations (``ddof = 0``) of the same window; from bar ``period - 1``."""
    _check_period("period", period, 2)
    if not (std_dev > 0 and np.isfinite(std_dev)):
        raise ValueError(f"std_dev must be positive, got {std_dev}")
    upper, middle, lower = talib.BBANDS(
        _f64(close), timeperiod=period, nbdevup=std_dev, nbdevdn=std_dev
    )
    return Bands(_f64(upper), _f64(middle), _f64(lower))


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int = 14) -> FloatArray:
    """Wilder's average true range, from bar ``period`` on. The true range of bar ``i``
    is ``max(high - low, |high - close[i-1]|, |low - close[i-1]|)`` (undefined at bar 0);
    the ATR is seeded with the mean of the true ranges of bars ``1..period``, then
    ``atr = (atr * (period - 1) + tr) / period``."""
    _check_period("period", period, 1)
    return _f64(talib.ATR(_f64(high), _f64(low), _f64(close), timeperiod=period))


def vwap(
    high: FloatArray, low: FloatArray, close: FloatArray, volume: FloatArray, period: int
) -> FloatArray:
    """Rolling volume-weighted average price over the last ``period`` bars:
    ``sum(typical * volume) / sum(volume)`` with ``typical = (high + low + close) / 3``.
    NaN before bar ``period - 1`` and where the window traded no volume. Each window is
    summed on its own (no running sum), so there is no drift over long series."""
    _check_period("period", period, 1)
    typical = (_f64(high) + _f64(low) + _f64(close)) / 3.0
    vol = _f64(volume)
    out = np.full(vol.shape[0], np.nan)
    if vol.shape[0] < period:
        return out
    pv = sliding_window_view(typical * vol, period).sum(axis=1)
    v = sliding_window_view(vol, period).sum(axis=1)
    np.divide(pv, v, out=out[period - 1 :], where=v > 0)
    return out


def session_vwap(
    time: IntArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    session_ms: int = DAY_MS,
) -> FloatArray:
    """VWAP anchored at the start of each session: cumulative ``typical * volume`` over
    cumulative volume since the first bar whose open ``time`` (epoch ms, UTC) falls in
    the current session, sessions being ``time // session_ms`` (UTC days by default).
    NaN while the session has traded no volume."""
    if session_ms <= 0:
        raise ValueError(f"session_ms must be positive, got {session_ms}")
    typical = (_f64(high) + _f64(low) + _f64(close)) / 3.0
    vol = _f64(volume)
    out = np.full(vol.shape[0], np.nan)
    session = np.asarray(time, dtype=np.int64) // session_ms
    starts = np.flatnonzero(np.diff(session, prepend=session[:1] - 1))
    ends = np.append(starts[1:], vol.shape[0])
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        pv = np.cumsum(typical[start:end] * vol[start:end])
        v = np.cumsum(vol[start:end])
        np.divide(pv, v, out=out[start:end], where=v > 0)
    return out


def crossover(a: FloatArray, b: FloatArray) -> BoolArray:
    """True at bar ``i`` when ``a[i-1] < b[i-1] and a[i] > b[i]`` (backtesting.py's
    definition, strict on both sides: touching or equal values never cross). False at
    bar 0 and wherever either value is NaN. ``crossover(b, a)`` is the cross below."""
    x, y = _f64(a), _f64(b)
    out = np.zeros(x.shape[0], dtype=np.bool_)
    out[1:] = (x[:-1] < y[:-1]) & (x[1:] > y[1:])
    return out
