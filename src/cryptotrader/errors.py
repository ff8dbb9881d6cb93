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
    # The detail the API sends with this error as the OpenAPI examples show it (the
    # service's or SQL function's message); None: the title, as most not-found errors send.
    example_detail: ClassVar[str | None] = None
    _by_code: ClassVar[dict[str, type[DomainError]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        DomainError._by_code[cls.code] = cls

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title

    @classmethod
    def for_code(cls, code: str) -> type[DomainError] | None:
        """The error class of ``code``, wherever its domain defines it (every domain's
        ``errors`` module is loaded on the first miss, so no caller has to import one only
        to have its codes mapped)."""
        found = cls._by_code.get(code)
        if found is None and not _all_loaded:
            _load_domain_errors()
            found = cls._by_code.get(code)
        return found


_all_loaded = False


def _load_domain_errors() -> None:
    global _all_loaded
    import importlib
    import pkgutil

    import cryptotrader

    for module in pkgutil.iter_modules(cryptotrader.__path__):
        if module.ispkg:
            try:
                importlib.import_module(f"cryptotrader.{module.name}.errors")
            except ModuleNotFoundError as exc:
                if exc.name != f"cryptotrader.{module.name}.errors":
                    raise
    _all_loaded = True


# Not found (another user's row is reported exactly like a missing one)
class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class OrderNotFound(NotFound):
    code = "order_not_found"
    title = "Order not found"


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
    example_detail = "amount must be a positive number below 1e15 with at most 18 decimals"


class InvalidPrice(InvalidRequest):
    code = "invalid_price"
    title = "Invalid price"
    example_detail = "limit price must be a positive number below 1e15 with at most 18 decimals"


class InvalidOrder(InvalidRequest):
    code = "invalid_order"
    title = "Invalid order"
    example_detail = "a limit price is only for limit orders"


class InvalidName(InvalidRequest):
    code = "invalid_name"
    title = "Invalid name"


class UnknownSymbol(InvalidRequest):
    code = "unknown_symbol"
    title = "Unknown symbol"
    example_detail = "unknown symbol XYZ"


class OrderWouldTrigger(InvalidRequest):
    code = "order_would_trigger"
    title = "Stop price already crossed"
    example_detail = "the stop price is already crossed; send a market order instead"


# Refused by a business rule
class TradeRefused(DomainError):
    status = 409
    code = "trade_refused"
    title = "Trade refused"


class AccountNotActive(TradeRefused):
    code = "account_not_active"
    title = "Account is not active"
    example_detail = "account is paused"


class StalePrice(TradeRefused):
    code = "stale_price"
    title = "Price is stale"
    example_detail = "the BTC price is from 2025-01-15 14:20:00+00, older than 300 s"


class InsufficientFunds(TradeRefused):
    code = "insufficient_funds"
    title = "Insufficient funds"
    example_detail = "needs 4857.28 including fees, 1250.00 available"


class InsufficientPosition(TradeRefused):
    code = "insufficient_position"
    title = "Insufficient position"
    example_detail = "sell of 0.10 exceeds the 0.05 available"


class MaxPositionSize(TradeRefused):
    code = "max_position_size"
    title = "Position size limit exceeded"
    example_detail = "position would be worth 14587.50, over the limit of 10000.00"


class MaxDailyLoss(TradeRefused):
    code = "max_daily_loss"
    title = "Daily loss limit reached"
    example_detail = "daily realized loss >= max_daily_loss"


class OrderNotCancellable(TradeRefused):
    code = "order_not_cancellable"
    title = "Order is not pending"
    example_detail = "order is completed, not pending"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"
    title = "Not authenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class AppendOnly(Forbidden):
    code = "append_only"
    title = "History cannot be changed"


def rejection(sqlstate: str, code: str | None, message: str | None) -> DomainError:
    """The typed error of one of our SQL's rejections (SQLSTATE CTnnn, its code in HINT)."""
    fallback: dict[str, type[DomainError]] = {
        "CT401": NotAuthenticated,
        "CT403": Forbidden,
        "CT404": NotFound,
        "CT422": InvalidRequest,
    }
    cls = DomainError.for_code(code or "") or fallback.get(sqlstate, TradeRefused)
    return cls(message or cls.title)


def from_db_error(exc: psycopg.Error) -> DomainError | None:
    """The typed error for a rejection raised by our SQL (SQLSTATE CTnnn), else None."""
    sqlstate = exc.sqlstate or ""
    if not sqlstate.startswith("CT"):
        return None
    return rejection(sqlstate, exc.diag.message_hint, exc.diag.message_primary)
