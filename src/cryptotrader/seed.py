"""Demo data for `cryptotrader db seed`: a demo user with accounts, a watchlist and trades,
copying a listed demo trader (seed_social.py), and real candles (BTC and ETH, 1h) for
backtests. Idempotent: running it again changes nothing. Everything the demo user owns is
written as that user, through the same functions and policies a real user goes through;
the candles go through the same import as `cryptotrader market import`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from cryptotrader.accounts import service as accounts
from cryptotrader.accounts.schemas import AccountFromTemplate
from cryptotrader.audit.schemas import Actor
from cryptotrader.auth import service as users
from cryptotrader.bots import service as bots
from cryptotrader.bots.schemas import AIStrategyCreate, BotCreate
from cryptotrader.db.calls import execute, fetch_all, fetch_one
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn, as_service, as_user, user_claims
from cryptotrader.market.candle_import import ImportReport, import_candles_csv
from cryptotrader.seed_social import seed_demo_social
from cryptotrader.trading import service as trading
from cryptotrader.trading.schemas import OrderRequest
from cryptotrader.watchlists import service as watchlists
from cryptotrader.watchlists.schemas import WatchlistCreate

Q = load_queries("cryptotrader", "seed.sql")

DEMO_EMAIL = "demo@cryptotrader.local"
DEMO_PASSWORD = "demo-trader-2024"  # noqa: S105 - the documented login of a local demo install

DEMO_ACCOUNTS = (
    ("Day Trading Desk", "day_trading"),
    ("Long-term HODL", "conservative"),
    ("Momentum Experiments", "aggressive"),
)
DEMO_WATCHLIST = ["BTC", "ETH", "SOL", "XRP", "ADA", "LINK", "AVAX", "DOGE"]

# Real Binance candles shipped in the repository's data/ohlcv (see its SOURCES.md):
# (file, our symbol, timeframe). A missing file (an installed package without the
# repository) is skipped.
DEMO_CANDLES_DIR = Path(__file__).resolve().parents[2] / "data" / "ohlcv"
DEMO_CANDLES = (
    ("BTC-USDT_1h.csv", "BTC", "1h"),
    ("ETH-USDT_1h.csv", "ETH", "1h"),
)

# (account, symbol, side, amount, order type, limit price as a fraction of market, exits)
DEMO_ORDERS: tuple[tuple[str, str, str, str, str, str | None, bool], ...] = (
    ("Main Account", "BTC", "buy", "0.02", "market", None, True),
    ("Main Account", "ETH", "buy", "0.5", "market", None, False),
    ("Main Account", "ETH", "sell", "0.2", "market", None, False),
    ("Main Account", "SOL", "buy", "10", "limit", "0.95", False),
    ("Day Trading Desk", "SOL", "buy", "40", "market", None, False),
    ("Day Trading Desk", "SOL", "sell", "40", "market", None, False),
    ("Day Trading Desk", "XRP", "buy", "2000", "market", None, False),
    ("Day Trading Desk", "XRP", "sell", "1000", "limit", "1.04", False),
    ("Long-term HODL", "LINK", "buy", "100", "market", None, False),
    ("Long-term HODL", "ADA", "buy", "3000", "market", None, False),
    ("Momentum Experiments", "DOGE", "buy", "50000", "market", None, True),
)


# (the bot, whether it starts active)
DEMO_BOTS: tuple[tuple[dict[str, object], bool], ...] = (
    (
        {
            "name": "BTC trend (5m)",
            "account": "Momentum Experiments",
            "strategy": "sma_crossover",
            "target_symbols": ["BTC"],
            "paper_balance": "5000",
            "max_position_size": "5000",
            "config": {"timeframe": "5m", "parameters": {"fast": 5, "slow": 20}},
        },
        True,
    ),
    (
        {
            "name": "Hourly ETH DCA",
            "account": "Long-term HODL",
            "strategy": "dca",
            "target_symbols": ["ETH"],
            "paper_balance": "2000",
            "max_position_size": "2000",
            "config": {"timeframe": "1h", "parameters": {"every": 1, "fraction": 0.05}},
        },
        True,
    ),
    (
        {
            "name": "LLM momentum",
            "account": "Day Trading Desk",
            "strategy": "llm",
            "target_symbols": ["BTC", "ETH", "SOL"],
            "daily_budget_usd": "0.50",
            "config": {"timeframe": "1h"},
        },
        False,
    ),
)


@dataclass(frozen=True)
class SeedReport:
    user_id: UUID
    created_user: bool
    accounts_created: int
    orders_placed: int


async def seed_demo(pool: AsyncConnectionPool[Conn]) -> SeedReport:
    """Create the demo user and their data where missing."""
    async with as_service(pool) as conn:
        user_id = await users.find_user_id(conn, DEMO_EMAIL)
        created = user_id is None
        if user_id is None:
            user_id = await users.create_user(
                conn, DEMO_EMAIL, DEMO_PASSWORD, display_name="Demo Trader"
            )
    async with as_service(pool) as conn:
        # Without a running feed the reference prices are old; the demo trades at them.
        await execute(conn, Q["freshen_quotes"])
    demo = Actor(claims=user_claims(user_id, email=DEMO_EMAIL))
    async with as_user(pool, demo.claims) as conn:
        made = await _demo_accounts(conn, demo)
        if not await fetch_one(conn, Q["watchlist_named"], {"name": "Majors"}):
            majors = WatchlistCreate(name="Majors", symbols=DEMO_WATCHLIST, is_default=True)
            await watchlists.create_watchlist(conn, demo, majors)
        orders = await _demo_orders(conn)
        await _demo_bots(conn, demo)
    for number, order in enumerate(orders):  # keyed: a rerun after a crash replays, never doubles
        await trading.place_order(pool, demo, order, idempotency_key=f"demo-seed-{number}")
    await seed_demo_social(pool, demo)
    placed = len(orders)
    return SeedReport(
        user_id=user_id, created_user=created, accounts_created=made, orders_placed=placed
    )


async def _demo_accounts(conn: Conn, demo: Actor) -> int:
    """The demo accounts, each from its system template, where missing; how many were made."""
    made = 0
    for name, account_type in DEMO_ACCOUNTS:
        if await fetch_one(conn, Q["account_named"], {"name": name}):
            continue
        template = await fetch_one(conn, Q["system_template"], {"account_type": account_type})
        if template is None:
            continue
        data = AccountFromTemplate(template_id=template["id"], account_name=name)
        await accounts.create_from_template(conn, demo, data)
        made += 1
    return made


async def _demo_bots(conn: Conn, demo: Actor) -> None:
    """Two rule bots, active (they trade on the live bars from the first closes on), and
    an AI strategy with a paused LLM bot (it needs an API key to run), once."""
    if await fetch_one(conn, Q["bot_count"]) != {"n": 0}:
        return
    accounts = {r["account_name"]: r["id"] for r in await fetch_all(conn, Q["accounts"])}
    strategy = await bots.create_ai_strategy(
        conn,
        demo,
        AIStrategyCreate(
            name="Momentum with RSI",
            model="gpt-4o-mini",
            prompt="You trade {symbols} on {timeframe} bars. Buy strength confirmed by RSI and "
            "the 20-bar SMA, sell weakness, hold when unsure.\n{context}",
            indicators=["rsi_14", "sma_20", "macd_12_26_9"],
        ),
    )
    for fields, start in DEMO_BOTS:
        account = accounts.get(str(fields["account"]))
        if account is None:
            continue
        data = {k: v for k, v in fields.items() if k != "account"} | {"account_id": account}
        if data["strategy"] == "llm":
            data["strategy_id"] = strategy.id
        bot = await bots.create_bot(conn, demo, BotCreate.model_validate(data))
        if start:
            await bots.start_bot(conn, demo, bot.id)


async def _demo_orders(conn: Conn) -> list[OrderRequest]:
    """A small trade history to place through the trading engine, once (none when the demo
    user has trades already)."""
    row = await fetch_one(conn, Q["trade_count"])
    if row is None or row["n"] > 0:
        return []
    accounts = {r["account_name"]: r["id"] for r in await fetch_all(conn, Q["accounts"])}
    orders = []
    for account, symbol, side, amount, order_type, limit_factor, exits in DEMO_ORDERS:
        quote = await fetch_one(conn, Q["price"], {"symbol": symbol})
        if quote is None or account not in accounts:
            continue
        price: Decimal = quote["price_usd"]
        order = OrderRequest(
            account_id=accounts[account],
            symbol=symbol,
            side=side,  # type: ignore[arg-type]
            amount=Decimal(amount),
            order_type=order_type,  # type: ignore[arg-type]
            limit_price=(price * Decimal(limit_factor)).quantize(Decimal("0.0001"))
            if limit_factor
            else None,
            stop_loss=(price * Decimal("0.92")).quantize(Decimal("0.0001")) if exits else None,
            take_profit=(price * Decimal("1.15")).quantize(Decimal("0.0001")) if exits else None,
            trade_category="demo",
            reasoning="demo history",
        )
        orders.append(order)
    return orders


async def seed_demo_candles(
    conninfo: str, directory: Path = DEMO_CANDLES_DIR
) -> list[ImportReport]:
    """Import the demo candle files found in ``directory`` (each in one transaction;
    bars already stored the same are left alone, so a second run writes nothing)."""
    reports = []
    for name, symbol, timeframe in DEMO_CANDLES:
        path = directory / name
        if path.is_file():
            reports.append(
                await asyncio.to_thread(import_candles_csv, conninfo, path, symbol, timeframe)
            )
    return reports
