"""/docs and /redoc render in a real browser with the network off: their scripts, styles
and icons come from the app's own /static (the vendored Swagger UI and ReDoc), not a CDN.

Headless Debian chromium, driven by Playwright, against the app served by uvicorn on a
loopback port. Every request of the page to a host other than 127.0.0.1 is aborted and
recorded; the test asserts that none was attempted and that the pages rendered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route

TIMEOUT_MS = 60_000  # only to catch a page that never renders
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


class Offline:
    """A browser context whose requests leave the machine's loopback never."""

    def __init__(self, browser: Browser) -> None:
        self.context: BrowserContext = browser.new_context()
        self.blocked: list[str] = []
        self.served: list[str] = []
        self.context.route("**/*", self._route)

    def _route(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            self.served.append(url)
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


@pytest.fixture
def offline(browser: Browser) -> Iterator[Offline]:
    page_network = Offline(browser)
    yield page_network
    page_network.context.close()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    paths: dict[str, dict[str, Any]] = spec["paths"]
    return [
        (method, path, op)
        for path, item in paths.items()
        for method, op in item.items()
        if method in METHODS
    ]


OPS_JS = """Array.from(document.querySelectorAll('.opblock'), e => [
  e.id,
  e.querySelector('[data-path]')?.getAttribute('data-path') || '',
  e.querySelector('.opblock-summary-description')?.innerText || ''])"""


def rendered_operations(page: Page, expected: int) -> dict[str, tuple[str, str]]:
    """The operations Swagger UI drew (id: path, summary), scrolling down the page: past 130
    or so it renders only the ones near the viewport, so they are collected as they appear."""
    page.wait_for_selector(".opblock", timeout=TIMEOUT_MS)
    seen: dict[str, tuple[str, str]] = {}
    for _ in range(400):
        seen.update({op_id: (path, summary) for op_id, path, summary in page.evaluate(OPS_JS)})
        at_bottom = page.evaluate(
            "window.scrollY + window.innerHeight >= document.body.scrollHeight - 2"
        )
        if len(seen) >= expected or at_bottom:
            break
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(50)
    return seen


def test_swagger_ui_renders_every_operation_offline(live_url: str, offline: Offline) -> None:
    spec = httpx2.get(f"{live_url}/openapi.json", timeout=TIMEOUT_MS / 1000).json()
    ops = operations(spec)
    # Swagger UI shows an operation once under each of its tags
    expected = sum(max(1, len(op.get("tags") or [])) for _, _, op in ops)
    assert expected > 20

    page = offline.context.new_page()
    page.goto(f"{live_url}/docs", timeout=TIMEOUT_MS)
    assert offline.blocked == [], "the page asked for files from other hosts"
    drawn = rendered_operations(page, expected)
    assert len(drawn) == expected
    summary = spec["paths"]["/health"]["get"]["summary"]
    assert ("/health", summary) in drawn.values()

    assert offline.blocked == []
    assert f"{live_url}/static/vendor/swagger-ui/swagger-ui-bundle.js" in offline.served
    assert f"{live_url}/static/vendor/swagger-ui/swagger-ui.css" in offline.served


def test_redoc_renders_offline(live_url: str, offline: Offline) -> None:
    spec = httpx2.get(f"{live_url}/openapi.json", timeout=TIMEOUT_MS / 1000).json()
    summary = spec["paths"]["/api/v1/orders"]["post"]["summary"]

    page = offline.context.new_page()
    page.goto(f"{live_url}/redoc", timeout=TIMEOUT_MS)
    assert offline.blocked == [], "the page asked for files from other hosts"
    heading = page.locator("h2", has_text=summary).first
    heading.wait_for(state="visible", timeout=TIMEOUT_MS)
    assert page.locator("h1").first.inner_text().startswith(spec["info"]["title"])

    assert offline.blocked == []
    assert f"{live_url}/static/vendor/redoc/redoc.standalone.js" in offline.served
