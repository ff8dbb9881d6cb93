"""The bots pages: the list and a bot's page for its owner, a rule bot, an AI strategy and
an LLM bot created through the forms, start/pause/stop through the buttons, refusals at
their field with nothing written, another user's bot as a missing one, a bot's journal,
costs, calibration and trades as the services return them, the calibration chart over
the horizon asked for; and in Chromium a rule bot created with the form and started from
its page."""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from cryptotrader.market.candle_import import import_candles_csv
from tests.support import TestDatabase
from tests.web.conftest import FIXTURES as OHLCV
from tests.web.conftest import Site, Visitor, new_visitor
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
BOT_URL = re.compile(r"^/bots/([0-9a-f-]{36})$")


def htmx(client: TestClient, path: str = "/bots") -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": csrf_of(client, path)}


def rule_form(account: str, **changes: str) -> dict[str, str]:
    form = {
        "name": "Trend",
        "account_id": account,
        "strategy": "sma_crossover",
        "parameters": "fast=5\nslow=20",
        "strategy_id": "",  # the LLM part of the form, sent by a browser without script
        "target_symbols": "btc, ETH",
        "timeframe": "4h",
        "paper_balance": "5000",
        "max_position_size": "2500",
        "daily_budget_usd": "",
    }
    return form | changes


def create_bot(client: TestClient, form: dict[str, str]) -> str:
    answer = client.post("/bots", data=form, headers=htmx(client))
    assert answer.status_code == 204, answer.text
    found = BOT_URL.match(answer.headers["HX-Redirect"])
    assert found, answer.headers["HX-Redirect"]
    return found.group(1)


def create_ai_strategy(client: TestClient, **changes: str) -> str:
    form = {
        "name": "Momentum",
        "model": "gpt-4o-mini",
        "prompt": "You trade {symbols} on {timeframe} bars.",
        "indicators": "rsi_14, SMA_20",
    }
    answer = client.post("/ai-strategies", data=form | changes, headers=htmx(client))
    assert answer.status_code == 204, answer.text
    assert answer.headers["HX-Redirect"] == "/bots"
    found = re.search(r'data-ai-strategy-id="([0-9a-f-]{36})"', client.get("/bots").text)
    assert found
    return found.group(1)


def step(client: TestClient, bot: str, action: str) -> Any:
    return client.post(
        f"/bots/{bot}/status", data={"action": action}, headers=htmx(client, f"/bots/{bot}")
    )


def bot_row(db: TestDatabase, bot: str) -> dict[str, Any]:
    with db.owner() as conn:
        row = conn.execute("SELECT * FROM ai_trading_bots WHERE id = %s", [bot]).fetchone()
    assert row is not None
    return dict(row)


def count_bots(db: TestDatabase) -> int:
    with db.owner() as conn:
        row = conn.execute("SELECT count(*) AS n FROM ai_trading_bots").fetchone()
    assert row is not None
    return int(row["n"])


def test_a_rule_bot_created_with_the_form_is_listed_and_has_its_page(
    client: TestClient, db: TestDatabase
) -> None:
    sign_up(client)
    account = first_account(client)
    empty = client.get("/bots")
    assert empty.status_code == 200
    assert 'href="/bots" aria-current="page"' in empty.text
    assert 'id="no-bots"' in empty.text and 'id="bot-form"' in empty.text
    assert f'<option value="{account}">' in empty.text  # the user's accounts to pick from

    bot = create_bot(client, rule_form(account))
    row = bot_row(db, bot)
    assert row["strategy"] == "sma_crossover" and row["ai_model"] == "rule"
    assert row["target_symbols"] == ["BTC", "ETH"] and row["status"] == "paused"
    assert row["config"]["parameters"] == {"fast": 5, "slow": 20}
    assert row["config"]["timeframe"] == "4h"
    assert row["paper_balance"] == Decimal("5000") and row["max_position_size"] == Decimal("2500")
    assert "bot.create" in audit_actions(db)

    listing = client.get("/bots").text
    found = re.search(rf'<tr data-bot-id="{bot}">(.*?)</tr>', listing, re.S)
    assert found, listing
    cells = found.group(1)
    for text in ("Trend", "sma crossover", "BTC, ETH", "4h", 'data-bot-status="paused"', "$0.00"):
        assert text in cells, text

    page = client.get(f"/bots/{bot}")
    assert page.status_code == 200
    assert 'data-bot-status="paused"' in page.text
    assert "fast=5, slow=20" in page.text and "$5,000.00" in page.text
    assert 'value="start"' in page.text and 'value="stop"' in page.text
    assert 'value="pause"' not in page.text  # a paused bot cannot be paused
    for part in (
        'id="bot-performance"',
        'id="bot-costs"',
        'id="no-decisions"',
        'id="no-bot-trades"',
    ):
        assert part in page.text, part

    # without the page's script the form is a plain post: a redirect to the new bot
    token = csrf_of(client, "/bots")
    plain = client.post("/bots", data=rule_form(account, name="Plain") | {"csrf_token": token})
    assert plain.status_code == 303 and BOT_URL.match(plain.headers["location"])


