"""The metrics library against hand-computed fixtures, edge cases, empyrical and invariants.

Every expected value below is written out as arithmetic on the fixture (never by calling
the function under test or a numpy equivalent), and compared within 1e-9 relative.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import empyrical
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptotrader.analytics.metrics import (
    SUMMARY_KEYS,
    Drawdown,
    alpha_beta,
    annual_return,
    annual_volatility,
    calmar_ratio,
    correlation,
    drawdown,
    periods_per_year,
    returns_from_equity,
    sharpe_ratio,
    sortino_ratio,
    summarize,
    total_return,
    trade_stats,
)

REL = 1e-9

# Equity whose returns are 0.1, -0.1, 0.2, -0.2, 0.1:
#   110 = 100*1.1, 99 = 110*0.9, 118.8 = 99*1.2, 95.04 = 118.8*0.8, 104.544 = 95.04*1.1
EQUITY = [100.0, 110.0, 99.0, 118.8, 95.04, 104.544]
RETURNS = [0.1, -0.1, 0.2, -0.2, 0.1]
# mean(RETURNS) = 0.1 / 5 = 0.02
# deviations 0.08, -0.12, 0.18, -0.22, 0.08; squares 0.0064 + 0.0144 + 0.0324 + 0.0484
#   + 0.0064 = 0.108; sample variance 0.108 / 4 = 0.027
SAMPLE_VAR = 0.108 / 4

# Benchmark prices with returns 0.1, 0.1, -0.1, 0.1, 0.0 (121 = 110*1.1, 108.9 = 121*0.9,
# 119.79 = 108.9*1.1). mean 0.2 / 5 = 0.04; deviations 0.06, 0.06, -0.14, 0.06, -0.04;
# sum of squares 3*0.0036 + 0.0196 + 0.0016 = 0.032
BENCHMARK = [100.0, 110.0, 121.0, 108.9, 119.79, 119.79]
# cross products with the equity's deviations: 0.06*0.08 + 0.06*-0.12 + -0.14*0.18
#   + 0.06*-0.22 + -0.04*0.08 = 0.0048 - 0.0072 - 0.0252 - 0.0132 - 0.0032 = -0.044
BENCH_BETA = -0.044 / 0.032  # -1.375
BENCH_MEAN_ALPHA = 0.02 - BENCH_BETA * 0.04  # 0.075

PNLS = [50.0, -20.0, 30.0, 0.0, -10.0]

SUMMARY_FIELDS = [
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
]


def assert_metrics(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Same keys; None and ints exactly; floats within 1e-9 relative."""
    assert list(actual) == list(expected)
    for key, want in expected.items():
        got = actual[key]
        if want is None or isinstance(want, int):
            assert got == want, key
            assert type(got) is type(want), key
        else:
            assert isinstance(got, float), key
            assert got == pytest.approx(want, rel=REL), key


# --- hand-computed fixtures -----------------------------------------------------------


@pytest.mark.parametrize(
    ("bar_ms", "expected"),
    [
        (86_400_000, 365.0),
        (3_600_000, 365 * 24.0),
        (14_400_000, 365 * 6.0),
        (900_000, 365 * 24 * 4.0),
        (60_000, 365 * 24 * 60.0),
        (604_800_000, 365 / 7),
    ],
)
def test_periods_per_year(bar_ms: int, expected: float) -> None:
    assert periods_per_year(bar_ms) == pytest.approx(expected, rel=REL)


def test_period_returns() -> None:
    assert returns_from_equity(EQUITY).tolist() == pytest.approx(RETURNS, rel=REL)


def test_total_return() -> None:
    assert total_return(EQUITY) == pytest.approx(104.544 / 100 - 1, rel=REL)  # 0.04544


@pytest.mark.parametrize(
    ("ppy", "expected"),
    [
        (365.0, 1.04544 ** (365 / 5) - 1),
        (5.0, 0.04544),  # five periods are exactly one year
        (2.5, 1.04544**0.5 - 1),  # two years
    ],
)
def test_annual_return_compounds_over_n_minus_one_periods(ppy: float, expected: float) -> None:
    assert annual_return(EQUITY, ppy) == pytest.approx(expected, rel=REL)


