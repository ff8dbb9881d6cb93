"""Strategies as the API and the CLI describe them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

EXAMPLE_STRATEGY: dict[str, Any] = {
    "name": "sma_crossover",
    "description": "Buy with all cash when the fast SMA crosses above the slow SMA; sell the"
    " whole position when it crosses below.",
    "version": 1,
    "api_version": 1,
    "signal_only": True,
    "default_warmup": 30,
    "parameters": {
        "additionalProperties": False,
        "properties": {
            "fast": {
                "default": 10,
                "description": "Fast SMA length in bars (1 = the close itself)",
                "maximum": 100000,
                "minimum": 1,
                "title": "Fast",
                "type": "integer",
            },
            "slow": {
                "default": 30,
                "description": "Slow SMA length in bars",
                "maximum": 100000,
                "minimum": 2,
                "title": "Slow",
                "type": "integer",
            },
        },
        "title": "SmaCrossoverParams",
        "type": "object",
    },
}


class StrategyInfo(BaseModel):
    """One strategy as listed by the CLI and the API."""

    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [EXAMPLE_STRATEGY]})

    name: str
    description: str
    version: int
    api_version: int
    signal_only: bool
    default_warmup: int
    """Bars of warm-up with the default parameters."""
    parameters: dict[str, Any]
    """JSON schema of the parameters, with their defaults."""
