"""The Deflated Sharpe Ratio: the probability that a track's true Sharpe ratio is above
what the best of the strategies tried would show by luck alone.

Bailey, D. H. & López de Prado, M. (2014), "The Deflated Sharpe Ratio: Correcting for
Selection Bias, Backtest Overfitting and Non-Normality", J. Portfolio Management 40 (5),
pp. 94-107; built on their Probabilistic Sharpe Ratio (Bailey & López de Prado (2012),
"The Sharpe Ratio Efficient Frontier", J. Risk 15 (2)).

Conventions, as the paper has them (and unlike the rest of metrics.py):

- **Per period, not annualised.** ``SR`` is the Sharpe ratio of the ``T`` returns
  themselves, ``mean(r) / std(r, ddof=1)``; a daily track's is its annualised Sharpe over
  ``sqrt(365)``. The variance of the trials' Sharpe ratios is in the same units (an
  annualised variance over 365).
- **Skewness and kurtosis** are the sample moments ``γ3 = m3 / m2^(3/2)`` and
  ``γ4 = m4 / m2²`` with ``m_k = mean((r - mean(r))^k)`` (scipy's ``skew`` and
  ``kurtosis(fisher=False)``): the kurtosis is not excess, a normal distribution's is 3.
- ``Z`` is the standard normal CDF and ``Z⁻¹`` its inverse (``statistics.NormalDist``).
- Undefined is None, as in metrics.py: fewer than two returns, returns of zero variance.
  Malformed input (fewer than one trial, a negative variance) raises ValueError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from cryptotrader.analytics.metrics import Series, _as_series, _is_flat

EULER_MASCHERONI = 0.5772156649015329
"""γ, the Euler-Mascheroni constant."""
_Z = NormalDist()


@dataclass(frozen=True, slots=True)
class Moments:
    """What the Deflated Sharpe needs of a track's ``observations`` returns."""

    observations: int
    sharpe: float
    skewness: float
    kurtosis: float


def moments(returns: Series) -> Moments | None:
    """The per-period Sharpe ratio ``mean(r) / std(r, ddof=1)``, the skewness
    ``m3 / m2^(3/2)`` and the kurtosis ``m4 / m2²`` (not excess) of the returns.

    None below two returns or when they have zero variance (metrics.py's flatness rule).
    """
    r = _as_series(returns, "returns")
    if r.size < 2 or _is_flat(r):
        return None
    centred = r - r.mean()
    m2 = float(np.mean(centred**2))
    m3 = float(np.mean(centred**3))
    m4 = float(np.mean(centred**4))
    sharpe = float(r.mean() / np.std(r, ddof=1))
    return Moments(int(r.size), sharpe, m3 / m2**1.5, m4 / m2**2)


def probabilistic_sharpe_ratio(
    sharpe: float,
    benchmark: float,
    observations: int,
    skewness: float = 0.0,
    kurtosis: float = 3.0,
) -> float | None:
    """The probability that the true Sharpe ratio exceeds ``benchmark`` (``SR*``):

    ``PSR(SR*) = Z[(SR - SR*) · sqrt(T - 1) / sqrt(1 - γ3·SR + (γ4 - 1)/4 · SR²)]``

    with ``SR`` the observed per-period Sharpe ratio over ``T`` observations, ``γ3`` their
    skewness and ``γ4`` their kurtosis (3 for normal returns, where the denominator is
    ``sqrt(1 + SR²/2)``, the Sharpe estimate's standard error times ``sqrt(T - 1)``). Bailey
    & López de Prado (2012); eq. 2 of the 2014 paper. A value between 0 and 1.

    None below two observations, or when the denominator is not positive (moments no
    distribution has: ``γ4 < 1 + γ3²`` can make it so).
    """
    if observations < 2:
        return None
    spread = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if not (math.isfinite(spread) and spread > 0.0):
        return None
    z = (sharpe - benchmark) * math.sqrt(observations - 1) / math.sqrt(spread)
    return _Z.cdf(z) if math.isfinite(z) else (1.0 if z > 0 else 0.0)


def expected_max_sharpe(trials: int, variance: float) -> float:
    """The Sharpe ratio the best of ``N`` trials shows when every one's true Sharpe is 0:

    ``SR0 = sqrt(V) · ((1 - γ) · Z⁻¹[1 - 1/N] + γ · Z⁻¹[1 - 1/(N·e)])``

    with ``V`` the variance of the trials' Sharpe ratios (per period, as ``SR``), ``γ``
    the Euler-Mascheroni constant and ``e`` Euler's number: the expected maximum of ``N``
    independent normal draws of that variance (Bailey, Borwein, López de Prado & Zhu
    (2014), "Pseudo-Mathematics and Financial Charlatanism", Notices of the AMS 61 (5);
    eq. 1 of the DSR paper). One trial selects nothing: 0.

    Raises ValueError for fewer than one trial or a negative or non-finite variance.
    """
    if trials < 1:
        raise ValueError("trials must be at least 1")
    if not (math.isfinite(variance) and variance >= 0.0):
        raise ValueError("variance must be finite and not negative")
    if trials == 1 or variance == 0.0:
        return 0.0
    n = float(trials)
    spread = (1.0 - EULER_MASCHERONI) * _Z.inv_cdf(1.0 - 1.0 / n)
    spread += EULER_MASCHERONI * _Z.inv_cdf(1.0 - 1.0 / (n * math.e))
    return math.sqrt(variance) * spread


def deflated_sharpe_ratio(
    sharpe: float,
    observations: int,
    trials: int,
    variance: float,
    skewness: float = 0.0,
    kurtosis: float = 3.0,
) -> float | None:
    """The Deflated Sharpe Ratio, the PSR against the expected maximum of the trials:

    ``DSR = PSR(SR0) = Z[(SR - SR0) · sqrt(T - 1) / sqrt(1 - γ3·SR + (γ4 - 1)/4 · SR²)]``

    with ``SR0 = expected_max_sharpe(N, V)`` (:func:`expected_max_sharpe`) and the PSR of
    :func:`probabilistic_sharpe_ratio`: it falls with the number of trials ``N``, their
    spread ``V``, a negative skew and fat tails, and rises with the track's length ``T``.
    The paper's example: ``N = 100``, ``V = 1/2`` a year, ``T = 1250`` days, an annualised
    ``SR = 2.5``, ``γ3 = -3``, ``γ4 = 10`` (250 days a year): ``SR0 ≈ 0.1132`` a day and
    ``DSR ≈ 0.9004``. None as the PSR is; ValueError as ``expected_max_sharpe`` raises.
    """
    threshold = expected_max_sharpe(trials, variance)
    return probabilistic_sharpe_ratio(sharpe, threshold, observations, skewness, kurtosis)
