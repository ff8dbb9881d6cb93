"""Trader profiles and follows as the services take and return them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from cryptotrader.accounts.schemas import EXAMPLE_ACCOUNT_ID
from cryptotrader.numbers import Money, Percent, Price, Quantity, Ratio
from cryptotrader.trading.schemas import EXAMPLE_ORDER_ID

EXAMPLE_TRADER_ID = "7c2b9f1e-4d3a-4e5b-8f6a-9b0c1d2e3f4a"
EXAMPLE_FOLLOW_ID = "f0110a5e-2b3c-4d5e-8f9a-0b1c2d3e4f5a"
Shows = Literal["statistics", "statistics_and_trades"]
CopyMode = Literal["ratio", "fixed"]
Name = Annotated[str, Field(min_length=1, max_length=60)]
Category = Annotated[str, Field(min_length=1, max_length=40)]


class TraderProfileUpdate(BaseModel):
    """What a trader publishes. Listing it makes it public; unlisting hides it again."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "is_listed": True,
                    "display_name": "Alice",
                    "category": "Swing",
                    "bio": "BTC and ETH swing trades on the daily chart.",
                    "shows": "statistics_and_trades",
                    "trade_delay_minutes": 60,
                }
            ]
        },
    )

    is_listed: bool = False
    display_name: Name
    category: Category = "Other"
    bio: str | None = Field(default=None, max_length=500)
    shows: Shows = Field(
        default="statistics", description="statistics only, or statistics and trades."
    )
    trade_delay_minutes: int = Field(
        default=0, ge=0, le=10080, description="Trades are shown this long after they fill."
    )


class TraderProfile(BaseModel):
    """A trader's own profile, as they see it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": EXAMPLE_TRADER_ID,
                    "is_listed": True,
                    "display_name": "Alice",
                    "category": "Swing",
                    "bio": "BTC and ETH swing trades on the daily chart.",
                    "shows": "statistics_and_trades",
                    "trade_delay_minutes": 60,
                    "listed_at": "2025-01-10T09:00:00Z",
                    "created_at": "2025-01-10T09:00:00Z",
                    "updated_at": "2025-01-10T09:00:00Z",
                }
            ]
        }
    )

    user_id: UUID
    is_listed: bool
    display_name: str
    category: str
    bio: str | None
    shows: Shows
    trade_delay_minutes: int
    listed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PublicTrader(BaseModel):
    """A listed trader as anyone sees them: the published columns only."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_TRADER_ID,
                    "display_name": "Alice",
                    "category": "Swing",
                    "bio": "BTC and ETH swing trades on the daily chart.",
                    "shows": "statistics_and_trades",
                    "trade_delay_minutes": 60,
                    "listed_at": "2025-01-10T09:00:00Z",
                    "followers": 12,
                }
            ]
        }
    )

    id: UUID
    display_name: str
    category: str
    bio: str | None
    shows: Shows
    trade_delay_minutes: int
    listed_at: datetime
    followers: int


class FollowCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"trader_id": EXAMPLE_TRADER_ID}]}
    )

    trader_id: UUID = Field(description="A listed trader's id (see /traders).")


