"""An AI strategy's page: its editor with the saved values, a change saved (and audited),
refusals at their field with nothing written, the preview of the editor's text (unsaved)
rendered on current data with nothing written, the deletion (refused while a bot that is
not stopped runs it), another user's strategy as a missing one; and in Chromium a prompt
edited and previewed."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from tests.support import TestDatabase
from tests.web.conftest import Site, Visitor, new_visitor
from tests.web.test_bots_pages import (
    create_ai_strategy,
    create_bot,
    htmx,
    rule_form,
    step,
)
from tests.web.test_browser import shoot
from tests.web.test_browser import sign_up as sign_up_in_browser
from tests.web.test_pages import (
    app_settings,
    audit_actions,
    client,
    csrf_of,
    first_account,
    sign_up,
)

__all__ = ["app_settings", "client"]  # the fixtures, shared with test_pages
PROMPT = "You trade {symbols} on {timeframe} bars."


def editor(**changes: str) -> dict[str, str]:
    """The strategy page's form as create_ai_strategy's strategy fills it."""
    form = {
        "name": "Momentum",
        "model": "gpt-4o-mini",
        "temperature": "0.2",
        "max_tokens": "800",
        "indicators": "rsi_14, sma_20",
        "prompt": PROMPT,
        "preview_symbols": "BTC, ETH",
        "preview_timeframe": "1h",
        "action": "save",
    }
    return form | changes


def post(client: TestClient, strategy: str, form: dict[str, str], *, plain: bool = False) -> Any:
    path = f"/ai-strategies/{strategy}"
    if plain:
        return client.post(path, data=form | {"csrf_token": csrf_of(client, path)})
    return client.post(path, data=form, headers=htmx(client, path))


def strategy_row(db: TestDatabase, strategy: str) -> dict[str, Any] | None:
    with db.owner() as conn:
        row = conn.execute("SELECT * FROM ai_strategies WHERE id = %s", [strategy]).fetchone()
    return dict(row) if row else None


def textarea(page: str) -> str:
    found = re.search(r'<textarea id="ai-prompt"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, page
    return html.unescape(found.group(1))


def message(page: str, which: str) -> str:
    found = re.search(rf'<pre data-message="{which}">(.*?)</pre>', page, re.S)
    assert found, page
    return html.unescape(found.group(1))


def recent_candles(db: TestDatabase, *symbols: str) -> None:
    """1h bars from 30 hours ago to the next hour: the preview's 20 bars are there
    whatever hour the test runs in."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with db.owner() as conn:
        for symbol in symbols:
            for k in range(-30, 2):
                c = 100 + k
                conn.execute(
                    "INSERT INTO market_candles (symbol, timeframe, open_time, open, high, low,"
                    " close, volume) VALUES (%s, '1h', %s, %s, %s, %s, %s, 1)"
                    " ON CONFLICT DO NOTHING",
                    [symbol, hour + timedelta(hours=k), c, c + 5, c - 5, c],
                )


def test_the_page_shows_the_strategy_in_its_editor(client: TestClient, db: TestDatabase) -> None:
    sign_up(client)
    strategy = create_ai_strategy(client)
    assert f'<a href="/ai-strategies/{strategy}">Momentum</a>' in client.get("/bots").text

    page = client.get(f"/ai-strategies/{strategy}")
    assert page.status_code == 200
    text = page.text
    assert 'href="/bots" aria-current="page"' in text
    assert "<h1>Momentum" in text
    for part in (
        'name="name" required maxlength="100" value="Momentum"',
        'value="gpt-4o-mini"',
        'name="indicators" value="rsi_14, sma_20"',
        'name="temperature" type="number" min="0" max="2" step="0.05" inputmode="decimal"'
        ' value="0.2"',
        'value="800"',
        'name="preview_symbols" list="ai-symbol-list" value="BTC, ETH"',
        "<option selected>1h</option>",
        'name="action" value="save"',
        'name="action" value="preview"',
        'id="ai-strategy-delete"',
        'id="no-preview"',
        "No bot runs it yet.",
    ):
        assert part in text, part
    assert textarea(text) == PROMPT


