"""Orders and trades as the services take and return them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cryptotrader.accounts.schemas import EXAMPLE_ACCOUNT_ID
from cryptotrader.numbers import (
    PRICE_PLACES,
    QUANTITY_PLACES,
    SCORE_PLACES,
    Bps,
    FeeRate,
    Money,
    Price,
    Quantity,
    Score,
)

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop"]
TimeInForce = Literal["gtc", "ioc", "fok"]
TradeStatus = Literal["pending", "completed", "cancelled", "expired", "rejected"]
EXAMPLE_ORDER_ID = "a3d9f2c1-7b4e-4f68-8c15-9e2a6d0b7f34"


class OrderRequest(BaseModel):
    """An order as a client sends it. The database re-checks every rule."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "account_id": EXAMPLE_ACCOUNT_ID,
                    "symbol": "BTC",
                    "side": "buy",
                    "amount": "0.05",
                    "order_type": "market",
                    "stop_loss": "92000.00",
                    "take_profit": "105000.00",
                    "reasoning": "Daily close above the 96,000 resistance.",
                    "confidence_level": "70",
                    "tags": ["breakout"],
                }
            ]
        },
    )

    account_id: UUID = Field(examples=[EXAMPLE_ACCOUNT_ID])
    symbol: str = Field(min_length=1, max_length=15, examples=["BTC"])
    side: Side
    amount: Decimal = Field(
        gt=0,
        decimal_places=QUANTITY_PLACES,
        description="Quantity of the base asset, at most 8 decimals.",
        examples=["0.05"],
    )
    order_type: OrderType = "market"
    limit_price: Decimal | None = Field(
        default=None, gt=0, decimal_places=PRICE_PLACES, examples=["95000.00"]
    )
    stop_price: Decimal | None = Field(
        default=None, gt=0, decimal_places=PRICE_PLACES, examples=["99000.00"]
    )
    time_in_force: TimeInForce = "gtc"
    expires_at: datetime | None = None
    stop_loss: Decimal | None = Field(default=None, gt=0, decimal_places=PRICE_PLACES)
    take_profit: Decimal | None = Field(default=None, gt=0, decimal_places=PRICE_PLACES)
    bot_id: UUID | None = None
    reasoning: str | None = Field(default=None, max_length=4000)
    confidence_level: Decimal | None = Field(
        default=None, ge=0, le=100, decimal_places=SCORE_PLACES
    )
    risk_score: Decimal | None = Field(
        default=None,
        ge=0,
        le=100,
        decimal_places=SCORE_PLACES,
        description="How risky the trader (or bot) judged the trade, 0-100.",
    )
    trade_category: str = Field(default="manual", min_length=1, max_length=50)
    tags: list[str] = Field(default_factory=list, max_length=20)
    notes: str | None = Field(default=None, max_length=4000)


