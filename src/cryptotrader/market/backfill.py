"""Backfill history from a candle provider (an exchange through ccxt, CoinGecko): fetch,
then store through the same checked COPY import as CSV files."""

from __future__ import annotations

import asyncio
import csv
import tempfile
from datetime import datetime
from pathlib import Path

from cryptotrader.market.candle_import import ImportReport, import_candles_csv
from cryptotrader.market.schemas import Candle, CandleProvider, Timeframe


def write_candles_csv(candles: list[Candle], path: Path) -> None:
    """The candles in the import format: ISO-8601 UTC open times, plain decimals."""
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(("timestamp", "open", "high", "low", "close", "volume"))
        for c in candles:
            out.writerow(
                (
                    c.open_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    *(format(v, "f") for v in (c.open, c.high, c.low, c.close, c.volume)),
                )
            )


async def backfill(
    provider: CandleProvider,
    conninfo: str,
    symbol: str,
    timeframe: Timeframe,
    since: datetime,
    until: datetime | None = None,
) -> ImportReport:
    """Fetch ``symbol``'s candles in [since, until) and store them (idempotent).

    Raises ProviderError when the provider fails; CandleFileRejected when it sent bars
    that break the candle rules (nothing is stored then).
    """
    candles = await provider.fetch_candles(symbol, timeframe, since, until)
    with tempfile.TemporaryDirectory(prefix="ct-backfill-") as tmp:
        path = Path(tmp) / f"{symbol}-{timeframe}.csv"
        write_candles_csv(candles, path)
        return await asyncio.to_thread(
            import_candles_csv, conninfo, path, symbol, timeframe, source=provider.name
        )
