"""Errors of the market data (an unknown symbol's price is the shared UnknownSymbol)."""

from __future__ import annotations

from cryptotrader.errors import InvalidRequest


class NoCandles(InvalidRequest):
    """No bars to answer with: none stored of the timeframe nor of a finer one to build
    them from (GET /market/candles), or none in a backtest's range."""

    code = "no_candles"
    title = "No candles"
    example_detail = (
        "no stored BTC bars of 1h, nor of a finer timeframe to build them from (stored: 1d)"
    )
