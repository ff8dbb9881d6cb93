"""Errors of social trading."""

from __future__ import annotations

from cryptotrader.errors import Conflict, InvalidRequest, NotFound


class TraderNotFound(NotFound):
    """No listed trader has this id (an unlisted one is reported exactly so)."""

    code = "trader_not_found"
    title = "Trader not found"


class FollowNotFound(NotFound):
    code = "follow_not_found"
    title = "Follow not found"


class AlreadyFollowing(Conflict):
    code = "already_following"
    title = "You follow this trader already"
    example_detail = "you follow Alice already (pause or unfollow it)"


class SelfFollow(InvalidRequest):
    code = "self_follow"
    title = "You cannot follow yourself"
    example_detail = "you cannot follow yourself"


class NoTraderProfile(NotFound):
    code = "no_trader_profile"
    title = "You have no trader profile yet"
    example_detail = "you have no trader profile yet: PUT /me/trader-profile makes one"


class AllocationOver100(InvalidRequest):
    code = "allocation_over_100"
    title = "An account's copies allocate at most 100%"
    example_detail = "this account's copies would allocate 120% (at most 100%)"


class InvalidCopySettings(InvalidRequest):
    code = "invalid_copy_settings"
    title = "Invalid copy settings"
    example_detail = "copying needs an allocation above 0%"


class CopyNotEnabled(Conflict):
    code = "copy_not_enabled"
    title = "This follow is not copying"
    example_detail = "this follow is not copying"
