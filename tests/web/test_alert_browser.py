"""Issue 16's browser test: an alert made by clicking the market chart fires when the price
crosses it, and the bell and the notifications page show it without a reload. The served
app runs its workers (the simulated feed and the alert worker); the test moves the price
across the level itself, through the feed's own path (market/cache.py store_quotes)."""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from playwright.sync_api import Browser, Page, expect

from cryptotrader.db.session import service_connection
from cryptotrader.market import cache
from cryptotrader.market.schemas import Quote
from tests.notifications.helpers import notify
from tests.web.conftest import Site, Visitor, new_visitor
from tests.web.test_browser import shoot, sign_up

# where the chart is clicked: this many pixels above the last price's level
ABOVE_PX = 30


def store_prices(conninfo: str, symbol: str, prices: list[Decimal]) -> None:
    """Each price as one refresh of the feed (one transaction each), in a thread of its
    own: the test's thread is Playwright's."""

    async def play() -> None:
        async with service_connection(conninfo) as conn:
            for value in prices:
                quote = Quote(symbol=symbol, price_usd=value, price_aud=value,
                              exchange="test", last_updated=datetime.now(UTC))  # fmt: skip
                async with conn.transaction():
                    await cache.store_quotes(conn, [quote])

    failed: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(play())
        except BaseException as exc:  # re-raised in the test thread
            failed.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(20)
    assert not failed, failed


def click_above_the_price(page: Page) -> dict[str, Any]:
    """Click the chart a little above the last price's level; where, and that price."""
    spot: dict[str, Any] = page.evaluate(
        """(above) => {
             const el = document.getElementById('candles');
             const series = window.ctCharts.get(el).series.main;
             const last = Number(document.getElementById('chart-alert').dataset.lastPrice);
             const y = series.priceToCoordinate(last);
             const box = el.getBoundingClientRect();
             return {x: box.left + box.width / 2, y: box.top + Math.max(4, y - above), last, at: y};
           }""",
        ABOVE_PX,
    )
    assert spot["at"] is not None and spot["at"] > 0, f"the last price is off the chart: {spot}"
    page.mouse.click(spot["x"], spot["y"])
    return spot


def bell_count(page: Page) -> int:
    return int(page.locator("#bell [data-unread]").get_attribute("data-unread") or "-1")


def test_an_alert_made_on_the_chart_fires_and_the_bell_shows_it_live(
    browser: Browser, site: Site, visitors: list[Visitor]
) -> None:
    page = new_visitor(browser, site, visitors).page()
    sign_up(page, f"dana-{uuid.uuid4().hex[:8]}@example.test")
    # the 1-minute bars are the feed's live ones: the chart's range holds the last price
    page.goto("/markets/BTC?timeframe=1m")
    expect(page.locator("#candles[data-alert-lines='0']")).to_be_attached()
    expect(page.locator("#stream-status[data-state='live']")).to_be_attached()
    before = bell_count(page)
    # the first live price is in (the chart's last bar and the form's last price follow it)
    initial = page.locator("#chart-alert").get_attribute("data-last-price")
    page.wait_for_function(
        "(v) => document.getElementById('chart-alert').dataset.lastPrice !== v", arg=initial
    )
    page.evaluate("window.__sameDocument = true")

    spot = click_above_the_price(page)
    form = page.locator("#chart-alert")
    expect(form).to_be_visible()
    expect(form.get_by_label("Condition")).to_have_value("crosses_above")
    level = Decimal(form.get_by_label("Alert price (USD)").input_value())
    assert level > Decimal(str(spot["last"])), (level, spot)
    form.get_by_role("button", name="Create alert").click()
    expect(page.locator("#chart-alert-result")).to_contain_text("crosses above")
    expect(form).to_be_hidden()
    expect(page.locator("#candles")).to_have_attribute("data-alert-lines", "1")
    shoot(page, "market-alert.png")

    # the price goes from under the level to over it: a fresh cross, fired by the worker
    store_prices(site.db.app_conninfo, "BTC", [level * Decimal("0.995"), level * Decimal("1.005")])
    expect(page.locator("#bell [data-unread]")).to_have_attribute(
        "data-unread", str(before + 1), timeout=10_000
    )
    assert page.evaluate("window.__sameDocument") is True
    # the once-alert is done: its line goes
    expect(page.locator("#candles")).to_have_attribute("data-alert-lines", "0")

    # the notifications page lists it; marked read, the bell goes back
    page.locator("#bell").click()
    item = page.locator("li.notification[data-type='alert.triggered']")
    expect(item).to_have_count(1)
    expect(item).to_have_class(re.compile("unread"))
    shoot(page, "notifications.png")
    item.get_by_role("button", name="Mark read").click()
    expect(item).to_have_attribute("data-read", "true")
    expect(page.locator("#bell [data-unread]")).to_have_attribute("data-unread", str(before))

    # a notification arriving meanwhile appears at the top of the list, without a reload
    page.evaluate("window.__sameDocument = true")
    with site.db.owner() as conn:
        row: Any = conn.execute(
            "SELECT account_id, user_id FROM account_notifications WHERE id = %s",
            [item.get_attribute("data-notification-id")],
        ).fetchone()
        fresh = notify(conn, row["account_id"], row["user_id"], notification_type="order.filled")
    first = page.locator("li.notification").first
    expect(first).to_have_attribute("data-notification-id", str(fresh))
    expect(page.locator("#bell [data-unread]")).to_have_attribute("data-unread", str(before + 1))
    assert page.evaluate("window.__sameDocument") is True
