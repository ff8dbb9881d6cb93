"""A bot's decision as an order: sized the way the backtest broker sizes it.

A buy spends a fraction of the bot's cash (all of it without one), no more than its
``max_position_size`` leaves room for and the account's cash, at the fill model's price
for that size (the engine's ``private.slippage_bps``, which the backtest broker mirrors),
the largest quantity (8 decimals) whose value and fee fit; a sell sells a fraction of the
bot's own position in the symbol (never the owner's other holdings). The order goes
through the one order path with the bot's id, reasoning, confidence (0-100), risk score
(the order's value as a share of ``max_position_size``, 0-100) and ``trade_category='bot'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from cryptotrader.backtest.fills import affordable, execution_price, fill_model, range_24h
from cryptotrader.backtest.types import FillModelName
from cryptotrader.bots.claims import ZERO, BotState, Claim, Quote
from cryptotrader.trading.schemas import OrderRequest

Q8 = Decimal("1e-8")
Q10 = Decimal("1e-10")
CENT = Decimal("0.01")


@dataclass(frozen=True, kw_only=True)
class Intent:
    """What a decision wants: ``fraction`` (0-1) of ``cash`` to spend on a buy, or of the
    bot's position to sell; None for all of it."""

    side: str
    symbol: str
    fraction: Decimal | None
    cash: Decimal
    order_type: str = "market"
    limit: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    confidence: float | None = None
    reasoning: str = ""


def optional_price(x: float | Decimal | None) -> Decimal | None:
    """A price as an order takes it (10 decimals), or None."""
    return None if x is None else Decimal(repr(x) if isinstance(x, float) else x).quantize(Q10)


def order_amount(bot: BotState, quote: Quote, intent: Intent) -> Decimal:
    """The quantity to order, sized as the backtest broker sizes it (0: nothing to do)."""
    row = bot.row
    held = bot.quantity.get(intent.symbol, ZERO)
    if intent.side != "buy":
        if intent.fraction is None:
            return held
        return min(held, (held * intent.fraction).quantize(Q8, ROUND_FLOOR))
    cash = intent.cash
    budget = cash if intent.fraction is None else (cash * intent.fraction).quantize(Q8, ROUND_FLOOR)
    room = row["max_position_size"] - held * quote.price
    budget = min(budget, room, row["account_balance"] or ZERO)
    if budget <= 0:
        return ZERO
    if intent.order_type == "market":
        return affordable(
            budget, fill_price(row, quote, quote.price, budget), row["taker_fee_rate"]
        )[0]
    price = intent.limit if intent.limit is not None else quote.price
    fee = row["maker_fee_rate"] if intent.order_type == "limit" else row["taker_fee_rate"]
    return affordable(budget, price, fee)[0]


def prepare_order(claim: Claim, bot: BotState, quotes: Mapping[str, Quote], intent: Intent) -> None:
    """Size the intent and keep it as the claim's order (``decided``); with nothing to
    trade, the claim is ``held``; without a price, an abstention."""
    claim.symbol = intent.symbol
    quote = quotes.get(intent.symbol)
    if quote is None:
        claim.abstain("no_price", f"no price for {intent.symbol}")
        return
    claim.reference_price = quote.price
    amount = order_amount(bot, quote, intent)
    if amount <= 0:
        what = "cash to buy with" if intent.side == "buy" else f"{intent.symbol} to sell"
        claim.finish("held", abstain_code="nothing_to_trade", abstain_reason=f"no {what}")
        return
    row = bot.row
    value = amount * quote.price
    risk = min(Decimal(100), value / row["max_position_size"] * 100).quantize(CENT)
    confidence = intent.confidence
    request = OrderRequest(
        account_id=row["account_id"],
        symbol=intent.symbol,
        side=intent.side,  # type: ignore[arg-type]
        amount=amount,
        order_type=intent.order_type,  # type: ignore[arg-type]
        limit_price=intent.limit if intent.order_type == "limit" else None,
        stop_price=intent.limit if intent.order_type == "stop" else None,
        stop_loss=intent.stop_loss,
        take_profit=intent.take_profit,
        bot_id=row["id"],
        reasoning=intent.reasoning[:4000],
        confidence_level=None
        if confidence is None
        else Decimal(repr(confidence * 100)).quantize(CENT),
        risk_score=risk,
        trade_category="bot",
        tags=["bot", claim.kind],
    )
    claim.order_request = request.model_dump(mode="json")
    claim.status = "decided"


def fill_price(row: Mapping[str, Any], quote: Quote, ref: Decimal, budget: Decimal) -> Decimal:
    """The fill model's execution price for a buy of ``budget`` (as the engine's
    ``private.slippage_bps`` and the backtest broker compute it)."""
    name: FillModelName = row["fill_model"] or "fixed"
    model = fill_model(name, row["slippage_bps"] or ZERO)
    if not model.sized:
        return execution_price(ref, model.slippage_bps(ZERO, ZERO, ZERO), "buy")
    quantity = affordable(budget, ref, row["taker_fee_rate"])[0]  # size at the price, slip
    spread = range_24h(quote.high_24h, quote.low_24h, ref)
    bps = model.slippage_bps(ref * quantity, quote.volume_24h_usd, spread)
    return execution_price(ref, bps, "buy")
