"""Errors of portfolios (a member account the caller does not own is AccountNotFound)."""

from __future__ import annotations

from cryptotrader.errors import Conflict, NotFound


class PortfolioNotFound(NotFound):
    code = "portfolio_not_found"
    title = "Portfolio not found"


class PortfolioIsDefault(Conflict):
    code = "portfolio_is_default"
    title = "The default portfolio cannot be deleted"
    example_detail = "make another portfolio the default one first"
