"""A feed that plays stored candles back at a chosen speed (demos, testing bots on a known day).

At wall-clock time ``t`` after the feed started, market time is
``start + (t - started) * speed``; each symbol's price is the last trade known then: the
open of the bar in progress (the first trade after the newest closed bar), or, when no bar
is in progress, the close of the newest bar that has closed (open_time + bar length <=
market time). Its 24h high/low and volume come from the closed bars of the 24 hours
before. When the data runs out the feed holds the last close (or, with ``loop``, starts
over). An order placed when a bar closes therefore fills at the next bar's open, as the
backtest fills it, which is what makes a bot's replayed trades those of its backtest.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cryptotrader.db.calls import fetch_all
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.market.schemas import TIMEFRAME_SECONDS, Candle, Quote, Timeframe, TrackedCoin

Q = load_queries("cryptotrader.market")


@dataclass
class ReplayFeed:
    candles: dict[str, list[Candle]]
    timeframe: Timeframe
    speed: float = 60.0
    usd_aud: Decimal = Decimal("1.4935")
    loop: bool = False
    clock: Callable[[], float] = time.monotonic
    name: str = "replay"
    _started: float = field(init=False)
    _times: dict[str, list[datetime]] = field(init=False)

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("speed must be positive")
        self._started = self.clock()
        self._times = {s: [c.open_time for c in bars] for s, bars in self.candles.items() if bars}
        firsts = [bars[0].open_time for bars in self.candles.values() if bars]
        lasts = [bars[-1].open_time for bars in self.candles.values() if bars]
        if not firsts:
            raise ValueError("no candles to replay")
        self.start, self.end = min(firsts), max(lasts)

    def market_time(self) -> datetime:
        elapsed = (self.clock() - self._started) * self.speed
        bar = timedelta(seconds=TIMEFRAME_SECONDS[self.timeframe])
        span = (self.end + bar - self.start).total_seconds()
        if self.loop and span > 0:
            elapsed %= span
        return self.start + bar + timedelta(seconds=elapsed)

    def quote(self, symbol: str, at: datetime) -> Quote | None:
        bars, times = self.candles.get(symbol), self._times.get(symbol)
        if not bars or not times:
            return None
        closed_by = at - timedelta(seconds=TIMEFRAME_SECONDS[self.timeframe])
        i = bisect.bisect_right(times, closed_by) - 1
        if i < 0:
            return None
        first = bisect.bisect_left(times, times[i] - timedelta(hours=24))
        window = bars[first : i + 1]
        last = bars[i]
        forming = i + 1 < len(bars) and times[i + 1] <= at
        price = bars[i + 1].open if forming else last.close
        day_open = window[0].open
        return Quote(
            symbol=symbol,
            price_usd=price,
            price_aud=(price * self.usd_aud).quantize(Decimal("1e-10")),
            volume_24h_usd=sum((b.volume * b.close for b in window), Decimal(0)),
            change_24h=price - day_open,
            change_percentage_24h=round((price - day_open) / day_open * 100, 6),
            high_24h=max(b.high for b in window),
            low_24h=min(b.low for b in window),
            exchange=self.name,
            last_updated=datetime.now(UTC),  # when we got it: the bar's own time is history
        )

    async def fetch_quotes(self, coins: list[TrackedCoin]) -> list[Quote]:
        at = self.market_time()
        return [q for c in coins if (q := self.quote(c.symbol, at)) is not None]


async def load_replay(
    conn: Conn,
    symbols: list[str],
    timeframe: Timeframe,
    since: datetime,
    until: datetime,
    **kw: object,
) -> ReplayFeed:
    """A ReplayFeed over the stored candles of ``symbols`` in [since, until)."""
    window = {"symbols": symbols, "timeframe": timeframe, "since": since, "until": until}
    rows = await fetch_all(conn, Q["replay_candles"], window)
    candles: dict[str, list[Candle]] = {}
    for r in rows:
        candles.setdefault(r["symbol"], []).append(Candle.model_validate(r))
    return ReplayFeed(candles=candles, timeframe=timeframe, **kw)  # type: ignore[arg-type]
