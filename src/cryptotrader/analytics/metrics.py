"""Performance metrics: pure functions over an equity curve, its returns and closed trades.

One implementation serves backtests now and account analytics later. Everything is
vectorised numpy float64; no function loops over bars in Python.

Conventions (each function's docstring gives its formula and source):

- **Returns** are simple per-bar returns ``r_i = e_i / e_{i-1} - 1`` of the equity curve
  ``e``. ``risk_free`` and ``required_return`` are rates *per bar*, as in empyrical.
- **Annualisation**: crypto trades every day, so a year is 365 days and
  ``periods_per_year = 365 * 86_400_000 / bar_ms`` (daily 365, hourly 8760, 1m 525600).
- **Reference**: empyrical (empyrical-reloaded 0.7, ``empyrical/stats.py``);
  the tests cross-check every shared metric against it. Where references disagree we
  follow empyrical: sample standard deviation (``ddof=1``), Sortino's downside deviation
  over *all* bars, and **compounded** annual alpha (quantstats annualises alpha simply
  as ``mean * periods_per_year``; we do not).
- **Undefined is None**, never inf or NaN: fewer than two returns, zero variance, no
  trades, no losing trade (profit factor), no drawdown (Calmar), a figure that overflows
  float64. Zero variance means the spread of the values is within ``1e-12`` of their
  magnitude, so rounding noise of a constant-rate curve does not yield a Sharpe of 1e16.
- **Malformed input raises ValueError**: not one-dimensional, non-finite values,
  negative equity, a first equity value that is not positive, mismatched lengths, a
  non-positive annualisation factor, exposure outside 0..1; and fewer than two points
  for the two functions typed ``-> float`` (:func:`total_return`, :func:`annual_return`,
  which also raises OverflowError). :func:`summarize` turns those into None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]
Series: TypeAlias = npt.NDArray[np.floating[Any]] | npt.NDArray[np.integer[Any]] | Sequence[float]
"""Any 1-D run of numbers: a float or int array, a list or tuple of floats."""
Summary: TypeAlias = dict[str, float | int | None]

DAY_MS = 86_400_000
DAYS_PER_YEAR = 365
_FLAT_TOLERANCE = 1e-12

SUMMARY_KEYS: tuple[str, ...] = (
    "total_return",
    "annual_return",
    "volatility",
    "sharpe_ratio",
    "sortino_ratio",
    "max_drawdown",
    "max_drawdown_start",
    "max_drawdown_end",
    "current_drawdown",
    "calmar_ratio",
    "win_rate",
    "avg_win",
    "avg_loss",
    "profit_factor",
    "expectancy",
    "exposure",
    "alpha",
    "beta",
    "correlation",
    "total_trades",
    "winning_trades",
    "losing_trades",
    "best_trade",
    "worst_trade",
)
"""The keys of :func:`summarize`, in order."""


def periods_per_year(bar_ms: int) -> float:
    """Bars in a 365-day year: ``365 * 86_400_000 / bar_ms``.

    Daily bars give 365, hourly 8760, one-minute 525600. Crypto markets never close, so
    the equity convention of 252 trading days does not apply.
    """
    if bar_ms <= 0:
        raise ValueError("bar_ms must be positive")
    return DAYS_PER_YEAR * DAY_MS / bar_ms


def returns_from_equity(equity: Series) -> FloatArray:
    """Simple returns ``r_i = (e_i - e_{i-1}) / e_{i-1}``, length ``n - 1`` (empty below 2).

    Once equity reaches zero the account is flat by definition: a return from zero
    equity is taken as 0 rather than undefined.
    """
    return _returns(_as_equity(equity))


def total_return(equity: Series) -> float:
    """Return over the whole curve: ``e_last / e_first - 1``.

    Raises ValueError below two points (no period has passed).
    """
    e = _at_least_two(_as_equity(equity))
    return float((e[-1] - e[0]) / e[0])


def annual_return(equity: Series, periods_per_year: float) -> float:
    """Compound annual growth rate over the ``n - 1`` periods of the curve.

    ``CAGR = (e_last / e_first) ** (periods_per_year / (n - 1)) - 1``, as empyrical's
    ``annual_return``/``cagr`` (``ending_value ** (1 / num_years) - 1`` with
    ``num_years = len(returns) / annualization``). A curve that ends at zero gives -1.

    Raises ValueError below two points and OverflowError when the figure exceeds
    float64 (a few minute bars compounded to a year); :func:`summarize` reports None then.
    """
    return _cagr(_at_least_two(_as_equity(equity)), _check_ppy(periods_per_year))


def annual_volatility(returns: Series, periods_per_year: float) -> float | None:
    """``std(r, ddof=1) * sqrt(periods_per_year)`` (empyrical ``annual_volatility``).

    None below two returns; 0.0 when the returns are constant.
    """
    return _volatility(_as_series(returns, "returns"), _check_ppy(periods_per_year))


def sharpe_ratio(returns: Series, periods_per_year: float, risk_free: float = 0.0) -> float | None:
    """``mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year)``.

    Sharpe (1994), "The Sharpe Ratio", J. Portfolio Management; computed as empyrical's
    ``sharpe_ratio``. ``risk_free`` is per bar. None below two returns or when the excess
    returns have zero variance.
    """
    return _sharpe(_as_series(returns, "returns"), _check_ppy(periods_per_year), risk_free)


def sortino_ratio(
    returns: Series, periods_per_year: float, required_return: float = 0.0
) -> float | None:
    """``mean(r - T) * ppy / (sqrt(mean(min(r - T, 0) ** 2)) * sqrt(ppy))``, ``T`` per bar.

    Sortino & Price (1994), "Performance measurement in a downside risk framework",
    J. Investing. The downside deviation averages over *all* bars, not only the losing
    ones, as empyrical's ``downside_risk``/``sortino_ratio``. None below two returns or
    when no return falls below ``T`` (zero downside deviation).
    """
    r = _as_series(returns, "returns")
    return _sortino(r, _check_ppy(periods_per_year), required_return)


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The deepest peak-to-trough fall of a curve, and where it stands now.

    ``max_drawdown`` and ``current_drawdown`` are positive fractions (0.25 is 25 %).
    The indices are bar positions; all three are None when the curve never fell.
    ``recovery_index`` is the first bar after the trough back at the peak's value, None
    if it has not recovered.
    """

    max_drawdown: float
    peak_index: int | None
    trough_index: int | None
    recovery_index: int | None
    current_drawdown: float


