"""Historical candles from exchanges through ccxt (optional: `pip install cryptotrader[exchanges]`).

ccxt returns ``[ms, open, high, low, close, volume]`` rows (floats) oldest first, at most
``limit`` per call; we page forward from ``since`` until ``until`` or the data ends, drop
the newest bar while it is still open, and turn each number into a Decimal through its
shortest repr (``Decimal(repr(x))``), which is exactly what the exchange sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cryptotrader.market.schemas import TIMEFRAME_SECONDS, Candle, ProviderError, Timeframe

PAGE = 1000


def _exchange(exchange_id: str, config: dict[str, Any]) -> Any:
    try:
        import ccxt.async_support as ccxt_async
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise ProviderError(
            "exchange backfill needs ccxt: pip install 'cryptotrader[exchanges]'"
        ) from exc
    if exchange_id not in ccxt_async.exchanges:
        raise ProviderError(f"unknown exchange {exchange_id!r}")
    return getattr(ccxt_async, exchange_id)({"enableRateLimit": True, **config})


@dataclass
class CcxtCandleProvider:
    """Candles of ``<symbol>/<quote>`` from one ccxt exchange (Binance by default)."""

    exchange_id: str = "binance"
    quote: str = "USDT"
    config: dict[str, Any] = field(default_factory=dict)
    prepare: Callable[[Any], None] | None = None  # tests point the exchange at a stub
    name: str = "ccxt"

    def market(self, symbol: str) -> str:
        return f"{symbol.upper()}/{self.quote}"

    async def fetch_candles(
        self, symbol: str, timeframe: Timeframe, since: datetime, until: datetime | None = None
    ) -> list[Candle]:
        import ccxt.async_support as ccxt_async

        exchange = _exchange(self.exchange_id, self.config)
        if self.prepare is not None:
            self.prepare(exchange)
        step = timedelta(seconds=TIMEFRAME_SECONDS[timeframe])
        now = datetime.now(UTC)
        end = min(until or now, now)
        cursor = since
        out: list[Candle] = []
        try:
            while cursor < end:
                rows = await exchange.fetch_ohlcv(
                    self.market(symbol), timeframe, since=int(cursor.timestamp() * 1000), limit=PAGE
                )
                fresh = [r for r in rows if datetime.fromtimestamp(r[0] / 1000, UTC) >= cursor]
                if not fresh:
                    break
                for ms, o, h, low, c, v in fresh:
                    opened = datetime.fromtimestamp(ms / 1000, UTC)
                    if opened + step > now or opened >= end:
                        continue  # still open, or past the range
                    out.append(
                        Candle(
                            symbol=symbol.upper(),
                            timeframe=timeframe,
                            open_time=opened,
                            open=_dec(o),
                            high=_dec(h),
                            low=_dec(low),
                            close=_dec(c),
                            volume=_dec(v or 0),
                        )
                    )
                cursor = datetime.fromtimestamp(fresh[-1][0] / 1000, UTC) + step
        except ccxt_async.BaseError as exc:
            raise ProviderError(
                f"{self.exchange_id} fetch_ohlcv {self.market(symbol)}: {exc}"
            ) from exc
        finally:
            await exchange.close()
        return out


def _dec(value: float | int | str) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
