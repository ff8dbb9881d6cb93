"""The built-in strategies, in the order they are listed."""

from __future__ import annotations

from typing import Any

from cryptotrader.strategies.accumulation import BuyAndHold, BuyAndHoldParams, Dca, DcaParams
from cryptotrader.strategies.base import Strategy
from cryptotrader.strategies.crossover import (
    EmaCrossover,
    EmaCrossoverParams,
    MacdCrossover,
    MacdParams,
    SmaCrossover,
    SmaCrossoverParams,
)
from cryptotrader.strategies.grid import Grid, GridParams
from cryptotrader.strategies.thresholds import (
    BollingerBreakout,
    BollingerBreakoutParams,
    RsiReversion,
    RsiReversionParams,
)

BUILTIN_STRATEGIES: tuple[type[Strategy[Any]], ...] = (
    SmaCrossover,
    EmaCrossover,
    RsiReversion,
    MacdCrossover,
    BollingerBreakout,
    Dca,
    Grid,
    BuyAndHold,
)

__all__ = [
    "BUILTIN_STRATEGIES",
    "BollingerBreakout",
    "BollingerBreakoutParams",
    "BuyAndHold",
    "BuyAndHoldParams",
    "Dca",
    "DcaParams",
    "EmaCrossover",
    "EmaCrossoverParams",
    "Grid",
    "GridParams",
    "MacdCrossover",
    "MacdParams",
    "RsiReversion",
    "RsiReversionParams",
    "SmaCrossover",
    "SmaCrossoverParams",
]
