"""The copy gap and the what-if: pure arithmetic over a copy log, and over a trader's track.

**The copy gap** compares four books kept over the same copy log, in its order, each
marked to today's prices at the end:

* ``actual``: the copies as they filled: their quantities, prices and fees;
* ``at_trader_price``: the same quantities at the trader's prices, without fees;
* ``ideal``: the copies the mode asked for (``target_value``, skipped and reduced ones in
  full) at the trader's prices, without fees, sells closing the same share of this book;
* ``trader``: the ideal book with the positions a copy opened from the trader's open
  positions (mirrors) bought at the trader's own average entry instead of today's price.

Then ``copied - trader`` splits exactly into ``skipped`` (at_trader_price - ideal: copies
skipped or reduced), ``slippage`` (actual + fees - at_trader_price: copies filled at other
prices than the trader's), ``fees`` (-fees) and ``timing`` (ideal - trader: positions
opened later than the trader opened them). Returns are PnL over the capital allocated.

**The what-if** replays a listed trader's fills of the last days (their public track: the
share of equity each buy used, the share of the position each sell closed) through the
copy rules (``copy_math``) on a fresh account of the given capital, filling at the
trader's prices with the taker fee, and values what is left at today's prices.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from cryptotrader.social.copy_math import Copier, Fill, size_copy

HUNDRED = Decimal(100)
FILLED = ("filled", "reduced")


@dataclass
class Book:
    """Cash and positions of one way of keeping the copy."""

    cash: Decimal = Decimal(0)
    held: dict[str, Decimal] = field(default_factory=dict)

    def trade(self, symbol: str, side: str, quantity: Decimal, price: Decimal) -> None:
        sign = 1 if side == "buy" else -1
        self.held[symbol] = self.held.get(symbol, Decimal(0)) + sign * quantity
        self.cash -= sign * quantity * price

    def value(self, prices: Mapping[str, Decimal]) -> Decimal:
        return self.cash + sum(
            (q * prices.get(s, Decimal(0)) for s, q in self.held.items()), Decimal(0)
        )


def _ideal_quantity(row: Mapping[str, Any], book: Book) -> Decimal:
    price = row["leader_price"]
    if row["side"] == "buy":
        target = row["target_value"] or Decimal(0)
        return target / price if price else Decimal(0)
    share = min(row["fraction"], Decimal(1)) if row["kind"] != "stop_close" else Decimal(1)
    return share * max(book.held.get(row["symbol"], Decimal(0)), Decimal(0))


@dataclass(frozen=True, kw_only=True)
class Gap:
    copied_pnl: Decimal
    trader_pnl: Decimal
    parts: dict[str, Decimal]
    copies: int
    skipped: int


def copy_gap(rows: Iterable[Mapping[str, Any]], prices: Mapping[str, Decimal]) -> Gap:
    """The four books over ``rows`` (a follow's copy log, oldest first, planned rows left
    out) valued at ``prices``; see the module's docstring."""
    actual, at_price, ideal, trader = Book(), Book(), Book(), Book()
    fees = Decimal(0)
    copies = skipped = 0
    for row in rows:
        symbol, side = row["symbol"], row["side"]
        quantity = _ideal_quantity(row, ideal)
        ideal.trade(symbol, side, quantity, row["leader_price"])
        entry = row["entry_price"] if row["kind"] == "mirror" and row["entry_price"] else None
        trader_quantity = _ideal_quantity(row, trader)
        trader.trade(symbol, side, trader_quantity, entry or row["leader_price"])
        copies += 1
        if row["status"] not in FILLED:
            skipped += 1
            continue
        filled = row["filled_quantity"]
        at_price.trade(symbol, side, filled, row["leader_price"])
        actual.held[symbol] = actual.held.get(symbol, Decimal(0)) + (
            filled if side == "buy" else -filled
        )
        actual.cash += -row["total_value"] if side == "buy" else row["total_value"]
        actual.cash -= row["fee"]
        fees += row["fee"]
    pnl = {
        name: b.value(prices)
        for name, b in (
            ("actual", actual),
            ("at_price", at_price),
            ("ideal", ideal),
            ("trader", trader),
        )
    }
    parts = {
        "skipped": pnl["at_price"] - pnl["ideal"],
        "slippage": pnl["actual"] + fees - pnl["at_price"],
        "fees": -fees,
        "timing": pnl["ideal"] - pnl["trader"],
    }
    return Gap(
        copied_pnl=pnl["actual"],
        trader_pnl=pnl["trader"],
        parts=parts,
        copies=copies,
        skipped=skipped,
    )


def pct(value: Decimal, base: Decimal) -> Decimal:
    return (value / base * HUNDRED).quantize(Decimal("0.0001")) if base else Decimal(0)


# ------------------------------------------------------------------ what-if
@dataclass(frozen=True, kw_only=True)
class Replay:
    final_equity: Decimal
    fees: Decimal
    fills: int
    outcomes: Counter[str]
    skipped_by_reason: Counter[str]


@dataclass
class _Account:
    cash: Decimal
    held: dict[str, Decimal] = field(default_factory=dict)
    last: dict[str, Decimal] = field(default_factory=dict)

    def equity(self) -> Decimal:
        return self.cash + sum(
            (q * self.last.get(s, Decimal(0)) for s, q in self.held.items()), Decimal(0)
        )


def replay(
    events: Iterable[Mapping[str, Any]],
    prices: Mapping[str, Decimal],
    *,
    capital: Decimal,
    template: Copier,
) -> Replay:
    """Copy ``events`` (the trader's fills, oldest first) with ``template``'s rules on an
    account of ``capital``; each copy fills at the trader's price with the taker fee."""
    account = _Account(cash=capital)
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    fees = Decimal(0)
    count = 0
    for event in events:
        count += 1
        symbol, price = event["symbol"], event["price"]
        account.last[symbol] = price
        fill = Fill(
            side="buy" if event["side"] == "buy" else "sell",
            price=price,
            fraction=event["fraction"],
        )
        held = account.held.get(symbol, Decimal(0))
        copier = replace(
            template,
            cash=account.cash,
            equity=account.equity(),
            quote=price,
            copied=held,
            held=held,
        )
        plan = size_copy(fill, copier)
        if plan.skipped:
            outcomes["skipped"] += 1
            reasons[plan.reason or "rejected"] += 1
            continue
        outcomes["reduced" if plan.reason else "copied"] += 1
        value = plan.quantity * price
        fee = value * template.taker_fee_rate
        fees += fee
        sign = 1 if fill.side == "buy" else -1
        account.held[symbol] = held + sign * plan.quantity
        account.cash -= sign * value + fee
    account.last.update(prices)
    return Replay(
        final_equity=account.equity(),
        fees=fees,
        fills=count,
        outcomes=outcomes,
        skipped_by_reason=reasons,
    )
