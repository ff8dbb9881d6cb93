"""Errors of the bots and their strategies."""

from __future__ import annotations

from cryptotrader.errors import InvalidRequest


class UnknownModel(InvalidRequest):
    """A strategy names a model no configured provider serves."""

    code = "unknown_model"
    title = "Unknown model"
    example_detail = (
        "no provider serves the model 'gpt-9'; known: gpt-*, deepseek-*, name:tag (Ollama)"
    )


class UnknownIndicator(InvalidRequest):
    """A strategy names an indicator we do not compute, or gives it bad parameters."""

    code = "unknown_indicator"
    title = "Unknown indicator"
    example_detail = "no indicator 'ichimoku'; known: atr, bollinger, ema, macd, rsi, sma, vwap"
