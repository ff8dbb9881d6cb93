"""How big a copy is, or why there is none: the copy rules in exact Decimal arithmetic.

Pure functions over what the copy worker reads in one statement (``copy_inputs`` in
``queries.sql``); the trading engine then re-checks every rule of its own when the copy is
placed (funds, position limits, the daily loss limit, the price's age).

The rules (docs/social.md, "Copy trading"):

* **ratio** mode: a buy of the trader's worth ``fraction`` of the trader's account equity
  before it is copied as ``fraction x allocation% x`` the follower's copy account equity;
  **fixed** mode: each buy is ``copy_fixed_amount`` (USD).
* A buy's value is cut to ``copy_max_per_trade`` (reduced: ``max_per_trade``), its quantity
  is the value at today's price, cut to what the account's cash pays at the slippage cap
  with the taker fee (reduced: ``insufficient_funds``); under ``copy_min_order`` it is
  skipped (``below_minimum``, or ``insufficient_funds`` when the cash cut it there).
* The slippage cap: a copied buy fills only at or under the trader's price plus
  ``copy_slippage_pct`` (an IOC limit order at the cap; a price already over it skips the
  copy, ``slippage_cap``).
* A sell closes the same share of the **copied** position (the copy's own fills, never the
  follower's other holdings): all of it when the trader closed theirs; cut to what the
  account still holds (reduced: ``insufficient_position``); a partial sell under the minimum
  is skipped (``below_minimum``), a close never is.
* Skipped before any sizing: the trader's fill came through the follower (``cycle``), the
  copy account is not active (``account_paused``), no fresh price (``stale_price``), a buy
  of a trader who is no longer listed (``trader_unlisted``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Literal

from cryptotrader.numbers import PRICE_PLACES, QUANTITY_PLACES

QUANTUM = Decimal(1).scaleb(-QUANTITY_PLACES)
PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)
HUNDRED = Decimal(100)

Reason = Literal[
    "cycle",
    "account_paused",
    "stale_price",
    "trader_unlisted",
    "max_per_trade",
    "insufficient_funds",
    "below_minimum",
    "slippage_cap",
    "no_copied_position",
    "insufficient_position",
    "risk_limit",
    "rejected",
]


@dataclass(frozen=True, kw_only=True)
class Fill:
    """The trader's fill as the outbox recorded it."""

    side: Literal["buy", "sell"]
    price: Decimal  # the trader's fill price (a mirror: the quote)
    fraction: Decimal  # a buy's share of equity before it; a sell's share of the position


@dataclass(frozen=True, kw_only=True)
class Copier:
    """One follow copying the trader, and its account now."""

    mode: Literal["ratio", "fixed"]
    allocation_pct: Decimal
    fixed_amount: Decimal | None
    min_order: Decimal
    max_per_trade: Decimal | None
    slippage_pct: Decimal
    account_active: bool
    cash: Decimal
    taker_fee_rate: Decimal
    equity: Decimal
    quote: Decimal | None  # today's price; None when missing or stale
    copied: Decimal  # the copied position in the symbol
    held: Decimal  # what the account holds of the symbol, unreserved
    listed: bool = True
    in_chain: bool = False


@dataclass(frozen=True, kw_only=True)
class Plan:
    """A copy to place (``quantity`` > 0, ``reason`` set when it was reduced) or a skip."""

    quantity: Decimal
    target_value: Decimal | None
    limit_price: Decimal | None = None
    reason: Reason | None = None
    message: str | None = None

    @property
    def skipped(self) -> bool:
        return self.quantity <= 0


def _down(value: Decimal, quantum: Decimal = QUANTUM) -> Decimal:
    return value.quantize(quantum, rounding=ROUND_DOWN)


def _skip(reason: Reason, message: str, target: Decimal | None = None) -> Plan:
    return Plan(quantity=Decimal(0), target_value=target, reason=reason, message=message)


