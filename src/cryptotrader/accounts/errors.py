"""Errors of paper accounts (other domains raise AccountNotFound for an account the caller
cannot see: another user's account answers exactly like a missing one)."""

from __future__ import annotations

from cryptotrader.errors import Conflict, Forbidden, NotFound


class AccountNotFound(NotFound):
    code = "account_not_found"
    title = "Account not found"


class AccountArchived(Conflict):
    """Archiving is final: an archived account is never reopened nor the default one."""

    code = "account_archived"
    title = "Account is archived"
    example_detail = (
        "account is archived, and archiving is final (pause an account to stop it for a while)"
    )


class AccountSuspensionForbidden(Forbidden):
    code = "account_suspension_forbidden"
    title = "Only an administrator can suspend accounts"
    example_detail = "only an administrator can suspend or unsuspend an account"