class Follow(BaseModel):
    """One of the caller's follows."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_FOLLOW_ID,
                    "trader_id": EXAMPLE_TRADER_ID,
                    "trader_name": "Alice",
                    "trader_category": "Swing",
                    "is_active": True,
                    "copy_trading_enabled": False,
                    "followed_at": "2025-01-12T10:00:00Z",
                    "created_at": "2025-01-12T10:00:00Z",
                    "updated_at": "2025-01-12T10:00:00Z",
                }
            ]
        }
    )

    id: UUID
    trader_id: UUID
    trader_name: str
    trader_category: str
    is_active: bool
    copy_trading_enabled: bool
    followed_at: datetime
    created_at: datetime
    updated_at: datetime
    copying: CopyState | None = Field(
        default=None, description="The copy settings, once copying was ever set up."
    )


class CopySettings(BaseModel):
    """How a follow copies its trader (docs/social.md, "Copy trading")."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "enabled": True,
                    "account_id": EXAMPLE_ACCOUNT_ID,
                    "mode": "ratio",
                    "allocation_pct": "25",
                    "min_order": "10",
                    "max_per_trade": "2000",
                    "slippage_pct": "1",
                    "stop_loss_pct": "20",
                    "stop_closes": True,
                    "open_positions": False,
                }
            ]
        },
    )

    enabled: bool = True
    account_id: UUID | None = Field(
        default=None, description="Your account the copies trade in (needed to copy)."
    )
    mode: CopyMode = Field(
        default="ratio",
        description="ratio: the trader's trade as a share of their equity, times "
        "allocation_pct of this account's equity; fixed: fixed_amount per buy.",
    )
    allocation_pct: Decimal = Field(
        default=Decimal(10),
        gt=0,
        le=100,
        decimal_places=4,
        description="Share of the account's equity given to this copy; an account's copies "
        "allocate at most 100% together.",
    )
    fixed_amount: Decimal | None = Field(
        default=None, gt=0, decimal_places=8, description="USD per copied buy (fixed mode)."
    )
    min_order: Decimal = Field(
        default=Decimal(10),
        ge=0,
        decimal_places=8,
        description="Copies worth less are skipped (a full close never is).",
    )
    max_per_trade: Decimal | None = Field(
        default=None, gt=0, decimal_places=8, description="A copied buy is cut to this (USD)."
    )
    slippage_pct: Decimal = Field(
        default=Decimal(1),
        ge=0,
        le=50,
        decimal_places=4,
        description="A copied buy fills only at most this far above the trader's price.",
    )
    stop_loss_pct: Decimal | None = Field(
        default=None,
        gt=0,
        le=100,
        decimal_places=4,
        description="Stop copying when the copy has lost this share of what was allocated.",
    )
    stop_closes: bool = Field(
        default=False, description="At the stop-loss, also close the copied positions."
    )
    open_positions: bool = Field(
        default=False,
        description="On starting, also open the trader's current positions at today's price.",
    )

    @model_validator(mode="after")
    def _complete(self) -> CopySettings:
        if self.enabled and self.account_id is None:
            raise ValueError("copying needs account_id")
        if self.mode == "fixed" and self.fixed_amount is None:
            raise ValueError("fixed mode needs fixed_amount")
        return self


class CopyState(BaseModel):
    """A follow's copy settings and where the copy stands."""

    account_id: UUID | None
    mode: CopyMode
    allocation_pct: Percent
    fixed_amount: Money | None
    min_order: Money
    max_per_trade: Money | None
    slippage_pct: Percent
    stop_loss_pct: Percent | None
    stop_closes: bool
    allocated_usd: Money | None = Field(description="What was allocated when copying started.")
    started_at: datetime | None
    stopped_at: datetime | None
    stop_reason: str | None


CopyStatus = Literal["planned", "filled", "reduced", "skipped"]


class CopyTrade(BaseModel):
    """One line of the copy log: a trader's fill and what the copy of it did."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "c0917a5e-2b3c-4d5e-8f9a-0b1c2d3e4f5a",
                    "follow_id": EXAMPLE_FOLLOW_ID,
                    "trader_id": EXAMPLE_TRADER_ID,
                    "account_id": EXAMPLE_ACCOUNT_ID,
                    "kind": "trade",
                    "symbol": "BTC",
                    "side": "buy",
                    "leader_price": "97000.0000000000",
                    "fraction": "0.05000000",
                    "quote_price": "97010.0000000000",
                    "target_value": "1250.00000000",
                    "quantity": "0.01030715",
                    "limit_price": "97970.0000000000",
                    "status": "reduced",
                    "reason": "max_per_trade",
                    "message": None,
                    "trade_id": EXAMPLE_ORDER_ID,
                    "filled_quantity": "0.01030715",
                    "execution_price": "97010.0000000000",
                    "total_value": "999.89661150",
                    "fee": "0.99989661",
                    "created_at": "2025-01-15T14:30:02Z",
                    "completed_at": "2025-01-15T14:30:02Z",
                }
            ]
        }
    )

    id: UUID
    follow_id: UUID | None
    trader_id: UUID
    account_id: UUID
    kind: Literal["trade", "mirror", "stop_close"]
    symbol: str
    side: Literal["buy", "sell"]
    leader_price: Price
    fraction: Ratio
    quote_price: Price | None
    target_value: Money | None
    quantity: Quantity
    limit_price: Price | None
    status: CopyStatus
    reason: str | None
    message: str | None
    trade_id: UUID | None
    filled_quantity: Quantity
    execution_price: Price | None
    total_value: Money
    fee: Money
    created_at: datetime
    completed_at: datetime | None


class GapPart(BaseModel):
    """One part of the difference between the copy and its trader, in USD and in points of
    the allocated capital's return."""

    usd: Money
    pct: Percent


