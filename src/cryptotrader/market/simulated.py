"""The offline default feed: prices walk from the last real price.

Each step is geometric Brownian motion without drift,
``p' = p * exp(sigma * sqrt(dt) * z - sigma**2 * dt / 2)``, with ``z`` standard normal
from a generator seeded per feed, so a given seed and call sequence always gives the
same prices. ``sigma`` (per second) is estimated from real candles where we have them
(standard deviation of log returns of the newest closes, scaled by the bar length), else
a default annual volatility. AUD = USD * a configurable rate. Each step also trades a
volume (the 24h volume's share of the step, lognormally scattered), so the live 1-minute
bars the feed folds its quotes into have plausible highs, lows and volume.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cryptotrader.market.schemas import Quote, TrackedCoin

SECONDS_PER_YEAR = 365 * 86400
DEFAULT_ANNUAL_VOLATILITY = 0.8
DEFAULT_DAILY_TURNOVER = 1_000.0  # base units a day, for a coin with no 24h volume known
VOLUME_SIGMA = 0.6  # spread of a step's volume around its share of the day's
_SIGNIFICANT = 10


def per_second_sigma(closes: Sequence[Decimal], bar_seconds: int) -> float | None:
    """Volatility per second from consecutive closes (None with fewer than 10 returns)."""
    values = [float(c) for c in closes if c > 0]
    returns = [math.log(b / a) for a, b in itertools.pairwise(values)]
    if len(returns) < 10:
        return None
    return statistics.stdev(returns) / math.sqrt(bar_seconds)


def _round(value: float) -> Decimal:
    """``value`` with 10 significant digits, as prices are quoted."""
    if value <= 0:
        raise ValueError("a price is positive")
    exponent = math.floor(math.log10(value)) - _SIGNIFICANT + 1
    return Decimal(value).quantize(Decimal(1).scaleb(exponent))


@dataclass
class _Walk:
    quote: Quote
    sigma: float
    price: float
    high: float
    low: float
    day_open: float


@dataclass
class SimulatedFeed:
    """A QuoteProvider that needs no network. ``start`` holds the last real quotes."""

    start: dict[str, Quote]
    sigmas: dict[str, float] = field(default_factory=dict)
    seed: int = 42
    usd_aud: Decimal = Decimal("1.4935")
    step_seconds: float = 1.0
    name: str = "simulated"

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - reproducible prices, not secrets
        # a stream of its own, so the prices of a seed are the same with or without volume
        self._volume_rng = random.Random(f"{self.seed}:volume")  # noqa: S311
        default = DEFAULT_ANNUAL_VOLATILITY / math.sqrt(SECONDS_PER_YEAR)
        self._walks = {
            symbol: _Walk(
                quote=q,
                sigma=self.sigmas.get(symbol, default),
                price=float(q.price_usd),
                high=float(q.high_24h or q.price_usd),
                low=float(q.low_24h or q.price_usd),
                day_open=float(q.price_usd) - float(q.change_24h or 0),
            )
            for symbol, q in sorted(self.start.items())
        }
        self._clock = max((q.last_updated for q in self.start.values()), default=datetime.now(UTC))

    def market_time(self) -> datetime:
        """The simulated market's time: its last step's (ahead of the wall clock when a step
        is longer than the feed's interval, which fast-forwards the bars and the bots)."""
        return self._clock

    def step(self) -> list[Quote]:
        """Advance every price by one step and return the new quotes."""
        self._clock = max(self._clock + timedelta(seconds=self.step_seconds), datetime.now(UTC))
        dt = self.step_seconds
        quotes = []
        for w in self._walks.values():
            z = self._rng.gauss(0.0, 1.0)
            w.price *= math.exp(w.sigma * math.sqrt(dt) * z - w.sigma**2 * dt / 2)
            w.high, w.low = max(w.high, w.price), min(w.low, w.price)
            price = _round(w.price)
            change = price - _round(w.day_open)
            quotes.append(
                w.quote.model_copy(
                    update={
                        "price_usd": price,
                        "price_aud": _round(w.price * float(self.usd_aud)),
                        "high_24h": _round(w.high),
                        "low_24h": _round(w.low),
                        "change_24h": change,
                        "change_percentage_24h": round(change / _round(w.day_open) * 100, 6),
                        "volume_24h_aud": (
                            w.quote.volume_24h_usd * self.usd_aud
                            if w.quote.volume_24h_usd is not None
                            else None
                        ),
                        "exchange": self.name,
                        "last_updated": self._clock,
                        "volume": self._volume(w, dt),
                    }
                )
            )
        return quotes

    def _volume(self, w: _Walk, dt: float) -> Decimal:
        """Base units traded in the step: the 24h volume's share of ``dt`` (or a default),
        scattered lognormally around it (mean 1)."""
        per_day = float(w.quote.volume_24h_usd or 0) / w.price or DEFAULT_DAILY_TURNOVER
        burst = math.exp(self._volume_rng.gauss(0.0, VOLUME_SIGMA) - VOLUME_SIGMA**2 / 2)
        return Decimal(per_day * dt / 86_400 * burst).quantize(Decimal("1e-8"))

    async def fetch_quotes(self, coins: list[TrackedCoin]) -> list[Quote]:
        wanted = {c.symbol for c in coins}
        return [q for q in self.step() if q.symbol in wanted]
