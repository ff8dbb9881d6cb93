"""CoinGecko public API v3 as a :class:`QuoteProvider` and :class:`CandleProvider`.

Quotes come from ``/simple/price`` (USD and AUD prices, market caps, 24 h volumes and
24 h % change, one ``last_updated_at`` per coin) and, for the figures it lacks (name,
24 h high/low, 24 h absolute change), ``/coins/markets``. The two endpoints are cached
separately by CoinGecko (60 s and about 45 s on the public host), so the extras may be a
few seconds older than the price. If ``/coins/markets`` fails, quotes are still
returned, without those extras.

Every number is parsed from the JSON text straight into :class:`~decimal.Decimal`
(``json.loads(parse_float=Decimal)``); none passes through a binary float.

Every failure surfaces as :class:`ProviderError` with a one-line message naming the
endpoint and the HTTP status (or the network error); a 429 is :class:`RateLimited`
carrying the seconds to wait. Nothing else escapes: no ``httpx2`` error, no
``JSONDecodeError``, no ``KeyError`` on a surprising payload.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Literal, Self
from urllib.parse import quote

import httpx2

from cryptotrader import __version__
from cryptotrader.market.schemas import (
    TIMEFRAME_SECONDS,
    Candle,
    ProviderError,
    Quote,
    RateLimited,
    Timeframe,
    TrackedCoin,
)
from cryptotrader.retry_after import retry_after as http_retry_after

log = logging.getLogger(__name__)

PUBLIC_BASE_URL = "https://api.coingecko.com/api/v3"
PRO_BASE_URL = "https://pro-api.coingecko.com/api/v3"
DEFAULT_USER_AGENT = f"cryptotrader/{__version__} (+https://github.com/cryptotrader)"
API_KEY_HEADERS: dict[str, str] = {"demo": "x-cg-demo-api-key", "pro": "x-cg-pro-api-key"}

MAX_IDS_PER_REQUEST = 250
"""CoinGecko's page size limit for ``/coins/markets``; also used to batch ``/simple/price``."""

DEFAULT_RETRY_AFTER = 60.0
"""Seconds to wait after a 429 that says neither ``Retry-After`` nor ``x-ratelimit-reset``."""

OHLC_DAYS_BY_TIMEFRAME: dict[str, tuple[int, ...]] = {"30m": (1,), "4h": (7, 14, 30)}
"""The ``days`` values of ``/coins/{id}/ohlc`` that yield candles of each size.

``/ohlc`` takes no interval on the public/Demo plan: the candle size follows ``days``
(1-2 days: 30 minutes, 3-30 days: 4 hours, 31 days and more: 4 days), and ``days`` must
be one of 1, 7, 14, 30, 90, 180, 365. So only 30m (the last day) and 4h (up to the last
30 days) are available; 4-day candles fit no :data:`Timeframe`.
"""

_Params = list[tuple[str, str | int | float | bool | None]]
_MAX_DETAIL = 160


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _BadShape(ValueError):
    """The JSON parsed but is not what the endpoint documents."""


@dataclass(frozen=True, slots=True)
class _SimplePrice:
    usd: Decimal
    aud: Decimal
    usd_market_cap: Decimal | None
    aud_market_cap: Decimal | None
    usd_24h_vol: Decimal | None
    aud_24h_vol: Decimal | None
    usd_24h_change: Decimal | None
    last_updated: datetime


@dataclass(frozen=True, slots=True)
class _MarketExtras:
    name: str | None
    high_24h: Decimal | None
    low_24h: Decimal | None
    price_change_24h: Decimal | None