def test_annual_volatility_uses_sample_std() -> None:
    assert annual_volatility(RETURNS, 365) == pytest.approx(
        math.sqrt(SAMPLE_VAR) * math.sqrt(365), rel=REL
    )


def test_sharpe_ratio() -> None:
    assert sharpe_ratio(RETURNS, 365) == pytest.approx(
        0.02 / math.sqrt(SAMPLE_VAR) * math.sqrt(365), rel=REL
    )


def test_sharpe_ratio_subtracts_risk_free_per_bar() -> None:
    # excess 0.09, -0.11, 0.19, -0.21, 0.09: mean 0.01, same deviations as before
    assert sharpe_ratio(RETURNS, 365, risk_free=0.01) == pytest.approx(
        0.01 / math.sqrt(SAMPLE_VAR) * math.sqrt(365), rel=REL
    )


def test_sortino_ratio_downside_deviation_over_all_bars() -> None:
    # min(r, 0): 0, -0.1, 0, -0.2, 0; mean of squares (0.01 + 0.04) / 5 = 0.01 -> dd 0.1
    assert sortino_ratio(RETURNS, 365) == pytest.approx(
        0.02 * 365 / (0.1 * math.sqrt(365)), rel=REL
    )


def test_sortino_ratio_with_required_return() -> None:
    # r - 0.1: 0, -0.2, 0.1, -0.3, 0; mean -0.4 / 5 = -0.08
    # downside squares 0.04 + 0.09 = 0.13, mean 0.13 / 5 = 0.026
    assert sortino_ratio(RETURNS, 365, required_return=0.1) == pytest.approx(
        -0.08 * 365 / (math.sqrt(0.026) * math.sqrt(365)), rel=REL
    )


def test_drawdown_not_recovered() -> None:
    # running high 100, 110, 110, 118.8, 118.8, 118.8
    # drawdowns 0, 0, 11/110 = 0.1, 0, 23.76/118.8 = 0.2, 14.256/118.8 = 0.12
    dd = drawdown(EQUITY)
    assert dd.max_drawdown == pytest.approx(0.2, rel=REL)
    assert (dd.peak_index, dd.trough_index, dd.recovery_index) == (3, 4, None)
    assert dd.current_drawdown == pytest.approx(0.12, rel=REL)


def test_drawdown_recovered() -> None:
    # 120 -> 90 is 30/120 = 0.25; back at 120 on bar 3
    dd = drawdown([100.0, 120.0, 90.0, 120.0, 130.0])
    assert dd == Drawdown(
        max_drawdown=0.25, peak_index=1, trough_index=2, recovery_index=3, current_drawdown=0.0
    )


def test_drawdown_peak_is_where_the_fall_began_and_trough_the_first_deepest() -> None:
    # a flat top: the fall starts from bar 1; 10/100 = 0.1, now 5/100 = 0.05
    dd = drawdown([100.0, 100.0, 90.0, 95.0])
    assert (dd.peak_index, dd.trough_index, dd.recovery_index) == (1, 2, None)
    assert dd.max_drawdown == pytest.approx(0.1, rel=REL)
    assert dd.current_drawdown == pytest.approx(0.05, rel=REL)
    # two equally deep falls of 50/100: the first one is reported
    twice = drawdown([100.0, 50.0, 100.0, 50.0])
    assert (twice.peak_index, twice.trough_index, twice.recovery_index) == (0, 1, 2)
    assert twice.current_drawdown == pytest.approx(0.5, rel=REL)


def test_calmar_ratio() -> None:
    assert calmar_ratio(EQUITY, 365) == pytest.approx((1.04544 ** (365 / 5) - 1) / 0.2, rel=REL)


