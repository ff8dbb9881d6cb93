"""Pieces shared by the built-in strategies: their parameter base, the period field,
the confidence scale and how numbers are written in a decision's reasoning."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from cryptotrader.strategies.base import StrategyParams

MAX_PERIOD = 100_000  # TA-Lib's bound on every period


class BuiltinParams(StrategyParams):
    """Unknown keys are refused (base), and so are NaN and infinities."""

    model_config = ConfigDict(allow_inf_nan=False)


def period_field(default: int, description: str, minimum: int = 2) -> Any:
    """A look-back length in bars."""
    return Field(default=default, ge=minimum, le=MAX_PERIOD, description=description)


def confidence(strength: float) -> float:
    """Map a rule's strength (0 = barely fired, 1 or more = clearly) to a confidence in
    [0.5, 1]. Informational only: the engine does not size orders by it."""
    if not strength > 0:  # also NaN
        return 0.5
    return 0.5 + 0.5 * min(strength, 1.0)


def num(x: float) -> str:
    """A price or indicator value for a reasoning string."""
    return f"{x:.8g}"
