"""Bots and AI strategies as the services take and return them: the bots, their
configuration, the journal, costs, calibration, backtests and the model price table (what
a model answers is in :mod:`.decision`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cryptotrader.accounts.schemas import EXAMPLE_ACCOUNT_ID
from cryptotrader.backtest.sweep import ParamValue
from cryptotrader.numbers import Money, Price, Quantity, Ratio

EXAMPLE_BOT_ID = "b07c1e55-2f4a-4d1b-9a7e-5c3d2e1f0a9b"
EXAMPLE_AI_STRATEGY_ID = "a1570a7e-9d3c-4b2a-8e6f-1f2d3c4b5a69"
BotStatus = Literal["active", "paused", "stopped", "error"]
RiskLevel = Literal["low", "medium", "high"]
Timeframe = Literal["1m", "5m", "15m", "30m", "1h", "4h", "1d"]
LLM = "llm"  # the `strategy` of a bot that runs an AI strategy (strategy_id)
Name = Annotated[str, Field(min_length=1, max_length=100)]
Symbol = Annotated[str, Field(min_length=1, max_length=15, pattern=r"^[A-Za-z0-9]+$")]
MAX_LOOKBACK = 5000


class BotConfig(BaseModel):
    """How a bot runs: its timeframe, the rule strategy's parameters, how many bars its
    indicators (rule) or its prompt (LLM) see."""

    model_config = ConfigDict(extra="forbid")

    timeframe: Timeframe = "1h"
    parameters: dict[str, ParamValue | None] = Field(
        default_factory=dict, description="The rule strategy's parameters (see /strategies)."
    )
    lookback: int = Field(
        default=1000,
        ge=2,
        le=MAX_LOOKBACK,
        description="Bars a rule strategy computes its indicators over: at most this many, "
        "and none from before the bot was last started (less its warmup).",
    )
    prompt_bars: int = Field(
        default=20, ge=1, le=200, description="Newest bars per symbol an LLM prompt shows."
    )


class LLMParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(default=0.2, ge=0, le=2)
    max_tokens: int = Field(default=800, ge=16, le=8192)


class AIStrategyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "Momentum with RSI",
                    "model": "gpt-4o-mini",
                    "prompt": "You trade {symbols} on {timeframe} bars. Buy strength, sell "
                    "weakness, hold when unsure.\n{context}",
                    "indicators": ["rsi_14", "sma_20", "macd_12_26_9"],
                    "parameters": {"temperature": 0.2, "max_tokens": 800},
                }
            ]
        },
    )

    name: Name
    description: str | None = Field(default=None, max_length=2000)
    model: str = Field(default="gpt-4o-mini", min_length=1, max_length=100)
    prompt: str = Field(min_length=1, max_length=20_000)
    parameters: LLMParameters = Field(default_factory=lambda: LLMParameters())
    indicators: list[str] = Field(default_factory=list, max_length=30)
    market_data_sources: list[str] = Field(default_factory=list, max_length=10)
    is_active: bool = False


class AIStrategyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name | None = None
    description: str | None = Field(default=None, max_length=2000)
    model: str | None = Field(default=None, min_length=1, max_length=100)
    prompt: str | None = Field(default=None, min_length=1, max_length=20_000)
    parameters: LLMParameters | None = None
    indicators: list[str] | None = Field(default=None, max_length=30)
    market_data_sources: list[str] | None = Field(default=None, max_length=10)
    is_active: bool | None = None


class AIStrategy(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_AI_STRATEGY_ID,
                    "name": "Momentum with RSI",
                    "description": None,
                    "model": "gpt-4o-mini",
                    "prompt": "You trade {symbols} on {timeframe} bars.\n{context}",
                    "parameters": {"temperature": 0.2, "max_tokens": 800},
                    "indicators": ["rsi_14", "sma_20"],
                    "market_data_sources": [],
                    "is_active": True,
                    "created_at": "2025-01-10T08:50:00Z",
                    "updated_at": "2025-01-10T08:50:00Z",
                }
            ]
        }
    )

    id: UUID
    name: str
    description: str | None
    model: str
    prompt: str
    parameters: dict[str, Any]
    indicators: list[str]
    market_data_sources: list[str]
    is_active: bool
    created_at: datetime
    updated_at: datetime


class BotCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "BTC trend",
                    "account_id": EXAMPLE_ACCOUNT_ID,
                    "strategy": "sma_crossover",
                    "target_symbols": ["BTC"],
                    "paper_balance": "5000",
                    "max_position_size": "5000",
                    "config": {"timeframe": "1h", "parameters": {"fast": 10, "slow": 30}},
                },
                {
                    "name": "LLM momentum",
                    "account_id": EXAMPLE_ACCOUNT_ID,
                    "strategy": "llm",
                    "strategy_id": EXAMPLE_AI_STRATEGY_ID,
                    "target_symbols": ["BTC", "ETH"],
                    "daily_budget_usd": "1.00",
                    "config": {"timeframe": "1h"},
                },
            ]
        },
    )

    name: Name
    account_id: UUID = Field(description="The account of yours the bot trades through.")
    strategy: str = Field(
        min_length=1,
        max_length=50,
        description="A built-in rule strategy (see /strategies), or `llm` with strategy_id.",
    )
    strategy_id: UUID | None = Field(default=None, description="The AI strategy (llm bots).")
    ai_model: str | None = Field(
        default=None,
        max_length=100,
        description="The model an llm bot asks; default: its AI strategy's model.",
    )
    target_symbols: list[Symbol] = Field(min_length=1, max_length=20)
    paper_balance: Decimal = Field(
        default=Decimal("10000"), gt=0, decimal_places=2, description="The capital cap (USD)."
    )
    max_position_size: Decimal = Field(
        default=Decimal("1000"), gt=0, decimal_places=2, description="Per position (USD)."
    )
    risk_level: RiskLevel = "medium"
    config: BotConfig = Field(default_factory=BotConfig)
    daily_budget_usd: Decimal | None = Field(default=None, ge=0, decimal_places=4)
    lifetime_budget_usd: Decimal | None = Field(default=None, ge=0, decimal_places=4)


class BotUpdate(BaseModel):
    """What may change on a bot (its status changes through start, pause and stop)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name | None = None
    target_symbols: list[Symbol] | None = Field(default=None, min_length=1, max_length=20)
    paper_balance: Decimal | None = Field(default=None, gt=0, decimal_places=2)
    max_position_size: Decimal | None = Field(default=None, gt=0, decimal_places=2)
    risk_level: RiskLevel | None = None
    ai_model: str | None = Field(default=None, min_length=1, max_length=100)
    config: BotConfig | None = None
    daily_budget_usd: Decimal | None = Field(default=None, ge=0, decimal_places=4)
    lifetime_budget_usd: Decimal | None = Field(default=None, ge=0, decimal_places=4)


