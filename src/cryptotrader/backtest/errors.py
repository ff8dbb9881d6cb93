"""The backtest's typed errors (rendered as problem+json by the API, exit codes by the CLI)."""

from __future__ import annotations

from cryptotrader.errors import DomainError, InvalidRequest, NotFound


class InvalidCandles(InvalidRequest):
    """Candles that cannot be backtested: unreadable, unsorted, duplicated, or a bar whose
    high/low do not contain its open and close. The detail names the line or row."""

    code = "invalid_candles"
    title = "Invalid candles"


class InvalidDecision(InvalidRequest):
    """A strategy returned a decision the broker cannot act on (a size outside (0, 1], a
    limit order without a limit price, exits on a sell, a non-finite price). The detail
    names the bar: this is a bug in the strategy, not a market event."""

    code = "invalid_decision"
    title = "Invalid strategy decision"


class SessionNotCancellable(DomainError):
    """Only a pending or running session can be cancelled; the detail names its status."""

    status = 409
    code = "backtest_not_cancellable"
    example_detail = "backtest session is completed, not pending or running"
    title = "Backtest session cannot be cancelled"


class InvalidSweep(InvalidRequest):
    code = "invalid_sweep"
    title = "Invalid parameter sweep"
    example_detail = "sweep parameter 'period' is not a parameter of sma_crossover"


class SessionNotFound(NotFound):
    code = "backtest_session_not_found"
    title = "Backtest session not found"
