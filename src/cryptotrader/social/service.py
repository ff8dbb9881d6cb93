"""Trader profiles (opt-in, public once listed) and follows of listed traders.

A profile holds only what its trader publishes; listing it makes it readable by everyone
(a policy), while the accounts, balances and trades behind it keep their own RLS. A
follow is its follower's row: of a listed trader other than the caller, with the trader's
name and category kept from their profile (the database's trigger sees to both, so a
direct INSERT cannot get round them). An unlisted trader is reported exactly like a
missing one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.calls import fetch_all, fetch_one, require
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.social.copy_reports import copy_gap as copy_gap
from cryptotrader.social.copy_reports import what_if as what_if
from cryptotrader.social.errors import (
    AlreadyFollowing,
    FollowNotFound,
    NoTraderProfile,
    SelfFollow,
    TraderNotFound,
)
from cryptotrader.social.schemas import (
    CopySettings,
    CopyStatus,
    CopyTrade,
    Follow,
    PublicTrader,
    TraderProfile,
    TraderProfileUpdate,
)

Q = load_queries("cryptotrader.social")


def _keyset(after: tuple[datetime, UUID] | None, limit: int) -> dict[str, Any]:
    return {
        "after_at": after[0] if after else None,
        "after_id": after[1] if after else None,
        "limit": limit,
    }


# ------------------------------------------------------------------ profiles
async def get_own_profile(conn: Conn) -> TraderProfile:
    """The caller's trader profile. Raises NoTraderProfile."""
    row = await fetch_one(conn, Q["get_own_profile"])
    return TraderProfile.model_validate(require(row, NoTraderProfile()))


async def put_own_profile(conn: Conn, actor: Actor, data: TraderProfileUpdate) -> TraderProfile:
    """Create or replace the caller's profile; ``is_listed`` publishes it (default
    private). Audited ``trader_profile.update`` (with listed / unlisted)."""
    row = require(
        await fetch_one(conn, Q["upsert_own_profile"], data.model_dump()), NoTraderProfile()
    )
    profile = TraderProfile.model_validate(row)
    details = data.model_dump(mode="json", exclude={"bio"})
    await audit.record(
        conn, actor, "trader_profile.update", "trader_profile", profile.user_id, details
    )
    return profile


async def list_traders(
    conn: Conn, *, after: tuple[datetime, UUID] | None = None, limit: int = 100
) -> list[PublicTrader]:
    """The listed traders, the longest listed first (their published columns only)."""
    rows = await fetch_all(conn, Q["list_traders"], _keyset(after, limit))
    return [PublicTrader.model_validate(r) for r in rows]


async def get_trader(conn: Conn, trader_id: UUID) -> PublicTrader:
    """A listed trader's public profile. Raises TraderNotFound (also for an unlisted one)."""
    row = await fetch_one(conn, Q["get_trader"], {"id": trader_id})
    return PublicTrader.model_validate(require(row, TraderNotFound()))


# ------------------------------------------------------------------ follows
async def list_follows(
    conn: Conn, *, after: tuple[datetime, UUID] | None = None, limit: int = 100
) -> list[Follow]:
    """The caller's follows, the oldest first."""
    return [
        Follow.model_validate(r)
        for r in await fetch_all(conn, Q["list_follows"], _keyset(after, limit))
    ]


async def get_follow(conn: Conn, follow_id: UUID) -> Follow:
    row = await fetch_one(conn, Q["get_follow"], {"id": follow_id})
    return Follow.model_validate(require(row, FollowNotFound()))


async def follow(conn: Conn, actor: Actor, trader_id: UUID) -> Follow:
    """Follow a listed trader. Raises SelfFollow, TraderNotFound (also unlisted),
    AlreadyFollowing. Audited ``follow.create``."""
    if actor.user_id == trader_id:
        raise SelfFollow("you cannot follow yourself")
    # the trigger refuses a trader who is not listed (trader_not_found)
    row = await fetch_one(conn, Q["insert_follow"], {"trader_id": trader_id})
    if row is None:
        trader = await get_trader(conn, trader_id)
        raise AlreadyFollowing(f"you follow {trader.display_name} already (pause or unfollow it)")
    made = await get_follow(conn, row["id"])
    await audit.record(
        conn, actor, "follow.create", "follow", made.id, {"trader_id": str(trader_id)}
    )
    return made


async def set_active(conn: Conn, actor: Actor, follow_id: UUID, *, active: bool) -> Follow:
    """Pause (``active`` False) or resume a follow without unfollowing. Raises
    FollowNotFound. Audited ``follow.pause`` / ``follow.resume``."""
    row = await fetch_one(conn, Q["set_follow_active"], {"id": follow_id, "active": active})
    require(row, FollowNotFound())
    await audit.record(
        conn, actor, "follow.resume" if active else "follow.pause", "follow", follow_id
    )
    return await get_follow(conn, follow_id)


async def set_copy(conn: Conn, actor: Actor, follow_id: UUID, settings: CopySettings) -> Follow:
    """Start, change or stop copying a followed trader (``settings.enabled``). Starting
    takes what is allocated now (the stop-loss's base) and, with ``open_positions``, opens
    the trader's current positions at today's price (the copy worker places them).

    Raises FollowNotFound, AccountNotFound, AccountNotActive, AllocationOver100 (an
    account's copies allocate at most 100%), InvalidCopySettings, TraderNotFound (opening
    positions of a trader who is no longer listed). Audited ``follow.copy``.
    """
    params = settings.model_dump(exclude={"open_positions"}) | {"id": follow_id}
    row = require(await fetch_one(conn, Q["set_copy"], params), FollowNotFound())
    opened = 0
    if settings.enabled and settings.open_positions and not row["was"]:
        opened = int(
            require(await fetch_one(conn, Q["copy_open_positions"], params), FollowNotFound())["n"]
        )
    details = settings.model_dump(mode="json") | {"positions_opened": opened}
    await audit.record(conn, actor, "follow.copy", "follow", follow_id, details)
    return await get_follow(conn, follow_id)


async def list_copies(
    conn: Conn,
    *,
    follow_id: UUID | None = None,
    status: CopyStatus | None = None,
    after: tuple[datetime, UUID] | None = None,
    limit: int = 100,
) -> list[CopyTrade]:
    """The caller's copy log, newest first: every copy of a followed trader's fill, placed,
    reduced or skipped, with the reason. Raises FollowNotFound for a ``follow_id`` that is
    not one of the caller's follows (so another user's gives no empty page)."""
    if follow_id is not None:
        await get_follow(conn, follow_id)
    params = _keyset(after, limit) | {"follow_id": follow_id, "status": status}
    return [CopyTrade.model_validate(r) for r in await fetch_all(conn, Q["list_copies"], params)]


async def unfollow(conn: Conn, actor: Actor, follow_id: UUID) -> None:
    """Unfollow. Raises FollowNotFound. Audited ``follow.delete``."""
    require(await fetch_one(conn, Q["delete_follow"], {"id": follow_id}), FollowNotFound())
    await audit.record(conn, actor, "follow.delete", "follow", follow_id)
