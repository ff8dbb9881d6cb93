"""The /api/v1 routers, one per domain, registered in one place."""

from __future__ import annotations

import importlib

from fastapi import APIRouter

# each module exposes `router`; listed in the order they appear in the OpenAPI document
ROUTER_MODULES = (
    "cryptotrader.auth.router",
    "cryptotrader.accounts.router",
    "cryptotrader.trading.router",
    "cryptotrader.market.router",
    "cryptotrader.api.stream",
    "cryptotrader.profiles.router",
    "cryptotrader.templates.router",
    "cryptotrader.watchlists.router",
    "cryptotrader.portfolios.router",
)


def v1_routers() -> list[APIRouter]:
    routers = []
    for name in ROUTER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # not built yet
        routers.append(module.router)
    return routers
