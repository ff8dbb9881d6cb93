"""An LLM strategy's prompt: the context it is rendered with (bars, indicators computed by
the strategies' own functions, positions, cash, limits) and the hash of that context."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from cryptotrader.bots.errors import UnknownIndicator
from cryptotrader.bots.prompt import (
    BARS_SHOWN,
    Context,
    compute_indicators,
    parse_indicator,
    render,
)
from cryptotrader.market.schemas import Candle
from cryptotrader.strategies import indicators as ta

START = datetime(2025, 1, 1, tzinfo=UTC)


def walk(symbol: str, n: int, start: float) -> list[Candle]:
    out, price = [], start
    for i in range(n):
        price *= 1 + 0.01 * math.sin(i / 3)
        close = Decimal(f"{price:.2f}")
        out.append(
            Candle(
                symbol=symbol,
                timeframe="1h",
                open_time=START + timedelta(hours=i),
                open=close,
                high=close * Decimal("1.004"),
                low=close * Decimal("0.995"),
                close=close,
                volume=Decimal(10 + i % 7),
            )
        )
    return out


def context(**changes: object) -> Context:
    base: dict[str, object] = {
        "timeframe": "1h",
        "bars": {"BTC": walk("BTC", 60, 40_000), "ETH": walk("ETH", 60, 2_500)},
        "cash": Decimal("7500.00"),
        "capital_cap": Decimal("10000"),
        "max_position_size": Decimal("2500"),
        "positions": {"BTC": Decimal("0.05"), "ETH": Decimal(0)},
    }
    return Context(**(base | changes))  # type: ignore[arg-type]


def test_indicator_names_and_their_defaults() -> None:
    assert parse_indicator("rsi") == ("rsi", (14,))
    assert parse_indicator("RSI_7") == ("rsi", (7,))
    assert parse_indicator("macd") == ("macd", (12, 26, 9))
    assert parse_indicator("macd_5_35") == ("macd", (5, 35, 9))
    for bad in ("ichimoku", "rsi_x", "sma_5_6"):
        with pytest.raises(UnknownIndicator):
            parse_indicator(bad)
    with pytest.raises(UnknownIndicator):  # a range the function refuses
        compute_indicators(["macd_30_10"], walk("BTC", 60, 100))


def test_indicators_are_the_strategies_own_values_at_the_newest_bar() -> None:
    bars = walk("BTC", 60, 40_000)
    close = np.array([float(b.close) for b in bars])
    got = compute_indicators(["sma_20", "rsi_14", "macd", "bollinger_20", "atr_14"], bars)
    assert got["sma_20"] == round(float(ta.sma(close, 20)[-1]), 8)
    assert got["rsi_14"] == round(float(ta.rsi(close, 14)[-1]), 8)
    assert got["macd"]["signal"] == round(float(ta.macd(close).signal[-1]), 8)
    assert (
        got["bollinger_20"]["upper"] > got["bollinger_20"]["middle"] > got["bollinger_20"]["lower"]
    )
    assert got["atr_14"] is not None and got["atr_14"] > 0
    assert compute_indicators(["sma_50"], bars[:10]) == {"sma_50": None}  # not yet defined


def test_the_prompt_carries_the_documented_context() -> None:
    rendered = render(
        "Trade {symbols} on {timeframe} bars, trend-following.", context(), ["rsi_14"]
    )
    prompt = rendered.prompt
    assert prompt.allowed_symbols == ["BTC", "ETH"]
    assert prompt.user.startswith("Trade BTC, ETH on 1h bars, trend-following.\n\nContext:\n")
    shown = json.loads(prompt.user.split("Context:\n", 1)[1])
    assert shown == rendered.context
    assert len(shown["symbols"]["BTC"]["bars"]) == BARS_SHOWN
    assert shown["symbols"]["BTC"]["bars"][-1]["time"] == (START + timedelta(hours=59)).isoformat()
    assert set(shown["symbols"]["ETH"]["indicators"]) == {"rsi_14"}
    assert (shown["cash"], shown["capital_cap"], shown["max_position_size"]) == (
        "7500",
        "10000",
        "2500",
    )
    assert shown["positions"] == {"BTC": "0.05"}  # a flat position is not shown
    placed = render("Before.\n{context}\nAfter. {not a placeholder}", context(), [])
    assert placed.prompt.user.startswith("Before.\n{") and placed.prompt.user.endswith(
        "After. {not a placeholder}"
    )


def test_the_snapshot_hash_follows_the_data_only() -> None:
    a = render("one wording", context(), ["rsi"]).snapshot_hash
    assert (
        a == render("another wording", context(), ["rsi"]).snapshot_hash
    )  # the data, not the words
    assert a != render("one wording", context(cash=Decimal("7400")), ["rsi"]).snapshot_hash
    assert a != render("one wording", context(), ["rsi", "sma_20"]).snapshot_hash
    assert len(a) == 64
