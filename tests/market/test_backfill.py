"""Backfill through ccxt against a stub exchange speaking Binance's klines wire format."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from cryptotrader.market.backfill import backfill
from cryptotrader.market.exchange import CcxtCandleProvider
from cryptotrader.market.schemas import ProviderError
from tests.support import TestDatabase

pytestmark = pytest.mark.anyio

START = datetime(2020, 12, 1, tzinfo=UTC)
HOUR_MS = 3_600_000
# the first rows of the real BTC/USDT 1h file, as Binance sends them (strings)
ROWS = [
    ["19695.87", "19720.00", "19479.80", "19565.47", "4570.36151800"],
    ["19565.47", "19639.99", "19433.15", "19605.75", "2702.45923500"],
    ["19605.75", "19704.93", "19548.57", "19680.95", "2408.22997800"],
    ["19680.95", "19786.26", "19554.82", "19642.34", "2606.28425700"],
    ["19642.34", "19873.41", "19626.00", "19828.90", "3189.63427400"],
]


class StubBinance:
    def __init__(self) -> None:
        self.requests: list[dict[str, list[str]]] = []
        self.fail = False
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                stub.requests.append(query)
                if stub.fail or url.path != "/api/v3/klines":
                    self.send_response(500 if stub.fail else 404)
                    self.end_headers()
                    self.wfile.write(b'{"code":-1000,"msg":"internal error"}')
                    return
                start = int(query["startTime"][0])
                limit = int(query.get("limit", ["500"])[0])
                first = (start - int(START.timestamp() * 1000) + HOUR_MS - 1) // HOUR_MS
                klines = [
                    [
                        int(START.timestamp() * 1000) + i * HOUR_MS,
                        *ROWS[i],
                        int(START.timestamp() * 1000) + (i + 1) * HOUR_MS - 1,
                        "0",
                        100,
                        "0",
                        "0",
                        "0",
                    ]
                    for i in range(max(first, 0), len(ROWS))
                ][: min(limit, 2)]  # two per page: paging must work
                body = json.dumps(klines).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/v3"

    def prepare(self, exchange: Any) -> None:
        exchange.urls["api"]["public"] = self.base
        exchange.set_markets(
            [
                {
                    "id": "BTCUSDT",
                    "symbol": "BTC/USDT",
                    "base": "BTC",
                    "quote": "USDT",
                    "baseId": "BTC",
                    "quoteId": "USDT",
                    "type": "spot",
                    "spot": True,
                    "active": True,
                    "precision": {},
                    "limits": {},
                    "info": {},
                }
            ]
        )


@pytest.fixture
def binance() -> Iterator[StubBinance]:
    stub = StubBinance()
    stub.thread.start()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


async def test_backfill_pages_through_klines_and_stores_exact_values(
    db: TestDatabase, binance: StubBinance
) -> None:
    provider = CcxtCandleProvider(prepare=binance.prepare)
    report = await backfill(
        provider, db.app_conninfo, "BTC", "1h", START, START + timedelta(hours=5)
    )
    assert report.rows_written == 5
    assert len(binance.requests) >= 3  # two bars a page
    with db.owner() as conn:
        stored = conn.execute(
            "SELECT open, high, low, close, volume, source FROM market_candles"
            " WHERE symbol = 'BTC' AND timeframe = '1h' ORDER BY open_time"
        ).fetchall()
    assert [[r["open"], r["high"], r["low"], r["close"], r["volume"]] for r in stored] == [
        [Decimal(v) for v in row] for row in ROWS
    ]
    assert {r["source"] for r in stored} == {"ccxt"}
    again = await backfill(
        provider, db.app_conninfo, "BTC", "1h", START, START + timedelta(hours=5)
    )
    assert again.rows_written == 0


async def test_exchange_errors_are_provider_errors(db: TestDatabase, binance: StubBinance) -> None:
    binance.fail = True
    provider = CcxtCandleProvider(prepare=binance.prepare)
    with pytest.raises(ProviderError, match="binance fetch_ohlcv BTC/USDT"):
        await backfill(provider, db.app_conninfo, "BTC", "1h", START, START + timedelta(hours=5))
