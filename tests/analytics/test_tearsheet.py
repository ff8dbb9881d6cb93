"""The tear sheet builder: metrics.py's figures over the right windows, against empyrical
where it has the figure, and hand-made curves for the drawdown and monthly tables."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import empyrical
import numpy as np
import pandas as pd
import pytest

from cryptotrader.analytics import metrics
from cryptotrader.analytics.schemas import WINDOWS
from cryptotrader.analytics.tearsheet import (
    ROLLING_WINDOW,
    base_day,
    build_tearsheet,
    drawdown_table,
    months_back,
)

REL = 1e-9
DAY = timedelta(days=1)


def days(first: date, n: int) -> list[datetime]:
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return [start + i * DAY for i in range(n)]


def walk(n: int, seed: int = 7) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in 10_000 * np.cumprod(1 + rng.normal(0.001, 0.02, n))]


def close(a: object, b: float) -> bool:
    return a is not None and math.isclose(float(a), b, rel_tol=REL, abs_tol=1e-12)  # type: ignore[arg-type]


def test_months_back_clamps_to_the_month_end() -> None:
    assert months_back(date(2025, 5, 31), 3) == date(2025, 2, 28)
    assert months_back(date(2025, 3, 15), 12) == date(2024, 3, 15)
    assert months_back(date(2025, 1, 10), 1) == date(2024, 12, 10)


def test_base_days() -> None:
    today = date(2025, 3, 15)
    assert base_day("MTD", today) == date(2025, 2, 28)
    assert base_day("YTD", today) == base_day("ytd", today) == date(2024, 12, 31)
    assert base_day("3M", today) == date(2024, 12, 15)
    assert base_day("1Y", today) == base_day("1y", today) == date(2024, 3, 15)
    assert base_day("30d", today) == date(2025, 2, 13)
    assert base_day("All", today) is None
    assert base_day("all", today) is None


def test_the_all_window_is_summarize_over_the_whole_curve() -> None:
    times = days(date(2024, 1, 1), 200)
    equity = walk(200)
    bench = walk(200, seed=3)
    pnls = [10.0, -5.0, 7.5]
    trips = [(times[i], p) for i, p in zip((10, 50, 150), pnls, strict=True)]
    sheet = build_tearsheet(
        times, equity, bench, trips, periods_per_year=365, period="all", today=times[-1].date()
    )
    expected = metrics.summarize(equity, periods_per_year=365, trade_pnls=pnls, benchmark=bench)
    stats = {s.window: s for s in sheet.stats}
    assert [s.window for s in sheet.stats] == list(WINDOWS)
    whole = stats["All"]
    assert whole.points == 200 and whole.start == times[0] and whole.end == times[-1]
    for key in ("total_return", "annual_return", "volatility", "sharpe_ratio", "sortino_ratio"):
        assert close(getattr(whole, key), float(expected[key])), key  # type: ignore[arg-type]
    for key in ("max_drawdown", "calmar_ratio", "alpha", "beta", "correlation", "expectancy"):
        assert close(getattr(whole, key), float(expected[key])), key  # type: ignore[arg-type]
    assert whole.total_trades == 3 and whole.winning_trades == 2 and whole.losing_trades == 1
    assert whole.max_drawdown_start == times[int(expected["max_drawdown_start"])]  # type: ignore[arg-type]
    assert whole.max_drawdown_end == times[int(expected["max_drawdown_end"])]  # type: ignore[arg-type]
    # and the shared figures as empyrical computes them
    returns = np.diff(equity) / np.asarray(equity[:-1])
    assert close(whole.sharpe_ratio, empyrical.sharpe_ratio(returns, annualization=365))
    assert close(whole.volatility, empyrical.annual_volatility(returns, annualization=365))
    assert close(whole.max_drawdown, -empyrical.max_drawdown(returns))


def test_windows_start_at_the_close_before_them() -> None:
    times = days(date(2024, 1, 1), 440)  # to 2025-03-15
    equity = walk(440)
    today = times[-1].date()
    assert today == date(2025, 3, 15)
    sheet = build_tearsheet(
        times, equity, [None] * 440, [], periods_per_year=365, period="all", today=today
    )
    stats = {s.window: s for s in sheet.stats}
    for name, base in (("MTD", date(2025, 2, 28)), ("YTD", date(2024, 12, 31))):
        i = times.index(datetime(base.year, base.month, base.day, tzinfo=UTC))
        window = stats[name]  # type: ignore[index]
        assert window.start == times[i] and window.points == 440 - i
        assert close(window.total_return, equity[-1] / equity[i] - 1)
        assert window.alpha is None  # no benchmark price
    assert stats["1Y"].start == datetime(2024, 3, 15, tzinfo=UTC)
    assert stats["3M"].start == datetime(2024, 12, 15, tzinfo=UTC)


def test_a_short_history_is_the_whole_window() -> None:
    times = days(date(2025, 3, 1), 10)
    sheet = build_tearsheet(
        times, walk(10), [None] * 10, [], periods_per_year=365, period="1y", today=date(2025, 3, 10)
    )
    assert all(s.start == times[0] and s.points == 10 for s in sheet.stats if s.window != "MTD")
    assert [p.at for p in sheet.series] == times


def test_round_trips_count_in_the_windows_their_close_falls_in() -> None:
    times = days(date(2024, 12, 1), 105)  # to 2025-03-15
    at = datetime.fromisoformat
    trips = [
        (at("2024-12-31T23:59:00+00:00"), 5.0),  # before YTD
        (at("2025-01-01T00:01:00+00:00"), -2.0),  # YTD
        (at("2025-02-28T23:59:59+00:00"), 3.0),  # YTD, not MTD
        (at("2025-03-01T00:00:00+00:00"), 4.0),  # MTD
    ]
    sheet = build_tearsheet(
        times, walk(105), [None] * 105, trips, periods_per_year=365, period="all",
        today=date(2025, 3, 15),
    )  # fmt: skip
    stats = {s.window: s for s in sheet.stats}
    assert stats["MTD"].total_trades == 1 and stats["MTD"].best_trade == 4
    assert stats["YTD"].total_trades == 3
    assert stats["YTD"].expectancy is not None and close(stats["YTD"].expectancy, 5.0 / 3)
    assert stats["All"].total_trades == 4 and stats["All"].profit_factor == 6
    assert stats["1Y"].total_trades == 4


def test_the_period_limits_the_drawn_series() -> None:
    times = days(date(2024, 1, 1), 400)
    equity = walk(400)
    bench = [None, *walk(399, seed=5)]
    today = times[-1].date()
    sheet = build_tearsheet(
        times, equity, bench, [], periods_per_year=365, period="30d", today=today
    )
    series = sheet.series
    assert len(series) == 31 and series[0].at == times[-31] and series[-1].at == times[-1]
    assert [float(p.equity) for p in series] == pytest.approx(equity[-31:], rel=REL)
    assert float(series[0].benchmark or 0) == pytest.approx(equity[-31], rel=REL)
    expected_dd = metrics.drawdown_series(equity[-31:])
    assert [float(p.drawdown) for p in series] == pytest.approx(expected_dd, rel=REL)
    assert sheet.as_of == times[-1] and sheet.period == "30d"
    # the whole history has no price on its first day: the drawn benchmark starts at the
    # first known one, and the All window has no alpha
    whole = build_tearsheet(
        times, equity, bench, [], periods_per_year=365, period="all", today=today
    )
    assert whole.series[0].benchmark is None
    assert float(whole.series[1].benchmark or 0) == pytest.approx(equity[1], rel=REL)
    assert float(whole.series[2].benchmark or 0) == pytest.approx(
        equity[1] * (bench[2] or 0) / (bench[1] or 1), rel=REL
    )
    assert {s.window: s for s in whole.stats}["All"].alpha is None
    assert {s.window: s for s in whole.stats}["1Y"].alpha is not None


def test_rolling_matches_empyrical() -> None:
    times = days(date(2024, 1, 1), 120)
    equity = walk(120)
    sheet = build_tearsheet(
        times, equity, [None] * 120, [], periods_per_year=365, period="all", today=date(2024, 4, 29)
    )
    returns = pd.Series(np.diff(equity) / np.asarray(equity[:-1]))
    sharpe = empyrical.roll_sharpe_ratio(returns, window=ROLLING_WINDOW, annualization=365)
    vol = empyrical.roll_annual_volatility(returns, window=ROLLING_WINDOW, annualization=365)
    rolling = sheet.rolling.points
    assert [p.at for p in rolling] == times
    assert [p.sharpe_ratio for p in rolling[:ROLLING_WINDOW]] == [None] * ROLLING_WINDOW
    got = [float(p.sharpe_ratio or 0) for p in rolling[ROLLING_WINDOW:]]
    assert got == pytest.approx(list(sharpe), rel=1e-7)
    got = [float(p.volatility or 0) for p in rolling[ROLLING_WINDOW:]]
    assert got == pytest.approx(list(vol), rel=1e-7)
    # a shorter period keeps the values of the whole history's windows
    short = build_tearsheet(
        times, equity, [None] * 120, [], periods_per_year=365, period="30d", today=date(2024, 4, 29)
    )
    assert short.rolling.points == rolling[-31:]


def test_monthly_returns_compound_from_month_ends() -> None:
    # the start point is dated the day before the first row (2024-12-31): December has no
    # return of its own; January's is from it
    times = [datetime(2024, 12, 31, tzinfo=UTC), *days(date(2025, 1, 1), 90)]
    equity = walk(91)
    sheet = build_tearsheet(
        times, equity, [None] * 91, [], periods_per_year=365, period="all", today=date(2025, 3, 31)
    )
    [row] = sheet.monthly_returns
    assert row.year == 2025
    jan, feb, mar = (
        times.index(datetime(2025, m, d, tzinfo=UTC)) for m, d in ((1, 31), (2, 28), (3, 31))
    )
    cells = [m.total_return for m in row.months]
    assert [m.month for m in row.months] == list(range(1, 13))
    assert close(cells[0], equity[jan] / equity[0] - 1)
    assert close(cells[1], equity[feb] / equity[jan] - 1)
    assert close(cells[2], equity[mar] / equity[feb] - 1)
    assert cells[3:] == [None] * 9
    assert close(row.year_return, equity[mar] / equity[0] - 1)
    # empyrical's monthly aggregation of the daily returns gives the same
    index = pd.DatetimeIndex([t.replace(tzinfo=None) for t in times[1:]])
    returns = pd.Series(np.diff(equity) / np.asarray(equity[:-1]), index=index)
    monthly = empyrical.aggregate_returns(returns, "monthly")
    assert [float(v or 0) for v in cells[:3]] == pytest.approx(list(monthly), rel=1e-9)


def test_monthly_returns_span_years() -> None:
    times = days(date(2024, 11, 1), 100)
    equity = walk(100)
    sheet = build_tearsheet(
        times, equity, [None] * 100, [], periods_per_year=365, period="all", today=date(2025, 2, 8)
    )
    assert [r.year for r in sheet.monthly_returns] == [2024, 2025]
    first, second = sheet.monthly_returns
    end_2024 = times.index(datetime(2024, 12, 31, tzinfo=UTC))
    assert [m.total_return for m in first.months[:10]] == [None] * 10
    assert close(first.year_return, equity[end_2024] / equity[0] - 1)
    assert close(second.year_return, equity[-1] / equity[end_2024] - 1)
    assert close(second.months[1].total_return, equity[-1] / equity[end_2024 + 31] - 1)


def test_drawdown_table_on_a_hand_made_curve() -> None:
    #         0    1   2    3   4   5    6    7    8    9
    curve = [100, 90, 100, 80, 85, 100, 110, 105, 110, 98]
    times = days(date(2025, 1, 1), len(curve))
    table = drawdown_table(times, np.asarray(curve, dtype=np.float64))
    got = [(d.start, d.trough, d.recovery, float(d.depth)) for d in table]
    assert got == [
        (times[2], times[3], times[5], pytest.approx(0.2)),
        (times[8], times[9], None, pytest.approx(12 / 110)),
        (times[0], times[1], times[2], pytest.approx(0.1)),
        (times[6], times[7], times[8], pytest.approx(5 / 110)),
    ]


def test_drawdown_table_recovers_past_the_peak_and_keeps_the_five_deepest() -> None:
    # seven falls of 1 % .. 7 %, each recovered by a new high
    curve, level = [100.0], 100.0
    for depth in (3, 1, 7, 2, 6, 4, 5):
        curve += [level * (1 - depth / 100), level * 1.1]
        level *= 1.1
    times = days(date(2025, 1, 1), len(curve))
    table = drawdown_table(times, np.asarray(curve))
    assert [round(float(d.depth), 6) for d in table] == [0.07, 0.06, 0.05, 0.04, 0.03]
    assert all(d.recovery is not None and d.recovery > d.trough > d.start for d in table)
    deepest = table[0]
    assert (deepest.start, deepest.trough, deepest.recovery) == (times[4], times[5], times[6])
    assert drawdown_table(times, np.asarray([100.0, 101.0, 102.0])) == []


def test_no_data_is_a_sheet_of_nulls() -> None:
    sheet = build_tearsheet(
        [], [], [], [], periods_per_year=365, period="all", today=date(2025, 1, 1)
    )
    assert sheet.as_of is None and sheet.series == [] and sheet.drawdowns == []
    assert all(
        s.points == 0 and s.total_return is None and s.total_trades == 0 for s in sheet.stats
    )
    one = build_tearsheet(
        days(date(2025, 1, 1), 1), [100.0], [None], [], periods_per_year=365, period="all",
        today=date(2025, 1, 1),
    )  # fmt: skip
    assert one.monthly_returns == [] and one.stats[-1].total_return is None


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        build_tearsheet(
            days(date(2025, 1, 1), 2), [1.0], [None, None], [], periods_per_year=365,
            period="all", today=date(2025, 1, 2),
        )  # fmt: skip


def test_hourly_bars_use_their_annualisation() -> None:
    start = datetime(2021, 1, 1, tzinfo=UTC)
    times = [start + timedelta(hours=i) for i in range(100)]
    equity = walk(100)
    ppy = metrics.periods_per_year(3_600_000)
    sheet = build_tearsheet(
        times, equity, [None] * 100, [], periods_per_year=ppy, period="all",
        today=times[-1].date(),
    )  # fmt: skip
    whole = sheet.stats[-1]
    assert close(
        whole.sharpe_ratio,
        float(metrics.sharpe_ratio(np.diff(equity) / np.asarray(equity[:-1]), ppy) or 0),
    )
    assert sheet.periods_per_year == 8760


def test_round_trips_outside_the_curve_count_in_no_window() -> None:
    # daily points: 2025-01-01 closes at 2025-01-02 00:00; the last, 2025-01-10, at 01-11
    times = days(date(2025, 1, 1), 10)
    at = datetime.fromisoformat
    trips = [
        (at("2025-01-01T12:00:00+00:00"), 1.0),  # before the first close: no window
        (at("2025-01-02T00:00:00+00:00"), 2.0),  # the second point's day
        (at("2025-01-10T23:59:00+00:00"), 3.0),  # the last point's day
        (at("2025-01-11T00:00:00+00:00"), 4.0),  # after the last close (today, no row yet)
    ]
    sheet = build_tearsheet(
        times, walk(10), [None] * 10, trips, periods_per_year=365, period="all",
        today=date(2025, 1, 11),
    )  # fmt: skip
    assert sheet.stats[-1].total_trades == 2 and sheet.stats[-1].best_trade == 3
    # hourly bars: a trip closed at the second bar's open counts (it is the first bar's close)
    hours = [datetime(2021, 1, 1, tzinfo=UTC) + timedelta(hours=i) for i in range(5)]
    hourly = build_tearsheet(
        hours, walk(5), [None] * 5, [(hours[1], 5.0), (hours[4], 6.0)], periods_per_year=8760,
        period="all", today=date(2021, 1, 1), bar=timedelta(hours=1),
    )  # fmt: skip
    assert hourly.stats[-1].total_trades == 2
