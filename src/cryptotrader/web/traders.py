"""Traders: the listed traders (each with a Follow button, "Following" once followed, none
on yourself), your follows (pause, resume, unfollow) and the form of your own trader
profile; the leaderboard (ranked by the Deflated Sharpe Ratio, per period); and one listed
trader's public profile with its performance chart and its Follow / Unfollow button (an
unlisted or missing trader is the service's not-found). Every change is the social
service's, as the signed-in user (audited)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from cryptotrader.audit.schemas import Actor
from cryptotrader.config import Settings
from cryptotrader.db.session import Conn
from cryptotrader.errors import DomainError
from cryptotrader.social import leaderboard as leaderboards
from cryptotrader.social import service as social
from cryptotrader.social.errors import NoTraderProfile
from cryptotrader.social.schemas import (
    LEADERBOARD_PERIODS,
    LEADERBOARD_SORTS,
    Follow,
    LeaderboardPeriod,
    LeaderboardSort,
    TraderPerformance,
    TraderProfile,
    TraderProfileUpdate,
)
from cryptotrader.web.bot_forms import form_of
from cryptotrader.web.forms import FieldRefusal, go, invalid_form
from cryptotrader.web.render import page
from cryptotrader.web.session import SignedInForm, SignedInPage

router = APIRouter(include_in_schema=False)
LISTED = 100  # traders on the page, the longest listed first
FOLLOWS = 100
FollowStep = Literal["pause", "resume", "unfollow"]
Back = Literal["traders", "trader"]
# a follow's steps by whether it is active (the service lets either be asked)
STEPS: dict[bool, tuple[FollowStep, ...]] = {
    True: ("pause", "unfollow"),
    False: ("resume", "unfollow"),
}


def profile_update(form: dict[str, str]) -> TraderProfileUpdate:
    """The profile the form describes: listed or private, statistics only or with trades,
    the trades' delay in minutes (empty: none). Raises a refusal at the field a value is
    wrong in."""
    body: dict[str, Any] = {
        "is_listed": form.get("is_listed", "") == "listed",
        "display_name": form.get("display_name", ""),
        "bio": form.get("bio", "").strip() or None,
        "shows": form.get("shows", "").strip() or "statistics",
    }
    for name in ("category", "trade_delay_minutes"):
        if form.get(name, "").strip():
            body[name] = form[name].strip()
    try:
        return TraderProfileUpdate.model_validate(body)
    except ValidationError as exc:
        raise invalid_form(exc) from exc


async def _own_profile(conn: Conn) -> TraderProfile | None:
    try:
        return await social.get_own_profile(conn)
    except NoTraderProfile:
        return None


def _by_trader(follows: list[Follow]) -> dict[UUID, Follow]:
    return {f.trader_id: f for f in follows}


@router.get("/traders", response_class=HTMLResponse)
async def traders_page(request: Request, viewer: SignedInPage) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        traders = await social.list_traders(conn, limit=LISTED)
        follows = await social.list_follows(conn, limit=FOLLOWS)
        profile = await _own_profile(conn)
    context = {
        "traders": traders,
        "follows": follows,
        "followed": _by_trader(follows),
        "steps": STEPS,
        "me": viewer.caller.user_id,
        "profile": profile,
    }
    return page(request, "traders.html", context, viewer=viewer)


@router.post("/traders/profile")
async def save_profile(request: Request, viewer: SignedInForm) -> Response:
    """Create or replace the viewer's trader profile, then the traders page."""
    data = profile_update(await form_of(request))
    async with viewer.caller.unit() as conn:
        try:
            await social.put_own_profile(conn, viewer.caller.actor, data)
        except DomainError as exc:
            raise FieldRefusal.of(exc, "_form") from exc
    return go(request, "/traders")


def performance_chart(performance: TraderPerformance) -> dict[str, Any]:
    """The public curve as charts.js's ``equity`` kind: the cumulative return index by day
    and its drawdown."""
    points = [(p.at.isoformat().replace("+00:00", "Z"), p) for p in performance.points]
    return {
        "points": [[t, str(p.index)] for t, p in points],
        "drawdown": [[t, str(p.drawdown)] for t, p in points],
    }


