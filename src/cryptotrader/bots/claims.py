"""What the bot runner holds while it works: the journal rows it claimed (:class:`Claim`),
the bots with their own money (:class:`BotState`), the quotes, a round's report, and the
small pure helpers (a call's cost, bar times, prices)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from cryptotrader.market.schemas import TIMEFRAME_SECONDS, Candle
from cryptotrader.strategies.base import Bars
from cryptotrader.strategies.base import Decision as RuleDecision

ZERO = Decimal(0)
Q10 = Decimal("1e-10")


# ====================================================================== the journal row
@dataclass(kw_only=True)
class Claim:
    """One journal row as the runner holds it while it decides (see bot_decisions)."""

    id: UUID
    bot_id: UUID
    user_id: UUID
    kind: str
    timeframe: str
    bar_time: datetime
    scope: str
    status: str
    attempts: int
    lease_until: datetime | None = None
    snapshot_hash: str | None = None
    prompt: str | None = None
    model: str | None = None
    raw_reply: str | None = None
    reasoning: str | None = None
    decision: dict[str, Any] | None = None
    order_request: dict[str, Any] | None = None
    action: str | None = None
    symbol: str | None = None
    confidence: float | None = None
    reference_price: Decimal | None = None
    abstain_code: str | None = None
    abstain_reason: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: Decimal = ZERO
    latency_ms: int = 0
    replayed: bool = False
    order_id: UUID | None = None
    order_status: str | None = None
    order_error: str | None = None
    decided_at: datetime | None = None
    completed_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Claim:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in row.items() if k in known and v is not None})

    @property
    def bar_close(self) -> datetime:
        return self.bar_time + timedelta(seconds=TIMEFRAME_SECONDS[self.timeframe])

    @property
    def open(self) -> bool:
        return self.status in ("claimed", "decided")

    def row(self) -> dict[str, Any]:
        out = asdict(self)
        for k in ("id", "bot_id", "user_id", "order_id"):
            out[k] = None if out[k] is None else str(out[k])
        for k in ("bar_time", "lease_until", "decided_at", "completed_at"):
            out[k] = None if out[k] is None else out[k].isoformat()
        for k in ("reference_price", "cost_usd"):
            out[k] = None if out[k] is None else str(out[k])
        return out

    def finish(self, status: str, **fields: Any) -> None:
        for k, v in fields.items():
            setattr(self, k, v)
        self.status = status
        now = datetime.now(UTC)
        self.decided_at = self.decided_at or now
        self.completed_at = now
        self.lease_until = None

    def took(self, decision: dict[str, Any], action: str, confidence: float | None) -> None:
        """The decision is taken (not yet carried out)."""
        self.decision, self.action, self.confidence = decision, action, confidence
        self.decided_at = datetime.now(UTC)

    def abstain(self, code: str, reason: str) -> None:
        self.finish("abstained", action="hold", abstain_code=code, abstain_reason=reason[:2000])


# ====================================================================== what a round knows
@dataclass(kw_only=True)
class BotState:
    """A bot as the runner reads it, with its own money: per symbol the cash its fills
    moved and the quantity they left it."""

    row: dict[str, Any]
    cash_delta: dict[str, Decimal] = field(default_factory=dict)
    reserved: dict[str, Decimal] = field(default_factory=dict)
    quantity: dict[str, Decimal] = field(default_factory=dict)
    avg_entry: dict[str, Decimal] = field(default_factory=dict)
    spent_today: Decimal = ZERO
    spent_total: Decimal = ZERO
    told_budget_today: bool = False

    @property
    def id(self) -> UUID:
        value: UUID = self.row["id"]
        return value

    @property
    def cap(self) -> Decimal:
        value: Decimal = self.row["paper_balance"]
        return value

    def cash(self, symbol: str | None = None) -> Decimal:
        """The bot's free cash: all of it (an LLM bot), or a rule bot's share for one of
        its symbols (the cap split evenly, moved by that symbol's fills)."""
        if symbol is None:
            return (
                self.cap + sum(self.cash_delta.values(), ZERO) - sum(self.reserved.values(), ZERO)
            )
        share = self.cap / len(self.row["target_symbols"])
        return share + self.cash_delta.get(symbol, ZERO) - self.reserved.get(symbol, ZERO)


@dataclass(kw_only=True)
class Quote:
    price: Decimal
    volume_24h_usd: Decimal
    high_24h: Decimal | None
    low_24h: Decimal | None


@dataclass
class RoundReport:
    """What one round did."""

    clock: datetime | None = None
    claimed: int = 0
    decided: int = 0
    traded: int = 0
    held: int = 0
    abstained: int = 0
    failed: int = 0
    retrying: int = 0
    cost_usd: Decimal = ZERO
    seconds: float = 0.0

    def count(self, claims: Iterable[Claim]) -> None:
        for c in claims:
            if c.status == "traded":
                self.traded += 1
            elif c.status == "held":
                self.held += 1
            elif c.status == "abstained":
                self.abstained += 1
            elif c.status == "failed":
                self.failed += 1
            else:
                self.retrying += 1
            self.cost_usd += c.cost_usd
        self.decided = self.traded + self.held + self.abstained + self.failed


class BotProblem(Exception):
    """The bot cannot go on: ``status`` is where it goes (error or paused)."""

    def __init__(self, status: str, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# ====================================================================== helpers
def bar_name(claim: Claim) -> str:
    return f"the {claim.timeframe} bar of {claim.bar_time:%Y-%m-%d %H:%M} UTC"


def bar_seconds(claim: Claim) -> int:
    return TIMEFRAME_SECONDS[claim.timeframe]


def floor_time(t: datetime, step: timedelta) -> datetime:
    seconds = int(step.total_seconds())
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def epoch_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def usd(x: Decimal) -> str:
    return format(x.quantize(Decimal("0.0001")), "f")


def rule_document(d: RuleDecision) -> dict[str, Any]:
    return {
        "action": str(d.action),
        "size": d.size,
        "order_type": str(d.order_type),
        "limit_price": d.limit_price,
        "stop_loss": d.stop_loss,
        "take_profit": d.take_profit,
        "confidence": d.confidence,
        "reasoning": d.reasoning,
    }


def candles_of(symbol: str, timeframe: str, bars: Bars) -> list[Candle]:
    return [
        Candle(
            symbol=symbol,
            timeframe=timeframe,  # type: ignore[arg-type]
            open_time=datetime.fromtimestamp(int(t) / 1000, tz=UTC),
            open=Decimal(repr(float(o))),
            high=Decimal(repr(float(h))),
            low=Decimal(repr(float(lo))),
            close=Decimal(repr(float(c))),
            volume=Decimal(repr(float(v))),
        )
        for t, o, h, lo, c, v in zip(
            bars.time, bars.open, bars.high, bars.low, bars.close, bars.volume, strict=True
        )
    ]


def cost_of(
    prices: Mapping[str, tuple[Decimal, Decimal]],
    model: str,
    sent: str,
    tokens_in: int,
    tokens_out: int,
) -> Decimal:
    """A call's cost in USD from its reported usage and the price table (per million
    tokens, by the model's name as the bot names it, else by the id sent); an unpriced
    model (a local Ollama one) is free."""
    price = prices.get(model) or prices.get(sent)
    if price is None:
        return ZERO
    per = Decimal(1_000_000)
    return (Decimal(tokens_in) * price[0] / per + Decimal(tokens_out) * price[1] / per).quantize(
        Q10
    )