def drawdown(equity: Series) -> Drawdown:
    """Maximum and current drawdown: ``dd_i = (P_i - e_i) / P_i`` with ``P_i = max(e_0..e_i)``.

    ``max_drawdown = max_i dd_i`` (Magdon-Ismail & Atiya (2004), "Maximum drawdown",
    Risk; empyrical's ``max_drawdown``, which reports it negative). The trough is the first
    bar of the largest drawdown; the peak is the last bar before it at the running high
    (where the fall began), the recovery the first bar after it back at that high, as
    pyfolio's ``get_max_drawdown``. ``current_drawdown = dd_last``.

    Defined for one point (no drawdown); raises ValueError for an empty curve.
    """
    e = _as_equity(equity)
    if e.size == 0:
        raise ValueError("equity is empty")
    return _drawdown(e)


def drawdown_series(equity: Series) -> list[float]:
    """The fall from the running high at each point, ``e_i / max(e_0..e_i) - 1`` (0 at a
    high, -0.25 a quarter below it): the drawdown curve drawn under an equity curve."""
    e = _as_equity(equity)
    if e.size == 0:
        return []
    peak = np.maximum.accumulate(e)
    return [float(v) for v in e / peak - 1.0]


def calmar_ratio(equity: Series, periods_per_year: float) -> float | None:
    """``CAGR / max_drawdown`` over the whole curve.

    Young (1991), "Calmar Ratio: A Smoother Tool", Futures; the original uses the last
    36 months, we use the whole curve as empyrical's ``calmar_ratio``. None below two
    points, without a drawdown, or when the CAGR overflows.
    """
    e = _as_equity(equity)
    ppy = _check_ppy(periods_per_year)
    if e.size < 2:
        return None
    return _calmar(_cagr_or_none(e, ppy), _drawdown(e).max_drawdown)


def trade_stats(pnls: Series) -> Summary:
    """Statistics of closed trades from their net PnLs (in account currency).

    A trade wins when ``pnl > 0`` and loses when ``pnl < 0``; a break-even trade counts
    in ``total_trades`` only.

    - ``win_rate = winning_trades / total_trades``
    - ``avg_win = mean(pnl | pnl > 0)``; ``avg_loss = mean(pnl | pnl < 0)``, negative
    - ``profit_factor = sum(wins) / |sum(losses)|`` (Schwager, "Technical Analysis",
      1996); None when no trade lost (or the ratio overflows float64), 0.0 when trades
      lost and none won
    - ``expectancy = mean(pnl)`` per trade (Tharp, "Trade Your Way to Financial
      Freedom", 1998), which equals ``win_rate * avg_win + loss_rate * avg_loss``
    - ``best_trade = max(pnl)``; ``worst_trade = min(pnl)``

    Without trades every ratio and mean is None and the counts are 0.
    """
    p = _as_series(pnls, "pnls")
    wins = p[p > 0]
    losses = p[p < 0]
    n = int(p.size)
    gross_loss = -float(losses.sum())
    return {
        "win_rate": wins.size / n if n else None,
        "avg_win": float(wins.mean()) if wins.size else None,
        "avg_loss": float(losses.mean()) if losses.size else None,
        "profit_factor": _finite(float(wins.sum()) / gross_loss) if losses.size else None,
        "expectancy": float(p.mean()) if n else None,
        "total_trades": n,
        "winning_trades": int(wins.size),
        "losing_trades": int(losses.size),
        "best_trade": float(p.max()) if n else None,
        "worst_trade": float(p.min()) if n else None,
    }


