"""CoinGeckoProvider against a local stub server speaking CoinGecko's wire format.

The stub is a real HTTP server on 127.0.0.1 (ephemeral port, own thread). By default it
answers like CoinGecko from the fixtures in tests/fixtures/coingecko (filtered by the
requested ids); a test can make any endpoint answer with a canned failure instead: 429,
5xx, HTML, truncated JSON, a dropped connection, or a stall longer than the timeout.
Nothing leaves loopback.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from cryptotrader import __version__
from cryptotrader.market.backoff import Backoff
from cryptotrader.market.coingecko import (
    DEFAULT_USER_AGENT,
    PRO_BASE_URL,
    PUBLIC_BASE_URL,
    CoinGeckoProvider,
    retry_after_seconds,
)
from cryptotrader.market.schemas import ProviderError, Quote, RateLimited, Timeframe, TrackedCoin

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "coingecko"
API_PREFIX = "/api/v3"
SIMPLE = "/simple/price"
MARKETS = "/coins/markets"
OHLC = "/coins/bitcoin/ohlc"

BTC = TrackedCoin(symbol="BTC", coingecko_id="bitcoin", name="Bitcoin")
ETH = TrackedCoin(symbol="ETH", coingecko_id="ethereum", name="Ethereum")
QUOTE_TIME = datetime(2025, 12, 27, 10, 47, tzinfo=UTC)


def _fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.example.json").read_bytes()


def _dump(value: object) -> str:
    """JSON text that writes Decimals back exactly as they were read (no float round trip)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value)


# -- the stub server ------------------------------------------------------------------------


