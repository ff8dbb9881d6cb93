"""/traders, /follows and /me/trader-profile: thin HTTP over the social service."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, status

from cryptotrader.accounts.errors import AccountNotFound
from cryptotrader.api.deps import SignedIn
from cryptotrader.api.pagination import (
    Cursor,
    InvalidCursor,
    Limit,
    Page,
    decode_cursor,
    decode_key,
    page_by,
)
from cryptotrader.api.problems import responses
from cryptotrader.config import Settings
from cryptotrader.errors import AccountNotActive, InvalidRequest, NotAuthenticated
from cryptotrader.social import leaderboard as leaderboards
from cryptotrader.social import service
from cryptotrader.social.errors import (
    AllocationOver100,
    AlreadyFollowing,
    FollowNotFound,
    InvalidCopySettings,
    NoTraderProfile,
    SelfFollow,
    TraderNotFound,
)
from cryptotrader.social.schemas import (
    EXAMPLE_FOLLOW_ID,
    EXAMPLE_TRADER_ID,
    CopyGap,
    CopySettings,
    CopyStatus,
    CopyTrade,
    Follow,
    FollowCreate,
    LeaderboardEntry,
    LeaderboardPeriod,
    LeaderboardSort,
    PublicTrader,
    TraderPerformance,
    TraderProfile,
    TraderProfileUpdate,
    WhatIf,
    WhatIfRequest,
)

router = APIRouter(tags=["social"])
TraderId = Annotated[UUID, Path(examples=[EXAMPLE_TRADER_ID])]
FollowId = Annotated[UUID, Path(examples=[EXAMPLE_FOLLOW_ID])]
ONE_FOLLOW = responses(NotAuthenticated, FollowNotFound)
LeaderboardPeriodQuery = Annotated[
    LeaderboardPeriod,
    Query(
        description="The last 7, 30 or 90 UTC days, or all the time since the listing.",
        examples=["30d"],
    ),
]


@router.get(
    "/me/trader-profile",
    responses=responses(NotAuthenticated, NoTraderProfile),
    summary="Your trader profile: what you publish, and whether it is listed",
)
async def get_own_profile(caller: SignedIn) -> TraderProfile:
    async with caller.unit() as conn:
        return await service.get_own_profile(conn)


@router.put(
    "/me/trader-profile",
    responses=responses(NotAuthenticated, InvalidRequest),
    summary="Set your trader profile; `is_listed` publishes it (private by default)",
    description="A listed profile shows its published columns to everyone, and lets others "
    "follow you; your accounts, balances and trades stay yours.",
)
async def put_own_profile(caller: SignedIn, body: TraderProfileUpdate) -> TraderProfile:
    async with caller.unit() as conn:
        return await service.put_own_profile(conn, caller.actor, body)


@router.get(
    "/traders",
    responses=responses(NotAuthenticated, InvalidCursor),
    summary="Listed traders, the longest listed first",
)
async def list_traders(
    caller: SignedIn, cursor: Cursor = None, limit: Limit = 100
) -> Page[PublicTrader]:
    async with caller.unit() as conn:
        items = await service.list_traders(conn, after=decode_cursor(cursor), limit=limit)
    return page_by(items, limit, lambda t: (t.listed_at, t.id))


# Before /traders/{trader_id}: that path would take "leaderboard" for an id (and refuse it).
@router.get(
    "/traders/leaderboard",
    responses=responses(NotAuthenticated, InvalidCursor),
    summary="The listed traders ranked by the Deflated Sharpe Ratio (or return, Sharpe, drawdown)",
    description="Over the period's public track of each listed trader (the UTC days since "
    "the later of the period's start and their listing): return, max drawdown, annualised "
    "Sharpe, win rate and round trips, followers, their copiers' aggregate PnL, the number "
    "of strategies they tried (every backtest and sweep combination) and the Deflated "
    "Sharpe Ratio against the best of those trials (Bailey & López de Prado, 2014). Only "
    "traders with `min_days` daily returns and `min_trades` closed round trips appear "
    "(defaults: the server's settings). Returns and counts only: no balance, account or "
    "trade of anyone.",
)
async def leaderboard(
    request: Request,
    caller: SignedIn,
    period: LeaderboardPeriodQuery = "30d",
    min_days: Annotated[
        int | None, Query(ge=0, le=3650, description="Daily returns needed (default: set).")
    ] = None,
    min_trades: Annotated[
        int | None, Query(ge=0, le=100_000, description="Round trips needed (default: set).")
    ] = None,
    sort: Annotated[
        LeaderboardSort,
        Query(description="`dsr` (default), `return`, `sharpe`, or `drawdown` (smallest first)."),
    ] = "dsr",
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[LeaderboardEntry]:
    settings: Settings = request.app.state.settings
    after = decode_key(cursor, int)
    async with caller.unit() as conn:
        items = await leaderboards.leaderboard(
            conn,
            period=period,
            min_days=settings.leaderboard_min_days if min_days is None else min_days,
            min_trades=settings.leaderboard_min_trades if min_trades is None else min_trades,
            sort=sort,
            limit=limit,
            after_rank=after[0] if after else 0,
        )
    return page_by(items, limit, lambda e: (e.rank,))


@router.get(
    "/traders/{trader_id}",
    responses=responses(NotAuthenticated, TraderNotFound),
    summary="A listed trader's public profile",
)
async def get_trader(caller: SignedIn, trader_id: TraderId) -> PublicTrader:
    async with caller.unit() as conn:
        return await service.get_trader(conn, trader_id)


@router.get(
    "/follows",
    responses=responses(NotAuthenticated, InvalidCursor),
    summary="The traders you follow, the oldest follow first",
)
async def list_follows(caller: SignedIn, cursor: Cursor = None, limit: Limit = 100) -> Page[Follow]:
    async with caller.unit() as conn:
        items = await service.list_follows(conn, after=decode_cursor(cursor), limit=limit)
    return page_by(items, limit, lambda f: (f.created_at, f.id))


@router.post(
    "/follows",
    status_code=status.HTTP_201_CREATED,
    responses=responses(NotAuthenticated, TraderNotFound, SelfFollow, AlreadyFollowing),
    summary="Follow a listed trader",
)
async def follow(caller: SignedIn, body: FollowCreate) -> Follow:
    async with caller.unit() as conn:
        return await service.follow(conn, caller.actor, body.trader_id)


@router.get("/follows/{follow_id}", responses=ONE_FOLLOW, summary="One of your follows")
async def get_follow(caller: SignedIn, follow_id: FollowId) -> Follow:
    async with caller.unit() as conn:
        return await service.get_follow(conn, follow_id)


@router.post("/follows/{follow_id}/pause", responses=ONE_FOLLOW, summary="Pause a follow")
async def pause_follow(caller: SignedIn, follow_id: FollowId) -> Follow:
    async with caller.unit() as conn:
        return await service.set_active(conn, caller.actor, follow_id, active=False)


@router.post("/follows/{follow_id}/resume", responses=ONE_FOLLOW, summary="Resume a follow")
async def resume_follow(caller: SignedIn, follow_id: FollowId) -> Follow:
    async with caller.unit() as conn:
        return await service.set_active(conn, caller.actor, follow_id, active=True)


@router.delete(
    "/follows/{follow_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ONE_FOLLOW,
    summary="Unfollow",
)
async def unfollow(caller: SignedIn, follow_id: FollowId) -> None:
    async with caller.unit() as conn:
        await service.unfollow(conn, caller.actor, follow_id)


@router.get(
    "/traders/{trader_id}/performance",
    responses=responses(NotAuthenticated, TraderNotFound),
    summary="A listed trader's public performance: figures and equity curve over a period",
    description="The leaderboard's figures of one listed trader over the period's public "
    "track, and the cumulative return index by UTC day (1 at the track's base) with its "
    "drawdown. An unlisted trader is not found, like a missing one.",
)
async def trader_performance(
    caller: SignedIn, trader_id: TraderId, period: LeaderboardPeriodQuery = "30d"
) -> TraderPerformance:
    async with caller.unit() as conn:
        return await leaderboards.trader_performance(conn, trader_id, period)


# ------------------------------------------------------------------ copy trading
COPY_ERRORS = responses(
    NotAuthenticated,
    FollowNotFound,
    AccountNotFound,
    AccountNotActive,
    AllocationOver100,
    InvalidCopySettings,
    TraderNotFound,
    InvalidRequest,
)


@router.post(
    "/follows/what-if",
    responses=responses(NotAuthenticated, TraderNotFound, InvalidRequest),
    summary="Replay a listed trader's last days under your copy settings, before following",
    description="The trader's fills of the last `days` (their public track: the share of "
    "equity each buy used, the share of the position each sell closed) copied with "
    "`settings` on an account of `capital`, at the trader's prices with the taker fee, "
    "valued at today's prices: the copies placed, reduced and skipped (by reason) and the "
    "result. Totals only: none of the trader's trades is shown.",
)
async def what_if(caller: SignedIn, body: WhatIfRequest) -> WhatIf:
    return await service.what_if(caller.pool, body)


@router.put(
    "/follows/{follow_id}/copy",
    responses=COPY_ERRORS,
    summary="Start, change or stop copying a followed trader",
    description="With `enabled`, each fill of the trader (market, limit, stop, bot or copy "
    "fills) becomes a trade in `account_id`, sized by `mode` (ratio: the trader's share of "
    "their equity times `allocation_pct` of this account's equity; fixed: `fixed_amount` "
    "per buy), within `min_order`, `max_per_trade` and the `slippage_pct` cap; sells close "
    "the same share of the copied position only. An account's copies allocate at most 100%. "
    "`stop_loss_pct` stops copying when the copy has lost that share of what was "
    "allocated (closing its positions with `stop_closes`); `open_positions` also opens the "
    "trader's current positions at today's price. Every copy skipped or reduced is in the "
    "copy log with its reason, and you are notified.",
)
async def set_copy(caller: SignedIn, follow_id: FollowId, body: CopySettings) -> Follow:
    async with caller.unit() as conn:
        return await service.set_copy(conn, caller.actor, follow_id, body)


@router.get(
    "/follows/{follow_id}/copies",
    responses=responses(NotAuthenticated, FollowNotFound, InvalidCursor),
    summary="The copy log of a follow: every copy of the trader's fills, newest first",
)
async def list_copies(
    caller: SignedIn,
    follow_id: FollowId,
    status_: Annotated[CopyStatus | None, Query(alias="status")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[CopyTrade]:
    async with caller.unit() as conn:
        items = await service.list_copies(
            conn, follow_id=follow_id, status=status_, after=decode_cursor(cursor), limit=limit
        )
    return page_by(items, limit, lambda c: (c.created_at, c.id))


@router.get(
    "/follows/{follow_id}/gap",
    responses=ONE_FOLLOW,
    summary="The copy gap: your copied return beside the trader's, and why they differ",
    description="Over the follow's copy log: the copies' PnL and return on what was "
    "allocated beside the trader's on the same fills, with the difference split into "
    "skipped (and reduced) copies, slippage, fees and entry timing; the parts add up to "
    "the difference exactly.",
)
async def copy_gap(caller: SignedIn, follow_id: FollowId) -> CopyGap:
    async with caller.unit() as conn:
        return await service.copy_gap(conn, follow_id)