def alpha_beta(
    returns: Series,
    benchmark_returns: Series,
    periods_per_year: float,
    risk_free: float = 0.0,
) -> tuple[float | None, float | None]:
    """Jensen's alpha (annualised, compounded) and beta against a benchmark.

    With per-bar excess returns ``x = r - rf`` and ``m = b - rf``:
    ``beta = cov(x, m) / var(m)`` and
    ``alpha = (1 + mean(x - beta * m)) ** periods_per_year - 1``.
    Jensen (1968), "The Performance of Mutual Funds in the Period 1945-1964", J. Finance;
    the compounding is **empyrical's** ``alpha``/``beta`` (quantstats' ``greeks``
    annualises simply, ``mean * periods_per_year``; we follow empyrical).
    None, None below two returns or when the benchmark's returns are constant; alpha
    alone is None when it overflows float64 or the mean per-bar alpha is -100 % or less.
    """
    r, b = _paired(returns, benchmark_returns)
    return _alpha_beta(r, b, _check_ppy(periods_per_year), risk_free)


def correlation(returns: Series, benchmark_returns: Series) -> float | None:
    """Pearson correlation ``cov(r, b) / (std(r) * std(b))``.

    None below two returns or when either series is constant.
    """
    return _correlation(*_paired(returns, benchmark_returns))


def summarize(
    equity: Series,
    *,
    periods_per_year: float,
    trade_pnls: Series = (),
    exposure: float = 0.0,
    benchmark: Series | None = None,
    risk_free: float = 0.0,
) -> Summary:
    """All metrics as one flat, JSON-ready dict with exactly :data:`SUMMARY_KEYS`.

    ``benchmark`` is the benchmark's price (or equity) at the same bars as ``equity``,
    e.g. the BTC close for buy-and-hold; alpha, beta and correlation are None without it.
    ``exposure`` (share of bars in the market) is validated to 0..1 and returned as is.
    ``risk_free`` is per bar and is also Sortino's required return. ``volatility`` is
    the annualised volatility; ``max_drawdown_start``/``_end`` are the peak and trough
    bars.

    With fewer than two equity points every equity-derived value is None (no period
    has passed); trade statistics and exposure are reported regardless. No value is
    ever inf or NaN.
    """
    e = _as_equity(equity)
    ppy = _check_ppy(periods_per_year)
    if not 0.0 <= exposure <= 1.0:
        raise ValueError("exposure must be within 0..1")
    bench = None if benchmark is None else _as_equity(benchmark, "benchmark")
    if bench is not None and bench.size != e.size:
        raise ValueError("benchmark must have one value per equity point")
    out: Summary = dict.fromkeys(SUMMARY_KEYS)
    out |= trade_stats(trade_pnls)
    out["exposure"] = float(exposure)
    if e.size < 2:
        return out
    r = _returns(e)
    dd = _drawdown(e)
    cagr = _cagr_or_none(e, ppy)
    out |= {
        "total_return": _finite(float((e[-1] - e[0]) / e[0])),
        "annual_return": cagr,
        "volatility": _volatility(r, ppy),
        "sharpe_ratio": _sharpe(r, ppy, risk_free),
        "sortino_ratio": _sortino(r, ppy, risk_free),
        "max_drawdown": dd.max_drawdown,
        "max_drawdown_start": dd.peak_index,
        "max_drawdown_end": dd.trough_index,
        "current_drawdown": dd.current_drawdown,
        "calmar_ratio": _calmar(cagr, dd.max_drawdown),
    }
    if bench is not None:
        b = _returns(bench)
        out["alpha"], out["beta"] = _alpha_beta(r, b, ppy, risk_free)
        out["correlation"] = _correlation(r, b)
    return out


# The kernels below take validated float64 arrays, so summarize() validates each input
# once instead of once per metric.


def _returns(e: FloatArray) -> FloatArray:
    if e.size < 2:
        return np.empty(0, dtype=np.float64)
    prev = e[:-1]
    out = np.zeros(e.size - 1, dtype=np.float64)
    return np.divide(np.diff(e), prev, out=out, where=prev > 0)


