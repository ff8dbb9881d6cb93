"""What an LLM strategy answers and what asking it gave: the typed decision, and the reply
record (decision or abstention, with the raw text, tokens and latency) the journal keeps."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

Action = Literal["buy", "sell", "hold"]
OrderKind = Literal["market", "limit", "stop"]
# What to do after a call that gave no decision: "invalid" (the model's output was not a
# valid decision: hold), "transient" (try again later: rate limit, outage, timeout),
# "operational" (the bot cannot go on as configured: bad key, no balance, no such model).
FailureKind = Literal["invalid", "transient", "operational"]


class Decision(BaseModel):
    """One decision: ``size`` (0-1) is the fraction of the bot's capital cap to spend on a
    buy, or of the bot's position to sell; a hold needs only its confidence and reasoning."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    action: Action
    symbol: str | None = None
    size: Decimal = Field(default=Decimal(0), ge=0, le=1)
    order_type: OrderKind = "market"
    limit_price: Decimal | None = Field(default=None, gt=0)
    stop_loss: Decimal | None = Field(default=None, gt=0)
    take_profit: Decimal | None = Field(default=None, gt=0)
    confidence: float = Field(ge=0, le=1)
    reasoning: str = Field(default="", validation_alias=AliasChoices("reasoning", "reason"))

    @model_validator(mode="after")
    def _complete(self) -> Decision:
        if self.action != "hold":
            if not self.symbol:
                raise ValueError("a buy or a sell names its symbol")
            if self.size <= 0:
                raise ValueError("a buy or a sell has a size above 0")
            if self.order_type != "market" and self.limit_price is None:
                raise ValueError(f"a {self.order_type} order has a limit_price")
        return self


# The decision as a strict JSON Schema (OpenAI Structured Outputs: every property required,
# no others; optional ones are nullable). Also put in the prompt for the JSON-object modes.
DECISION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["buy", "sell", "hold"]},
        "symbol": {"type": ["string", "null"]},
        "size": {
            "type": "number",
            "description": "0 to 1: of the capital cap to spend (buy), of the position (sell)",
        },
        "order_type": {"type": "string", "enum": ["market", "limit", "stop"]},
        "limit_price": {"type": ["number", "null"]},
        "stop_loss": {"type": ["number", "null"]},
        "take_profit": {"type": ["number", "null"]},
        "confidence": {"type": "number", "description": "0 to 1"},
        "reasoning": {"type": "string"},
    },
    "required": [
        "action",
        "symbol",
        "size",
        "order_type",
        "limit_price",
        "stop_loss",
        "take_profit",
        "confidence",
        "reasoning",
    ],
    "additionalProperties": False,
}


@dataclass(frozen=True, kw_only=True)
class Failure:
    """Why a call gave no decision, and what to do next."""

    kind: FailureKind
    code: str  # stable: invalid_json, symbol_not_allowed, refusal, rate_limited, ...
    detail: str
    retry_after: float | None = None  # seconds, when the provider said


@dataclass(frozen=True, kw_only=True)
class LLMReply:
    """One call's record: a decision, or an abstention (``failure``) with the raw reply."""

    decision: Decision | None
    failure: Failure | None
    provider: str
    model: str  # the id sent
    reported_model: str | None  # the id the provider answered with (a dated snapshot, say)
    raw: str | None  # the reply's content as received
    reasoning_text: str | None  # the model's own reasoning, where it gave one
    tokens_in: int
    tokens_out: int
    latency_ms: float
    response_mode: str  # json_schema, json_object or prompt: what the request asked for
