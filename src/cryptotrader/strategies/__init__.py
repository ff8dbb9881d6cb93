"""Strategies: the interface (:mod:`.base`), indicators (:mod:`.indicators`), the
built-ins and the registry that finds them by name."""

from __future__ import annotations

from cryptotrader.strategies.base import (
    API_VERSION,
    HOLD,
    Action,
    BarContext,
    Bars,
    Decision,
    OrderKind,
    Strategy,
    StrategyParams,
)
from cryptotrader.strategies.errors import InvalidStrategyParameters, UnknownStrategy
from cryptotrader.strategies.registry import (
    STRATEGIES,
    build_strategy,
    describe,
    get_strategy,
    parse_param_pairs,
    validate_parameters,
)
from cryptotrader.strategies.schemas import StrategyInfo

__all__ = [
    "API_VERSION",
    "HOLD",
    "STRATEGIES",
    "Action",
    "BarContext",
    "Bars",
    "Decision",
    "InvalidStrategyParameters",
    "OrderKind",
    "Strategy",
    "StrategyInfo",
    "StrategyParams",
    "UnknownStrategy",
    "build_strategy",
    "describe",
    "get_strategy",
    "parse_param_pairs",
    "validate_parameters",
]
