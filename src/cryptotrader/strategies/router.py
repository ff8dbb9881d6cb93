"""/strategies: the built-in strategies and the JSON schema of their parameters (public)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from cryptotrader.api.pagination import Cursor, InvalidCursor, Limit, Page, decode_key, page_by
from cryptotrader.api.problems import responses
from cryptotrader.strategies import registry
from cryptotrader.strategies.errors import StrategyNotFound
from cryptotrader.strategies.registry import StrategyInfo

router = APIRouter(prefix="/strategies", tags=["strategies"])
StrategyName = Annotated[str, Path(min_length=1, max_length=100, examples=["sma_crossover"])]


def _strategy_name(text: str) -> str:
    if text not in registry.STRATEGIES:
        raise ValueError(f"not a strategy: {text!r}")
    return text


@router.get("", responses=responses(InvalidCursor), summary="The built-in strategies")
async def list_strategies(cursor: Cursor = None, limit: Limit = 100) -> Page[StrategyInfo]:
    key = decode_key(cursor, _strategy_name)
    items = registry.describe()
    if key is not None:
        items = items[[s.name for s in items].index(key[0]) + 1 :]
    return page_by(items[:limit], limit, lambda strategy: (strategy.name,))


@router.get(
    "/{strategy_name}",
    responses=responses(StrategyNotFound),
    summary="One built-in strategy, with the JSON schema of its parameters",
)
async def get_strategy(strategy_name: StrategyName) -> StrategyInfo:
    return registry.describe_one(strategy_name)
