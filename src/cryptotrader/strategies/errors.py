"""Errors of strategies: an unknown name or parameters that do not validate."""

from __future__ import annotations

from typing import Any

from cryptotrader.errors import InvalidRequest, NotFound


class UnknownStrategy(InvalidRequest):
    code = "unknown_strategy"
    title = "Unknown strategy"
    example_detail = (
        "Unknown strategy 'sma_cross' (known: sma_crossover, ema_crossover, rsi_reversion,"
        " macd, bollinger_breakout, dca, grid, buy_and_hold)"
    )


class InvalidStrategyParameters(InvalidRequest):
    """``errors`` lists each problem as ``{"field": ..., "message": ...}``."""

    code = "invalid_strategy_parameters"
    title = "Invalid strategy parameters"
    example_detail = "sma_crossover: fast must be below slow"

    def __init__(
        self, detail: str | None = None, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(detail)
        self.errors = errors or []


class StrategyNotFound(NotFound):
    """No strategy by that name or id: a path naming a built-in that does not exist, or a
    session's ``strategy_id`` that is not one of the caller's ``ai_strategies`` rows."""

    code = "strategy_not_found"
    title = "Strategy not found"