@dataclass
class Reply:
    """A canned answer; ``hang`` stalls before answering, ``drop`` closes without one."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    content_length: int | None = None  # claim more than is sent to cut the body short
    hang: float = 0.0
    drop: bool = False


@dataclass(frozen=True)
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class StubCoinGecko:
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.overrides: dict[str, Reply] = {}
        self.verbatim = True  # False: always serve _simple as edited, even for every id
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._simple = json.loads(_fixture("simple_price_usd_aud"), parse_float=Decimal)
        self._markets = json.loads(_fixture("coins_markets_usd"), parse_float=Decimal)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = False  # server_close() joins every handler thread
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{API_PREFIX}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._release.set()  # let stalled handlers finish
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def fail(self, endpoint: str, reply: Reply) -> None:
        with self._lock:
            self.overrides[endpoint] = reply

    def heal(self) -> None:
        with self._lock:
            self.overrides.clear()

    def seen(self, endpoint: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == endpoint]

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append(Seen(path, query, headers))
            override = self.overrides.get(path)
        if override is not None:
            return override
        ids = [i for i in query.get("ids", "").split(",") if i]
        if path == SIMPLE:
            if query.get("vs_currencies") != "usd,aud":
                return Reply(400, b'{"error":"wrong vs_currencies"}')
            if self.verbatim and set(ids) >= set(self._simple):  # everything: the file's bytes
                return Reply(body=_fixture("simple_price_usd_aud"))
            picked = {i: self._simple[i] for i in ids if i in self._simple}
            return Reply(body=_dump(picked).encode())
        if path == MARKETS:
            per_page = int(query.get("per_page", "100"))  # CoinGecko's default page size
            rows = [row for row in self._markets if row["id"] in ids][:per_page]
            return Reply(body=_dump(rows).encode())
        if path == OHLC:
            days = query.get("days")
            if days == "1":
                return Reply(body=_fixture("coins_bitcoin_ohlc_usd_days1"))
            if days in {"7", "14", "30"}:
                return Reply(body=_fixture("coins_bitcoin_ohlc_usd_days7"))
            return Reply(400, b'{"error":"invalid days"}')
        return Reply(404, b'{"error":"coin not found"}')

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                path = parts.path.removeprefix(API_PREFIX)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = stub.answer(path, query, headers)
                if reply.hang:
                    stub._release.wait(reply.hang)
                    return
                if reply.drop:
                    return
                self.send_response(reply.status)
                if reply.content_type:
                    self.send_header("Content-Type", reply.content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                length = reply.content_length if reply.content_length else len(reply.body)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def stub() -> Iterator[StubCoinGecko]:
    server = StubCoinGecko()
    server.start()
    yield server
    server.stop()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(QUOTE_TIME)


@pytest.fixture
async def provider(stub: StubCoinGecko, clock: Clock) -> AsyncIterator[CoinGeckoProvider]:
    p = CoinGeckoProvider(
        base_url=stub.url,
        api_key="CG-demo-key",
        timeout=0.5,
        coins={"BTC": "bitcoin", "ETH": "ethereum"},
        clock=clock,
    )
    yield p
    await p.aclose()


def _assert_readable(exc: ProviderError, endpoint: str, *fragments: str) -> None:
    message = str(exc)
    assert "\n" not in message
    assert f"coingecko {endpoint}" in message
    for fragment in fragments:
        assert fragment in message, message


# -- quotes ---------------------------------------------------------------------------------

EXPECTED_BTC = Quote(
    symbol="BTC",
    name="Bitcoin",
    price_usd=Decimal("87387"),
    price_aud=Decimal("130512"),
    volume_24h_usd=Decimal("31377869299.41573"),
    volume_24h_aud=Decimal("46862847798.67739"),
    change_24h=Decimal("-1320.779519833217"),
    change_percentage_24h=Decimal("-1.488910610294202"),
    market_cap_usd=Decimal("1744910741787.2183"),
    market_cap_aud=Decimal("2606024192859.2104"),
    high_24h=Decimal("88966"),
    low_24h=Decimal("86674"),
    exchange="coingecko",
    last_updated=datetime(2025, 12, 27, 10, 46, 21, tzinfo=UTC),
)
EXPECTED_ETH = Quote(
    symbol="ETH",
    name="Ethereum",
    price_usd=Decimal("2922.48"),
    price_aud=Decimal("4364.72"),
    volume_24h_usd=Decimal("13751868665.23391"),
    volume_24h_aud=Decimal("20538415851.52684"),
    change_24h=Decimal("-46.61893618882368"),
    change_percentage_24h=Decimal("-1.5701349891386853"),
    market_cap_usd=Decimal("352547418866.1284"),
    market_cap_aud=Decimal("526529570076.5628"),
    high_24h=Decimal("2983.07"),
    low_24h=Decimal("2901.84"),
    exchange="coingecko",
    last_updated=datetime(2025, 12, 27, 10, 46, 19, tzinfo=UTC),
)


@pytest.mark.anyio
async def test_quotes_parsed_exactly(provider: CoinGeckoProvider, stub: StubCoinGecko) -> None:
    quotes = await provider.fetch_quotes([BTC, ETH])

    assert quotes == [EXPECTED_BTC, EXPECTED_ETH]
    # exact decimal text, not a binary float's expansion
    eth = quotes[1]
    assert str(eth.price_usd) == "2922.48"
    assert str(eth.price_aud) == "4364.72"
    assert str(eth.change_percentage_24h) == "-1.5701349891386853"
    assert eth.last_updated.utcoffset() == timedelta(0)

    (simple,) = stub.seen(SIMPLE)
    assert simple.query == {
        "ids": "bitcoin,ethereum",
        "vs_currencies": "usd,aud",
        "include_market_cap": "true",
        "include_24hr_vol": "true",
        "include_24hr_change": "true",
        "include_last_updated_at": "true",
        "precision": "full",
    }
    (markets,) = stub.seen(MARKETS)
    assert markets.query["vs_currency"] == "usd"
    assert markets.query["ids"] == "bitcoin,ethereum"


@pytest.mark.anyio
async def test_unknown_ids_are_absent(provider: CoinGeckoProvider) -> None:
    ghost = TrackedCoin(symbol="GHOST", coingecko_id="no-such-coin", name="Ghost")
    assert await provider.fetch_quotes([ghost, ETH]) == [EXPECTED_ETH]
    assert await provider.fetch_quotes([ghost]) == []
    assert await provider.fetch_quotes([]) == []


@pytest.mark.anyio
async def test_demo_key_and_user_agent_sent(
    provider: CoinGeckoProvider, stub: StubCoinGecko
) -> None:
    await provider.fetch_quotes([BTC])
    agent = f"cryptotrader/{__version__} (+https://github.com/cryptotrader)"
    assert len(stub.requests) == 2
    for request in stub.requests:
        assert request.headers["x-cg-demo-api-key"] == "CG-demo-key"
        assert "x-cg-pro-api-key" not in request.headers
        assert request.headers["user-agent"] == agent


@pytest.mark.anyio
async def test_pro_key_custom_agent_and_keyless(stub: StubCoinGecko) -> None:
    async with CoinGeckoProvider(
        base_url=stub.url, api_key="CG-pro-key", api_key_kind="pro", user_agent="probe/1"
    ) as pro:
        await pro.fetch_quotes([BTC])
    async with CoinGeckoProvider(base_url=stub.url) as keyless:
        await keyless.fetch_quotes([BTC])
    pro_request, _, keyless_request, _ = stub.requests
    assert pro_request.headers["x-cg-pro-api-key"] == "CG-pro-key"
    assert "x-cg-demo-api-key" not in pro_request.headers
    assert pro_request.headers["user-agent"] == "probe/1"
    assert not {"x-cg-pro-api-key", "x-cg-demo-api-key"} & keyless_request.headers.keys()
    assert keyless_request.headers["user-agent"] == DEFAULT_USER_AGENT


@pytest.mark.anyio
async def test_default_base_urls() -> None:
    async with CoinGeckoProvider(api_key="k", api_key_kind="pro") as pro:
        assert pro.base_url == PRO_BASE_URL
    async with CoinGeckoProvider(api_key="k") as demo:
        assert demo.base_url == PUBLIC_BASE_URL
    async with CoinGeckoProvider(base_url="http://127.0.0.1:1/x/", api_key_kind="pro") as own:
        assert own.base_url == "http://127.0.0.1:1/x"


@pytest.mark.anyio
async def test_injected_client_gets_headers_and_stays_open(stub: StubCoinGecko) -> None:
    async with httpx2.AsyncClient(trust_env=False) as client:
        provider = CoinGeckoProvider(base_url=stub.url, api_key="CG-demo-key", client=client)
        assert await provider.fetch_quotes([BTC]) == [EXPECTED_BTC]
        await provider.aclose()
        assert not client.is_closed
    assert stub.requests[0].headers["x-cg-demo-api-key"] == "CG-demo-key"
    assert stub.requests[0].headers["user-agent"] == DEFAULT_USER_AGENT


@pytest.mark.anyio
async def test_ids_are_batched_by_250(provider: CoinGeckoProvider, stub: StubCoinGecko) -> None:
    fillers = [
        TrackedCoin(symbol=f"F{i}", coingecko_id=f"filler-{i}", name="x") for i in range(598)
    ]
    coins = [BTC, *fillers, ETH, BTC]  # 600 distinct ids; ETH only in the third batch

    quotes = await provider.fetch_quotes(coins)

    assert quotes == [EXPECTED_BTC, EXPECTED_ETH]
    simple_batches = [r.query["ids"].split(",") for r in stub.seen(SIMPLE)]
    markets_batches = [r.query["ids"].split(",") for r in stub.seen(MARKETS)]
    assert [len(b) for b in simple_batches] == [250, 250, 100]
    assert markets_batches == simple_batches
    flat = [i for batch in simple_batches for i in batch]
    assert flat == list(dict.fromkeys(c.coingecko_id for c in coins))
    assert all(r.query["per_page"] == "250" for r in stub.seen(MARKETS))


# -- rate limits ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_429_with_retry_after_seconds(
    provider: CoinGeckoProvider, stub: StubCoinGecko
) -> None:
    stub.fail(
        SIMPLE,
        Reply(
            429, _fixture("error_429_body"), headers={"Retry-After": "7", "Server": "cloudflare"}
        ),
    )
    with pytest.raises(RateLimited) as caught:
        await provider.fetch_quotes([BTC, ETH])
    assert caught.value.retry_after == 7
    assert isinstance(caught.value, ProviderError)
    _assert_readable(caught.value, SIMPLE, "HTTP 429", "retry after 7s")
    assert stub.seen(MARKETS) == []


@pytest.mark.anyio
async def test_429_with_http_date(
    provider: CoinGeckoProvider, stub: StubCoinGecko, clock: Clock
) -> None:
    when = format_datetime(clock.now + timedelta(seconds=90), usegmt=True)
    stub.fail(SIMPLE, Reply(429, _fixture("error_429_body"), headers={"Retry-After": when}))
    with pytest.raises(RateLimited) as caught:
        await provider.fetch_quotes([BTC])
    assert caught.value.retry_after == 90


@pytest.mark.anyio
async def test_429_with_ratelimit_reset_only(
    provider: CoinGeckoProvider, stub: StubCoinGecko, clock: Clock
) -> None:
    clock.now = datetime(2025, 7, 25, 14, 53, 30, tzinfo=UTC)
    headers = {
        "x-ratelimit-limit": "30",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "2025-07-25 14:54:00 +0000",
    }
    stub.fail(SIMPLE, Reply(429, _fixture("error_429_body"), headers=headers))
    with pytest.raises(RateLimited) as caught:
        await provider.fetch_quotes([BTC])
    assert caught.value.retry_after == 30


@pytest.mark.anyio
async def test_429_cloudflare_html_without_headers(
    provider: CoinGeckoProvider, stub: StubCoinGecko
) -> None:
    html = b"<html><body>Cloudflare: rate limited</body></html>"
    stub.fail(SIMPLE, Reply(429, html, content_type="text/html"))
    with pytest.raises(RateLimited) as caught:
        await provider.fetch_quotes([BTC])
    assert caught.value.retry_after == 60


@pytest.mark.parametrize(
    ("retry_after", "reset", "expected"),
    [
        ("119", None, 119.0),
        (" 1.5 ", None, 1.5),
        ("0", None, 0.0),
        ("Sat, 27 Dec 2025 10:48:00 GMT", None, 60.0),
        ("Sat, 27 Dec 2025 10:00:00 GMT", None, 0.0),  # in the past
        ("-5", None, 60.0),
        ("inf", None, 60.0),
        ("nan", None, 60.0),
        ("soon", None, 60.0),
        ("", None, 60.0),
        (None, "2025-12-27 10:47:10 +0000", 10.0),
        ("garbage", "2025-12-27 10:49:00 +0000", 120.0),
        (None, "1766832500", 60.0),
        (None, None, 60.0),
    ],
)
def test_retry_after_seconds(retry_after: str | None, reset: str | None, expected: float) -> None:
    assert retry_after_seconds(retry_after, reset, QUOTE_TIME) == expected


# -- failures -------------------------------------------------------------------------------

HALF = _fixture("simple_price_usd_aud")[:200]
FAILURES: dict[str, tuple[Reply, tuple[str, ...]]] = {
    "500 json": (
        Reply(500, b'{"status":{"error_code":500,"error_message":"Internal error"}}'),
        ("HTTP 500 Internal Server Error", "Internal error"),
    ),
    "503 empty": (Reply(503, b"", content_type=None), ("HTTP 503 Service Unavailable",)),
    "502 html": (
        Reply(502, b"<html><h1>502 Bad Gateway</h1>\n<p>cloudflare</p></html>", "text/html"),
        ("HTTP 502 Bad Gateway", "text/html"),
    ),
    "401 json": (
        Reply(401, b'{"status":{"error_code":10002,"error_message":"API Key Missing"}}'),
        ("HTTP 401", "API Key Missing"),
    ),
    "200 html": (
        Reply(200, b"<!DOCTYPE html><html><title>Just a moment...</title></html>", "text/html"),
        ("HTTP 200", "not JSON", "text/html"),
    ),
    "200 truncated json": (Reply(200, HALF), ("HTTP 200", "malformed or truncated JSON")),
    "200 body cut short": (
        Reply(200, HALF, content_length=len(_fixture("simple_price_usd_aud"))),
        ("network error", "RemoteProtocolError"),
    ),
    "200 NaN": (
        Reply(200, b'{"bitcoin":{"usd":NaN,"aud":1,"last_updated_at":1}}'),
        ("HTTP 200", "malformed or truncated JSON", "NaN"),
    ),
    "wrong shape: array": (Reply(200, b"[]"), ("HTTP 200", "unexpected JSON shape", "an array")),
    "wrong shape: string price": (
        Reply(200, b'{"bitcoin":{"usd":"87387","aud":1,"last_updated_at":1766832381}}'),
        ("unexpected JSON shape", "bitcoin.usd is a string"),
    ),
    "wrong shape: entry": (
        Reply(200, b'{"bitcoin":[87387]}'),
        ("unexpected JSON shape", "bitcoin is an array"),
    ),
    "wrong shape: time": (
        Reply(200, b'{"bitcoin":{"usd":1,"aud":1,"last_updated_at":1e300}}'),
        ("unexpected JSON shape", "timestamp 1E+300 is out of range"),
    ),
    "dropped connection": (Reply(drop=True), ("network error", "no HTTP status")),
    "stall past timeout": (Reply(hang=5), ("timed out after 0.5s", "no HTTP status")),
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(FAILURES))
async def test_failures_raise_readable_provider_error(
    provider: CoinGeckoProvider, stub: StubCoinGecko, case: str
) -> None:
    reply, fragments = FAILURES[case]
    stub.fail(SIMPLE, reply)
    with pytest.raises(ProviderError) as caught:
        await provider.fetch_quotes([BTC, ETH])
    assert type(caught.value) is ProviderError  # not RateLimited, not a raw exception
    _assert_readable(caught.value, SIMPLE, *fragments)


@pytest.mark.anyio
async def test_connection_refused_is_provider_error() -> None:
    with socket.socket() as s:  # a loopback port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with CoinGeckoProvider(base_url=f"http://127.0.0.1:{port}/api/v3", timeout=2) as p:
        with pytest.raises(ProviderError) as caught:
            await p.fetch_quotes([BTC])
    _assert_readable(caught.value, SIMPLE, "network error", "ConnectError")


@pytest.mark.anyio
async def test_recovers_when_the_server_heals(
    provider: CoinGeckoProvider, stub: StubCoinGecko
) -> None:
    for reply, kind, fragment in (
        (Reply(500, b"oops", "text/plain"), ProviderError, "HTTP 500"),
        (Reply(hang=5), ProviderError, "timed out after 0.5s"),
        (
            Reply(429, _fixture("error_429_body"), headers={"Retry-After": "7"}),
            RateLimited,
            "HTTP 429",
        ),
        (Reply(200, HALF), ProviderError, "malformed or truncated JSON"),
    ):
        stub.fail(SIMPLE, reply)
        with pytest.raises(ProviderError) as caught:
            await provider.fetch_quotes([BTC, ETH])
        assert type(caught.value) is kind
        _assert_readable(caught.value, SIMPLE, fragment)
        stub.heal()
        assert await provider.fetch_quotes([BTC, ETH]) == [EXPECTED_BTC, EXPECTED_ETH]


def _without_extras(quote: Quote) -> Quote:
    return quote.model_copy(update={"high_24h": None, "low_24h": None, "change_24h": None})


@pytest.mark.anyio
@pytest.mark.parametrize(
    "reply",
    [
        Reply(500, b"{}"),
        Reply(429, _fixture("error_429_body"), headers={"Retry-After": "7"}),
        Reply(200, b"<html></html>", "text/html"),
        Reply(200, b'{"bitcoin": {}}'),
        Reply(200, b'[{"id": "bitcoin", "high_24h": "high"}]'),
        Reply(hang=5),
    ],
    ids=["500", "429", "html", "object", "string high", "stall"],
)
async def test_markets_failure_still_yields_quotes(
    provider: CoinGeckoProvider, stub: StubCoinGecko, reply: Reply
) -> None:
    stub.fail(MARKETS, reply)
    quotes = await provider.fetch_quotes([BTC, ETH])
    assert quotes == [_without_extras(EXPECTED_BTC), _without_extras(EXPECTED_ETH)]
    assert quotes[0].name == "Bitcoin"  # from the TrackedCoin


@pytest.mark.anyio
async def test_markets_not_asked_again_after_failing(
    provider: CoinGeckoProvider, stub: StubCoinGecko
) -> None:
    stub.fail(MARKETS, Reply(503, b""))
    fillers = [
        TrackedCoin(symbol=f"F{i}", coingecko_id=f"filler-{i}", name="x") for i in range(299)
    ]
    quotes = await provider.fetch_quotes([*fillers, BTC])
    assert quotes == [_without_extras(EXPECTED_BTC)]
    assert len(stub.seen(SIMPLE)) == 2
    assert len(stub.seen(MARKETS)) == 1


@pytest.mark.anyio
async def test_coin_without_price_is_skipped(
    provider: CoinGeckoProvider, stub: StubCoinGecko
) -> None:
    body = (
        b'{"bitcoin": {}, "ethereum": {"usd": 2922.48, "aud": 4364.72, "usd_24h_change": null,'
        b' "last_updated_at": 1766832379}}'
    )
    stub.fail(SIMPLE, Reply(200, body))
    (eth,) = await provider.fetch_quotes([BTC, ETH])
    assert eth.symbol == "ETH"
    assert eth.price_aud == Decimal("4364.72")
    assert eth.change_percentage_24h is None  # CoinGecko's hint of a stale price
    assert eth.market_cap_usd is None


# -- candles --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_candles_30m_from_ohlc_days1(
    provider: CoinGeckoProvider, stub: StubCoinGecko, clock: Clock
) -> None:
    clock.now = datetime(2026, 5, 19, 14, 31, tzinfo=UTC)
    candles = await provider.fetch_candles("BTC", "30m", clock.now - timedelta(hours=20))

    assert stub.seen(OHLC)[0].query == {"vs_currency": "usd", "days": "1"}
    assert [(c.open_time, c.open, c.high, c.low, c.close) for c in candles] == [
        (
            datetime(2026, 5, 19, 13, 30, tzinfo=UTC),  # the row's time is the close time
            Decimal("76769.0"),
            Decimal("76889.0"),
            Decimal("76744.0"),
            Decimal("76818.0"),
        ),
        (
            datetime(2026, 5, 19, 14, 0, tzinfo=UTC),
            Decimal("76712.0"),
            Decimal("76712.0"),
            Decimal("76321.0"),
            Decimal("76422.0"),
        ),
    ]
    assert all(c.symbol == "BTC" and c.timeframe == "30m" for c in candles)
    assert all(c.volume == 0 for c in candles)


@pytest.mark.anyio
async def test_candles_4h_from_ohlc_days7_with_window(
    provider: CoinGeckoProvider, stub: StubCoinGecko, clock: Clock
) -> None:
    clock.now = datetime(2024, 3, 3, 0, 5, tzinfo=UTC)
    every = await provider.fetch_candles("BTC", "4h", clock.now - timedelta(days=3))
    assert [c.open_time.hour for c in every] == [12, 16, 20]
    assert every[0].open == Decimal(61942)
    assert every[-1].close == Decimal(62068)

    since = datetime(2024, 3, 2, 16, tzinfo=UTC)
    until = datetime(2024, 3, 2, 20, tzinfo=UTC)
    (only,) = await provider.fetch_candles("BTC", "4h", since, until)  # since in, until out
    assert only.open_time == since

    await provider.fetch_candles("BTC", "4h", clock.now - timedelta(days=10))
    await provider.fetch_candles("BTC", "4h", clock.now - timedelta(days=200))
    assert [r.query["days"] for r in stub.seen(OHLC)] == ["7", "7", "14", "30"]


@pytest.mark.anyio
async def test_candle_still_forming_is_dropped(provider: CoinGeckoProvider, clock: Clock) -> None:
    clock.now = datetime(2026, 5, 19, 14, 20, tzinfo=UTC)  # before the last row's close
    candles = await provider.fetch_candles("BTC", "30m", clock.now - timedelta(hours=1))
    assert [c.open_time for c in candles] == [datetime(2026, 5, 19, 13, 30, tzinfo=UTC)]


@pytest.mark.anyio
async def test_candles_refuse_what_coingecko_cannot_give(
    provider: CoinGeckoProvider, stub: StubCoinGecko
) -> None:
    since = QUOTE_TIME - timedelta(hours=1)
    unavailable: tuple[Timeframe, ...] = ("1m", "5m", "15m", "1h", "1d")
    for timeframe in unavailable:
        with pytest.raises(ProviderError, match="not available"):
            await provider.fetch_candles("BTC", timeframe, since)
    with pytest.raises(ProviderError, match="no CoinGecko id known for symbol 'DOGE'"):
        await provider.fetch_candles("DOGE", "30m", since)
    assert stub.requests == []


@pytest.mark.anyio
async def test_candles_of_unexpected_size_are_refused(
    provider: CoinGeckoProvider, stub: StubCoinGecko, clock: Clock
) -> None:
    clock.now = datetime(2024, 3, 3, 0, 5, tzinfo=UTC)
    stub.fail(OHLC, Reply(body=_fixture("coins_bitcoin_ohlc_usd_days7")))  # 4h rows for days=1
    with pytest.raises(ProviderError) as caught:
        await provider.fetch_candles("BTC", "30m", clock.now - timedelta(hours=2))
    _assert_readable(caught.value, OHLC, "14400s apart, expected 30m")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        (Reply(200, b'{"prices": []}'), "unexpected JSON shape"),
        (Reply(200, b"[[1779199200000, 1, 2, 3]]"), "row 0 is not [time, open, high, low, close]"),
        (Reply(200, b"[[1779199200000, 1, null, 3, 4]]"), "row 0 has a null price"),
        (Reply(200, b'[["2026-05-19", 1, 2, 3, 4]]'), "expected integer milliseconds"),
        (Reply(200, b"[[99999999999999999999, 1, 2, 3, 4]]"), "is out of range"),
        (Reply(404, b'{"error":"coin not found"}'), "HTTP 404 Not Found: coin not found"),
        (Reply(200, b"[[1779199200000, 1, 2"), "malformed or truncated JSON"),
    ],
)
async def test_bad_ohlc_is_provider_error(
    provider: CoinGeckoProvider, stub: StubCoinGecko, reply: Reply, fragment: str
) -> None:
    stub.fail(OHLC, reply)
    with pytest.raises(ProviderError) as caught:
        await provider.fetch_candles("BTC", "30m", QUOTE_TIME - timedelta(hours=1))
    _assert_readable(caught.value, OHLC, fragment)


@pytest.mark.anyio
async def test_ohlc_rate_limited(provider: CoinGeckoProvider, stub: StubCoinGecko) -> None:
    stub.fail(OHLC, Reply(429, _fixture("error_429_body"), headers={"Retry-After": "7"}))
    with pytest.raises(RateLimited) as caught:
        await provider.fetch_candles("BTC", "4h", QUOTE_TIME - timedelta(days=1))
    assert caught.value.retry_after == 7


@pytest.mark.anyio
async def test_set_coins(provider: CoinGeckoProvider, clock: Clock) -> None:
    clock.now = datetime(2026, 5, 19, 14, 31, tzinfo=UTC)
    since = clock.now - timedelta(hours=2)
    provider.set_coins([TrackedCoin(symbol="XBT", coingecko_id="bitcoin", name="Bitcoin")])
    assert len(await provider.fetch_candles("XBT", "30m", since)) == 2
    with pytest.raises(ProviderError, match="no CoinGecko id known for symbol 'BTC'"):
        await provider.fetch_candles("BTC", "30m", since)
    provider.set_coins({"BTC": "bitcoin"})
    assert len(await provider.fetch_candles("BTC", "30m", since.replace(tzinfo=None))) == 2


# -- Backoff --------------------------------------------------------------------------------


def test_backoff_grows_and_is_capped() -> None:
    backoff = Backoff(base=1, factor=2, cap=10, rand=lambda: 0.0)
    assert [backoff.next_delay() for _ in range(7)] == [1, 2, 4, 8, 10, 10, 10]
    assert backoff.failures == 7


def test_backoff_jitter_stays_in_bounds() -> None:
    low = Backoff(base=2, cap=100, jitter=0.5, rand=lambda: 0.999999)
    assert low.next_delay() == pytest.approx(1.000001)
    rng = random.Random(42)
    backoff = Backoff(base=1, factor=2, cap=30, jitter=0.5, rand=rng.random)
    for n in range(200):
        ceiling = min(30, 2**n)
        assert ceiling * 0.5 < backoff.next_delay() <= ceiling


def test_backoff_honours_retry_after() -> None:
    backoff = Backoff(base=1, factor=2, cap=10, rand=lambda: 0.0)
    assert backoff.next_delay(RateLimited("429", retry_after=7)) == 7  # above computed 1
    assert backoff.next_delay(RateLimited("429", retry_after=0.5)) == 2  # computed wins
    assert backoff.next_delay(RateLimited("429", retry_after=119)) == 119  # above the cap
    assert backoff.next_delay(ProviderError("500")) == 8


def test_backoff_resets_after_success() -> None:
    backoff = Backoff(base=1, factor=3, cap=100, rand=lambda: 0.0)
    assert [backoff.next_delay() for _ in range(3)] == [1, 3, 9]
    backoff.reset()
    assert backoff.failures == 0
    assert backoff.next_delay() == 1


def test_backoff_survives_many_failures() -> None:
    backoff = Backoff(base=0.5, factor=10, cap=60, rand=lambda: 0.0)
    delays = [backoff.next_delay() for _ in range(10_000)]
    assert delays[-1] == 60


@pytest.mark.parametrize(
    "make",
    [
        lambda: Backoff(base=0),
        lambda: Backoff(factor=0.5),
        lambda: Backoff(base=10, cap=5),
        lambda: Backoff(jitter=1.5),
        lambda: Backoff(jitter=-0.1),
    ],
)
def test_backoff_rejects_nonsense(make: Callable[[], Backoff]) -> None:
    with pytest.raises(ValueError, match="must be"):
        make()
