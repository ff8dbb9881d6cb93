"""Demo data for social trading: a listed demo trader whose DCA bot trades every bar, and
the demo user following and copying them (so, under `make run`, copies arrive as the bot
trades). Idempotent; written through the same services as a real user's."""

from __future__ import annotations

import secrets
from decimal import Decimal
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from cryptotrader.audit.schemas import Actor
from cryptotrader.auth import service as users
from cryptotrader.bots import service as bots
from cryptotrader.bots.schemas import BotCreate
from cryptotrader.db.calls import fetch_one
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn, as_service, as_user, user_claims
from cryptotrader.social import service as social
from cryptotrader.social.schemas import CopySettings, TraderProfileUpdate

Q = load_queries("cryptotrader", "seed.sql")
TRADER_EMAIL = "ben@cryptotrader.local"
TRADER_PROFILE = TraderProfileUpdate(
    is_listed=True,
    display_name="Ben (DCA)",
    category="DCA",
    bio="Buys BTC a little every hour with a rule bot; a demo trader to follow and copy.",
    shows="statistics_and_trades",
)


async def seed_demo_social(pool: AsyncConnectionPool[Conn], demo: Actor) -> bool:
    """The demo trader, listed, with an active DCA bot; the demo user copying them with 20%
    of their default account. False when it was there already."""
    async with as_service(pool) as conn:
        trader_id = await users.find_user_id(conn, TRADER_EMAIL)
        if trader_id is not None:
            return False
        # nobody signs in as the demo trader: a random password nobody knows
        trader_id = await users.create_user(
            conn, TRADER_EMAIL, secrets.token_urlsafe(24), display_name="Ben"
        )
    trader = Actor(claims=user_claims(trader_id, email=TRADER_EMAIL))
    async with as_user(pool, trader.claims) as conn:
        await social.put_own_profile(conn, trader, TRADER_PROFILE)
        await _trader_bot(conn, trader)
    async with as_user(pool, demo.claims) as conn:
        await _copy(conn, demo, trader_id)
    return True


async def _trader_bot(conn: Conn, trader: Actor) -> None:
    account = await fetch_one(conn, Q["default_account"])
    if account is None:
        return
    data = {
        "name": "Hourly BTC",
        "strategy": "dca",
        "target_symbols": ["BTC"],
        "account_id": account["id"],
        "max_position_size": "20000",
        "config": {"timeframe": "1h", "parameters": {"every": 1, "fraction": 0.02}},
    }
    bot = await bots.create_bot(conn, trader, BotCreate.model_validate(data))
    await bots.start_bot(conn, trader, bot.id)


async def _copy(conn: Conn, demo: Actor, trader_id: UUID) -> None:
    follow = await social.follow(conn, demo, trader_id)
    account = await fetch_one(conn, Q["default_account"])
    if account is None:
        return
    settings = CopySettings(
        account_id=account["id"],
        allocation_pct=Decimal(20),
        max_per_trade=Decimal(500),
        stop_loss_pct=Decimal(30),
        stop_closes=True,
    )
    await social.set_copy(conn, demo, follow.id, settings)
