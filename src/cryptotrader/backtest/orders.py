"""A strategy's decision as the order the broker executes at the next bar's open."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from cryptotrader.backtest.errors import InvalidDecision
from cryptotrader.backtest.fills import Side, to_decimal
from cryptotrader.strategies.base import Action, Decision, OrderKind


@dataclass(kw_only=True, slots=True)
class Order:
    """A decision turned into an order, executed (or placed) at the next bar's open."""

    side: Side
    fraction: Decimal | None
    limit: Decimal | None
    stop_loss: Decimal | None
    take_profit: Decimal | None


def _fraction(value: float | None, i: int) -> Decimal | None:
    if value is None:
        return None
    if not (math.isfinite(value) and 0 < value <= 1):
        raise InvalidDecision(f"bar {i}: size must be in (0, 1], got {value!r}")
    return Decimal(repr(float(value)))


def _price(value: float | None, what: str, i: int) -> Decimal | None:
    if value is None:
        return None
    if not (math.isfinite(value) and value > 0):
        raise InvalidDecision(f"bar {i}: {what} must be a positive finite price, got {value!r}")
    return to_decimal(value)


def order_from_decision(decision: Decision, i: int) -> Order | None:
    """The order a (non-hold) decision on bar ``i`` asks for; raises
    :class:`InvalidDecision` for a decision the live engine would refuse as malformed."""
    if not isinstance(decision, Decision):
        raise InvalidDecision(f"bar {i}: decide() returned {type(decision).__name__}")
    if decision.action is Action.HOLD:
        return None
    side: Side = "buy" if decision.action is Action.BUY else "sell"
    if side == "sell" and (decision.stop_loss is not None or decision.take_profit is not None):
        raise InvalidDecision(f"bar {i}: stop-loss and take-profit go with a buy")
    if decision.order_type is OrderKind.LIMIT and decision.limit_price is None:
        raise InvalidDecision(f"bar {i}: a limit order needs a limit price")
    if decision.order_type is OrderKind.MARKET and decision.limit_price is not None:
        raise InvalidDecision(f"bar {i}: a limit price is only for limit orders")
    return Order(
        side=side,
        fraction=_fraction(decision.size, i),
        limit=_price(decision.limit_price, "limit price", i),
        stop_loss=_price(decision.stop_loss, "stop-loss", i),
        take_profit=_price(decision.take_profit, "take-profit", i),
    )