def test_an_ai_strategy_and_an_llm_bot_through_the_forms(
    client: TestClient, db: TestDatabase
) -> None:
    sign_up(client)
    account = first_account(client)
    strategy = create_ai_strategy(client)
    assert "ai_strategy.create" in audit_actions(db)
    listing = client.get("/bots").text
    found = re.search(rf'<tr data-ai-strategy-id="{strategy}">(.*?)</tr>', listing, re.S)
    assert found and "Momentum" in found.group(1) and "rsi_14, sma_20" in found.group(1)
    assert f'<option value="{strategy}">Momentum (gpt-4o-mini)</option>' in listing

    refused = client.post(
        "/ai-strategies",
        data={"name": "X", "prompt": "Trade.", "indicators": "ichimoku"},
        headers=htmx(client),
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "unknown_indicator"
    assert refused.json()["field"] == "indicators"
    no_model = client.post(
        "/ai-strategies",
        data={"name": "X", "prompt": "Trade.", "model": "nope"},
        headers=htmx(client),
    )
    assert no_model.status_code == 422 and no_model.json()["field"] == "model"
    assert no_model.json()["code"] == "unknown_model"

    form = rule_form(account, name="Oracle", strategy="llm", strategy_id=strategy)
    bot = create_bot(client, form)  # the rule parameters in the form are not the LLM bot's
    row = bot_row(db, bot)
    assert row["strategy"] == "llm" and str(row["strategy_id"]) == strategy
    assert row["ai_model"] == "gpt-4o-mini" and row["config"]["parameters"] == {}
    page = client.get(f"/bots/{bot}").text
    assert f'<a href="/ai-strategies/{strategy}">Momentum</a> asking gpt-4o-mini' in page
    assert "Momentum" in client.get("/bots").text

    orphan = client.post(
        "/bots", data=rule_form(account, strategy="llm", strategy_id=""), headers=htmx(client)
    )
    assert orphan.status_code == 422
    assert orphan.json()["code"] == "invalid_bot_config" and orphan.json()["field"] == "strategy_id"


def test_start_pause_and_stop_through_the_buttons(client: TestClient, db: TestDatabase) -> None:
    sign_up(client)
    bot = create_bot(client, rule_form(first_account(client)))
    for action, status, buttons in (
        ("start", "active", {"pause", "stop"}),
        ("pause", "paused", {"start", "stop"}),
        ("start", "active", {"pause", "stop"}),
        ("stop", "stopped", set()),
    ):
        answer = step(client, bot, action)
        assert answer.status_code == 204, answer.text
        assert answer.headers["HX-Redirect"] == f"/bots/{bot}"
        assert bot_row(db, bot)["status"] == status
        page = client.get(f"/bots/{bot}").text
        assert f'data-bot-status="{status}"' in page
        shown = set(re.findall(r'name="action" value="(\w+)"', page))
        assert shown == buttons, (action, shown)
    assert "Stopped for good" in client.get(f"/bots/{bot}").text
    actions = [a for a in audit_actions(db) if a.startswith("bot.")]
    assert actions == ["bot.create", "bot.start", "bot.pause", "bot.start", "bot.stop"]

    # a step the state does not allow is the service's refusal, said on the page
    again = step(client, bot, "start")
    assert again.status_code == 409 and again.json()["code"] == "invalid_bot_transition"
    token = csrf_of(client, f"/bots/{bot}")
    plain = client.post(f"/bots/{bot}/status", data={"action": "start", "csrf_token": token})
    assert plain.status_code == 409 and 'data-error-code="invalid_bot_transition"' in plain.text
    assert bot_row(db, bot)["status"] == "stopped"


def test_a_bad_form_shows_the_error_at_its_field_and_writes_nothing(
    client: TestClient, db: TestDatabase
) -> None:
    sign_up(client)
    account = first_account(client)
    before = audit_actions(db)
    unknown = client.post(
        "/bots", data=rule_form(account, target_symbols="BTC, NOPE"), headers=htmx(client)
    )
    assert unknown.status_code == 422
    problem = unknown.json()
    assert problem["code"] == "unknown_symbol" and problem["field"] == "target_symbols"
    assert "NOPE" in problem["detail"]
    token = csrf_of(client, "/bots")
    plain = client.post(
        "/bots", data=rule_form(account, target_symbols="NOPE") | {"csrf_token": token}
    )
    assert plain.status_code == 422
    assert 'data-error-code="unknown_symbol"' in plain.text and "NOPE" in plain.text
    for changes, field in (
        ({"parameters": "fast=30\nslow=5"}, "parameters"),  # fast must be below slow
        ({"parameters": "fast"}, "parameters"),  # not key=value
        ({"parameters": "nope=1"}, "parameters"),
        ({"paper_balance": "lots"}, "paper_balance"),
        ({"max_position_size": "-5"}, "max_position_size"),
        ({"target_symbols": " "}, "target_symbols"),
        ({"timeframe": "2h"}, "timeframe"),
        ({"name": " "}, "name"),
        ({"account_id": str(uuid.uuid4())}, "account_id"),  # not theirs: 404, as the API
        ({"strategy": "no_such_strategy", "parameters": ""}, "parameters"),
    ):
        answer = client.post("/bots", data=rule_form(account, **changes), headers=htmx(client))
        expected = 404 if field == "account_id" else 422
        assert answer.status_code == expected, (changes, answer.text)
        assert answer.json()["field"] == field, (changes, answer.json())
    assert count_bots(db) == 0
    assert audit_actions(db) == before


def test_another_users_bot_is_not_found_like_a_missing_one(
    client: TestClient, db: TestDatabase
) -> None:
    sign_up(client)
    bot = create_bot(client, rule_form(first_account(client)))
    client.cookies.clear()
    sign_up(client)  # Bob
    theirs = client.get(f"/bots/{bot}")
    missing_id = str(uuid.uuid4())
    missing = client.get(f"/bots/{missing_id}")
    assert theirs.status_code == missing.status_code == 404
    assert 'data-error-code="bot_not_found"' in theirs.text
    assert theirs.text.replace(bot, "") == missing.text.replace(missing_id, "")
    assert bot not in client.get("/bots").text
    started = step(client, bot, "start")
    assert started.status_code == 404 and started.json()["code"] == "bot_not_found"
    assert bot_row(db, bot)["status"] == "paused"


def _candles(db: TestDatabase) -> list[dict[str, Any]]:
    import_candles_csv(db.app_conninfo, OHLCV / "BTC-USDT_1h.csv.gz", "BTC", "1h")
    with db.owner() as conn:
        rows = conn.execute(
            "SELECT open_time, close FROM market_candles WHERE symbol = 'BTC' AND timeframe = '1h'"
            " ORDER BY open_time LIMIT 3"
        ).fetchall()
    return [dict(r) for r in rows]


def _journal(db: TestDatabase, bot: str) -> None:
    """Two decisions of an LLM bot: an older buy, right (the close one bar later is above
    its reference price) at 0.8, with its order; and a newer abstention."""
    first, second, _ = _candles(db)
    owner = bot_row(db, bot)["user_id"]
    buy = {
        "bar_time": first["open_time"],
        "status": "traded",
        "action": "buy",
        "symbol": "BTC",
        "confidence": Decimal("0.8"),
        "reference_price": second["close"] - 1,
        "tokens_in": 1630,
        "tokens_out": 92,
        "cost_usd": Decimal("0.0003"),
        "latency_ms": 1180,
        "prompt": "PROMPT-TEXT for BTC",
        "raw_reply": '{"action": "buy", "symbol": "BTC"}',
        "model": "gpt-4o-mini",
        "order_status": "completed",
    }
    abstain = {
        "bar_time": second["open_time"],
        "status": "abstained",
        "abstain_code": "invalid_json",
        "abstain_reason": "the reply was not JSON",
        "raw_reply": "Sorry, I cannot",
    }
    with db.owner() as conn:
        for age, row in ((timedelta(hours=2), buy), (timedelta(hours=1), abstain)):
            fields = {"user_id": owner, "bot_id": bot, "kind": "llm", "timeframe": "1h"}
            fields |= {"scope": "*"} | row
            names = ", ".join(fields)
            marks = ", ".join(f"%({k})s" for k in fields)
            conn.execute(
                f"INSERT INTO bot_decisions ({names}, created_at)"
                f" VALUES ({marks}, now() - %(age)s)",
                fields | {"age": age},
            )


def test_a_bots_journal_costs_calibration_and_trades_are_shown(
    client: TestClient, db: TestDatabase
) -> None:
    sign_up(client)
    account = first_account(client)
    strategy = create_ai_strategy(client)
    bot = create_bot(client, rule_form(account, strategy="llm", strategy_id=strategy))
    _journal(db, bot)
    order = {"symbol": "BTC", "side": "buy", "order_type": "market", "amount": "0.01"}
    placed = client.post(
        f"/accounts/{account}/orders",
        data=order | {"bot_id": bot},
        headers=htmx(client, f"/accounts/{account}"),
    )
    assert placed.status_code == 200 and 'data-order-status="completed"' in placed.text

    page = client.get(f"/bots/{bot}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    journal = re.findall(r'<tr data-decision-id="[0-9a-f-]{36}">(.*?)</tr>', page.text, re.S)
    assert len(journal) == 2
    newest, oldest = journal  # newest first
    assert "abstained" in newest and "invalid_json" in newest and "the reply was not JSON" in newest
    for part in ("traded", "buy", "0.80", "1,630 / 92", "$0.0003", "1,180 ms", "completed"):
        assert part in oldest, part
    assert text.count("<details>") == 2
    assert "PROMPT-TEXT for BTC" in text and '{"action": "buy", "symbol": "BTC"}' in text

    costs = re.search(r'<dl class="kv" id="bot-costs">(.*?)</dl>', page.text, re.S)
    assert costs
    assert re.search(r'data-cost="calls">1<', costs.group(1))
    assert 'data-cost="tokens">1,630 / 92<' in costs.group(1)
    assert 'data-cost="cost_usd">$0.0003<' in costs.group(1)
    assert 'data-cost="daily_budget_usd">no limit<' in costs.group(1)

    # (0.8 - 1)² for the one scored buy; its bucket is 0.8-0.9
    assert "data-brier>0.0400<" in page.text
    reliability = re.search(r'<table class="data" id="reliability">(.*?)</table>', page.text, re.S)
    assert reliability and "0.8–0.9" in reliability.group(1)
    assert "100.0%" in reliability.group(1)

    trades = re.findall(r'<tr data-trade-id="[0-9a-f-]{36}">', page.text)
    assert len(trades) == 1 and "0.01" in page.text


def test_the_calibration_chart_over_the_horizon_asked_for(
    client: TestClient, db: TestDatabase
) -> None:
    """Four scored decisions (as tests/api/test_bots_api.py's calibration test): all right
    one bar later, all wrong two bars later; the chart's data in the page, the Brier
    score beside it, and a horizon the service refuses said at its field."""
    sign_up(client)
    bot = create_bot(client, rule_form(first_account(client)))
    owner = bot_row(db, bot)["user_id"]
    t0 = datetime(2025, 2, 3, 10, tzinfo=UTC)
    closes = [100, 101, 99, 102, 98, 103, 97, 104]
    decided = [(0, "buy", "0.9"), (1, "sell", "0.7"), (2, "buy", "0.6"), (3, "sell", "0.2")]
    with db.owner() as conn:
        for k, c in enumerate(closes):
            conn.execute(
                "INSERT INTO market_candles (symbol, timeframe, open_time, open, high, low,"
                " close, volume) VALUES ('BTC', '1h', %s, %s, %s, %s, %s, 1)",
                [t0 + timedelta(hours=k), c, c + 5, c - 5, c],
            )
        for k, action, confidence in decided:
            conn.execute(
                "INSERT INTO bot_decisions (user_id, bot_id, kind, timeframe, bar_time, scope,"
                " status, action, symbol, confidence, reference_price)"
                " VALUES (%s, %s, 'rule', '1h', %s, 'BTC', 'held', %s, 'BTC', %s, %s)",
                [owner, bot, t0 + timedelta(hours=k), action, confidence, closes[k]],
            )

    def chart(page: str) -> dict[str, Any]:
        found = re.search(
            r'<script type="application/json" id="bot-reliability">(.*?)</script>', page, re.S
        )
        assert found and 'data-chart="reliability" data-source="bot-reliability"' in page
        data: dict[str, Any] = json.loads(found.group(1))
        return data

    one = client.get(f"/bots/{bot}")
    assert one.status_code == 200
    data = chart(one.text)
    assert data["horizon_bars"] == 1 and data["decisions"] == 4
    assert data["brier_score"] == pytest.approx((0.01 + 0.09 + 0.16 + 0.64) / 4)
    points = [(b["mean_confidence"], b["hit_rate"], b["count"]) for b in data["buckets"]]
    assert points == [(0.2, 1.0, 1), (0.6, 1.0, 1), (0.7, 1.0, 1), (0.9, 1.0, 1)]
    assert [(b["lower"], b["upper"]) for b in data["buckets"]] == [
        (0.2, 0.3),
        (0.6, 0.7),
        (0.7, 0.8),
        (0.9, 1.0),
    ]
    assert "data-brier>0.2250<" in one.text and "data-scored>4<" in one.text
    assert 'name="horizon" type="number" min="1" max="500"' in one.text
    reliability = re.search(r'<table class="data" id="reliability">(.*?)</table>', one.text, re.S)
    assert reliability and reliability.group(1).count("<tr><td>") == 4  # the table stays

    two = client.get(f"/bots/{bot}", params={"horizon": "2"}).text
    assert chart(two)["horizon_bars"] == 2
    assert [b["hit_rate"] for b in chart(two)["buckets"]] == [0.0, 0.0, 0.0, 0.0]
    assert "data-brier>0.4250<" in two and 'value="2"' in two and "2 bars later" in two

    for asked, said in (("0", "horizon is between 1 and 500 bars"), ("501", "1 and 500")):
        refused = client.get(f"/bots/{bot}", params={"horizon": asked})
        assert refused.status_code == 200  # the page, over one bar, and the refusal
        slot = re.search(r'data-error-for="horizon" role="alert">([^<]*)<', refused.text)
        assert slot and said in slot.group(1) and "[invalid_request]" in slot.group(1)
        assert f'value="{asked}" aria-invalid="true"' in refused.text
        assert chart(refused.text)["horizon_bars"] == 1 and "data-brier>0.2250<" in refused.text
    words = client.get(f"/bots/{bot}", params={"horizon": "soon"}).text
    slot = re.search(r'data-error-for="horizon" role="alert">([^<]*)<', words)
    assert slot and "whole number" in slot.group(1) and chart(words)["horizon_bars"] == 1

    empty = create_bot(client, rule_form(first_account(client), name="Fresh"))
    page = client.get(f"/bots/{empty}").text
    assert chart(page)["buckets"] == [] and 'data-empty="No scored decision yet."' in page


def test_in_chromium_a_rule_bot_is_created_and_started(
    browser: Browser, site: Site, visitors: list[Visitor]
) -> None:
    visitor = new_visitor(browser, site, visitors)
    page = visitor.page()
    sign_up_in_browser(page, f"dana-{uuid.uuid4().hex[:8]}@example.test")
    page.get_by_role("link", name="Bots").click()
    expect(page.get_by_role("heading", name="Bots", exact=True)).to_be_visible()
    form = page.locator("#bot-form")
    form.get_by_label("Name").fill("Daily trend")
    form.get_by_label("Strategy", exact=True).select_option("sma_crossover")
    expect(form.get_by_label("AI strategy")).to_be_hidden()  # only for an LLM bot
    form.get_by_label("Parameters").fill("fast=5\nslow=20")
    form.get_by_label("Timeframe").select_option("1d")  # no bar closes while the test runs
    form.get_by_label("Capital cap (USD)").fill("2000")

    # an unknown coin: the service's refusal, at the symbols field
    form.get_by_label("Symbols").fill("BTC, NOPE")
    visitor.console.allow(422, "/bots")
    form.get_by_role("button", name="Create bot").click()
    expect(form.locator("[data-error-for='target_symbols']")).to_contain_text("NOPE")
    expect(form.locator("[name='target_symbols']")).to_have_attribute("aria-invalid", "true")

    form.get_by_label("Symbols").fill("BTC")
    form.get_by_role("button", name="Create bot").click()
    expect(page).to_have_url(re.compile(r"/bots/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", name=re.compile("Daily trend"))).to_be_visible()
    status = page.locator("h1 [data-bot-status]")
    expect(status).to_have_text("paused")
    expect(page.locator("#bot-steps").get_by_role("button", name="Pause")).to_have_count(0)

    page.locator("#bot-steps").get_by_role("button", name="Start").click()
    expect(status).to_have_text("active")
    expect(page.locator("#bot-steps").get_by_role("button", name="Pause")).to_be_visible()
    expect(page.locator("#bot-steps").get_by_role("button", name="Start")).to_have_count(0)
    shoot(page, "bot.png")

    page.get_by_role("link", name="All bots").click()
    row = page.locator("#bots tbody tr").filter(has_text="Daily trend")
    expect(row.locator("[data-bot-status]")).to_have_text("active")