def test_a_change_is_saved_and_audited(client: TestClient, db: TestDatabase) -> None:
    sign_up(client)
    strategy = create_ai_strategy(client)
    form = editor(
        name="Momentum 2",
        model="deepseek-chat",
        temperature="0.7",
        max_tokens="400",
        indicators="EMA_50, macd",
        prompt="Buy {symbols} strength.\n{context}\nHold when unsure.",
    )
    saved = post(client, strategy, form)
    assert saved.status_code == 204, saved.text
    assert saved.headers["HX-Redirect"] == f"/ai-strategies/{strategy}"
    row = strategy_row(db, strategy)
    assert row is not None
    assert row["name"] == "Momentum 2" and row["model"] == "deepseek-chat"
    assert row["indicators"] == ["ema_50", "macd"]
    assert row["parameters"] == {"temperature": 0.7, "max_tokens": 400}
    assert row["prompt"] == "Buy {symbols} strength.\n{context}\nHold when unsure."
    assert audit_actions(db)[-1] == "ai_strategy.update"
    with db.owner() as conn:
        audit = conn.execute(
            "SELECT resource_id, details FROM audit_logs WHERE action = 'ai_strategy.update'"
        ).fetchone()
    assert audit is not None and audit["resource_id"] == strategy
    assert audit["details"]["name"] == "Momentum 2" and "prompt" not in audit["details"]

    page = client.get(f"/ai-strategies/{strategy}").text
    assert 'value="Momentum 2"' in page and 'value="ema_50, macd"' in page
    assert 'value="0.7"' in page and 'value="400"' in page
    assert textarea(page) == row["prompt"]
    assert "Momentum 2" in client.get("/bots").text

    # without the page's script: a plain post, then the page again
    plain = post(client, strategy, editor(name="Plain"), plain=True)
    assert plain.status_code == 303 and plain.headers["location"] == f"/ai-strategies/{strategy}"
    assert (strategy_row(db, strategy) or {})["name"] == "Plain"


def test_a_refused_change_shows_the_error_at_its_field_and_writes_nothing(
    client: TestClient, db: TestDatabase
) -> None:
    sign_up(client)
    strategy = create_ai_strategy(client)
    before, audited = strategy_row(db, strategy), audit_actions(db)
    for changes, field, code in (
        ({"indicators": "rsi_14, ichimoku"}, "indicators", "unknown_indicator"),
        ({"indicators": "rsi_x"}, "indicators", "unknown_indicator"),
        ({"model": "nope"}, "model", "unknown_model"),
        ({"model": " "}, "model", "validation_error"),
        ({"name": " "}, "name", "validation_error"),
        ({"prompt": ""}, "prompt", "validation_error"),
        ({"temperature": "5"}, "temperature", "validation_error"),
        ({"temperature": "warm"}, "temperature", "validation_error"),
        ({"max_tokens": "8"}, "max_tokens", "validation_error"),
    ):
        answer = post(client, strategy, editor(**({"name": "Changed"} | changes)))
        assert answer.status_code == 422, (changes, answer.text)
        problem = answer.json()
        assert (problem["field"], problem["code"]) == (field, code), (changes, problem)
    assert "ichimoku" in post(client, strategy, editor(indicators="ichimoku")).json()["detail"]

    # a plain post: the page again, the edited text kept, the refusal at its field
    edited = "My edited prompt for {symbols}"
    plain = post(client, strategy, editor(indicators="ichimoku", prompt=edited), plain=True)
    assert plain.status_code == 422
    slot = re.search(r'data-error-for="indicators">([^<]+)<', plain.text)
    assert slot and "ichimoku" in slot.group(1) and "[unknown_indicator]" in slot.group(1)
    field = r'name="indicators" value="ichimoku"[^>]* aria-invalid="true" aria-describedby="err-'
    assert re.search(field + 'indicators"', plain.text)
    assert textarea(plain.text) == edited
    assert strategy_row(db, strategy) == before
    assert audit_actions(db) == audited