class CopyGap(BaseModel):
    """A follow's copied return beside its trader's over the same copies (since copying
    began), and the difference split into its causes: ``skipped`` (copies skipped or
    reduced), ``slippage`` (copies filled at other prices than the trader's), ``fees``
    (the copies' fees) and ``timing`` (positions opened later than the trader opened them).
    The four parts add up to ``copied - trader`` exactly."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "follow_id": EXAMPLE_FOLLOW_ID,
                    "trader_id": EXAMPLE_TRADER_ID,
                    "since": "2025-01-12T10:00:00Z",
                    "allocated_usd": "10000.00000000",
                    "copies": 12,
                    "skipped": 2,
                    "copied_pnl": "412.50000000",
                    "trader_pnl": "498.20000000",
                    "copied_return_pct": "4.125000",
                    "trader_return_pct": "4.982000",
                    "gap": {
                        "skipped": {"usd": "-51.30000000", "pct": "-0.513000"},
                        "slippage": {"usd": "-12.10000000", "pct": "-0.121000"},
                        "fees": {"usd": "-22.30000000", "pct": "-0.223000"},
                        "timing": {"usd": "0.00000000", "pct": "0.000000"},
                    },
                }
            ]
        }
    )

    follow_id: UUID
    trader_id: UUID
    since: datetime | None
    allocated_usd: Money
    copies: int
    skipped: int
    copied_pnl: Money
    trader_pnl: Money
    copied_return_pct: Percent
    trader_return_pct: Percent
    gap: dict[Literal["skipped", "slippage", "fees", "timing"], GapPart]


class WhatIfRequest(BaseModel):
    """Replay a listed trader's last ``days`` under these copy settings, before following."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "trader_id": EXAMPLE_TRADER_ID,
                    "days": 30,
                    "capital": "10000",
                    "settings": {"enabled": False, "mode": "ratio", "allocation_pct": "25"},
                }
            ]
        },
    )

    trader_id: UUID = Field(description="A listed trader's id (see /traders).")
    days: int = Field(default=30, ge=1, le=365)
    capital: Decimal = Field(
        default=Decimal(10000),
        gt=0,
        decimal_places=8,
        description="The account's equity at the start (USD).",
    )
    settings: CopySettings = Field(
        default_factory=lambda: CopySettings(enabled=False),
        description="The copy settings to replay with (account_id and enabled are ignored).",
    )