# Before /traders/{trader_id}, which would take "leaderboard" for an id.
@router.get("/traders/leaderboard", response_class=HTMLResponse)
async def leaderboard_page(
    request: Request,
    viewer: SignedInPage,
    period: Annotated[LeaderboardPeriod, Query()] = "30d",
    sort: Annotated[LeaderboardSort, Query()] = "dsr",
    min_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
    min_trades: Annotated[int | None, Query(ge=0, le=100_000)] = None,
) -> HTMLResponse:
    """The listed traders ranked by the Deflated Sharpe Ratio (the trial count beside it),
    over the period chosen; the minimum track record from the settings unless given."""
    settings: Settings = request.app.state.settings
    days = settings.leaderboard_min_days if min_days is None else min_days
    trades = settings.leaderboard_min_trades if min_trades is None else min_trades
    async with viewer.caller.unit() as conn:
        entries = await leaderboards.leaderboard(
            conn, period=period, min_days=days, min_trades=trades, sort=sort, limit=LISTED
        )
    context = {
        "entries": entries,
        "period": period,
        "sort": sort,
        "min_days": days,
        "min_trades": trades,
        "periods": LEADERBOARD_PERIODS,
        "sorts": LEADERBOARD_SORTS,
        "me": viewer.caller.user_id,
    }
    return page(request, "leaderboard.html", context, viewer=viewer)


@router.get("/traders/{trader_id}", response_class=HTMLResponse)
async def trader_page(
    request: Request,
    viewer: SignedInPage,
    trader_id: UUID,
    period: Annotated[LeaderboardPeriod, Query()] = "all",
) -> HTMLResponse:
    """A listed trader with their public performance over the period (an unlisted or
    missing one is not found, the same page)."""
    async with viewer.caller.unit() as conn:
        trader = await social.get_trader(conn, trader_id)
        performance = await leaderboards.trader_performance(conn, trader.id, period)
        follows = await social.list_follows(conn, limit=FOLLOWS)
    context = {
        "trader": trader,
        "follow": _by_trader(follows).get(trader.id),
        "me": viewer.caller.user_id,
        "performance": performance,
        "performance_chart": performance_chart(performance),
        "periods": LEADERBOARD_PERIODS,
    }
    return page(request, "trader.html", context, viewer=viewer)


def _back(back: Back, trader_id: UUID) -> str:
    return f"/traders/{trader_id}" if back == "trader" else "/traders"


@router.post("/traders/{trader_id}/follow")
async def follow(
    request: Request,
    viewer: SignedInForm,
    trader_id: UUID,
    back: Annotated[Back, Form()] = "traders",
) -> Response:
    """Follow a listed trader (yourself, an unlisted one or one followed already is the
    service's refusal, said on the page)."""
    async with viewer.caller.unit() as conn:
        await social.follow(conn, viewer.caller.actor, trader_id)
    return go(request, _back(back, trader_id))


async def _step(conn: Conn, actor: Actor, follow_id: UUID, action: FollowStep) -> UUID:
    """The step, and the followed trader's id."""
    if action == "unfollow":
        made = await social.get_follow(conn, follow_id)
        await social.unfollow(conn, actor, follow_id)
        return made.trader_id
    changed = await social.set_active(conn, actor, follow_id, active=action == "resume")
    return changed.trader_id


@router.post("/follows/{follow_id}")
async def change_follow(
    request: Request,
    viewer: SignedInForm,
    follow_id: UUID,
    action: Annotated[FollowStep, Form()],
    back: Annotated[Back, Form()] = "traders",
) -> Response:
    """Pause, resume or unfollow one of the viewer's follows (another user's is the
    service's follow_not_found)."""
    async with viewer.caller.unit() as conn:
        trader_id = await _step(conn, viewer.caller.actor, follow_id, action)
    return go(request, _back(back, trader_id))