def test_the_preview_renders_the_edited_text_and_writes_nothing(
    client: TestClient, db: TestDatabase
) -> None:
    sign_up(client)
    strategy = create_ai_strategy(client)
    recent_candles(db, "BTC", "ETH")
    before, audited = strategy_row(db, strategy), audit_actions(db)
    edited = "EDITED: trade {symbols} on {timeframe} bars, <carefully> & slowly."
    form = editor(action="preview", prompt=edited, indicators="rsi_14, ema_50")

    for answer in (post(client, strategy, form), post(client, strategy, form, plain=True)):
        assert answer.status_code == 200, answer.text
        page = answer.text
        assert textarea(page) == edited  # the editor keeps the unsaved text
        assert 'name="indicators" value="rsi_14, ema_50"' in page
        user = message(page, "user")
        assert user.startswith("EDITED: trade BTC, ETH on 1h bars, <carefully> & slowly.")
        assert '"rsi_14"' in user and '"ema_50"' in user  # the editor's indicators
        assert "\n\nContext:\n" in user  # no {context} in the prompt: after it
        assert "decision step of a paper-trading bot" in message(page, "system")
        assert "data-unsaved" in page and 'id="no-preview"' not in page
        assert re.search(r'data-bars-shown="BTC">20<', page)
        assert re.search(r'data-bars-shown="ETH">20<', page)
        assert re.search(r"data-snapshot-hash>[0-9a-f]{64}<", page)
        bar = re.search(r'data-preview-bar><time datetime="([^"]+)"', page)
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        assert bar and bar.group(1) in {
            (hour - timedelta(hours=h)).isoformat().replace("+00:00", "Z") for h in (0, 1)
        }  # the newest closed bar (the hour may turn during the test)
    assert strategy_row(db, strategy) == before
    assert audit_actions(db) == audited

    # a timeframe with no bars stored (nor finer ones to build them from), a coin without
    # prices, a bad indicator
    daily = post(client, strategy, form | {"preview_timeframe": "15m", "preview_symbols": "BTC"})
    assert daily.status_code == 200 and 'data-bars-shown="BTC">none stored<' in daily.text
    assert "<option selected>15m</option>" in daily.text
    for changes, field, code in (
        ({"preview_symbols": "BTC, NOPE"}, "preview_symbols", "unknown_symbol"),
        ({"preview_symbols": " "}, "preview_symbols", "validation_error"),
        ({"preview_timeframe": "2h"}, "preview_timeframe", "validation_error"),
        ({"indicators": "ichimoku"}, "indicators", "unknown_indicator"),
        ({"prompt": ""}, "prompt", "validation_error"),
    ):
        answer = post(client, strategy, form | changes)
        assert answer.status_code == 422, (changes, answer.text)
        assert (answer.json()["field"], answer.json()["code"]) == (field, code), changes
    plain = post(client, strategy, form | {"preview_symbols": "NOPE"}, plain=True)
    assert plain.status_code == 422 and textarea(plain.text) == edited
    assert re.search(r'data-error-for="preview_symbols">[^<]*NOPE', plain.text)
    assert strategy_row(db, strategy) == before
    assert audit_actions(db) == audited


def test_delete_is_refused_while_a_bot_runs_it(client: TestClient, db: TestDatabase) -> None:
    sign_up(client)
    strategy = create_ai_strategy(client)
    bot = create_bot(
        client,
        rule_form(first_account(client), name="Oracle", strategy="llm", strategy_id=strategy),
    )
    page = client.get(f"/ai-strategies/{strategy}").text
    assert f'<a href="/bots/{bot}">Oracle</a>' in page and 'id="ai-strategy-in-use"' in page
    path = f"/ai-strategies/{strategy}/delete"
    refused = client.post(path, headers=htmx(client, f"/ai-strategies/{strategy}"))
    assert refused.status_code == 409 and refused.json()["code"] == "ai_strategy_in_use"
    token = csrf_of(client, f"/ai-strategies/{strategy}")
    plain = client.post(path, data={"csrf_token": token})
    assert plain.status_code == 409 and 'data-error-code="ai_strategy_in_use"' in plain.text
    assert strategy_row(db, strategy) is not None
    assert "ai_strategy.delete" not in audit_actions(db)

    assert step(client, bot, "stop").status_code == 204
    deleted = client.post(path, headers=htmx(client, f"/ai-strategies/{strategy}"))
    assert deleted.status_code == 204 and deleted.headers["HX-Redirect"] == "/bots"
    assert strategy_row(db, strategy) is None
    assert audit_actions(db)[-1] == "ai_strategy.delete"
    assert client.get(f"/ai-strategies/{strategy}").status_code == 404
    assert "AI strategy (deleted)" in client.get(f"/bots/{bot}").text


