"""Headless Chromium for the browser tests, driven by Playwright: Playwright's own build
when it is installed (``playwright install chromium``, where its download host is
reachable), else the distribution's ``chromium`` (Debian's package); ``make chromium``
gets one of them and says which. ``CRYPTOTRADER_CHROMIUM`` names another.

    python -m tests.browser   # exit 0 (and say so) when Playwright's own build is installed
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def playwright_build(playwright: Playwright | None = None) -> str | None:
    """Playwright's own Chromium, if it is installed (asked of ``playwright`` when one is
    running: a second sync_playwright() inside the first is refused)."""
    if playwright is None:
        with sync_playwright() as p:
            return playwright_build(p)
    path = playwright.chromium.executable_path
    return path if Path(path).is_file() else None


def chromium_path(playwright: Playwright) -> str:
    """The browser the tests launch."""
    named = os.environ.get("CRYPTOTRADER_CHROMIUM")
    found = named or playwright_build(playwright) or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).is_file():
        pytest.fail(
            "a Chromium is needed for the browser tests and none is installed: `make chromium`"
            " gets Playwright's (or Debian's: `apt-get install -y chromium`)."
        )
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A headless Chromium for one test module (import this fixture where it is used)."""
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_path(p), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


if __name__ == "__main__":
    build = playwright_build()
    if build:
        print(f"browser tests: Playwright's Chromium ({build})")
    sys.exit(0 if build else 1)
