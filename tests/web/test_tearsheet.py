"""The tear sheet on the dashboard: the account page loads it, the period switch swaps it,
the portfolios list and a portfolio's page (members, snapshots, tear sheet), another user's
is the API's 404; and in Chromium the charts are drawn on the account and portfolio pages."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from uuid import UUID

from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from cryptotrader.audit.schemas import SYSTEM
from cryptotrader.backtest.schemas import SessionRequest
from cryptotrader.backtest.tasks import run_now
from cryptotrader.market.candle_import import import_candles_csv
from tests.analytics.tearsheet_rows import (
    DAY,
    curve,
    default_portfolio,
    insert_account_rows,
    insert_portfolio_rows,
    insert_trip,
    midnight,
    owner_of,
)
from tests.support import TestDatabase
from tests.web.conftest import FIXTURES as OHLCV
from tests.web.conftest import Site, Visitor, new_visitor
from tests.web.test_browser import account_url, canvas_drawn, shoot
from tests.web.test_browser import sign_up as sign_up_in_browser
from tests.web.test_pages import app_settings, client, first_account, sign_up

__all__ = ["app_settings", "client"]  # the fixtures, shared with test_pages
TODAY = datetime.now(UTC).date()


def history(db: TestDatabase, account: str | UUID) -> UUID:
    """200 days of the account's (and its default portfolio's) closes and a few round
    trips; returns the portfolio."""
    user = owner_of(db, account)
    first = TODAY - 200 * DAY
    insert_account_rows(db, UUID(str(account)), user, first, curve(200, 10_000, 0.004), 0)
    for offset, pnl in ((-150, 80.0), (-40, -25.0), (-5, 12.5)):
        insert_trip(db, UUID(str(account)), user, 0, midnight(TODAY + offset * DAY), pnl)
    portfolio = default_portfolio(db, user)
    insert_portfolio_rows(db, portfolio, user, first, curve(200, 10_000, 0.003))
    with db.owner() as conn:
        conn.execute(
            "INSERT INTO portfolio_snapshots (user_id, portfolio_id, snapshot_date, total_value,"
            " pnl_daily, pnl_percentage) VALUES (%s, %s, %s, 30123.45, 120.5, 0.4016)",
            [user, portfolio, TODAY - DAY],
        )
    return portfolio


def test_the_account_page_loads_the_tear_sheet(client: TestClient, db: TestDatabase) -> None:
    sign_up(client)
    account = first_account(client)
    history(db, account)
    page = client.get(f"/accounts/{account}")
    assert page.status_code == 200
    assert f'hx-get="/accounts/{account}/tearsheet"' in page.text
    assert 'href="/portfolios"' in page.text  # the nav
    sheet = client.get(f"/accounts/{account}/tearsheet", params={"period": "90d"})
    assert sheet.status_code == 200, sheet.text[:500]
    text = sheet.text
    assert 'id="tearsheet"' in text and 'data-period="90d"' in text
    assert re.search(r'data-period-choice="90d"[^>]*>|aria-pressed="true" data-period-choice', text)
    for window in ("MTD", "3M", "YTD", "1Y", "All"):
        assert f'data-window="{window}" data-key="sharpe_ratio"' in text
    assert 'id="tearsheet-drawdowns"' in text and 'data-chart="heatmap"' in text
    bad = client.get(f"/accounts/{account}/tearsheet", params={"period": "2w"})
    assert bad.status_code == 422


def test_figures_too_large_to_group_are_shown_short(client: TestClient, db: TestDatabase) -> None:
    """Ten times the money in two days annualises to about 1e200: shown, not an error."""
    sign_up(client)
    account = first_account(client)
    insert_account_rows(
        db, UUID(account), owner_of(db, account), TODAY - 2 * DAY, [50_000.0, 100_000.0], 0
    )
    sheet = client.get(f"/accounts/{account}/tearsheet")
    assert sheet.status_code == 200
    assert re.search(r'data-key="annual_return">\+[0-9.]+e\+[0-9]+%<', sheet.text)


def test_portfolio_pages(client: TestClient, db: TestDatabase) -> None:
    sign_up(client)
    account = first_account(client)
    portfolio = history(db, account)
    listed = client.get("/portfolios")
    assert listed.status_code == 200 and f'href="/portfolios/{portfolio}"' in listed.text
    page = client.get(f"/portfolios/{portfolio}")
    assert page.status_code == 200, page.text[:500]
    text = page.text
    assert f'href="/accounts/{account}"' in text  # a member
    assert 'id="snapshots"' in text and (TODAY - DAY).isoformat() in text
    assert "$30,123.45" in text
    assert 'data-tearsheet="portfolio"' in text and 'id="tearsheet-stats"' in text
    assert f'hx-get="/portfolios/{portfolio}/tearsheet?period=1y"' in text
    short = client.get(f"/portfolios/{portfolio}", params={"period": "30d"})
    assert 'data-period="30d"' in short.text


def test_another_users_tear_sheets_are_404(client: TestClient, db: TestDatabase) -> None:
    sign_up(client)
    account = first_account(client)
    portfolio = history(db, account)
    client.cookies.clear()
    sign_up(client)  # someone else
    for path in (
        f"/accounts/{account}/tearsheet",
        f"/portfolios/{portfolio}",
        f"/portfolios/{portfolio}/tearsheet",
        f"/backtests/{uuid.uuid4()}/tearsheet",
    ):
        answer = client.get(path)
        assert answer.status_code == 404, path
    assert 'data-error-code="portfolio_not_found"' in client.get(f"/portfolios/{portfolio}").text


def test_a_backtests_page_loads_its_tear_sheet(client: TestClient, db: TestDatabase) -> None:
    email = sign_up(client)
    import_candles_csv(db.app_conninfo, OHLCV / "BTC-USDT_1h.csv.gz", "BTC", "1h")
    with db.owner() as conn:
        row = conn.execute("SELECT id FROM auth.users WHERE email = %s", [email]).fetchone()
    assert row is not None
    request = SessionRequest.model_validate(
        {
            "symbol": "BTC",
            "timeframe": "1h",
            "strategy": "sma_crossover",
            "parameters": {"fast": 5, "slow": 20},
            "start": "2021-01-01T00:00:00Z",
            "end": "2021-01-21T00:00:00Z",
        }
    )
    session, _ = asyncio.run(run_now(db.app_conninfo, SYSTEM, row["id"], request, processes=1))
    page = client.get(f"/backtests/{session['id']}")
    assert f'hx-get="/backtests/{session["id"]}/tearsheet"' in page.text
    sheet = client.get(f"/backtests/{session['id']}/tearsheet", params={"period": "30d"})
    assert sheet.status_code == 200
    assert 'data-tearsheet="backtest"' in sheet.text and 'data-period="30d"' in sheet.text
    assert 'data-window="All" data-key="total_trades">0<' not in sheet.text


# ------------------------------------------------------------------ in the browser


def drawn(page: Page, kind: str) -> None:
    sheet = page.locator(f"#tearsheet[data-tearsheet='{kind}']")
    expect(sheet).to_be_visible()
    page.wait_for_function("() => document.querySelectorAll('#tearsheet-equity canvas').length")
    page.wait_for_function(
        "() => /against a benchmark/.test("
        "document.querySelector('#tearsheet-equity').getAttribute('aria-label') || '')"
    )
    assert canvas_drawn(page, "#tearsheet-equity")
    expect(page.locator("#tearsheet-monthly table.heatmap td[data-value]").first).to_be_visible()
    expect(page.locator("#tearsheet-stats")).to_contain_text("Sharpe")
    expect(page.locator("#tearsheet-drawdowns tbody tr").first).to_be_visible()


def test_the_tear_sheet_is_drawn_on_the_account_and_portfolio_pages(
    browser: Browser, site: Site, visitors: list[Visitor]
) -> None:
    page = new_visitor(browser, site, visitors).page()
    sign_up_in_browser(page, f"dora-{uuid.uuid4().hex[:8]}@example.test")
    url = account_url(page)
    history(site.db, url.removeprefix("/accounts/"))
    page.goto(url)
    drawn(page, "account")
    page.locator("#tearsheet").scroll_into_view_if_needed()
    shoot(page, "tearsheet-account.png")
    ninety = page.locator("#tearsheet [data-period-choice='90d']")
    ninety.click()
    expect(page.locator("#tearsheet")).to_have_attribute("data-period", "90d")
    expect(page.locator("#tearsheet [data-period-choice='90d']")).to_have_attribute(
        "aria-pressed", "true"
    )
    drawn(page, "account")

    page.get_by_role("link", name="Portfolios").click()
    expect(page).to_have_url(re.compile(r"/portfolios$"))
    page.locator("#portfolios tbody a").first.click()
    expect(page.locator("#members")).to_be_visible()
    drawn(page, "portfolio")
    expect(page.locator("#snapshots tbody tr").first).to_be_visible()
    page.locator("#tearsheet").scroll_into_view_if_needed()
    shoot(page, "tearsheet-portfolio.png")
    page.locator("#tearsheet [data-period-choice='30d']").click()
    expect(page.locator("#tearsheet")).to_have_attribute("data-period", "30d")
    drawn(page, "portfolio")