def test_trade_stats() -> None:
    # wins 50, 30; losses -20, -10; one break-even
    assert_metrics(
        trade_stats(PNLS),
        {
            "win_rate": 2 / 5,
            "avg_win": (50 + 30) / 2,
            "avg_loss": (-20 - 10) / 2,
            "profit_factor": (50 + 30) / (20 + 10),
            "expectancy": (50 - 20 + 30 + 0 - 10) / 5,
            "total_trades": 5,
            "winning_trades": 2,
            "losing_trades": 2,
            "best_trade": 50.0,
            "worst_trade": -20.0,
        },
    )


# r = 0.02, -0.01, 0.03, 0.00 (mean 0.01; deviations 0.01, -0.02, 0.02, -0.01; squares 0.001)
# b = 0.01, -0.02, 0.03, 0.02 (mean 0.01; deviations 0, -0.03, 0.02, 0.01; squares 0.0014)
# cross products 0 + 0.0006 + 0.0004 - 0.0001 = 0.0009
R_SMALL = [0.02, -0.01, 0.03, 0.0]
B_SMALL = [0.01, -0.02, 0.03, 0.02]


def test_alpha_beta_compounded_as_empyrical() -> None:
    # beta 0.0009 / 0.0014 = 9/14; mean(r - beta*b) = 0.01 - 9/14 * 0.01 = 0.05/14
    alpha, beta = alpha_beta(R_SMALL, B_SMALL, 365)
    assert beta == pytest.approx(9 / 14, rel=REL)
    assert alpha == pytest.approx((1 + 0.05 / 14) ** 365 - 1, rel=REL)


def test_alpha_beta_with_risk_free() -> None:
    # beta unchanged; mean(r - rf) - beta*mean(b - rf) = 0.009 - 9/14 * 0.009 = 0.045/14
    alpha, beta = alpha_beta(R_SMALL, B_SMALL, 365, risk_free=0.001)
    assert beta == pytest.approx(9 / 14, rel=REL)
    assert alpha == pytest.approx((1 + 0.045 / 14) ** 365 - 1, rel=REL)


def test_correlation() -> None:
    assert correlation(R_SMALL, B_SMALL) == pytest.approx(
        0.0009 / math.sqrt(0.001 * 0.0014), rel=REL
    )


def test_summarize_fixture() -> None:
    # ppy 12: the five bars are 5/12 of a year
    summary = summarize(
        EQUITY, periods_per_year=12, trade_pnls=PNLS, exposure=0.6, benchmark=np.array(BENCHMARK)
    )
    cagr = 1.04544 ** (12 / 5) - 1
    assert_metrics(
        summary,
        {
            "total_return": 0.04544,
            "annual_return": cagr,
            "volatility": math.sqrt(SAMPLE_VAR) * math.sqrt(12),
            "sharpe_ratio": 0.02 / math.sqrt(SAMPLE_VAR) * math.sqrt(12),
            "sortino_ratio": 0.02 * 12 / (0.1 * math.sqrt(12)),
            "max_drawdown": 0.2,
            "max_drawdown_start": 3,
            "max_drawdown_end": 4,
            "current_drawdown": 0.12,
            "calmar_ratio": cagr / 0.2,
            "win_rate": 0.4,
            "avg_win": 40.0,
            "avg_loss": -15.0,
            "profit_factor": 80 / 30,
            "expectancy": 10.0,
            "exposure": 0.6,
            "alpha": (1 + BENCH_MEAN_ALPHA) ** 12 - 1,
            "beta": BENCH_BETA,
            "correlation": -0.044 / math.sqrt(0.108 * 0.032),
            "total_trades": 5,
            "winning_trades": 2,
            "losing_trades": 2,
            "best_trade": 50.0,
            "worst_trade": -20.0,
        },
    )


# --- edge cases -------------------------------------------------------------------------


def _no_trades() -> dict[str, Any]:
    return {
        "win_rate": None,
        "avg_win": None,
        "avg_loss": None,
        "profit_factor": None,
        "expectancy": None,
        "total_trades": 0,
        "winning_trades": 0,
        "losing_trades": 0,
        "best_trade": None,
        "worst_trade": None,
    }