class Bot(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_BOT_ID,
                    "name": "BTC trend",
                    "account_id": EXAMPLE_ACCOUNT_ID,
                    "strategy": "sma_crossover",
                    "strategy_id": None,
                    "ai_model": "rule",
                    "target_symbols": ["BTC"],
                    "status": "active",
                    "mode": "paper",
                    "paper_balance": "5000.00000000",
                    "max_position_size": "5000.00000000",
                    "risk_level": "medium",
                    "config": {"timeframe": "1h", "parameters": {"fast": 10, "slow": 30}},
                    "performance": {"trades": 4, "win_rate": 0.5, "total_pnl": "112.40"},
                    "error_message": None,
                    "daily_budget_usd": None,
                    "lifetime_budget_usd": None,
                    "last_trade_at": "2025-01-15T14:00:03Z",
                    "status_changed_at": "2025-01-10T09:00:00Z",
                    "created_at": "2025-01-10T08:55:00Z",
                    "updated_at": "2025-01-15T14:00:03Z",
                }
            ]
        }
    )

    id: UUID
    name: str
    account_id: UUID | None
    strategy: str
    strategy_id: UUID | None
    ai_model: str
    target_symbols: list[str]
    status: BotStatus
    mode: str
    paper_balance: Money
    max_position_size: Money
    risk_level: RiskLevel
    config: dict[str, Any]
    performance: dict[str, Any]
    error_message: str | None
    daily_budget_usd: Money | None
    lifetime_budget_usd: Money | None
    last_trade_at: datetime | None
    status_changed_at: datetime
    created_at: datetime
    updated_at: datetime

    @property
    def is_llm(self) -> bool:
        return self.strategy == LLM


