"""The Deflated Sharpe Ratio (analytics/deflated.py) against the worked example of Bailey &
López de Prado (2014) to its printed precision, the Probabilistic Sharpe Ratio written out
by hand, the expected maximum against a simulation of the best of N trials, scipy's
moments, and the edges: one trial, a short track, zero variance."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats

from cryptotrader.analytics.deflated import (
    EULER_MASCHERONI,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    moments,
    probabilistic_sharpe_ratio,
)

Z = NormalDist()
# The paper's example (section "A numerical example"): 100 trials whose Sharpe ratios have
# an annualised variance of 1/2, the best one with an annualised SR of 2.5 over five years
# of daily returns (1250, 250 a year), skewness -3 and kurtosis 10.
YEAR = 250
TRIALS, VARIANCE, T, BEST, SKEW, KURT = 100, 0.5 / YEAR, 1250, 2.5 / math.sqrt(YEAR), -3.0, 10.0


def test_the_papers_worked_example() -> None:
    threshold = expected_max_sharpe(TRIALS, VARIANCE)
    assert round(threshold, 4) == 0.1132  # per day, as printed
    assert round(threshold * math.sqrt(YEAR), 2) == 1.79  # annualised
    dsr = deflated_sharpe_ratio(BEST, T, TRIALS, VARIANCE, SKEW, KURT)
    assert dsr is not None and round(dsr, 4) == 0.9004  # as printed: not significant at 95 %
    # the PSR against that threshold; against 0 (one trial, undeflated) it looks certain
    assert probabilistic_sharpe_ratio(BEST, threshold, T, SKEW, KURT) == dsr
    undeflated = probabilistic_sharpe_ratio(BEST, 0.0, T, SKEW, KURT)
    assert undeflated is not None and undeflated > 0.9999


def test_the_psr_written_out() -> None:
    sr, benchmark, t = 0.08, 0.02, 400
    by_hand = Z.cdf((sr - benchmark) * math.sqrt(t - 1) / math.sqrt(1 + sr * sr / 2))
    assert probabilistic_sharpe_ratio(sr, benchmark, t) == pytest.approx(by_hand, rel=1e-12)
    skewed = (1 - (-1.5) * sr + (7.0 - 1) / 4 * sr * sr) ** 0.5
    expected = Z.cdf((sr - benchmark) * math.sqrt(t - 1) / skewed)
    assert probabilistic_sharpe_ratio(sr, benchmark, t, -1.5, 7.0) == pytest.approx(expected)
    assert probabilistic_sharpe_ratio(sr, sr, t) == 0.5  # at the benchmark: a coin toss
    # negative skew and fat tails cost a positive Sharpe confidence; length adds it
    normal = probabilistic_sharpe_ratio(sr, 0.0, t)
    assert normal is not None
    assert (probabilistic_sharpe_ratio(sr, 0.0, t, -2.0, 3.0) or 0) < normal
    assert (probabilistic_sharpe_ratio(sr, 0.0, t, 0.0, 12.0) or 0) < normal
    assert (probabilistic_sharpe_ratio(sr, 0.0, 4 * t) or 0) > normal


def test_a_short_track() -> None:
    assert probabilistic_sharpe_ratio(0.5, 0.0, 1) is None  # one return: no spread
    assert probabilistic_sharpe_ratio(0.5, 0.0, 0) is None
    two = probabilistic_sharpe_ratio(0.5, 0.0, 2)
    assert two == pytest.approx(Z.cdf(0.5 / math.sqrt(1.125)))
    assert deflated_sharpe_ratio(0.5, 1, 10, 0.01) is None
    # moments no distribution has (kurtosis below 1 + skew²) leave the PSR undefined
    assert probabilistic_sharpe_ratio(2.0, 0.0, 50, 3.0, 1.0) is None


def test_one_trial_and_zero_variance_deflate_nothing() -> None:
    assert expected_max_sharpe(1, 0.5) == 0.0  # nothing was selected
    assert expected_max_sharpe(1000, 0.0) == 0.0  # identical trials
    for trials, variance in ((1, 0.3), (50, 0.0)):
        assert deflated_sharpe_ratio(0.1, 300, trials, variance) == probabilistic_sharpe_ratio(
            0.1, 0.0, 300
        )
    with pytest.raises(ValueError, match="trials"):
        expected_max_sharpe(0, 0.1)
    with pytest.raises(ValueError, match="variance"):
        expected_max_sharpe(10, -0.1)
    with pytest.raises(ValueError, match="variance"):
        expected_max_sharpe(10, math.nan)


def test_the_expected_maximum_is_the_best_of_n_by_luck() -> None:
    """The closed form against the mean maximum of N standard normal draws (it is an
    approximation: within 3 % from 10 trials on), and it grows with N and the spread."""
    rng = np.random.default_rng(20140731)
    for n in (10, 100, 1000):
        simulated = float(rng.standard_normal((4000, n)).max(axis=1).mean())
        assert expected_max_sharpe(n, 1.0) == pytest.approx(simulated, rel=0.03), n
    by_hand = (1 - EULER_MASCHERONI) * Z.inv_cdf(1 - 1 / 7) + EULER_MASCHERONI * Z.inv_cdf(
        1 - 1 / (7 * math.e)
    )
    assert expected_max_sharpe(7, 0.04) == pytest.approx(0.2 * by_hand, rel=1e-12)
    values = [expected_max_sharpe(n, 0.01) for n in (2, 5, 50, 500)]
    assert values == sorted(values) and values[0] > 0
    assert expected_max_sharpe(50, 0.04) == pytest.approx(2 * expected_max_sharpe(50, 0.01))


def test_moments_are_scipys() -> None:
    rng = np.random.default_rng(7)
    r = rng.standard_t(4, 500) * 0.02 + 0.001
    found = moments(r)
    assert found is not None
    assert found.observations == 500
    assert found.sharpe == pytest.approx(r.mean() / r.std(ddof=1), rel=1e-12)
    assert found.skewness == pytest.approx(float(stats.skew(r)), rel=1e-9)
    assert found.kurtosis == pytest.approx(float(stats.kurtosis(r, fisher=False)), rel=1e-9)
    assert moments([0.01]) is None
    assert moments([]) is None
    assert moments([0.002] * 30) is None  # zero variance: no Sharpe
    with pytest.raises(ValueError, match="finite"):
        moments([0.01, math.inf])


def test_more_trials_deflate_more() -> None:
    dsrs = [deflated_sharpe_ratio(0.12, 500, n, 0.5 / 365) for n in (1, 10, 100, 1000)]
    assert all(d is not None for d in dsrs)
    assert dsrs == sorted(dsrs, reverse=True)  # type: ignore[type-var]
    assert dsrs[0] == probabilistic_sharpe_ratio(0.12, 0.0, 500)
