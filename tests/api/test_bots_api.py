"""The bots API: a prompt preview on current data without a model, a bot's performance and
its calibration read from the journal and the candles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.support import default_account

V1 = "/api/v1"


def hourly_bars(api: Api, symbol: str, end: datetime, n: int, start_price: float) -> None:
    """``n`` 1h bars ending with the one opening at ``end``."""
    with api.db.owner() as conn:
        for k in range(n):
            price = Decimal(repr(start_price + k))
            conn.execute(
                "INSERT INTO market_candles (symbol, timeframe, open_time, open, high, low,"
                " close, volume) VALUES (%s, '1h', %s, %s, %s, %s, %s, 3)",
                [symbol, end - timedelta(hours=n - 1 - k), price, price + 2, price - 1, price + 1],
            )


def test_a_prompt_preview_renders_current_data_without_a_model(api: Api) -> None:
    _, h = api.user()
    now = datetime.now(UTC)
    newest = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    hourly_bars(api, "BTC", newest, 60, 50_000.0)
    body = {
        "prompt": "You trade {symbols} on {timeframe} bars.\n{context}",
        "indicators": ["rsi_14", "sma_20", "ema_50"],
        "symbols": ["btc", "ETH"],
        "timeframe": "1h",
    }
    r = api.client.post(f"{V1}/ai-strategies/preview", headers=h, json=body)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["bars_shown"] == {"BTC": 20, "ETH": 0}
    assert datetime.fromisoformat(preview["bar_time"]) == newest
    assert preview["user"].startswith("You trade BTC, ETH on 1h bars.")
    assert "rsi_14" in preview["user"] and len(preview["snapshot_hash"]) == 64
    btc = preview["context"]["symbols"]["BTC"]
    assert btc["bars"][-1]["close"] == "50060"  # the newest closed bar, oldest first
    # 20 bars shown, the indicators computed over the history before them too
    assert len(btc["bars"]) == 20 and btc["indicators"]["ema_50"] is not None
    again = api.client.post(f"{V1}/ai-strategies/preview", headers=h, json=body).json()
    assert again["snapshot_hash"] == preview["snapshot_hash"]  # the same data, the same key
    bad = api.client.post(
        f"{V1}/ai-strategies/preview", headers=h, json=body | {"indicators": ["ichimoku"]}
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "unknown_indicator")


def _bot(api: Api, h: dict[str, str], user: Any) -> str:
    with api.db.owner() as conn:
        account = default_account(conn, user)
    r = api.client.post(
        f"{V1}/bots",
        headers=h,
        json={
            "name": "B",
            "account_id": str(account),
            "strategy": "sma_crossover",
            "target_symbols": ["BTC"],
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_a_bots_performance_is_computed_now(api: Api) -> None:
    user, h = api.user()
    bot = _bot(api, h, user)
    r = api.client.get(f"{V1}/bots/{bot}/performance", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["trades"], body["win_rate"], body["total_pnl"]) == (0, None, "0.00000000")
    _, other = api.user()
    assert api.client.get(f"{V1}/bots/{bot}/performance", headers=other).status_code == 404


@pytest.mark.parametrize("horizon", [1, 2])
def test_calibration_from_the_journal_and_the_candles(api: Api, horizon: int) -> None:
    user, h = api.user()
    bot = _bot(api, h, user)
    t0 = datetime(2025, 2, 3, 10, tzinfo=UTC)
    # closes: 100 at t0 (decision bar), then 101, 99, 102, 98, 103, ...
    closes = [100, 101, 99, 102, 98, 103, 97, 104]
    with api.db.owner() as conn:
        for k, c in enumerate(closes):
            conn.execute(
                "INSERT INTO market_candles (symbol, timeframe, open_time, open, high, low,"
                " close, volume) VALUES ('BTC', '1h', %s, %s, %s, %s, %s, 1)",
                [t0 + timedelta(hours=k), c, c + 5, c - 5, c],
            )
        # (bar offset, action, confidence): reference price = that bar's close
        decided = [(0, "buy", "0.9"), (1, "sell", "0.7"), (2, "buy", "0.6"), (3, "sell", "0.2")]
        for k, action, confidence in decided:
            conn.execute(
                "INSERT INTO bot_decisions (user_id, bot_id, kind, timeframe, bar_time, scope,"
                " status, action, symbol, confidence, reference_price)"
                " VALUES (%s, %s, 'rule', '1h', %s, 'BTC', 'held', %s, 'BTC', %s, %s)",
                [user, bot, t0 + timedelta(hours=k), action, confidence, closes[k]],
            )
    r = api.client.get(
        f"{V1}/bots/{bot}/calibration", headers=h, params={"horizon": horizon, "buckets": 5}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    # outcome: the close `horizon` bars after the decision bar against the reference
    pairs = []
    for k, action, confidence in decided:
        later = closes[k + horizon]
        right = later > closes[k] if action == "buy" else later < closes[k]
        pairs.append((float(confidence), int(right)))
    brier = sum((c - o) ** 2 for c, o in pairs) / len(pairs)
    assert body["decisions"] == 4 and body["brier_score"] == pytest.approx(brier)
    assert [b["count"] for b in body["buckets"]] == [0, 1, 0, 2, 1]
