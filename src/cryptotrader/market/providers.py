"""Choosing the quote provider from the settings."""

from __future__ import annotations

from datetime import timedelta

from cryptotrader.config import Settings
from cryptotrader.db.calls import fetch_all
from cryptotrader.db.session import Conn
from cryptotrader.market import cache
from cryptotrader.market.schemas import TIMEFRAME_SECONDS, Quote, QuoteProvider
from cryptotrader.market.simulated import SimulatedFeed, per_second_sigma

DEFAULT_INTERVALS = {"simulated": 1.0, "replay": 1.0, "coingecko": 60.0}
_VOLATILITY_BARS = 1440


def refresh_interval(settings: Settings) -> float:
    return settings.market_interval or DEFAULT_INTERVALS[settings.market_provider]


async def build_provider(settings: Settings, conn: Conn) -> QuoteProvider:
    """The configured provider, primed from the database where it needs to be."""
    if settings.market_provider == "coingecko":
        from cryptotrader.market.coingecko import CoinGeckoProvider

        key = settings.coingecko_api_key
        return CoinGeckoProvider(
            base_url=settings.coingecko_base_url,
            api_key=key.get_secret_value() if key else None,
            api_key_kind=settings.coingecko_api_kind,
        )
    if settings.market_provider == "replay":
        from cryptotrader.market import replay

        coins = await cache.tracked_coins(conn)
        since = settings.replay_from
        rows = await fetch_all(
            conn, replay.Q["timeframe_span"], {"timeframe": settings.replay_timeframe}
        )
        first, last = rows[0]["first"], rows[0]["last"]
        if first is None:
            raise ValueError(f"no {settings.replay_timeframe} candles to replay: import some first")
        return await replay.load_replay(
            conn,
            [c.symbol for c in coins],
            settings.replay_timeframe,
            since or first,
            last + timedelta(seconds=TIMEFRAME_SECONDS[settings.replay_timeframe]),
            speed=settings.replay_speed,
            usd_aud=settings.usd_aud_rate,
        )
    return await simulated_from_cache(settings, conn)


async def simulated_from_cache(settings: Settings, conn: Conn) -> SimulatedFeed:
    """A simulated feed starting from the cached (last real) prices, with each symbol's
    volatility estimated from its stored candles where there are any."""
    start = {p.symbol: Quote.model_validate(p.model_dump()) for p in await cache.list_prices(conn)}
    sigmas: dict[str, float] = {}
    for symbol in start:
        rows = await fetch_all(
            conn, cache.Q["recent_closes"], {"symbol": symbol, "limit": _VOLATILITY_BARS}
        )
        if rows:
            sigma = per_second_sigma(
                [r["close"] for r in reversed(rows)], TIMEFRAME_SECONDS[rows[0]["timeframe"]]
            )
            if sigma is not None:
                sigmas[symbol] = sigma
    return SimulatedFeed(
        start=start,
        sigmas=sigmas,
        seed=settings.market_seed,
        usd_aud=settings.usd_aud_rate,
        step_seconds=refresh_interval(settings),
    )