class JournalEntry(BaseModel):
    """One decision of a bot, as the journal keeps it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "d3c1a9e2-7b4f-4e21-9c3a-0f1e2d3c4b5a",
                    "bot_id": EXAMPLE_BOT_ID,
                    "kind": "llm",
                    "source": "live",
                    "timeframe": "1h",
                    "bar_time": "2025-01-15T13:00:00Z",
                    "scope": "*",
                    "status": "traded",
                    "attempts": 1,
                    "snapshot_hash": "5f0c6e2b9a7d4c1e8f3a2b1c0d9e8f7a"
                    "6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e",
                    "prompt": "You trade BTC, ETH on 1h bars. ...",
                    "model": "gpt-4o-mini",
                    "raw_reply": '{"action": "buy", "symbol": "BTC", "size": 0.1, ...}',
                    "reasoning": "RSI 58 and rising above the 20-bar SMA.",
                    "decision": {
                        "action": "buy",
                        "symbol": "BTC",
                        "size": "0.1",
                        "confidence": 0.64,
                    },
                    "action": "buy",
                    "symbol": "BTC",
                    "confidence": "0.64000000",
                    "reference_price": "97250.0000000000",
                    "abstain_code": None,
                    "abstain_reason": None,
                    "tokens_in": 1630,
                    "tokens_out": 92,
                    "cost_usd": "0.00029970",
                    "latency_ms": 1180,
                    "replayed": False,
                    "order_id": "8d2f6a1c-3e5b-4c7d-9a0b-1c2d3e4f5a6b",
                    "order_status": "completed",
                    "order_error": None,
                    "created_at": "2025-01-15T14:00:01Z",
                    "decided_at": "2025-01-15T14:00:02Z",
                    "completed_at": "2025-01-15T14:00:02Z",
                }
            ]
        }
    )

    id: UUID
    bot_id: UUID
    kind: Literal["rule", "llm"]
    source: Literal["live", "backtest"]
    timeframe: str
    bar_time: datetime
    scope: str
    status: str
    attempts: int
    snapshot_hash: str | None
    prompt: str | None
    model: str | None
    raw_reply: str | None
    reasoning: str | None
    decision: dict[str, Any] | None
    action: str | None
    symbol: str | None
    confidence: Ratio | None
    reference_price: Price | None
    abstain_code: str | None
    abstain_reason: str | None
    tokens_in: int
    tokens_out: int
    cost_usd: Money
    latency_ms: int
    replayed: bool
    order_id: UUID | None
    order_status: str | None
    order_error: str | None
    created_at: datetime
    decided_at: datetime | None
    completed_at: datetime | None


class BotCosts(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "bot_id": EXAMPLE_BOT_ID,
                    "calls": 240,
                    "replayed": 12,
                    "tokens_in": 391200,
                    "tokens_out": 22080,
                    "cost_usd": "0.07192800",
                    "cost_today_usd": "0.00719280",
                    "daily_budget_usd": "1.00000000",
                    "lifetime_budget_usd": None,
                }
            ]
        }
    )

    bot_id: UUID
    calls: int
    replayed: int
    tokens_in: int
    tokens_out: int
    cost_usd: Money
    cost_today_usd: Money
    daily_budget_usd: Money | None
    lifetime_budget_usd: Money | None


class ReliabilityBucket(BaseModel):
    lower: float
    upper: float
    count: int
    mean_confidence: float | None
    hit_rate: float | None


class Calibration(BaseModel):
    """The Brier score of a bot's confidence against what happened ``horizon_bars`` later
    (a buy was right if the price rose, a sell if it fell), and the reliability table."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "bot_id": EXAMPLE_BOT_ID,
                    "horizon_bars": 1,
                    "decisions": 3,
                    "brier_score": 0.1766666667,
                    "buckets": [
                        {
                            "lower": 0.6,
                            "upper": 0.7,
                            "count": 2,
                            "mean_confidence": 0.65,
                            "hit_rate": 0.5,
                        },
                        {
                            "lower": 0.9,
                            "upper": 1.0,
                            "count": 1,
                            "mean_confidence": 0.9,
                            "hit_rate": 1.0,
                        },
                    ],
                }
            ]
        }
    )

    bot_id: UUID
    horizon_bars: int
    decisions: int
    brier_score: float | None
    buckets: list[ReliabilityBucket]