def _cagr(e: FloatArray, ppy: float) -> float:
    growth = float(e[-1] / e[0])
    if growth == 0.0:
        return -1.0
    return math.expm1(math.log(growth) * ppy / (e.size - 1))


def _cagr_or_none(e: FloatArray, ppy: float) -> float | None:
    try:
        return _finite(_cagr(e, ppy))
    except OverflowError:
        return None


def _volatility(r: FloatArray, ppy: float) -> float | None:
    if r.size < 2:
        return None
    if _is_flat(r):
        return 0.0
    return _finite(float(np.std(r, ddof=1)) * math.sqrt(ppy))


def _sharpe(r: FloatArray, ppy: float, risk_free: float) -> float | None:
    excess = r - risk_free
    if excess.size < 2 or _is_flat(excess):
        return None
    return _finite(float(excess.mean() / np.std(excess, ddof=1)) * math.sqrt(ppy))


def _sortino(r: FloatArray, ppy: float, required_return: float) -> float | None:
    if r.size < 2:
        return None
    excess = r - required_return
    downside = np.minimum(excess, 0.0)
    downside_deviation = math.sqrt(float(_dot(downside, downside)) / excess.size)
    if downside_deviation == 0.0:
        return None
    return _finite(float(excess.mean()) * ppy / (downside_deviation * math.sqrt(ppy)))


def _drawdown(e: FloatArray) -> Drawdown:
    peak = np.maximum.accumulate(e)
    dd = (peak - e) / peak
    trough = int(np.argmax(dd))
    deepest = float(dd[trough])
    if deepest == 0.0:
        return Drawdown(0.0, None, None, None, 0.0)
    at_high = e == peak
    peak_index = trough - int(np.argmax(at_high[trough::-1]))
    after = at_high[trough:]
    recovery = trough + int(np.argmax(after)) if bool(after.any()) else None
    return Drawdown(deepest, peak_index, trough, recovery, float(dd[-1]))


def _alpha_beta(
    r: FloatArray, b: FloatArray, ppy: float, risk_free: float
) -> tuple[float | None, float | None]:
    if r.size < 2 or _is_flat(b):
        return None, None
    x = r - risk_free
    m = b - risk_free
    m_centred = m - m.mean()
    beta = float(_dot(m_centred, x) / _dot(m_centred, m_centred))
    mean_alpha = float((x - beta * m).mean())
    if mean_alpha <= -1.0:
        return None, _finite(beta)
    try:
        alpha = math.expm1(ppy * math.log1p(mean_alpha))
    except OverflowError:
        return None, _finite(beta)
    return _finite(alpha), _finite(beta)


def _correlation(r: FloatArray, b: FloatArray) -> float | None:
    if r.size < 2 or _is_flat(r) or _is_flat(b):
        return None
    rc = r - r.mean()
    bc = b - b.mean()
    scale = math.sqrt(float(_dot(rc, rc))) * math.sqrt(float(_dot(bc, bc)))
    if scale == 0.0:
        return None
    return min(1.0, max(-1.0, float(_dot(rc, bc)) / scale))


def _calmar(cagr: float | None, max_drawdown: float) -> float | None:
    if cagr is None or max_drawdown == 0.0:
        return None
    return _finite(cagr / max_drawdown)


def _as_series(values: Series, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if not bool(np.isfinite(array).all()):
        raise ValueError(f"{name} must be finite")
    return array


def _as_equity(values: Series, name: str = "equity") -> FloatArray:
    array = _as_series(values, name)
    if array.size and (array[0] <= 0 or array.min() < 0):
        raise ValueError(f"{name} must start positive and never be negative")
    return array


def _at_least_two(equity: FloatArray) -> FloatArray:
    if equity.size < 2:
        raise ValueError("a return needs at least two equity points")
    return equity


def _paired(returns: Series, benchmark_returns: Series) -> tuple[FloatArray, FloatArray]:
    r = _as_series(returns, "returns")
    b = _as_series(benchmark_returns, "benchmark_returns")
    if r.size != b.size:
        raise ValueError("returns and benchmark_returns must have the same length")
    return r, b


def _check_ppy(periods_per_year: float) -> float:
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError("periods_per_year must be positive")
    return float(periods_per_year)


def _is_flat(values: FloatArray) -> bool:
    """Zero variance, up to the rounding noise of values that should all be equal."""
    high = float(values.max())
    low = float(values.min())
    return high - low <= _FLAT_TOLERANCE * max(abs(high), abs(low))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _dot(a: FloatArray, b: FloatArray) -> float:
    """Σ a·b without BLAS: np.dot hands large vectors to OpenBLAS, whose thread pool wakes
    on every call (slower under load, and slower still in parallel sweep processes) and
    whose summation order depends on the thread count."""
    return float(np.einsum("i,i->", a, b))
