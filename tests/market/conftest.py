"""Market tests talk to stub servers on loopback only: no proxy from the environment may
reroute their traffic."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.market.test_coingecko import StubCoinGecko

PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def live_stub() -> Iterator[StubCoinGecko]:
    """A stub CoinGecko (loopback) serving the fixture's BTC and ETH as if just updated;
    a test may edit ``_simple`` (the /simple/price document) before it asks."""
    server = StubCoinGecko()
    now = int(time.time())
    server.verbatim = False
    for coin in server._simple.values():
        coin["last_updated_at"] = now
    server.start()
    yield server
    server.stop()
