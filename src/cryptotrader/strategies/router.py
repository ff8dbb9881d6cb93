"""/strategies: the built-in strategies and the JSON schema of their parameters (public)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from cryptotrader.api.problems import responses
from cryptotrader.strategies import registry
from cryptotrader.strategies.errors import StrategyNotFound
from cryptotrader.strategies.registry import StrategyInfo

router = APIRouter(prefix="/strategies", tags=["strategies"])
StrategyName = Annotated[str, Path(min_length=1, max_length=100, examples=["sma_crossover"])]


@router.get("", summary="The built-in strategies")
async def list_strategies() -> list[StrategyInfo]:
    return registry.describe()


@router.get(
    "/{strategy_name}",
    responses=responses(StrategyNotFound),
    summary="One built-in strategy, with the JSON schema of its parameters",
)
async def get_strategy(strategy_name: StrategyName) -> StrategyInfo:
    return registry.describe_one(strategy_name)