class WhatIf(BaseModel):
    """What copying the trader over the window would have done: the copies it would have
    placed, reduced and skipped (by reason) and the result at today's prices."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "trader_id": EXAMPLE_TRADER_ID,
                    "days": 30,
                    "since": "2025-01-01T00:00:00Z",
                    "capital": "10000.00000000",
                    "final_equity": "10412.50000000",
                    "pnl": "412.50000000",
                    "return_pct": "4.125000",
                    "fees": "8.20000000",
                    "fills": 14,
                    "copied": 11,
                    "reduced": 1,
                    "skipped": 2,
                    "skipped_by_reason": {"below_minimum": 2},
                }
            ]
        }
    )

    trader_id: UUID
    days: int
    since: datetime
    capital: Money
    final_equity: Money
    pnl: Money
    return_pct: Percent
    fees: Money
    fills: int = Field(description="The trader's fills in the window.")
    copied: int
    reduced: int
    skipped: int
    skipped_by_reason: dict[str, int]


# ------------------------------------------------------------------ the leaderboard
LeaderboardPeriod = Literal["7d", "30d", "90d", "all"]
LeaderboardSort = Literal["dsr", "return", "sharpe", "drawdown"]
LEADERBOARD_PERIODS: tuple[LeaderboardPeriod, ...] = ("7d", "30d", "90d", "all")
LEADERBOARD_SORTS: tuple[LeaderboardSort, ...] = ("dsr", "return", "sharpe", "drawdown")
_FIGURES: JsonDict = {
    "track_start": "2025-01-11",
    "days_active": 30,
    "total_return": "0.08410000",
    "max_drawdown": "0.03120000",
    "sharpe_ratio": "2.41000000",
    "win_rate": "0.58333333",
    "trades": 12,
    "followers": 12,
    "copiers_pnl": "1520.00000000",
    "trials": 3,
    "expected_max_sharpe": "1.27540000",
    "deflated_sharpe": "0.71230000",
}


class TraderFigures(BaseModel):
    """A listed trader's published figures over a period's public track: the UTC days from
    the period's start and from their listing on. Returns and counts only (docs/social.md,
    "Leaderboard")."""

    model_config = ConfigDict(json_schema_extra={"examples": [_FIGURES]})

    track_start: date = Field(
        description="The track's first day: the later of the period's "
        "first and the first UTC day after listing."
    )
    days_active: int = Field(description="Daily returns in the track.")
    total_return: Ratio | None = Field(description="Compounded over the track (0.05 is 5 %).")
    max_drawdown: Ratio | None = Field(description="Deepest fall from a high, a positive fraction.")
    sharpe_ratio: Ratio | None = Field(
        description="Annualised: mean / sd of the daily returns x √365."
    )
    win_rate: Ratio | None = Field(description="Round trips closed with a profit / all closed.")
    trades: int = Field(description="Round trips closed in the track.")
    followers: int
    copiers_pnl: Money | None = Field(description="Their copiers' aggregate PnL (USD).")
    trials: int = Field(
        description="Strategies the trader tried: every backtest sweep combination and single "
        "backtest they ran (at least 1)."
    )
    expected_max_sharpe: Ratio | None = Field(
        description="The annualised Sharpe the best of the trials would show by luck alone "
        "(the Deflated Sharpe's threshold)."
    )
    deflated_sharpe: Ratio | None = Field(
        description="Probability (0 to 1) that the true Sharpe is above that threshold "
        "(Bailey & López de Prado, 2014); null below two daily returns or without variance."
    )


class LeaderboardEntry(TraderFigures):
    """One listed trader's place on the leaderboard."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rank": 1,
                    "trader_id": EXAMPLE_TRADER_ID,
                    "display_name": "Alice",
                    "category": "Swing",
                    **_FIGURES,
                }
            ]
        }
    )

    rank: int = Field(ge=1)
    trader_id: UUID
    display_name: str
    category: str


class TraderPerformancePoint(BaseModel):
    """One day of a trader's public equity curve."""

    at: datetime = Field(
        description="The UTC day (00:00) whose close it is; the first point "
        "is the track's base, the day before its first day."
    )
    index: Ratio = Field(
        description="Cumulative return index: 1 at the base, 1.05 five per cent above it."
    )
    drawdown: Ratio = Field(description="The fall from the curve's running high (0 to -1).")


class TraderPerformance(BaseModel):
    """A listed trader's public performance over a period: the figures and the curve."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "trader_id": EXAMPLE_TRADER_ID,
                    "period": "30d",
                    "figures": _FIGURES,
                    "points": [
                        {
                            "at": "2025-01-10T00:00:00Z",
                            "index": "1.00000000",
                            "drawdown": "0.00000000",
                        },
                        {
                            "at": "2025-01-11T00:00:00Z",
                            "index": "1.01200000",
                            "drawdown": "0.00000000",
                        },
                        {
                            "at": "2025-01-12T00:00:00Z",
                            "index": "1.00690000",
                            "drawdown": "-0.00503953",
                        },
                    ],
                }
            ]
        }
    )

    trader_id: UUID
    period: LeaderboardPeriod
    figures: TraderFigures
    points: list[TraderPerformancePoint] = Field(description="Oldest first; empty: no track yet.")