class CoinGeckoProvider:
    """Quotes and candles from CoinGecko.

    ``coins`` maps our ticker to CoinGecko's coin id (``{"BTC": "bitcoin"}``); it is only
    needed for :meth:`fetch_candles` (quotes carry the id in each :class:`TrackedCoin`)
    and can be replaced later with :meth:`set_coins`.

    The HTTP client is created here and closed by :meth:`aclose` (or ``async with``); an
    injected ``client`` is used as is and left open. The User-Agent (CoinGecko answers 403
    to keyless requests without a descriptive one), the API key header and the timeout are
    sent with every request, so they apply to an injected client too. ``timeout`` bounds
    each network phase (connect, each read, write), not the whole request.
    """

    name: str = "coingecko"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_kind: Literal["demo", "pro"] = "demo",
        timeout: float = 10.0,
        user_agent: str = DEFAULT_USER_AGENT,
        coins: Mapping[str, str] | None = None,
        client: httpx2.AsyncClient | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if api_key_kind not in API_KEY_HEADERS:
            raise ValueError(f"api_key_kind must be 'demo' or 'pro', not {api_key_kind!r}")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if base_url is None:
            base_url = PRO_BASE_URL if api_key_kind == "pro" else PUBLIC_BASE_URL
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if api_key:
            self._headers[API_KEY_HEADERS[api_key_kind]] = api_key
        self._coins: dict[str, str] = dict(coins or {})
        self._clock = clock
        self._owns_client = client is None
        self._client = client if client is not None else httpx2.AsyncClient(timeout=timeout)

    # -- lifecycle ---------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the HTTP client if this provider created it."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def set_coins(self, coins: Mapping[str, str] | Iterable[TrackedCoin]) -> None:
        """Replace the ticker -> CoinGecko id map used by :meth:`fetch_candles`."""
        if isinstance(coins, Mapping):
            self._coins = dict(coins)
        else:
            self._coins = {coin.symbol: coin.coingecko_id for coin in coins}

    # -- quotes ------------------------------------------------------------------------

    async def fetch_quotes(self, coins: list[TrackedCoin]) -> list[Quote]:
        """Current quotes of ``coins``, in their order; coins CoinGecko omits are absent.

        One ``/simple/price`` and one ``/coins/markets`` request per 250 distinct ids. A
        failing ``/simple/price`` request fails the whole call (even if an earlier batch
        succeeded); a failing ``/coins/markets`` request only drops the extras (name
        falls back to the TrackedCoin's, high/low/absolute change are None), and the
        markets endpoint is not asked again during this call.

        ``change_percentage_24h`` is ``usd_24h_change`` (a percentage); ``change_24h`` is
        markets' ``price_change_24h`` (USD). High and low are USD.
        """
        ids = list(dict.fromkeys(coin.coingecko_id for coin in coins))
        prices: dict[str, _SimplePrice] = {}
        extras: dict[str, _MarketExtras] = {}
        markets_ok = True
        for start in range(0, len(ids), MAX_IDS_PER_REQUEST):
            batch = ids[start : start + MAX_IDS_PER_REQUEST]
            prices.update(await self._simple_price(batch))
            if markets_ok:
                try:
                    extras.update(await self._markets(batch))
                except ProviderError as exc:
                    markets_ok = False
                    log.warning("%s; quotes go without name, high/low and 24h change", exc)

        quotes: list[Quote] = []
        seen: set[str] = set()
        for coin in coins:
            price = prices.get(coin.coingecko_id)
            if price is None or coin.symbol in seen:
                continue
            seen.add(coin.symbol)
            extra = extras.get(coin.coingecko_id)
            quotes.append(
                Quote(
                    symbol=coin.symbol,
                    name=(extra.name if extra and extra.name else coin.name),
                    price_usd=price.usd,
                    price_aud=price.aud,
                    volume_24h_usd=price.usd_24h_vol,
                    volume_24h_aud=price.aud_24h_vol,
                    change_24h=extra.price_change_24h if extra else None,
                    change_percentage_24h=price.usd_24h_change,
                    market_cap_usd=price.usd_market_cap,
                    market_cap_aud=price.aud_market_cap,
                    high_24h=extra.high_24h if extra else None,
                    low_24h=extra.low_24h if extra else None,
                    exchange=self.name,
                    last_updated=price.last_updated,
                )
            )
        return quotes

    async def _simple_price(self, ids: Sequence[str]) -> dict[str, _SimplePrice]:
        path = "/simple/price"
        data = await self._get_json(
            path,
            [
                ("ids", ",".join(ids)),
                ("vs_currencies", "usd,aud"),
                ("include_market_cap", "true"),
                ("include_24hr_vol", "true"),
                ("include_24hr_change", "true"),
                ("include_last_updated_at", "true"),
                ("precision", "full"),
            ],
        )
        try:
            return _parse_simple_price(data, ids)
        except _BadShape as exc:
            raise _shape_error(path, exc) from None

    async def _markets(self, ids: Sequence[str]) -> dict[str, _MarketExtras]:
        path = "/coins/markets"
        data = await self._get_json(
            path,
            [
                ("vs_currency", "usd"),
                ("ids", ",".join(ids)),
                ("per_page", str(MAX_IDS_PER_REQUEST)),
                ("page", "1"),
                ("precision", "full"),
            ],
        )
        try:
            return _parse_markets(data)
        except _BadShape as exc:
            raise _shape_error(path, exc) from None

    # -- candles -----------------------------------------------------------------------

    async def fetch_candles(
        self, symbol: str, timeframe: Timeframe, since: datetime, until: datetime | None = None
    ) -> list[Candle]:
        """USD candles of ``symbol`` with ``since <= open_time < until``, oldest first.

        From ``/coins/{id}/ohlc``, whose candle size follows ``days`` (see
        :data:`OHLC_DAYS_BY_TIMEFRAME`): only ``"30m"`` (covering the last day) and
        ``"4h"`` (the last 30 days at most) exist; any other timeframe raises
        :class:`ProviderError`. Candles older than that window are simply not returned.

        ``/ohlc`` has no volume: ``volume`` is always 0. Its timestamp is the candle's
        close time; ``open_time`` is that minus the timeframe. A candle whose close time
        is still in the future is dropped. Naive datetimes are taken as UTC.
        """
        coin_id = self._coins.get(symbol)
        if coin_id is None:
            raise ProviderError(f"coingecko: no CoinGecko id known for symbol {symbol!r}")
        path = f"/coins/{quote(coin_id, safe='')}/ohlc"
        choices = OHLC_DAYS_BY_TIMEFRAME.get(timeframe)
        if choices is None:
            raise ProviderError(
                f"coingecko {path}: timeframe {timeframe!r} is not available "
                f"(CoinGecko /ohlc gives {', '.join(OHLC_DAYS_BY_TIMEFRAME)} only)"
            )
        since = _as_utc(since)
        end = _as_utc(until) if until is not None else None
        now = _as_utc(self._clock())
        span_days = (now - since) / timedelta(days=1)
        days = next((d for d in choices if d >= span_days), choices[-1])
        data = await self._get_json(path, [("vs_currency", "usd"), ("days", str(days))])
        step = TIMEFRAME_SECONDS[timeframe]
        try:
            rows = _parse_ohlc(data)
        except _BadShape as exc:
            raise _shape_error(path, exc) from None
        _check_spacing(path, rows, step, timeframe)

        candles: dict[datetime, Candle] = {}
        for close_time, o, h, low, c in rows:
            open_time = close_time - timedelta(seconds=step)
            if close_time > now or open_time < since or (end is not None and open_time >= end):
                continue
            candles[open_time] = Candle(
                symbol=symbol,
                timeframe=timeframe,
                open_time=open_time,
                open=o,
                high=h,
                low=low,
                close=c,
                volume=Decimal(0),
            )
        return [candles[t] for t in sorted(candles)]

    # -- HTTP --------------------------------------------------------------------------

    async def _get_json(self, path: str, params: _Params) -> object:
        """GET ``path`` and return its parsed JSON, or raise ProviderError/RateLimited."""
        where = f"coingecko {path}"
        try:
            response = await self._client.get(
                self.base_url + path, params=params, headers=self._headers, timeout=self.timeout
            )
        except httpx2.TimeoutException as exc:
            raise ProviderError(
                f"{where}: timed out after {self.timeout:g}s, no HTTP status ({type(exc).__name__})"
            ) from exc
        except (httpx2.HTTPError, httpx2.InvalidURL, OSError) as exc:
            raise ProviderError(
                f"{where}: network error, no HTTP status ({type(exc).__name__}: "
                f"{_one_line(str(exc))})"
            ) from exc

        status = f"HTTP {response.status_code}"
        if response.status_code == 429:
            retry_after = retry_after_seconds(
                response.headers.get("retry-after"),
                response.headers.get("x-ratelimit-reset"),
                self._clock(),
            )
            raise RateLimited(
                f"{where}: {status} Too Many Requests, retry after {retry_after:g}s", retry_after
            )
        if not response.is_success:
            detail = _error_detail(response)
            raise ProviderError(f"{where}: {status} {response.reason_phrase}{detail}".rstrip())
        try:
            return json.loads(response.content, parse_float=Decimal, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            content_type = response.headers.get("content-type", "")
            if "json" in content_type:
                what = f"malformed or truncated JSON ({_one_line(str(exc))})"
            else:
                what = f"body is not JSON (content-type {content_type or 'missing'!r})"
            raise ProviderError(f"{where}: {status}, {what}") from None


# -- Retry-After ---------------------------------------------------------------------------


def retry_after_seconds(
    retry_after: str | None, ratelimit_reset: str | None, now: datetime
) -> float:
    """Seconds to wait after a 429.

    ``Retry-After`` as delay-seconds (``"119"``) or an HTTP-date; failing that,
    CoinGecko's ``x-ratelimit-reset`` (a date string like ``"2025-07-25 14:54:00 +0000"``,
    not epoch seconds); failing that, :data:`DEFAULT_RETRY_AFTER`. A date in the past
    gives 0.
    """
    said = http_retry_after(retry_after, _as_utc(now))
    if said is not None:
        return said
    if ratelimit_reset is not None:
        try:
            when = datetime.strptime(ratelimit_reset.strip(), "%Y-%m-%d %H:%M:%S %z")
        except ValueError:
            pass
        else:
            return _seconds_until(when, now)
    return DEFAULT_RETRY_AFTER


def _seconds_until(when: datetime, now: datetime) -> float:
    return max(0.0, (_as_utc(when) - _as_utc(now)).total_seconds())


# -- parsing -------------------------------------------------------------------------------


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number")


def _one_line(text: str, limit: int = _MAX_DETAIL) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _shape_error(path: str, exc: _BadShape) -> ProviderError:
    return ProviderError(f"coingecko {path}: HTTP 200, unexpected JSON shape: {exc}")


def _error_detail(response: httpx2.Response) -> str:
    """``": <message>"`` from CoinGecko's JSON error bodies, or a note on a non-JSON body."""
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        content_type = response.headers.get("content-type", "").split(";")[0].strip()
        return f" ({content_type} body)" if content_type else ""
    message: object = None
    if isinstance(body, dict):
        status = body.get("status")
        # {"status": {"error_code": 429, "error_message": "..."}} or {"error": "coin not found"}
        if isinstance(status, dict):
            message = status.get("error_message")
        message = message or body.get("error")
    return f": {_one_line(message)}" if isinstance(message, str) and message else ""


def _number(entry: Mapping[str, object], key: str, where: str) -> Decimal | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _BadShape(f"{where}.{key} is {_kind(value)}, expected a number")
    return Decimal(value)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _from_epoch(seconds: Decimal) -> datetime:
    try:
        return (
            datetime(1970, 1, 1, tzinfo=UTC)
            + timedelta(seconds=int(seconds))
            + timedelta(microseconds=int((seconds % 1) * 1_000_000))
        )
    except OverflowError:
        raise _BadShape(f"timestamp {seconds} is out of range") from None


def _parse_simple_price(data: object, ids: Iterable[str]) -> dict[str, _SimplePrice]:
    if not isinstance(data, dict):
        raise _BadShape(f"expected an object keyed by coin id, got {_kind(data)}")
    out: dict[str, _SimplePrice] = {}
    for coin_id in ids:
        entry = data.get(coin_id)
        if entry is None:
            continue  # unknown or delisted ids are left out of the response
        if not isinstance(entry, dict):
            raise _BadShape(f"{coin_id} is {_kind(entry)}, expected an object")
        usd = _number(entry, "usd", coin_id)
        aud = _number(entry, "aud", coin_id)
        stamp = _number(entry, "last_updated_at", coin_id)
        if usd is None or aud is None or stamp is None:
            log.warning(
                "coingecko /simple/price: %s has no usd/aud price or time, skipped", coin_id
            )
            continue
        out[coin_id] = _SimplePrice(
            usd=usd,
            aud=aud,
            usd_market_cap=_number(entry, "usd_market_cap", coin_id),
            aud_market_cap=_number(entry, "aud_market_cap", coin_id),
            usd_24h_vol=_number(entry, "usd_24h_vol", coin_id),
            aud_24h_vol=_number(entry, "aud_24h_vol", coin_id),
            usd_24h_change=_number(entry, "usd_24h_change", coin_id),
            last_updated=_from_epoch(stamp),
        )
    return out


def _parse_markets(data: object) -> dict[str, _MarketExtras]:
    if not isinstance(data, list):
        raise _BadShape(f"expected an array of coins, got {_kind(data)}")
    out: dict[str, _MarketExtras] = {}
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise _BadShape(f"item {i} is {_kind(item)}, expected an object")
        coin_id = item.get("id")
        if not isinstance(coin_id, str):
            raise _BadShape(f"item {i} has no string id")
        name = item.get("name")
        out[coin_id] = _MarketExtras(
            name=name if isinstance(name, str) and name else None,
            high_24h=_number(item, "high_24h", coin_id),
            low_24h=_number(item, "low_24h", coin_id),
            price_change_24h=_number(item, "price_change_24h", coin_id),
        )
    return out


_OhlcRow = tuple[datetime, Decimal, Decimal, Decimal, Decimal]  # close time first


def _parse_ohlc(data: object) -> list[_OhlcRow]:
    if not isinstance(data, list):
        raise _BadShape(f"expected an array of [time, open, high, low, close], got {_kind(data)}")
    rows: list[_OhlcRow] = []
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != 5:
            raise _BadShape(f"row {i} is not [time, open, high, low, close]")
        stamp = row[0]
        if isinstance(stamp, bool) or not isinstance(stamp, int):
            raise _BadShape(f"row {i} time is {_kind(stamp)}, expected integer milliseconds")
        prices = [_number({"price": v}, "price", f"row {i}") for v in row[1:]]
        o, h, low, c = prices
        if o is None or h is None or low is None or c is None:
            raise _BadShape(f"row {i} has a null price")
        rows.append((_from_epoch(Decimal(stamp) / 1000), o, h, low, c))
    return sorted(rows, key=lambda r: r[0])


def _check_spacing(path: str, rows: Sequence[_OhlcRow], step: int, timeframe: str) -> None:
    """Refuse to label candles ``timeframe`` if CoinGecko sent another size (plan changes)."""
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(rows) if b[0] > a[0]]
    if gaps and min(gaps) != timedelta(seconds=step):
        raise ProviderError(
            f"coingecko {path}: HTTP 200, candles are {min(gaps).total_seconds():g}s apart, "
            f"expected {timeframe}"
        )
