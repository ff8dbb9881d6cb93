"""The built-in strategies as a catalogue: list them and describe one, for the API and the
CLI (the registry builds and validates them for backtests)."""

from __future__ import annotations

from cryptotrader.strategies import registry
from cryptotrader.strategies.schemas import StrategyInfo


def strategy_name(text: str) -> str:
    """``text`` when it names a strategy, else ValueError (a page cursor's key)."""
    if text not in registry.STRATEGIES:
        raise ValueError(f"not a strategy: {text!r}")
    return text


def list_strategies(*, after: str | None = None, limit: int | None = None) -> list[StrategyInfo]:
    """The strategies in the registry's order, after the one named ``after``; ``limit``
    None: all."""
    items = registry.describe()
    if after is not None:
        items = items[[s.name for s in items].index(after) + 1 :]
    return items if limit is None else items[:limit]


def get_strategy(name: str) -> StrategyInfo:
    """One strategy with the JSON schema of its parameters. Raises StrategyNotFound."""
    return registry.describe_one(name)
