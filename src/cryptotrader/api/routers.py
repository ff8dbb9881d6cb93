"""The /api/v1 routers, one per domain, registered in one place (in OpenAPI order)."""

from __future__ import annotations

from fastapi import APIRouter

from cryptotrader.accounts.router import router as accounts
from cryptotrader.api.stream import router as stream
from cryptotrader.auth.router import router as auth
from cryptotrader.market.router import router as market
from cryptotrader.portfolios.router import router as portfolios
from cryptotrader.profiles.router import router as profiles
from cryptotrader.templates.router import router as templates
from cryptotrader.trading.router import router as trading
from cryptotrader.watchlists.router import router as watchlists


def v1_routers() -> list[APIRouter]:
    return [auth, accounts, trading, market, stream, profiles, templates, watchlists, portfolios]