@pytest.mark.parametrize("equity", [[], [100.0]], ids=["empty", "one-point"])
def test_summarize_below_two_points_is_all_none(equity: list[float]) -> None:
    summary = summarize(equity, periods_per_year=365, exposure=0.25)
    expected = dict.fromkeys(SUMMARY_FIELDS) | _no_trades() | {"exposure": 0.25}
    assert_metrics(summary, expected)


def test_functions_below_two_points() -> None:
    assert returns_from_equity([]).size == 0
    assert returns_from_equity([100.0]).size == 0
    assert annual_volatility([0.1], 365) is None
    assert sharpe_ratio([0.1], 365) is None
    assert sortino_ratio([-0.1], 365) is None
    assert calmar_ratio([100.0], 365) is None
    assert alpha_beta([0.1], [0.2], 365) == (None, None)
    assert correlation([0.1], [0.2]) is None
    assert drawdown([100.0]) == Drawdown(0.0, None, None, None, 0.0)
    with pytest.raises(ValueError, match="two equity points"):
        total_return([100.0])
    with pytest.raises(ValueError, match="two equity points"):
        annual_return([100.0], 365)
    with pytest.raises(ValueError, match="empty"):
        drawdown([])


def test_flat_equity() -> None:
    summary = summarize([100.0] * 5, periods_per_year=365)
    assert summary["total_return"] == 0.0
    assert summary["annual_return"] == 0.0
    assert summary["volatility"] == 0.0
    assert summary["sharpe_ratio"] is None  # zero variance
    assert summary["sortino_ratio"] is None  # no downside
    assert summary["max_drawdown"] == 0.0
    assert summary["current_drawdown"] == 0.0
    assert summary["max_drawdown_start"] is None
    assert summary["max_drawdown_end"] is None
    assert summary["calmar_ratio"] is None  # no drawdown


def test_constant_rate_curve_counts_as_zero_variance() -> None:
    # 1 % a bar: the returns differ only by rounding noise
    equity = [100 * 1.01**k for k in range(50)]
    assert sharpe_ratio(returns_from_equity(equity), 365) is None
    assert annual_volatility(returns_from_equity(equity), 365) == 0.0


def test_sortino_without_downside_is_none() -> None:
    assert sortino_ratio([0.01, 0.02, 0.0], 365) is None


def test_no_trades() -> None:
    assert_metrics(trade_stats([]), _no_trades())


def test_all_wins_profit_factor_is_none() -> None:
    assert_metrics(
        trade_stats([10.0, 20.0, 30.0]),
        {
            "win_rate": 1.0,
            "avg_win": 20.0,
            "avg_loss": None,
            "profit_factor": None,
            "expectancy": 20.0,
            "total_trades": 3,
            "winning_trades": 3,
            "losing_trades": 0,
            "best_trade": 30.0,
            "worst_trade": 10.0,
        },
    )


def test_all_losses() -> None:
    assert_metrics(
        trade_stats([-10.0, -30.0]),
        {
            "win_rate": 0.0,
            "avg_win": None,
            "avg_loss": -20.0,
            "profit_factor": 0.0,
            "expectancy": -20.0,
            "total_trades": 2,
            "winning_trades": 0,
            "losing_trades": 2,
            "best_trade": -10.0,
            "worst_trade": -30.0,
        },
    )


def test_break_even_trades_count_but_neither_win_nor_lose() -> None:
    stats = trade_stats(np.zeros(3))
    assert (stats["total_trades"], stats["winning_trades"], stats["losing_trades"]) == (3, 0, 0)
    assert stats["win_rate"] == 0.0
    assert stats["profit_factor"] is None
    assert stats["expectancy"] == 0.0


def test_profit_factor_that_overflows_is_none() -> None:
    # found by hypothesis: 1e6 / 5e-324 is beyond float64
    assert trade_stats([1e6, -5e-324])["profit_factor"] is None


def test_zero_variance_benchmark() -> None:
    assert alpha_beta(R_SMALL, [0.01] * 4, 365) == (None, None)
    assert correlation(R_SMALL, [0.01] * 4) is None
    summary = summarize(EQUITY, periods_per_year=365, benchmark=np.full(6, 30_000.0))
    assert (summary["alpha"], summary["beta"], summary["correlation"]) == (None, None, None)


