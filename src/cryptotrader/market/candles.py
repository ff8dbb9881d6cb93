"""Candles: reading the stored bars back, aggregated on the fly.

Reading (:func:`get_candles`, :func:`aggregate_candles`, and :func:`read_candles`, which
aggregates from a finer stored timeframe on its own when the asked one has no stored
bars) goes through the API's async units of work (``as_anon`` is enough: candles are
public data). The CSV import is :mod:`cryptotrader.market.candle_import`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, LiteralString, cast

from cryptotrader.db.calls import fetch_all
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.market.errors import NoCandles
from cryptotrader.market.schemas import TIMEFRAME_SECONDS, Candle, Timeframe

Q = load_queries("cryptotrader.market")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._/-]{0,31}$")


class CandleImportError(ValueError):
    """The file cannot be imported at all (unreadable, wrong header, bad arguments)."""


class AggregatedCandle(Candle):
    """A bar built from finer bars; ``bars`` of the ``expected_bars`` source bars were there."""

    bars: int
    expected_bars: int

    @property
    def complete(self) -> bool:
        return self.bars == self.expected_bars


# ------------------------------------------------------------------ arguments


def check_timeframe(timeframe: str) -> Timeframe:
    if timeframe not in TIMEFRAME_SECONDS:
        known = ", ".join(TIMEFRAME_SECONDS)
        raise CandleImportError(f"unknown timeframe {timeframe!r} (one of {known})")
    return cast(Timeframe, timeframe)


def normalize_symbol(symbol: str) -> str:
    """Our ticker, upper case (``btc`` -> ``BTC``)."""
    s = symbol.strip().upper()
    if not _SYMBOL.match(s):
        raise CandleImportError(f"invalid symbol {symbol!r}")
    return s


# ------------------------------------------------------------------ reading candles


def _ceil_bucket(t: datetime, step: int) -> datetime:
    """The first bucket boundary at or after ``t`` (boundaries: epoch + k * step)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    micros = (t - _EPOCH) // timedelta(microseconds=1)
    unit = step * 1_000_000
    return _EPOCH + timedelta(microseconds=-(-micros // unit) * unit)


def as_utc(t: datetime | None) -> datetime | None:
    """Naive datetimes are taken as UTC."""
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def _limit(limit: int | None) -> int | None:
    if limit is not None and limit < 0:
        raise ValueError("limit must not be negative")
    return limit


async def get_candles(
    conn: Conn,
    symbol: str,
    timeframe: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
    latest: bool = False,
) -> list[Candle]:
    """Stored bars with ``start <= open_time < end`` (either may be None), oldest first.
    With ``limit``, the first ``limit`` of them, or with ``latest`` the last ones.
    Naive datetimes are taken as UTC."""
    sym, tf = normalize_symbol(symbol), check_timeframe(timeframe)
    if _limit(limit) == 0:
        return []
    rows = await fetch_all(
        conn,
        Q["candles_backward" if latest else "candles_forward"],
        {
            "symbol": sym,
            "timeframe": tf,
            "start": as_utc(start),
            "end": as_utc(end),
            "limit": limit,
        },
    )
    if latest:
        rows.reverse()
    return [Candle(symbol=sym, timeframe=tf, **r) for r in rows]


async def aggregate_candles(
    conn: Conn,
    symbol: str,
    timeframe: str,
    *,
    source_timeframe: str = "1m",
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
    latest: bool = False,
) -> list[AggregatedCandle]:
    """Bars of ``timeframe`` built in SQL from the stored ``source_timeframe`` bars.

    Buckets start at multiples of the timeframe since the UTC epoch; a bucket is
    returned when its start is in ``[start, end)`` and it has at least one source bar,
    and it is built from all its source bars (``bars`` says how many: fewer than
    ``expected_bars`` across a gap). Oldest first; ``limit`` and ``latest`` as in
    :func:`get_candles`.
    """
    sym, tf, src = (
        normalize_symbol(symbol),
        check_timeframe(timeframe),
        check_timeframe(source_timeframe),
    )
    step, src_step = TIMEFRAME_SECONDS[tf], TIMEFRAME_SECONDS[src]
    if step % src_step or step < src_step:
        raise CandleImportError(f"cannot build {tf} bars from {src} bars")
    if _limit(limit) == 0:
        return []
    lo = _ceil_bucket(start, step) if start is not None else None
    hi = _ceil_bucket(end, step) if end is not None else None
    query: LiteralString = Q["aggregate_backward" if latest else "aggregate_forward"]
    rows = await fetch_all(
        conn,
        query,
        {
            "symbol": sym,
            "source": src,
            "step": timedelta(seconds=step),
            "lo": lo,
            "hi": hi,
            "limit": limit,
        },
    )
    if latest:
        rows.reverse()
    expected = step // src_step
    return [AggregatedCandle(symbol=sym, timeframe=tf, expected_bars=expected, **r) for r in rows]


async def stored_timeframes(conn: Conn, symbol: str) -> list[Timeframe]:
    """The timeframes with at least one stored bar of ``symbol``, finest first."""
    rows = await fetch_all(
        conn,
        Q["stored_timeframes"],
        {"symbol": normalize_symbol(symbol), "timeframes": list(TIMEFRAME_SECONDS)},
    )
    return [check_timeframe(r["timeframe"]) for r in rows]


def source_for(timeframe: str, stored: list[Timeframe]) -> Timeframe | None:
    """The stored timeframe that ``timeframe``'s bars are built from when none of its own
    are stored: the coarsest of those finer than it and dividing it (the backtests' rule,
    ``backtest.service.load_bars``: the same bars for less work), or None."""
    step = TIMEFRAME_SECONDS[timeframe]
    usable = [
        tf for tf in stored if TIMEFRAME_SECONDS[tf] < step and not step % TIMEFRAME_SECONDS[tf]
    ]
    return max(usable, key=TIMEFRAME_SECONDS.__getitem__, default=None)


@dataclass(frozen=True)
class CandleSeries:
    """Bars of ``timeframe`` and the stored timeframe they come from: ``source`` is
    ``timeframe`` itself for stored bars, a finer one for bars built from those."""

    timeframe: Timeframe
    source: Timeframe
    bars: list[Candle]

    @property
    def aggregated(self) -> bool:
        return self.source != self.timeframe


async def read_candles(
    conn: Conn,
    symbol: str,
    timeframe: str,
    *,
    source_timeframe: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
    latest: bool = False,
) -> CandleSeries:
    """Bars of ``timeframe`` as :func:`get_candles` (or, with ``source_timeframe``,
    :func:`aggregate_candles`) reads them. Without ``source_timeframe``, a series with no
    stored bar at all of ``timeframe`` is built from a finer stored one
    (:func:`source_for`). Raises NoCandles when there is nothing to read or build the bars from (an
    empty range of a stored series is an empty list), CandleImportError for bad
    arguments."""
    sym, tf = normalize_symbol(symbol), check_timeframe(timeframe)
    read: dict[str, Any] = {"start": start, "end": end, "limit": limit, "latest": latest}
    if source_timeframe is None:
        bars: list[Candle] = list(await get_candles(conn, sym, tf, **read))
        if bars or limit == 0:
            return CandleSeries(tf, tf, bars)
        stored = await stored_timeframes(conn, sym)
        if tf in stored:
            return CandleSeries(tf, tf, bars)
        source = source_for(tf, stored)
        if source is None:
            have = ", ".join(stored) or "none"
            raise NoCandles(
                f"no stored {sym} bars of {tf}, nor of a finer timeframe to build them from"
                f" (stored: {have})"
            )
    else:
        source = check_timeframe(source_timeframe)
    built = await aggregate_candles(conn, sym, tf, source_timeframe=source, **read)
    if not built and limit != 0 and source not in await stored_timeframes(conn, sym):
        raise NoCandles(f"no stored {sym} bars of {source} to build {tf} bars from")
    return CandleSeries(tf, source, list(built))