class ModelPrice(BaseModel):
    """A model's list price, USD per million tokens (input is the cache-miss price)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "model": "gpt-4o-mini",
                    "input_usd_per_mtok": "0.15000000",
                    "output_usd_per_mtok": "0.60000000",
                    "source": "openai.com/api/pricing, 2025",
                }
            ]
        },
    )

    model: str = Field(min_length=1, max_length=100)
    input_usd_per_mtok: Money = Field(ge=0, le=1000)
    output_usd_per_mtok: Money = Field(ge=0, le=1000)
    source: str | None = Field(default=None, max_length=200)


class BotBacktestRequest(BaseModel):
    """A backtest of an LLM bot over history, with the record of its model's replies."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "symbol": "BTC",
                    "start": "2025-01-01T00:00:00Z",
                    "end": "2025-01-08T00:00:00Z",
                    "mode": "dry_run",
                }
            ]
        },
    )

    symbol: Symbol | None = Field(default=None, description="Default: the bot's first symbol.")
    start: datetime
    end: datetime
    mode: Literal["dry_run", "offline", "record"] = Field(
        default="dry_run",
        description="dry_run: replay the record and price the missing calls; offline: abstain "
        "on them; record: ask the model for them within budget_usd and record the replies.",
    )
    budget_usd: Decimal | None = Field(
        default=None, ge=0, le=1000, decimal_places=4, description="Required in record mode."
    )

    @model_validator(mode="after")
    def _window(self) -> BotBacktestRequest:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.mode == "record" and self.budget_usd is None:
            raise ValueError("record mode needs budget_usd, what its calls may cost")
        return self


class BotBacktestTrade(BaseModel):
    time: datetime
    side: Literal["buy", "sell"]
    quantity: Quantity
    price: Price
    fee: Money


class BotBacktest(BaseModel):
    """What the backtest did: the record's use, the calls and their cost, the trades."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mode": "dry_run",
                    "model": "gpt-4o-mini",
                    "symbol": "BTC",
                    "bars": 187,
                    "decisions": 167,
                    "recorded": 120,
                    "called": 0,
                    "missing": 47,
                    "cost_usd": "0.00000000",
                    "estimated_cost_usd": "0.01410000",
                    "budget_usd": None,
                    "budget_spent": False,
                    "training_cutoff": "2023-10-01",
                    "before_cutoff": False,
                    "final_capital": "10112.40000000",
                    "trades": [
                        {
                            "time": "2025-01-02T14:00:00Z",
                            "side": "buy",
                            "quantity": "0.01029000",
                            "price": "97168.5900000000",
                            "fee": "0.99986480",
                        }
                    ],
                }
            ]
        }
    )

    mode: str
    model: str
    symbol: str
    bars: int
    decisions: int
    recorded: int
    called: int
    missing: int
    cost_usd: Money
    estimated_cost_usd: Money
    budget_usd: Money | None
    budget_spent: bool
    training_cutoff: date | None
    before_cutoff: bool
    final_capital: Money
    trades: list[BotBacktestTrade]
