"""/strategies: the built-in strategies and the JSON schema of their parameters (public)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from cryptotrader.api.pagination import Cursor, InvalidCursor, Limit, Page, decode_key, page_by
from cryptotrader.api.problems import responses
from cryptotrader.strategies import service
from cryptotrader.strategies.errors import StrategyNotFound
from cryptotrader.strategies.schemas import StrategyInfo

router = APIRouter(prefix="/strategies", tags=["strategies"])
StrategyName = Annotated[str, Path(min_length=1, max_length=100, examples=["sma_crossover"])]


@router.get("", responses=responses(InvalidCursor), summary="The built-in strategies")
async def list_strategies(cursor: Cursor = None, limit: Limit = 100) -> Page[StrategyInfo]:
    key = decode_key(cursor, service.strategy_name)
    items = service.list_strategies(after=key[0] if key else None, limit=limit)
    return page_by(items, limit, lambda strategy: (strategy.name,))


@router.get(
    "/{strategy_name}",
    responses=responses(StrategyNotFound),
    summary="One built-in strategy, with the JSON schema of its parameters",
)
async def get_strategy(strategy_name: StrategyName) -> StrategyInfo:
    return service.get_strategy(strategy_name)
