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
from cryptotrader.bots import examples
from cryptotrader.market.schemas import Timeframe
from cryptotrader.numbers import Money, Percent, Price, Quantity, Ratio

EXAMPLE_BOT_ID = examples.EXAMPLE_BOT_ID
EXAMPLE_AI_STRATEGY_ID = examples.EXAMPLE_AI_STRATEGY_ID
BotStatus = Literal["active", "paused", "stopped", "error"]
RiskLevel = Literal["low", "medium", "high"]
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
    model_config = ConfigDict(json_schema_extra={"examples": [examples.A_I_STRATEGY]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [examples.BOT]})

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

    model_config = ConfigDict(json_schema_extra={"examples": [examples.JOURNAL_ENTRY]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [examples.BOT_COSTS]})

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

    model_config = ConfigDict(json_schema_extra={"examples": [examples.CALIBRATION]})

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

    model_config = ConfigDict(json_schema_extra={"examples": [examples.BOT_BACKTEST]})

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


class PromptPreviewRequest(BaseModel):
    """An AI strategy's prompt to render on current data (a saved one's, or a draft)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "prompt": "You trade {symbols} on {timeframe} bars.\n{context}",
                    "indicators": ["rsi_14", "sma_20"],
                    "symbols": ["BTC", "ETH"],
                    "timeframe": "1h",
                }
            ]
        },
    )

    prompt: str = Field(min_length=1, max_length=20_000)
    indicators: list[str] = Field(default_factory=list, max_length=30)
    symbols: list[Symbol] = Field(min_length=1, max_length=20)
    timeframe: Timeframe = "1h"
    prompt_bars: int = Field(default=20, ge=1, le=200)
    capital_cap: Decimal = Field(default=Decimal("10000"), gt=0, decimal_places=2)
    max_position_size: Decimal = Field(default=Decimal("1000"), gt=0, decimal_places=2)


class PromptPreview(BaseModel):
    """What a model would be asked now: the system and user messages, the context as data,
    its hash (the key of the record), and the bar it would decide on."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.PROMPT_PREVIEW]})

    system: str
    user: str
    context: dict[str, Any]
    snapshot_hash: str
    bar_time: datetime
    bars_shown: dict[str, int]


class BotPerformance(BaseModel):
    """A bot's performance from its own fills, at current prices."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.BOT_PERFORMANCE]})

    trades: int
    buys: int
    sells: int
    wins: int
    losses: int
    win_rate: float | None
    realized_pnl: Money
    cash: Money
    positions_value: Money
    total_pnl: Money
    return_pct: Percent
    decisions: int
    cost_usd: Money
    updated_at: datetime