class Trade(BaseModel):
    """One order and, once filled, its fill (a row of paper_trades)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_ORDER_ID,
                    "account_id": EXAMPLE_ACCOUNT_ID,
                    "bot_id": None,
                    "symbol": "BTC",
                    "side": "buy",
                    "amount": "0.05000000",
                    "price": "97000.0000000000",
                    "execution_price": "97048.5000000000",
                    "total_value": "4852.42500000",
                    "fee": "4.85242500",
                    "order_type": "market",
                    "trade_type": "market",
                    "status": "completed",
                    "time_in_force": "gtc",
                    "stop_price": None,
                    "stop_loss": "92000.0000000000",
                    "take_profit": "105000.0000000000",
                    "expires_at": None,
                    "reserved_amount": "0.00000000",
                    "oco_group_id": None,
                    "parent_trade_id": None,
                    "realized_pnl": "0.00000000",
                    "risk_score": "4.90",
                    "confidence_level": "70.00",
                    "fill_model": "fixed",
                    "slippage_bps": "5.0000",
                    "fee_rate": "0.001000",
                    "execution_time_ms": 3,
                    "reasoning": "Daily close above the 96,000 resistance.",
                    "trade_category": "manual",
                    "tags": ["breakout"],
                    "notes": None,
                    "status_reason": None,
                    "account_epoch": 0,
                    "created_at": "2025-01-15T14:30:02Z",
                    "filled_at": "2025-01-15T14:30:02Z",
                    "closed_at": None,
                }
            ]
        }
    )

    id: UUID
    account_id: UUID | None
    bot_id: UUID | None
    symbol: str
    side: Side
    amount: Quantity
    price: Price
    execution_price: Price | None = Field(description="The fill's price; null until it fills.")
    total_value: Money
    fee: Money
    order_type: str
    trade_type: str | None
    status: TradeStatus
    time_in_force: str
    stop_price: Price | None
    stop_loss: Price | None
    take_profit: Price | None
    expires_at: datetime | None
    reserved_amount: Money = Field(
        description="Held by a pending order: cash for a buy, the quantity for a sell."
    )
    oco_group_id: UUID | None
    parent_trade_id: UUID | None
    realized_pnl: Money
    risk_score: Score | None
    confidence_level: Score | None
    fill_model: str | None
    slippage_bps: Bps | None
    fee_rate: FeeRate | None
    execution_time_ms: int | None
    reasoning: str | None
    trade_category: str | None
    tags: list[str] | None
    notes: str | None
    status_reason: str | None
    account_epoch: int
    created_at: datetime
    filled_at: datetime | None
    closed_at: datetime | None

    @model_validator(mode="after")
    def _no_fill_price_before_the_fill(self) -> Trade:
        if self.status != "completed":  # the column's default 0 is no price
            self.execution_price = None
        return self


PreviewStatus = Literal["completed", "pending", "expired", "rejected"]


class OrderPreview(BaseModel):
    """What placing an order would do now, from the account's fill model and fees and the
    engine's own checks (``preview_paper_trade``); nothing is written. A refused order has
    status ``rejected`` and the engine's ``refusal_code`` and ``refusal_message``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "completed",
                    "account_id": EXAMPLE_ACCOUNT_ID,
                    "symbol": "BTC",
                    "side": "buy",
                    "order_type": "market",
                    "quantity": "0.05000000",
                    "market_price": "97000.0000000000",
                    "trigger_price": None,
                    "execution_price": "97048.5000000000",
                    "gross_value": "4852.42500000",
                    "fee": "4.85242500",
                    "fee_rate": "0.001000",
                    "slippage_bps": "5.0000",
                    "fill_model": "fixed",
                    "reserved_amount": "0.00000000",
                    "cash_balance": "10000.00000000",
                    "resulting_cash_balance": "5142.72257500",
                    "position_quantity": "0.00000000",
                    "resulting_position_quantity": "0.05000000",
                    "refusal_code": None,
                    "refusal_message": None,
                }
            ]
        }
    )

    status: PreviewStatus = Field(
        description="completed: fills at once; pending: rests with its reserve held until the"
        " market crosses it; expired: an IOC/FOK order that cannot fill now; rejected: the"
        " engine would refuse it (see refusal_code)."
    )
    account_id: UUID
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Quantity
    market_price: Price | None = Field(description="The cached price the estimate starts from.")
    trigger_price: Price | None = Field(description="A stop order's stop price.")
    execution_price: Price | None = Field(
        description="The estimated fill price: now for a market order, at its limit or stop"
        " price for a resting one."
    )
    gross_value: Money | None = Field(description="Quantity times the execution price.")
    fee: Money | None
    fee_rate: FeeRate | None = Field(
        description="The taker rate, or the maker rate of a resting limit order."
    )
    slippage_bps: Bps | None
    fill_model: str | None
    reserved_amount: Money = Field(
        description="Held while the order rests: cash for a buy, the quantity for a sell."
    )
    cash_balance: Money | None = Field(description="Available cash now.")
    resulting_cash_balance: Money | None = Field(
        description="Available cash once the order has filled; null if it would be refused."
    )
    position_quantity: Quantity | None = Field(description="The symbol's position now.")
    resulting_position_quantity: Quantity | None
    refusal_code: str | None = Field(
        description="The engine's code (insufficient_funds, stale_price, ...), if refused.",
        examples=["insufficient_funds"],
    )
    refusal_message: str | None = Field(
        examples=["needs 4857.28 including fees, 1250.00 available"]
    )


class TradeFilter(BaseModel):
    """Which of the caller's fills a listing or an export takes, None meaning any (the query
    of /trades and /trades.csv: ``from`` and ``to`` there)."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    account_id: UUID | None = None
    symbol: str | None = Field(default=None, max_length=15)
    side: Side | None = None
    bot_id: UUID | None = None
    category: str | None = Field(default=None, max_length=50)
    since: datetime | None = Field(default=None, alias="from")
    until: datetime | None = Field(default=None, alias="to")


class OrderFilter(TradeFilter):
    """Which of the caller's orders a listing takes: a trade filter and the order's status."""

    status: TradeStatus | None = None


ALL_ORDERS = OrderFilter()
