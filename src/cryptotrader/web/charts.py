"""The JSON the dashboard's charts draw (web/static/js/charts.js): the services' bars and
points as the chart script takes them (times ISO-8601 UTC, decimals as strings)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from cryptotrader.market.schemas import CandleOut


def marker(at: datetime, side: str, price: Decimal | None, text: str) -> dict[str, str]:
    """A trade drawn on the candles: an arrow below (buy) or above (sell) its bar."""
    return {"time": at.isoformat(), "side": side, "price": str(price), "text": text}


def candles(
    symbol: str, bars: Iterable[CandleOut], markers: Iterable[dict[str, str]], **extra: Any
) -> dict[str, Any]:
    """A candle chart's data: the bars with their volume, and the trades' markers in time
    order."""
    return {
        "symbol": symbol,
        "candles": [
            {
                "time": b.open_time.isoformat(),
                "open": str(b.open),
                "high": str(b.high),
                "low": str(b.low),
                "close": str(b.close),
                "volume": str(b.volume),
            }
            for b in bars
        ],
        "markers": sorted(markers, key=lambda m: m["time"]),
    } | extra
