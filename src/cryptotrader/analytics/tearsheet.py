"""A tear sheet from an equity curve: pure, no database (analytics/performance.py loads).

Every figure is analytics/metrics.py's; this module only cuts the curve into windows and
lays the results out (schemas.TearSheet).

- **Windows and periods** are calendar spans ending at ``today``. Each has a *base day*:
  the window holds the last point on or before the base day (its starting value, the close
  before the window) and every point after it; with less history it holds all of it.
  MTD's base is the last day of the previous month, YTD's the last day of the previous
  year, 3M's and 1Y's the same day 3 and 12 months back (clamped to the month's end),
  ``30d``/``90d`` 30 and 90 days back; All and ``all`` have none.
- **Points and bars**: a point is labelled with the start of the bar it closes (a daily
  row with its UTC day at 00:00, a backtest's bar with its open time) and ``bar`` is how
  long that is; so the point labelled ``t`` is the equity at ``t + bar``.
- **Round trips** count in a window when they closed after its base point and before its
  last point's close: ``base + bar <= closed_at < last + bar`` (a trip closed today, after
  the last daily row, is in no window yet).
- **Benchmark**: alpha, beta and correlation of a window need BTC's price at each of its
  points (else they are null); the drawn benchmark is scaled to the equity at the first
  point of the period where the price is known.
- **Monthly returns** compound from the last point of each month (the first month from the
  curve's first point), over the whole history.
- **Drawdowns**: pyfolio's ``gen_drawdown_table``: each fall from a high back to it is one
  period (they cannot overlap), the deepest five of the drawn period, deepest first.
- **Rolling**: metrics.sharpe_ratio and annual_volatility over the ``ROLLING_WINDOW``
  returns ending at each drawn point, computed over the whole history.
"""

from __future__ import annotations

import calendar
from collections.abc import Hashable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from cryptotrader.analytics import metrics
from cryptotrader.analytics.schemas import (
    WINDOWS,
    DrawdownPeriod,
    MonthlyReturns,
    PerformancePoint,
    Period,
    RollingStats,
    TearSheet,
    WindowName,
    WindowStats,
)

ROLLING_WINDOW = 30
TOP_DRAWDOWNS = 5
RoundTrip = tuple[datetime, float]  # (closed_at, net pnl)


