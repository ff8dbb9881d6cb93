"""The JSON the dashboard's charts draw (web/static/js/charts.js): the services' bars and
points as the chart script takes them (times ISO-8601 UTC, decimals as strings; a
calibration's figures are the service's floats)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from cryptotrader.bots.schemas import Calibration
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


def reliability(calibration: Calibration) -> dict[str, Any]:
    """A reliability diagram's data: per confidence bucket with decisions in it, its mean
    confidence (x), hit rate (y) and count; the Brier score for its caption."""
    return {
        "horizon_bars": calibration.horizon_bars,
        "decisions": calibration.decisions,
        "brier_score": calibration.brier_score,
        "buckets": [
            {
                "lower": b.lower,
                "upper": b.upper,
                "count": b.count,
                "mean_confidence": b.mean_confidence,
                "hit_rate": b.hit_rate,
            }
            for b in calibration.buckets
            if b.count
        ],
    }