def target_value(fill: Fill, copier: Copier) -> Decimal:
    """What the mode asks a buy to be worth (USD), before any rule."""
    if copier.mode == "fixed":
        if copier.fixed_amount is None:
            raise ValueError("fixed mode needs copy_fixed_amount")
        return copier.fixed_amount
    return fill.fraction * copier.allocation_pct / HUNDRED * copier.equity


def slippage_cap(fill: Fill, copier: Copier) -> Decimal:
    """The highest price a copied buy may fill at."""
    return _down(fill.price * (1 + copier.slippage_pct / HUNDRED), PRICE_QUANTUM)


def size_copy(fill: Fill, copier: Copier) -> Plan:
    """The copy of ``fill`` for ``copier``, or why there is none. A skip keeps what the copy
    would have been worth (``target_value``), so the copy gap can count what it missed."""
    target = _target(fill, copier)
    if copier.in_chain:
        return _skip("cycle", "this trade was copied from you: a copy of it would loop", target)
    if not copier.account_active:
        return _skip("account_paused", "the copy account is not active", target)
    if copier.quote is None:
        return _skip("stale_price", "no fresh price to copy at", target)
    if fill.side == "buy":
        return _size_buy(fill, copier, copier.quote)
    return _size_sell(fill, copier, copier.quote)


def _target(fill: Fill, copier: Copier) -> Decimal | None:
    if fill.side == "buy":
        return target_value(fill, copier)
    price = copier.quote if copier.quote is not None else fill.price
    return min(fill.fraction, Decimal(1)) * copier.copied * price


def _size_buy(fill: Fill, copier: Copier, quote: Decimal) -> Plan:
    target = target_value(fill, copier)
    if not copier.listed:
        return _skip(
            "trader_unlisted", "the trader is no longer listed: buys are not copied", target
        )
    value = target
    reason: Reason | None = None
    if copier.max_per_trade is not None and value > copier.max_per_trade:
        value, reason = copier.max_per_trade, "max_per_trade"
    cap = slippage_cap(fill, copier)
    if quote > cap:
        return _skip(
            "slippage_cap",
            f"the price {quote.normalize():f} is over the cap {cap.normalize():f} "
            f"({copier.slippage_pct.normalize():f}% above the trader's {fill.price.normalize():f})",
            target,
        )
    quantity = _down(value / quote)
    affordable = _down(copier.cash / (cap * (1 + copier.taker_fee_rate)))
    if quantity > affordable:
        quantity, reason = affordable, "insufficient_funds"
    if quantity <= 0 or quantity * quote < copier.min_order:
        why: Reason = "insufficient_funds" if reason == "insufficient_funds" else "below_minimum"
        return _skip(
            why,
            f"a copy worth {(quantity * quote).quantize(Decimal('0.01'))} is under the "
            f"minimum of {copier.min_order.normalize():f}",
            target,
        )
    return Plan(quantity=quantity, target_value=target, limit_price=cap, reason=reason)


def _size_sell(fill: Fill, copier: Copier, quote: Decimal) -> Plan:
    if copier.copied <= 0:
        return _skip("no_copied_position", "no copied position to sell", Decimal(0))
    closes = fill.fraction >= 1
    quantity = copier.copied if closes else _down(fill.fraction * copier.copied)
    target = quantity * quote
    reason: Reason | None = None
    if quantity > copier.held:
        quantity, reason = _down(copier.held), "insufficient_position"
    if quantity <= 0:
        return _skip(
            "insufficient_position", "the account no longer holds the copied position", target
        )
    if not closes and quantity < copier.copied and quantity * quote < copier.min_order:
        return _skip(
            "below_minimum",
            f"a sell worth {(quantity * quote).quantize(Decimal('0.01'))} is under the "
            f"minimum of {copier.min_order.normalize():f}",
            target,
        )
    return Plan(quantity=quantity, target_value=target, reason=reason)