def test_zero_variance_strategy_against_a_moving_benchmark() -> None:
    # beta 0 (cov 0); alpha is the strategy's own compounded mean return
    alpha, beta = alpha_beta([0.01] * 4, B_SMALL, 365)
    assert beta == pytest.approx(0.0, abs=1e-12)
    assert alpha == pytest.approx(1.01**365 - 1, rel=REL)
    assert correlation([0.01] * 4, B_SMALL) is None


def test_equity_that_reaches_zero() -> None:
    assert returns_from_equity([100.0, 50.0, 0.0, 0.0]).tolist() == [-0.5, -1.0, 0.0]
    assert annual_return([100.0, 50.0, 0.0, 0.0], 365) == -1.0
    dd = drawdown([100.0, 50.0, 0.0, 0.0])
    assert (dd.max_drawdown, dd.current_drawdown, dd.trough_index) == (1.0, 1.0, 2)
    assert calmar_ratio([100.0, 50.0, 0.0, 0.0], 365) == -1.0


def test_overflowing_annualisation_is_none_in_summaries() -> None:
    # +100 % over two one-minute bars compounds to 2 ** 262800
    with pytest.raises(OverflowError, match="math range error"):
        annual_return([1.0, 1.5, 2.0], 525_600)
    summary = summarize([1.0, 2.0, 1.5], periods_per_year=525_600, benchmark=np.array([1, 1.1, 1]))
    assert summary["annual_return"] is None
    assert summary["calmar_ratio"] is None
    assert summary["alpha"] is None
    assert summary["beta"] is not None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: periods_per_year(0), "bar_ms must be positive"),
        (lambda: returns_from_equity([100.0, -1.0]), "start positive and never be negative"),
        (lambda: returns_from_equity([0.0, 1.0]), "start positive and never be negative"),
        (lambda: returns_from_equity([100.0, math.nan]), "equity must be finite"),
        (lambda: returns_from_equity(np.ones((2, 2))), "equity must be one-dimensional"),
        (lambda: sharpe_ratio([0.1, math.inf], 365), "returns must be finite"),
        (lambda: sharpe_ratio([0.1, 0.2], 0), "periods_per_year must be positive"),
        (lambda: trade_stats([1.0, math.nan]), "pnls must be finite"),
        (lambda: alpha_beta([0.1, 0.2], [0.1], 365), "must have the same length"),
        (lambda: correlation([0.1, 0.2], [0.1]), "must have the same length"),
        (
            lambda: summarize(EQUITY, periods_per_year=365, exposure=1.5),
            "exposure must be within 0..1",
        ),
        (
            lambda: summarize(EQUITY, periods_per_year=365, benchmark=np.ones(3)),
            "benchmark must have one value per equity point",
        ),
    ],
)
def test_malformed_input_raises(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_summary_is_json_with_exactly_the_keys() -> None:
    rng = np.random.default_rng(7)
    equity = 1000 * np.cumprod(1 + rng.normal(0, 0.02, 300))
    bench = 30_000 * np.cumprod(1 + rng.normal(0, 0.03, 300))
    summary = summarize(
        equity,
        periods_per_year=8760,
        trade_pnls=rng.normal(0, 5, 40),
        exposure=0.4,
        benchmark=bench,
    )
    assert list(summary) == SUMMARY_FIELDS
    assert list(SUMMARY_KEYS) == SUMMARY_FIELDS
    decoded = json.loads(json.dumps(summary, allow_nan=False))
    assert decoded == summary
    assert all(type(v) in (int, float) for v in summary.values())


# --- the reference: empyrical -----------------------------------------------------------


@pytest.mark.parametrize("risk_free", [0.0, 0.0002])
def test_matches_empyrical(risk_free: float) -> None:
    rng = np.random.default_rng(2024)
    bench_returns = rng.normal(0.0005, 0.035, 730)
    strategy_returns = 0.6 * bench_returns + rng.normal(0.0003, 0.02, 730)
    equity = 10_000 * np.concatenate(([1.0], np.cumprod(1 + strategy_returns)))
    bench = 40_000 * np.concatenate(([1.0], np.cumprod(1 + bench_returns)))
    r = returns_from_equity(equity)
    b = returns_from_equity(bench)
    ppy = 365

    assert sharpe_ratio(r, ppy, risk_free) == pytest.approx(
        empyrical.sharpe_ratio(r, risk_free=risk_free, annualization=ppy), rel=REL
    )
    assert sortino_ratio(r, ppy, risk_free) == pytest.approx(
        empyrical.sortino_ratio(r, required_return=risk_free, annualization=ppy), rel=REL
    )
    assert annual_volatility(r, ppy) == pytest.approx(
        empyrical.annual_volatility(r, annualization=ppy), rel=REL
    )
    assert annual_return(equity, ppy) == pytest.approx(
        empyrical.cagr(r, annualization=ppy), rel=REL
    )
    assert drawdown(equity).max_drawdown == pytest.approx(-empyrical.max_drawdown(r), rel=REL)
    assert calmar_ratio(equity, ppy) == pytest.approx(
        empyrical.calmar_ratio(r, annualization=ppy), rel=REL
    )
    alpha, beta = alpha_beta(r, b, ppy, risk_free)
    ref_alpha, ref_beta = empyrical.alpha_beta(r, b, risk_free=risk_free, annualization=ppy)
    assert alpha == pytest.approx(ref_alpha, rel=REL)
    assert beta == pytest.approx(ref_beta, rel=REL)
    assert correlation(r, b) == pytest.approx(float(np.corrcoef(r, b)[0, 1]), rel=REL)


# --- invariants -------------------------------------------------------------------------

equity_curves = st.lists(
    st.floats(min_value=1e-3, max_value=1e9, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=40,
)


@settings(deadline=None)
@given(equity_curves)
def test_drawdown_is_the_largest_fall_from_an_earlier_high(equity: list[float]) -> None:
    dd = drawdown(equity)
    brute = max(
        (equity[i] - equity[j]) / equity[i] for j in range(len(equity)) for i in range(j + 1)
    )
    assert dd.max_drawdown == pytest.approx(brute, rel=REL, abs=1e-15)
    assert 0.0 <= dd.current_drawdown <= dd.max_drawdown <= 1.0
    if dd.max_drawdown > 0:
        assert dd.peak_index is not None and dd.trough_index is not None
        assert dd.peak_index < dd.trough_index
        assert equity[dd.peak_index] == max(equity[: dd.trough_index + 1])
        if dd.recovery_index is not None:
            assert equity[dd.recovery_index] >= equity[dd.peak_index]
            assert all(
                e < equity[dd.peak_index] for e in equity[dd.trough_index : dd.recovery_index]
            )


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), max_size=30))
def test_expectancy_is_win_rate_times_avg_win_plus_loss_rate_times_avg_loss(
    pnls: list[float],
) -> None:
    stats = trade_stats(pnls)
    if not pnls:
        assert stats["expectancy"] is None
        return
    n = len(pnls)
    wins = stats["winning_trades"] * (stats["avg_win"] or 0.0) / n  # type: ignore[operator]
    losses = stats["losing_trades"] * (stats["avg_loss"] or 0.0) / n  # type: ignore[operator]
    assert stats["expectancy"] == pytest.approx(wins + losses, rel=1e-6, abs=1e-6)


@settings(deadline=None)
@given(
    equity_curves,
    st.floats(min_value=0.0, max_value=1.0),
    st.sampled_from([365.0, 8760.0, 525_600.0]),
    st.lists(st.floats(min_value=-1e6, max_value=1e6), max_size=10),
)
def test_summary_never_holds_nan_or_inf(
    equity: list[float], exposure: float, ppy: float, pnls: list[float]
) -> None:
    bench = np.linspace(100.0, 50.0, len(equity)) + np.arange(len(equity)) % 3
    summary = summarize(
        equity, periods_per_year=ppy, trade_pnls=pnls, exposure=exposure, benchmark=bench
    )
    assert list(summary) == SUMMARY_FIELDS
    json.dumps(summary, allow_nan=False)
