"""The dashboard in a real headless Chromium: a trader's whole first session, and the walls
between users. Every test fails on any console error (conftest.py)."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import Site, Visitor, new_visitor

PASSWORD = "correct-horse-42"
SCREENSHOTS = os.environ.get("CRYPTOTRADER_SCREENSHOTS")  # a directory: write the README's


def sign_up(page: Page, email: str) -> None:
    page.goto("/signup")
    page.get_by_label("Display name").fill("Alice")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="Your accounts")).to_be_visible()


def sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/$"))


def ticket(page: Page, *, amount: str, order_type: str = "market", limit: str = "") -> None:
    form = page.locator("#order-ticket")
    form.get_by_label("Symbol").select_option("BTC")
    form.get_by_label("Order type").select_option(order_type)
    if limit:
        form.get_by_label("Limit price (USD)").fill(limit)
    form.get_by_label("Quantity").fill(amount)


def canvas_drawn(page: Page, selector: str) -> bool:
    """Whether a chart's canvases hold any non-transparent pixel."""
    return bool(
        page.eval_on_selector(
            selector,
            """el => [...el.querySelectorAll('canvas')].some(c => {
                 const ctx = c.getContext('2d'); if (!ctx || !c.width || !c.height) return false;
                 const d = ctx.getImageData(0, 0, c.width, c.height).data;
                 for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
                 return false; })""",
        )
    )


def shoot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=False)


def test_a_traders_first_session(browser: Browser, site: Site, visitors: list[Visitor]) -> None:
    alice = new_visitor(browser, site, visitors)
    page = alice.page()
    email = f"alice-{uuid.uuid4().hex[:8]}@example.test"
    sign_up(page, email)

    # an account from a template, with a small balance of its own
    page.locator("[data-template='Aggressive'] input").check()
    page.get_by_label("Name").fill("Momentum")
    page.get_by_label("Initial balance (USD)").fill("5000")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name=re.compile("Momentum"))).to_be_visible()
    page.evaluate("window.__sameDocument = true")

    # a market order: the preview first, then the fill and the position, without a reload
    ticket(page, amount="0.01")
    expect(page.locator("[data-preview-status='completed']")).to_be_visible()
    expect(page.locator("[data-preview-fee]")).to_have_text(re.compile(r"\$\d"))
    page.locator("#order-ticket").get_by_role("button", name="Place order").click()
    expect(page.locator("[data-order-status='completed']")).to_contain_text("Bought 0.01 BTC")
    expect(page.locator("#positions tr[data-symbol='BTC'] [data-quantity]")).to_have_text("0.01")
    expect(page.locator("#trades-table tbody tr")).to_have_count(1)
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator("#account-equity canvas").first).to_be_attached()  # fetched after
    shoot(page, "account.png")

    # a resting limit order, then its cancellation
    ticket(page, amount="0.01", order_type="limit", limit="1000")
    page.locator("#order-ticket").get_by_role("button", name="Place order").click()
    expect(page.locator("#open-orders tbody tr")).to_have_count(1)
    page.locator("#open-orders").get_by_role("button", name=re.compile("Cancel")).click()
    expect(page.locator("#no-open-orders")).to_be_visible()

    # a refusal, shown at the quantity with the engine's code
    ticket(page, amount="0.2")
    expect(page.locator("[data-preview-refusal='insufficient_funds']")).to_be_visible()
    alice.console.allow(409, "/orders")  # the refusal's answer, which Chromium logs
    page.locator("#order-ticket").get_by_role("button", name="Place order").click()
    amount_error = page.locator("#order-ticket [data-error-for='amount']")
    expect(amount_error).to_contain_text("Not enough cash")
    expect(page.locator("#order-ticket [name='amount']")).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("window.__sameDocument") is True

    # a backtest: queued, run by the workers, its equity chart drawn
    page.goto("/backtests")
    form = page.locator("#backtest-form")
    form.get_by_label("Strategy", exact=True).select_option("sma_crossover")
    form.get_by_label("Symbol").select_option("BTC")
    form.get_by_role("button", name="Run backtest").click()
    expect(page.locator("[data-backtest-status='completed']")).to_be_visible(timeout=60_000)
    expect(page.locator("#backtest-equity canvas").first).to_be_visible()
    page.wait_for_function("() => document.querySelectorAll('#backtest-equity canvas').length > 0")
    assert canvas_drawn(page, "#backtest-equity")

    # AUD, then the overview in it
    page.goto("/settings")
    page.locator("#settings-form label", has_text="AUD").click()
    with page.expect_navigation():  # saved, then the page again (htmx's HX-Redirect)
        page.locator("#settings-form").get_by_role("button", name="Save settings").click()
    expect(page.locator("#settings-form input[value='AUD']")).to_be_checked()
    page.goto("/")
    expect(page.locator("[data-currency='AUD']")).to_be_visible()
    expect(page.locator("#accounts")).to_contain_text("A$")
    shoot(page, "overview.png")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/"))


