"""/traders, /follows and /me/trader-profile: thin HTTP over the social service."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, status

from cryptotrader.api.deps import SignedIn
from cryptotrader.api.pagination import Cursor, InvalidCursor, Limit, Page, decode_cursor, page_by
from cryptotrader.api.problems import responses
from cryptotrader.errors import InvalidRequest, NotAuthenticated
from cryptotrader.social import service
from cryptotrader.social.errors import (
    AlreadyFollowing,
    FollowNotFound,
    NoTraderProfile,
    SelfFollow,
    TraderNotFound,
)
from cryptotrader.social.schemas import (
    EXAMPLE_FOLLOW_ID,
    EXAMPLE_TRADER_ID,
    Follow,
    FollowCreate,
    PublicTrader,
    TraderProfile,
    TraderProfileUpdate,
)

router = APIRouter(tags=["social"])
TraderId = Annotated[UUID, Path(examples=[EXAMPLE_TRADER_ID])]
FollowId = Annotated[UUID, Path(examples=[EXAMPLE_FOLLOW_ID])]
ONE_FOLLOW = responses(NotAuthenticated, FollowNotFound)


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