def test_another_users_strategy_is_not_found_like_a_missing_one(
    client: TestClient, db: TestDatabase
) -> None:
    sign_up(client)
    strategy = create_ai_strategy(client)
    before = strategy_row(db, strategy)
    client.cookies.clear()
    sign_up(client)  # Bob
    theirs = client.get(f"/ai-strategies/{strategy}")
    missing_id = str(uuid.uuid4())
    missing = client.get(f"/ai-strategies/{missing_id}")
    assert theirs.status_code == missing.status_code == 404
    assert 'data-error-code="ai_strategy_not_found"' in theirs.text
    assert theirs.text.replace(strategy, "") == missing.text.replace(missing_id, "")
    page = "/bots"  # a page of Bob's own, for the CSRF token
    headers = htmx(client, page)
    for form in (editor(name="Mine now"), editor(action="preview")):
        answer = client.post(f"/ai-strategies/{strategy}", data=form, headers=headers)
        assert answer.status_code == 404 and answer.json()["code"] == "ai_strategy_not_found"
    gone = client.post(f"/ai-strategies/{strategy}/delete", headers=headers)
    assert gone.status_code == 404 and gone.json()["code"] == "ai_strategy_not_found"
    token = csrf_of(client, page)
    plain = client.post(f"/ai-strategies/{strategy}", data=editor() | {"csrf_token": token})
    assert plain.status_code == 404 and 'data-error-code="ai_strategy_not_found"' in plain.text
    assert strategy_row(db, strategy) == before


def test_in_chromium_a_prompt_is_edited_and_previewed(
    browser: Browser, site: Site, visitors: list[Visitor]
) -> None:
    visitor = new_visitor(browser, site, visitors)
    page = visitor.page()
    sign_up_in_browser(page, f"erin-{uuid.uuid4().hex[:8]}@example.test")
    page.get_by_role("link", name="Bots").click()
    form = page.locator("#ai-strategy-form")
    form.get_by_label("Name").fill("Breakout")
    form.get_by_label("Indicators").fill("rsi_14, sma_20")
    form.get_by_label("Prompt").fill("You trade {symbols} on {timeframe} bars.")
    form.get_by_role("button", name="Create AI strategy").click()
    page.locator("#ai-strategies").get_by_role("link", name="Breakout").click()
    expect(page).to_have_url(re.compile(r"/ai-strategies/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", name=re.compile("Breakout"))).to_be_visible()
    expect(page.locator("#no-preview")).to_be_visible()

    editor = page.locator("#ai-strategy-editor")
    prompt = editor.get_by_label("Prompt")
    expect(prompt).to_have_value("You trade {symbols} on {timeframe} bars.")
    prompt.fill("Edited in the browser: buy {symbols} dips on {timeframe} bars.")
    editor.get_by_label("Symbols (comma-separated)").fill("BTC")
    page.evaluate("window.__sameDocument = true")
    editor.get_by_role("button", name="Preview").click()
    user = page.locator("#ai-preview pre[data-message='user']")
    expect(user).to_contain_text("Edited in the browser: buy BTC dips on 1h bars.")
    expect(page.locator("#ai-preview [data-bars-shown='BTC']")).to_be_visible()
    expect(page.locator("#ai-preview [data-snapshot-hash]")).to_have_text(
        re.compile("^[0-9a-f]{64}$")
    )
    expect(page.locator("#ai-preview pre[data-message='system']")).to_contain_text(
        "paper-trading bot"
    )
    # the preview replaced only itself: the editor keeps the unsaved text
    assert page.evaluate("window.__sameDocument") is True
    expect(prompt).to_have_value("Edited in the browser: buy {symbols} dips on {timeframe} bars.")
    shoot(page, "ai_strategy.png")

    # an unknown indicator in the preview: at its field
    visitor.console.allow(422, "/ai-strategies/")
    editor.get_by_label("Indicators").fill("rsi_14, ichimoku")
    editor.get_by_role("button", name="Preview").click()
    expect(editor.locator("[data-error-for='indicators']")).to_contain_text("ichimoku")
    expect(editor.locator("[name='indicators']")).to_have_attribute("aria-invalid", "true")