def months_back(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier, clamped to that month's last day."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def base_day(span: Period | WindowName, today: date) -> date | None:
    """The day whose close a window or period starts from (None: the whole history)."""
    if span in ("MTD",):
        return today.replace(day=1) - timedelta(days=1)
    if span in ("YTD", "ytd"):
        return date(today.year - 1, 12, 31)
    if span in ("3M",):
        return months_back(today, 3)
    if span in ("1Y", "1y"):
        return months_back(today, 12)
    if span == "30d":
        return today - timedelta(days=30)
    if span == "90d":
        return today - timedelta(days=90)
    return None


def _day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def window_start(times: Sequence[datetime], since: date | None) -> int:
    """The index of a window's first point: the last on or before ``since`` (else 0)."""
    start = 0
    if since is not None:
        for i, at in enumerate(times):
            if _day(at) > since:
                break
            start = i
    return start


def build_tearsheet(
    times: Sequence[datetime],
    equity: Sequence[float],
    benchmark: Sequence[float | None],
    round_trips: Sequence[RoundTrip],
    *,
    periods_per_year: float,
    period: Period,
    today: date,
    bar: timedelta = timedelta(days=1),
) -> TearSheet:
    """The tear sheet of a curve: ``times`` ascending, one ``equity`` and ``benchmark``
    (BTC's price, None where unknown) per time, the closed round trips, the points' annual
    count, the span of a point's bar; the windows end at ``today``. Raises ValueError when
    the lengths differ or the equity is malformed (as metrics does)."""
    if not len(times) == len(equity) == len(benchmark):
        raise ValueError("times, equity and benchmark must have the same length")
    e = np.asarray(equity, dtype=np.float64)
    start = window_start(times, base_day(period, today))
    drawn = slice(start, len(times)) if len(times) else slice(0, 0)
    return TearSheet(
        period=period,
        as_of=times[-1] if len(times) else None,
        periods_per_year=periods_per_year,
        series=_series(times[drawn], e[drawn], benchmark[drawn]),
        rolling=_rolling(times, e, start, periods_per_year),
        monthly_returns=monthly_returns(times, e),
        drawdowns=drawdown_table(times[drawn], e[drawn]),
        stats=[
            _window_stats(name, times, e, benchmark, round_trips, periods_per_year, today, bar)
            for name in WINDOWS
        ],
    )


def _underwater(e: np.ndarray[Any, Any]) -> list[float]:
    return metrics.drawdown_series(e) if e.size and e[0] > 0 else [0.0] * int(e.size)


def _series(
    times: Sequence[datetime], e: np.ndarray[Any, Any], benchmark: Sequence[float | None]
) -> list[PerformancePoint]:
    known = [i for i, b in enumerate(benchmark) if b is not None and b > 0]
    scale = float(e[known[0]]) / float(benchmark[known[0]] or 1.0) if known else 0.0
    return [
        PerformancePoint.model_validate(
            {
                "at": at,
                "equity": float(value),
                "benchmark": None if b is None or b <= 0 else b * scale,
                "drawdown": dd,
            }
        )
        for at, value, b, dd in zip(times, e, benchmark, _underwater(e), strict=True)
    ]


def _rolling(
    times: Sequence[datetime], e: np.ndarray[Any, Any], start: int, ppy: float
) -> RollingStats:
    returns = metrics.returns_from_equity(e) if e.size and e[0] > 0 else np.empty(0)
    points = []
    for i in range(start, int(e.size)):
        sharpe = volatility = None
        if i >= ROLLING_WINDOW and returns.size >= i:
            window = returns[i - ROLLING_WINDOW : i]
            sharpe = metrics.sharpe_ratio(window, ppy)
            volatility = metrics.annual_volatility(window, ppy)
        points.append({"at": times[i], "sharpe_ratio": sharpe, "volatility": volatility})
    return RollingStats.model_validate({"window": ROLLING_WINDOW, "points": points})


def _compounded(e: np.ndarray[Any, Any], keys: Sequence[Hashable]) -> dict[Hashable, float | None]:
    """Each key's return from the last point of the key before it (the first key's from
    the curve's first point) to its own last point; a key holding only the first point
    has none."""
    out: dict[Hashable, float | None] = {}
    base = 0
    for i, key in enumerate(keys):
        last = i + 1 == len(keys) or keys[i + 1] != key
        if not last:
            continue
        if i > base:
            out[key] = _return(e[base], e[i])
        base = i
    return out


def _return(first: float, last: float) -> float | None:
    if first <= 0:
        return None
    return metrics.total_return([float(first), float(last)])


def monthly_returns(times: Sequence[datetime], e: np.ndarray[Any, Any]) -> list[MonthlyReturns]:
    """The year x month table of returns (compounded from month-end equity), and each
    year's return, oldest year first."""
    days = [_day(t) for t in times]
    months = _compounded(e, [(d.year, d.month) for d in days])
    years = _compounded(e, [d.year for d in days])
    rows = []
    for year in sorted({d.year for d in days}):
        cells = [{"month": m, "total_return": months.get((year, m))} for m in range(1, 13)]
        if any(c["total_return"] is not None for c in cells):
            row = {"year": year, "months": cells, "year_return": years.get(year)}
            rows.append(MonthlyReturns.model_validate(row))
    return rows


def drawdown_table(
    times: Sequence[datetime], e: np.ndarray[Any, Any], top: int = TOP_DRAWDOWNS
) -> list[DrawdownPeriod]:
    """The ``top`` deepest falls from a high back to it, deepest first (pyfolio's
    ``gen_drawdown_table``): a period starts at the last point at the high, bottoms at its
    deepest point and recovers at the first point back at the high (None if not yet)."""
    if not e.size or e[0] <= 0:
        return []
    highs = np.flatnonzero(np.asarray(metrics.drawdown_series(e)) == 0.0).tolist()
    ends: list[int | None] = [*highs[1:], None]
    found = []
    for peak, recovery in zip(highs, ends, strict=True):
        stop = int(e.size) if recovery is None else recovery + 1
        if stop - peak < 2:
            continue
        fall = metrics.drawdown(e[peak:stop])
        if fall.trough_index is not None:
            found.append((fall.max_drawdown, peak, peak + fall.trough_index, recovery))
    found.sort(key=lambda f: -f[0])
    return [
        DrawdownPeriod.model_validate(
            {
                "start": times[peak],
                "trough": times[trough],
                "recovery": None if recovery is None else times[recovery],
                "depth": depth,
            }
        )
        for depth, peak, trough, recovery in found[:top]
    ]


def _window_stats(
    name: WindowName,
    times: Sequence[datetime],
    e: np.ndarray[Any, Any],
    benchmark: Sequence[float | None],
    round_trips: Sequence[RoundTrip],
    ppy: float,
    today: date,
    bar: timedelta,
) -> WindowStats:
    since = base_day(name, today)
    start = window_start(times, since)
    curve = e[start:] if e.size and e[start] > 0 else e[:0]
    bench = list(benchmark[start:]) if curve.size else []
    at = times[start:]
    pnls = [pnl for closed, pnl in round_trips if at and at[0] + bar <= closed < at[-1] + bar]
    full = all(b is not None and b > 0 for b in bench) and len(bench) > 0
    summary = metrics.summarize(
        curve,
        periods_per_year=ppy,
        trade_pnls=pnls,
        benchmark=[float(b or 0.0) for b in bench] if full else None,
    )
    fields: dict[str, Any] = {k: v for k, v in summary.items() if k != "exposure"}
    for key in ("max_drawdown_start", "max_drawdown_end"):
        index = summary[key]
        fields[key] = None if index is None else at[int(index)]
    return WindowStats.model_validate(
        fields
        | {
            "window": name,
            "start": at[0] if at else None,
            "end": at[-1] if at else None,
            "points": len(at),
        }
    )
