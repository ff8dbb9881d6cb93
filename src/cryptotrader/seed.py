"""Demo data for `cryptotrader db seed`: a demo user with several accounts and a watchlist.
Idempotent: running it again changes nothing. Everything the demo user owns is written
as that user, through the same functions and policies a real user goes through."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from cryptotrader.auth import service as users
from cryptotrader.db.session import Conn, as_service, as_user, user_claims

DEMO_EMAIL = "demo@cryptotrader.local"
DEMO_PASSWORD = "demo-trader-2024"  # noqa: S105 - the documented login of a local demo install

DEMO_ACCOUNTS = (
    ("Day Trading Desk", "day_trading"),
    ("Long-term HODL", "conservative"),
    ("Momentum Experiments", "aggressive"),
)
DEMO_WATCHLIST = ["BTC", "ETH", "SOL", "XRP", "ADA", "LINK", "AVAX", "DOGE"]


@dataclass(frozen=True)
class SeedReport:
    user_id: UUID
    created_user: bool
    accounts_created: int


async def seed_demo(pool: AsyncConnectionPool[Conn]) -> SeedReport:
    """Create the demo user and their data where missing."""
    async with as_service(pool) as conn:
        user_id = await users.find_user_id(conn, DEMO_EMAIL)
        created = user_id is None
        if user_id is None:
            user_id = await users.create_user(
                conn, DEMO_EMAIL, DEMO_PASSWORD, display_name="Demo Trader"
            )
    made = 0
    async with as_user(pool, user_claims(user_id, email=DEMO_EMAIL)) as conn:
        for name, account_type in DEMO_ACCOUNTS:
            cur = await conn.execute(
                "SELECT 1 FROM paper_trading_accounts WHERE account_name = %s", [name]
            )
            if await cur.fetchone():
                continue
            await conn.execute(
                "SELECT create_account_from_template(t.id, %s) FROM account_templates t"
                " WHERE t.account_type = %s AND t.created_by IS NULL AND t.is_public"
                " ORDER BY t.created_at LIMIT 1",
                [name, account_type],
            )
            made += 1
        await conn.execute(
            "INSERT INTO watchlists (user_id, name, symbols, is_default)"
            " VALUES (%s, 'Majors', %s, true) ON CONFLICT (user_id, name) DO NOTHING",
            [user_id, DEMO_WATCHLIST],
        )
    return SeedReport(user_id=user_id, created_user=created, accounts_created=made)
