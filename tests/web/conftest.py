"""The dashboard served by uvicorn (with its workers: the simulated market feed and the
backtest runner) on a loopback port, and a headless Chromium that fails a test on any
console error."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page
from pydantic import SecretStr

from cryptotrader.api.app import create_app
from cryptotrader.config import Settings
from cryptotrader.market.candle_import import import_candles_csv
from tests.serve import serving
from tests.support import TestDatabase
from tests.support_targets import target_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ohlcv"
SECRET = "web-test-secret-for-loopback-only-0123456789"
TIMEOUT_MS = 20_000


@dataclass
class Site:
    url: str
    db: TestDatabase


@pytest.fixture
def site(db: TestDatabase) -> Iterator[Site]:
    import_candles_csv(db.app_conninfo, FIXTURES / "BTC-USDT_1h.csv.gz", "BTC", "1h")
    settings = Settings(
        jwt_secret=SecretStr(SECRET),
        run_workers=True,
        market_provider="simulated",
        market_interval=0.5,
        pool_max_size=8,
    )
    with serving(create_app(settings, target_for(db))) as url:
        yield Site(url, db)


@dataclass
class Console:
    """What the pages of one browser context printed as errors (a test asserts none).

    Chromium logs every 4xx answer to a script's request as a console error ("Failed to
    load resource"); a test that provokes one on purpose (a refused order) says so first
    with :meth:`allow`, and only that one answer is let through."""

    errors: list[str] = field(default_factory=list)
    allowed: list[tuple[int, str]] = field(default_factory=list)

    def allow(self, status: int, path: str) -> None:
        self.allowed.append((status, path))

    def watch(self, page: Page) -> Page:
        page.on("console", self._message)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.set_default_timeout(TIMEOUT_MS)
        return page

    def _message(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = str(message.location.get("url"))
        for status, path in self.allowed:
            if f"status of {status} " in message.text and path in url:
                self.allowed.remove((status, path))
                return
        self.errors.append(f"{message.text} ({url})")


@dataclass
class Visitor:
    """One person's browser: its own cookies, its pages watched for console errors."""

    context: BrowserContext
    console: Console
    base: str

    def page(self) -> Page:
        return self.console.watch(self.context.new_page())


@pytest.fixture
def visitors(browser: Browser, site: Site) -> Iterator[list[Visitor]]:
    """Browser contexts made on demand (``new_visitor``); closed, and their consoles
    checked, at the end."""
    made: list[Visitor] = []
    yield made
    errors = [e for v in made for e in v.console.errors]
    for v in made:
        v.context.close()
    assert errors == [], "console errors in the browser:\n" + "\n".join(errors)


def new_visitor(browser: Browser, site: Site, made: list[Visitor], width: int = 1280) -> Visitor:
    context = browser.new_context(
        base_url=site.url, viewport={"width": width, "height": 900}, timezone_id="Australia/Sydney"
    )
    visitor = Visitor(context, Console(), site.url)
    made.append(visitor)
    return visitor