def account_url(page: Page) -> str:
    page.goto("/")
    href = page.locator("#accounts tbody tr a").first.get_attribute("href")
    assert href and href.startswith("/accounts/")
    return href


def test_walls_between_users_and_the_admin(
    browser: Browser, site: Site, visitors: list[Visitor]
) -> None:
    alice = new_visitor(browser, site, visitors)
    owner = alice.page()
    alice_email = f"alice-{uuid.uuid4().hex[:8]}@example.test"
    sign_up(owner, alice_email)
    url = account_url(owner)

    # another user opening Alice's account gets the API's 404; an admin page is a 404 too
    bob = new_visitor(browser, site, visitors, width=375)  # and a phone-sized screen
    intruder = bob.page()
    sign_up(intruder, f"bob-{uuid.uuid4().hex[:8]}@example.test")
    bob.console.allow(404, url)
    answer = intruder.goto(url)
    assert answer is not None and answer.status == 404
    expect(intruder.locator("[data-error-code='account_not_found']")).to_be_visible()
    bob.console.allow(404, "/admin")
    answer = intruder.goto("/admin")
    assert answer is not None and answer.status == 404
    expect(intruder.locator("[data-error-code='not_found']")).to_be_visible()
    assert intruder.get_by_role("link", name="Admin").count() == 0

    # at 375 px the overview has no horizontal scroll of the page itself
    intruder.goto("/")
    width = intruder.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the overview is {width} px wide at 375"

    # a form posted without its CSRF token is refused, and nothing is written
    bob.console.allow(403, "/accounts")
    status = intruder.evaluate(
        """async () => (await fetch('/accounts', {method: 'POST',
             headers: {'Content-Type': 'application/x-www-form-urlencoded'},
             body: 'account_name=Forged'})).status"""
    )
    assert status == 403
    expect(intruder.locator("#accounts")).not_to_contain_text("Forged")

    # an admin suspends Alice's account: her next order is refused with the engine's code
    root = new_visitor(browser, site, visitors)
    admin_page = root.page()
    admin_email = f"root-{uuid.uuid4().hex[:8]}@example.test"
    sign_up(admin_page, admin_email)
    with site.db.owner() as conn:
        conn.execute(
            'UPDATE auth.users SET raw_app_meta_data = raw_app_meta_data || \'{"role": "admin"}\''
            " WHERE email = %s",
            [admin_email],
        )
    admin_page.get_by_role("button", name="Log out").click()
    sign_in(admin_page, admin_email)
    admin_page.get_by_role("link", name="Admin").click()
    expect(admin_page.get_by_role("heading", name="Administration")).to_be_visible()
    account_id = url.rsplit("/", 1)[-1]
    row = admin_page.locator(f"#admin-accounts tr[data-account-id='{account_id}']")
    row.get_by_label(re.compile("Suspension reason")).fill("chargeback investigation")
    with admin_page.expect_navigation():
        row.get_by_role("button", name="Suspend").click()
    expect(row.locator(".status")).to_have_text("suspended")

    owner.goto(url)
    expect(owner.locator("[data-account-status]")).to_have_text("suspended")
    ticket(owner, amount="0.001")
    alice.console.allow(409, "/orders")
    owner.locator("#order-ticket").get_by_role("button", name="Place order").click()
    expect(owner.locator("#order-ticket [data-error-for='_form']")).to_contain_text("not active")
    with site.db.owner() as conn:
        audited = conn.execute(
            "SELECT count(*) AS n FROM audit_logs WHERE action = 'admin.account_suspended'"
            " AND resource_id = %s",
            [account_id],
        ).fetchone()
    assert audited is not None and audited["n"] == 1


def test_markets_chart_timeframes_and_the_ticket_there(
    browser: Browser, site: Site, visitors: list[Visitor]
) -> None:
    page = new_visitor(browser, site, visitors, width=375).page()
    sign_up(page, f"carol-{uuid.uuid4().hex[:8]}@example.test")
    page.get_by_role("link", name="Markets").click()
    expect(page.locator("#prices tr[data-symbol='BTC']")).to_be_visible()
    page.locator("#prices").get_by_role("link", name="BTC", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("^BTC"))).to_be_visible()
    page.wait_for_function("() => document.querySelectorAll('#candles canvas').length > 0")
    assert canvas_drawn(page, "#candles")
    four = page.locator("[data-chart-controls] [data-timeframe='4h']")
    four.click()
    expect(four).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#candles")).to_have_attribute("data-url", re.compile("timeframe=4h"))
    # the ticket here picks the account; the fill lands as on the account page
    form = page.locator("#order-ticket")
    form.get_by_label("Quantity").fill("0.001")
    expect(page.locator("[data-preview-status='completed']")).to_be_visible()
    form.get_by_role("button", name="Place order").click()
    expect(form.locator("[data-order-status='completed']")).to_contain_text("Bought 0.001 BTC")
    page.goto(account_url(page))
    expect(page.locator("#positions tr[data-symbol='BTC'] [data-quantity]")).to_have_text("0.001")
