"""Domain errors: each has an HTTP status and a stable ``code`` (rendered as RFC 9457
problem+json by the API). SQL functions raise SQLSTATE ``CTnnn`` with the code in HINT;
:func:`from_db_error` turns those into the matching typed error."""

from __future__ import annotations

from typing import ClassVar

import psycopg


class DomainError(Exception):
    """Base of every error a client can cause; never a 500."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"
    _by_code: ClassVar[dict[str, type[DomainError]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        DomainError._by_code[cls.code] = cls

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title

    @classmethod
    def for_code(cls, code: str) -> type[DomainError] | None:
        return cls._by_code.get(code)


# Not found (another user's row is reported exactly like a missing one)
class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class AccountNotFound(NotFound):
    code = "account_not_found"
    title = "Account not found"


class OrderNotFound(NotFound):
    code = "order_not_found"
    title = "Order not found"


class TemplateNotFound(NotFound):
    code = "template_not_found"
    title = "Account template not found"


class BotNotFound(NotFound):
    code = "bot_not_found"
    title = "Bot not found"


# The request itself is invalid
class InvalidRequest(DomainError):
    status = 422
    code = "invalid_request"
    title = "Invalid request"


class InvalidAmount(InvalidRequest):
    code = "invalid_amount"
    title = "Invalid amount"


class InvalidPrice(InvalidRequest):
    code = "invalid_price"
    title = "Invalid price"


class InvalidOrder(InvalidRequest):
    code = "invalid_order"
    title = "Invalid order"


class InvalidName(InvalidRequest):
    code = "invalid_name"
    title = "Invalid name"


class UnknownSymbol(InvalidRequest):
    code = "unknown_symbol"
    title = "Unknown symbol"


class OrderWouldTrigger(InvalidRequest):
    code = "order_would_trigger"
    title = "Stop price already crossed"


# Refused by a business rule
class TradeRefused(DomainError):
    status = 409
    code = "trade_refused"
    title = "Trade refused"


class AccountNotActive(TradeRefused):
    code = "account_not_active"
    title = "Account is not active"


class StalePrice(TradeRefused):
    code = "stale_price"
    title = "Price is stale"


class InsufficientFunds(TradeRefused):
    code = "insufficient_funds"
    title = "Insufficient funds"


class InsufficientPosition(TradeRefused):
    code = "insufficient_position"
    title = "Insufficient position"


class MaxPositionSize(TradeRefused):
    code = "max_position_size"
    title = "Position size limit exceeded"


class MaxDailyLoss(TradeRefused):
    code = "max_daily_loss"
    title = "Daily loss limit reached"


class OrderNotCancellable(TradeRefused):
    code = "order_not_cancellable"
    title = "Order is not pending"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class AccountArchived(Conflict):
    """Archiving is final: an archived account is never reopened nor the default one."""

    code = "account_archived"
    title = "Account is archived"


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"
    title = "Not authenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class AccountSuspensionForbidden(Forbidden):
    code = "account_suspension_forbidden"
    title = "Only an administrator can suspend accounts"


class AppendOnly(Forbidden):
    code = "append_only"
    title = "History cannot be changed"


def from_db_error(exc: psycopg.Error) -> DomainError | None:
    """The typed error for a rejection raised by our SQL (SQLSTATE CTnnn), else None."""
    sqlstate = exc.sqlstate or ""
    if not sqlstate.startswith("CT"):
        return None
    fallback: dict[str, type[DomainError]] = {
        "CT401": NotAuthenticated,
        "CT403": Forbidden,
        "CT404": NotFound,
        "CT422": InvalidRequest,
    }
    cls = DomainError.for_code(exc.diag.message_hint or "") or fallback.get(sqlstate, TradeRefused)
    return cls(exc.diag.message_primary or cls.title)
