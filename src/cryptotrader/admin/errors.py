"""Errors of the admin capability. To anyone who is not an administrator the admin routes do
not exist: :class:`AdminOnly` answers exactly like an unknown route."""

from __future__ import annotations

from cryptotrader.accounts.schemas import EXAMPLE_ACCOUNT_ID
from cryptotrader.auth.schemas import EXAMPLE_USER_ID
from cryptotrader.errors import Conflict, NotFound
from cryptotrader.templates.schemas import EXAMPLE_TEMPLATE_ID


class AdminOnly(NotFound):
    """The caller is not an administrator: the answer is the 404 an unknown route gets
    (same status, code, title and detail), so the admin pages cannot be told from missing
    ones. It keeps NotFound's code on purpose, so it also stands for ``not_found`` in the
    registry of codes; its status and title are NotFound's."""

    title = "Not found"
    example_detail = "Not Found"

    def __init__(self) -> None:
        super().__init__("Not Found")  # Starlette's detail of an unknown route


class UserNotFound(NotFound):
    code = "user_not_found"
    title = "User not found"
    example_detail = f"no user {EXAMPLE_USER_ID}"


class CannotBanYourself(Conflict):
    code = "cannot_ban_yourself"
    title = "You cannot ban yourself"
    example_detail = "an administrator cannot ban themselves"


class UserNotBanned(Conflict):
    code = "user_not_banned"
    title = "User is not banned"
    example_detail = f"user {EXAMPLE_USER_ID} is not banned"


class AccountAlreadySuspended(Conflict):
    code = "account_already_suspended"
    title = "Account is already suspended"
    example_detail = f"account {EXAMPLE_ACCOUNT_ID} is already suspended"


class AccountNotSuspended(Conflict):
    code = "account_not_suspended"
    title = "Account is not suspended"
    example_detail = f"account {EXAMPLE_ACCOUNT_ID} is active, not suspended"


class TemplateNameTaken(Conflict):
    code = "template_name_taken"
    title = "A platform template has this name"
    example_detail = "a platform template is already named Conservative DCA"


class TemplateAlreadyRetired(Conflict):
    code = "template_already_retired"
    title = "Template is already retired"
    example_detail = f"account template {EXAMPLE_TEMPLATE_ID} is not offered"
