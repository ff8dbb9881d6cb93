"""The /api/v1 routers, one per domain, registered in one place.

FastAPI matches a request against the routers in this order (twice: to select, then to
dispatch), so the hottest routes come first: placing orders and reading prices."""

from __future__ import annotations

from fastapi import APIRouter

from cryptotrader.accounts.router import router as accounts
from cryptotrader.admin.router import router as admin
from cryptotrader.alerts.router import router as alerts
from cryptotrader.analytics.router import router as performance
from cryptotrader.auth.router import router as auth
from cryptotrader.backtest.router import router as backtests
from cryptotrader.bots.router import router as bots
from cryptotrader.jobs.router import router as jobs
from cryptotrader.market.router import router as market
from cryptotrader.notifications.router import router as notifications
from cryptotrader.portfolios.router import router as portfolios
from cryptotrader.profiles.router import router as profiles
from cryptotrader.social.router import router as social
from cryptotrader.strategies.router import router as strategies
from cryptotrader.stream.router import router as stream
from cryptotrader.templates.router import router as templates
from cryptotrader.trading.router import router as trading
from cryptotrader.watchlists.router import router as watchlists
from cryptotrader.webhooks.router import router as webhooks


def v1_routers() -> list[APIRouter]:
    return [
        trading,
        market,
        accounts,
        auth,
        stream,
        profiles,
        social,
        templates,
        watchlists,
        portfolios,
        strategies,
        backtests,
        bots,
        performance,
        admin,
        jobs,
        notifications,
        webhooks,
        alerts,
    ]
