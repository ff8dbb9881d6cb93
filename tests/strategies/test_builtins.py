"""The built-in strategies: parameters, the registry, their decisions on small hand-made
series, and signals() agreeing with decide() on random data.

:func:`simulate` drives ``decide()`` bar by bar the way the engine does (history and
indicators cut at ``i``, orders filled from bar ``i + 1``) with a minimal frictionless
paper account; the look-ahead test uses it too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from cryptotrader.errors import DomainError
from cryptotrader.strategies import (
    HOLD,
    STRATEGIES,
    Action,
    BarContext,
    Bars,
    Decision,
    InvalidStrategyParameters,
    OrderKind,
    Strategy,
    UnknownStrategy,
    build_strategy,
    describe,
    get_strategy,
    parse_param_pairs,
    validate_parameters,
)
from tests.strategies.test_indicators import ref_macd

B, S, H = Action.BUY, Action.SELL, Action.HOLD

SMALL_PARAMS: dict[str, dict[str, Any]] = {
    "sma_crossover": {"fast": 3, "slow": 8},
    "ema_crossover": {"fast": 3, "slow": 8},
    "rsi_reversion": {"period": 5, "lower": 35, "upper": 65},
    "macd": {"fast": 4, "slow": 9, "signal": 3},
    "bollinger_breakout": {"period": 10, "std_dev": 1.5},
    "dca": {"every": 7, "fraction": 0.25},
    "grid": {"levels": 6, "spacing": 0.02},
    "buy_and_hold": {"start_bar": 5},
}
"""Short look-backs, so that a few hundred random bars trade often."""

SIGNAL_ONLY = sorted(name for name, cls in STRATEGIES.items() if cls.signal_only)


# Data and the simulated account


def bars_from_closes(closes: Sequence[float], volume: float = 1.0) -> Bars:
    """Each bar opens at the previous close; high and low are the open and close."""
    close = np.asarray(closes, dtype=np.float64)
    open_ = np.concatenate([close[:1], close[:-1]])
    n = close.shape[0]
    return Bars(
        time=np.arange(n, dtype=np.int64) * 60_000,
        open=open_,
        high=np.maximum(open_, close),
        low=np.minimum(open_, close),
        close=close,
        volume=np.full(n, volume),
    )


def random_bars(rng: np.random.Generator, n: int, start: float = 100.0) -> Bars:
    """A geometric random walk with consistent OHLC and random volume."""
    close = start * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = np.concatenate([[start], close[:-1]]) * np.exp(rng.normal(0, 0.002, n))
    wick = np.exp(np.abs(rng.normal(0, 0.01, (2, n))))
    return Bars(
        time=np.arange(n, dtype=np.int64) * 60_000,
        open=open_,
        high=np.maximum(open_, close) * wick[0],
        low=np.minimum(open_, close) / wick[1],
        close=close,
        volume=rng.lognormal(3, 1, n),
    )


@dataclass
class PaperAccount:
    """Frictionless long-only account: market orders fill at the next open, limit orders
    when the bar trades through them; a buy without cash or a sell without a position
    is dropped, as the broker ignores them."""

    cash: float
    quantity: float = 0.0
    avg_entry_price: float | None = None
    resting: list[Decision] = field(default_factory=list)

    def fill(self, bars: Bars, i: int) -> None:
        self.resting = [d for d in self.resting if not self._try_fill(d, bars, i)]

    def _try_fill(self, d: Decision, bars: Bars, i: int) -> bool:
        """True when the order is done with (filled or dropped)."""
        price = float(bars.open[i])
        if d.order_type is OrderKind.LIMIT:
            assert d.limit_price is not None
            if d.action is B and bars.low[i] <= d.limit_price:
                price = min(price, d.limit_price)
            elif d.action is S and bars.high[i] >= d.limit_price:
                price = max(price, d.limit_price)
            else:
                return False
        fraction = 1.0 if d.size is None else d.size
        if d.action is B and self.cash > 1e-9:
            spent = self.cash * fraction
            bought = spent / price
            cost = (self.avg_entry_price or 0.0) * self.quantity + spent
            self.quantity += bought
            self.cash -= spent
            self.avg_entry_price = cost / self.quantity
        elif d.action is S and self.quantity > 0:
            sold = self.quantity * fraction
            self.quantity -= sold
            self.cash += sold * price
            if self.quantity <= 1e-12:
                self.quantity, self.avg_entry_price = 0.0, None
        return True


def simulate(strategy: Strategy[Any], bars: Bars, cash: float = 10_000.0) -> list[Decision]:
    """Every bar's decision, with indicators computed once and cut at each bar."""
    indicators = strategy.indicators(bars)
    account = PaperAccount(cash)
    decisions: list[Decision] = []
    for i in range(len(bars)):
        account.fill(bars, i)
        close = float(bars.close[i])
        ctx = BarContext(
            i=i,
            history=bars.upto(i),
            indicators={name: values[: i + 1] for name, values in indicators.items()},
            cash=account.cash,
            quantity=account.quantity,
            equity=account.cash + account.quantity * close,
            avg_entry_price=account.avg_entry_price,
            open_orders=len(account.resting),
        )
        decision = strategy.decide(ctx)
        decisions.append(decision)
        if decision.action is not H:
            account.resting.append(decision)
    return decisions


def actions(decisions: Sequence[Decision]) -> list[Action]:
    return [d.action for d in decisions]


def run(name: str, closes: Sequence[float], **params: Any) -> list[Decision]:
    return simulate(build_strategy(name, params), bars_from_closes(closes))


# Parameters and the registry


def test_every_builtin_is_registered() -> None:
    assert list(STRATEGIES) == [
        "sma_crossover",
        "ema_crossover",
        "rsi_reversion",
        "macd",
        "bollinger_breakout",
        "dca",
        "grid",
        "buy_and_hold",
    ]
    trend = ["sma_crossover", "ema_crossover", "macd", "bollinger_breakout"]
    assert sorted([*trend, "rsi_reversion", "buy_and_hold"]) == SIGNAL_ONLY


@pytest.mark.parametrize(
    ("name", "defaults"),
    [
        ("sma_crossover", {"fast": 10, "slow": 30}),
        ("ema_crossover", {"fast": 12, "slow": 26}),
        ("rsi_reversion", {"period": 14, "lower": 30.0, "upper": 70.0}),
        ("macd", {"fast": 12, "slow": 26, "signal": 9}),
        ("bollinger_breakout", {"period": 20, "std_dev": 2.0}),
        ("dca", {"every": 24, "fraction": 0.1, "amount": None}),
        ("grid", {"levels": 10, "spacing": 0.01, "reference": None}),
        ("buy_and_hold", {"start_bar": 0}),
    ],
)
def test_defaults(name: str, defaults: dict[str, Any]) -> None:
    assert validate_parameters(name, {}).model_dump() == defaults
    assert build_strategy(name, {}).params.model_dump() == defaults


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("sma_crossover", {"fast": 30, "slow": 10}, "parameters"),
        ("sma_crossover", {"fast": 10, "slow": 10}, "parameters"),
        ("sma_crossover", {"fast": 0}, "fast"),
        ("sma_crossover", {"slow": 100_001}, "slow"),
        ("sma_crossover", {"fast": 2.5}, "fast"),
        ("sma_crossover", {"fast": "ten"}, "fast"),
        ("ema_crossover", {"fast": 26, "slow": 12}, "parameters"),
        ("rsi_reversion", {"lower": 70, "upper": 30}, "parameters"),
        ("rsi_reversion", {"upper": 100}, "upper"),
        ("rsi_reversion", {"period": 1}, "period"),
        ("rsi_reversion", {"lower": float("nan")}, "lower"),
        ("macd", {"fast": 26, "slow": 12}, "parameters"),
        ("macd", {"signal": 0}, "signal"),
        ("bollinger_breakout", {"std_dev": 0}, "std_dev"),
        ("bollinger_breakout", {"period": 1}, "period"),
        ("dca", {"every": 0}, "every"),
        ("dca", {"fraction": 1.5}, "fraction"),
        ("dca", {"amount": -5}, "amount"),
        ("dca", {"amount": float("inf")}, "amount"),
        ("dca", {"amount": 100, "fraction": 0.5}, "parameters"),
        ("grid", {"levels": 0}, "levels"),
        ("grid", {"levels": 20, "spacing": 0.05}, "parameters"),
        ("grid", {"reference": 0}, "reference"),
        ("buy_and_hold", {"start_bar": -1}, "start_bar"),
    ],
)
def test_bad_values_are_refused(name: str, params: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidStrategyParameters) as caught:
        build_strategy(name, params)
    assert caught.value.status == 422
    assert caught.value.code == "invalid_strategy_parameters"
    assert [e["field"] for e in caught.value.errors] == [field]
    assert caught.value.detail.startswith(f"{name}: {field}: ")


def test_a_model_validator_message_is_readable() -> None:
    with pytest.raises(InvalidStrategyParameters) as caught:
        build_strategy("sma_crossover", {"fast": 30, "slow": 10})
    assert caught.value.detail == "sma_crossover: parameters: fast (30) must be below slow (10)"


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_unknown_keys_are_refused(name: str) -> None:
    with pytest.raises(InvalidStrategyParameters, match="tpyo: Extra inputs are not permitted"):
        build_strategy(name, {"tpyo": 1})


def test_params_are_frozen() -> None:
    strategy = build_strategy("sma_crossover", {})
    with pytest.raises(ValidationError, match="Instance is frozen"):
        strategy.params.fast = 5  # type: ignore[misc]


def test_dca_amount_replaces_the_default_fraction() -> None:
    params = validate_parameters("dca", {"amount": 50})
    assert params.model_dump() == {"every": 24, "fraction": 0.1, "amount": 50.0}


def test_unknown_strategy() -> None:
    with pytest.raises(UnknownStrategy, match=r"'nope'.*sma_crossover") as caught:
        get_strategy("nope")
    assert (caught.value.status, caught.value.code) == (422, "unknown_strategy")
    with pytest.raises(UnknownStrategy, match="'nope'"):
        build_strategy("nope", {})
    assert DomainError.for_code("unknown_strategy") is UnknownStrategy
    assert DomainError.for_code("invalid_strategy_parameters") is InvalidStrategyParameters


def test_from_parameters_agrees_with_build_strategy() -> None:
    built = get_strategy("macd").from_parameters({"fast": 5, "slow": 9})
    assert built.params == build_strategy("macd", {"fast": 5, "slow": 9}).params


def test_describe_lists_every_strategy_with_its_parameter_schema() -> None:
    infos = {info.name: info for info in describe()}
    assert list(infos) == list(STRATEGIES)
    sma = infos["sma_crossover"]
    assert (sma.version, sma.api_version, sma.signal_only, sma.default_warmup) == (1, 1, True, 30)
    assert sma.description
    assert sma.parameters["additionalProperties"] is False
    assert sma.parameters["properties"]["fast"]["default"] == 10
    assert infos["dca"].signal_only is False
    for info in infos.values():  # JSON-serialisable for the API, and back
        assert type(info).model_validate_json(info.model_dump_json()) == info


def test_parse_param_pairs() -> None:
    parsed = parse_param_pairs(["fast=10", "std_dev=2.5", " slow = 30 ", "x=abc", "y=-1e3"])
    assert parsed == {"fast": 10, "std_dev": 2.5, "slow": 30, "x": "abc", "y": -1000.0}
    assert type(parsed["fast"]) is int
    assert parse_param_pairs(["a=.5", "b=+3", "c=nan", "d="]) == {
        "a": 0.5,
        "b": 3,
        "c": "nan",
        "d": "",
    }
    assert build_strategy("sma_crossover", parse_param_pairs(["fast=5", "slow=20"])).params == (
        validate_parameters("sma_crossover", {"fast": 5, "slow": 20})
    )


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["fast"], "Expected key=value, got 'fast'"),
        (["=10"], "Expected key=value, got '=10'"),
        (["fast=1", "fast=2"], "Parameter 'fast' is given twice"),
    ],
)
def test_parse_param_pairs_refuses_malformed_pairs(pairs: list[str], message: str) -> None:
    with pytest.raises(InvalidStrategyParameters, match=re.escape(message)):
        parse_param_pairs(pairs)


# Decisions on hand-made series

V_SHAPE = [5, 4, 3, 2, 1, 2, 3, 4, 5, 4, 3, 2, 1]


def test_sma_crossover_buys_at_the_cross_above_and_sells_at_the_cross_below() -> None:
    # SMA(2) - SMA(3): bars 2..5: -0.5 -0.5 -0.5 -1/6, bar 6: +0.5 (cross above);
    # bars 7..9: +0.5 +0.5 +1/6, bar 10: -0.5 (cross below)
    decisions = run("sma_crossover", V_SHAPE, fast=2, slow=3)
    assert actions(decisions) == [H] * 6 + [B, H, H, H, S, H, H]
    buy = decisions[6]
    assert (buy.size, buy.order_type) == (None, OrderKind.MARKET)
    assert buy.reasoning == "SMA(2) 2.5 crossed above SMA(3) 2"
    assert buy.confidence == 1.0
    assert decisions[10].reasoning == "SMA(2) 3.5 crossed below SMA(3) 4"


def test_sma_crossover_does_not_count_touching_as_a_cross() -> None:
    # SMA(1) is the close, SMA(2) the mean of two: below at bar 1 (1 < 2), level at bar 2
    # (1 == 1), above at bar 3 (2 > 1.5); with the strict rule there is no cross.
    assert actions(run("sma_crossover", [3, 1, 1, 2], fast=1, slow=2)) == [H, H, H, H]
    assert actions(run("sma_crossover", [3, 1, 3, 4], fast=1, slow=2)) == [H, H, B, H]


def test_ema_crossover_on_the_v_shape() -> None:
    # EMA(2) - EMA(3): bar 5: 1.8333 - 2 < 0, bar 6: 2.6111 - 2.5 > 0;
    # bar 9: 4.1708 - 4.0625 > 0, bar 10: 3.3903 - 3.53125 < 0
    decisions = run("ema_crossover", V_SHAPE, fast=2, slow=3)
    assert actions(decisions) == [H] * 6 + [B, H, H, H, S, H, H]
    assert decisions[6].reasoning.startswith("EMA(2) 2.6111111 crossed above EMA(3) 2.5")


def test_rsi_reversion_buys_below_lower_and_sells_above_upper() -> None:
    # RSI(2): -, -, 100, 50, 25, 12.5, 56.25, 78.125 (see test_rsi_by_hand)
    decisions = run("rsi_reversion", [10, 11, 12, 11, 10, 9, 10, 11], period=2)
    assert actions(decisions) == [H, H, S, H, B, B, H, S]
    assert decisions[4].reasoning == "RSI(2) 25.00 below 30"
    assert decisions[5].confidence == pytest.approx(0.5 + 0.5 * 17.5 / 30)
    assert decisions[7].reasoning == "RSI(2) 78.12 above 70"


def test_macd_trades_where_the_reference_macd_crosses_its_signal() -> None:
    closes = [100 + 10 * math.sin(i / 4) for i in range(60)]
    line, signal, _ = ref_macd(closes, fast=3, slow=6, signal=2)
    above = [i for i in range(1, 60) if line[i - 1] < signal[i - 1] and line[i] > signal[i]]
    below = [i for i in range(1, 60) if signal[i - 1] < line[i - 1] and signal[i] > line[i]]
    assert len(above) >= 2 and len(below) >= 2
    decisions = run("macd", closes, fast=3, slow=6, signal=2)
    assert [i for i, d in enumerate(decisions) if d.action is B] == above
    assert [i for i, d in enumerate(decisions) if d.action is S] == below
    assert decisions[above[0]].reasoning.startswith("MACD ")
    assert " crossed above its signal " in decisions[above[0]].reasoning


def test_bollinger_breakout_buys_above_the_upper_band_and_sells_below_the_middle() -> None:
    # period 3, 1 deviation: bar 4 closes 13 above 11 + sqrt(2); bar 5 (13 vs 12 + sqrt(2))
    # and bar 6 (13 on a flat band at 13: not above, not below) hold; bar 7 closes 9 below
    # the middle 35/3
    decisions = run("bollinger_breakout", [10, 10, 10, 10, 13, 13, 13, 9], period=3, std_dev=1)
    assert actions(decisions) == [H, H, H, H, B, H, H, S]
    assert decisions[4].reasoning == "close 13 above the upper band 12.414214"
    assert decisions[7].reasoning == "close 9 below the middle band 11.666667"


def test_dca_buys_a_fraction_every_n_bars() -> None:
    decisions = run("dca", [100.0] * 8, every=3, fraction=0.5)
    assert actions(decisions) == [B, H, H, B, H, H, B, H]
    assert {d.size for d in decisions if d.action is B} == {0.5}
    assert decisions[0].reasoning == "scheduled buy every 3 bars: 0.5 of the free cash"


def test_dca_buys_a_fixed_amount_until_the_cash_runs_out() -> None:
    strategy = build_strategy("dca", {"every": 2, "amount": 400})
    decisions = simulate(strategy, bars_from_closes([100.0] * 8), cash=1000)
    # cash 1000, 600, 200 and then none: sizes 0.4, 400/600, all of the 200, nothing
    buys = [(i, d.size) for i, d in enumerate(decisions) if d.action is B]
    assert buys == [(0, 0.4), (2, pytest.approx(400 / 600)), (4, 1.0)]


def test_grid_holds_more_the_further_the_price_falls() -> None:
    # reference 100, levels at 90, 80, 70, 60: one level is a quarter of the equity
    decisions = run("grid", [100, 95, 89, 85, 79, 91, 101], levels=4, spacing=0.1, reference=100)
    assert actions(decisions) == [H, H, B, H, B, S, H]
    first, second, exit_ = decisions[2], decisions[4], decisions[5]
    assert (first.order_type, first.limit_price, first.size) == (
        OrderKind.LIMIT,
        pytest.approx(90),
        0.25,
    )
    # bought 25 % at 90; at 79 (two levels) it tops up to half the equity at 80
    assert second.limit_price == pytest.approx(80)
    assert second.reasoning == (
        "close 79 at 2 of 4 levels below 100: hold 50% of equity, buy limit 80"
    )
    # back above the first level: sell everything at no less than 90
    assert (exit_.action, exit_.limit_price, exit_.size) == (S, pytest.approx(90), None)


def test_grid_waits_while_its_order_rests() -> None:
    strategy = build_strategy("grid", {"levels": 4, "spacing": 0.1, "reference": 100})
    bars = bars_from_closes([100, 85])
    indicators = strategy.indicators(bars)
    ctx = BarContext(1, bars, indicators, 10_000.0, 0.0, 10_000.0, None, open_orders=1)
    assert strategy.decide(ctx) is HOLD
    ctx.open_orders = 0
    assert strategy.decide(ctx).action is B


def test_grid_reference_defaults_to_the_first_close() -> None:
    decisions = run("grid", [200, 195, 189], levels=4, spacing=0.05)
    assert actions(decisions) == [H, H, B]
    assert decisions[2].limit_price == pytest.approx(190)


def test_buy_and_hold_buys_once_and_never_sells() -> None:
    assert actions(run("buy_and_hold", [1, 2, 3, 2, 1])) == [B, H, H, H, H]
    assert actions(run("buy_and_hold", [1, 2, 3, 2, 1], start_bar=3)) == [H, H, H, B, H]


# On random data


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("name", SIGNAL_ONLY)
@pytest.mark.parametrize("small", [True, False], ids=["small", "defaults"])
def test_signals_agree_with_decide(name: str, seed: int, small: bool) -> None:
    strategy = build_strategy(name, SMALL_PARAMS[name] if small else {})
    bars = random_bars(np.random.default_rng(seed), 400)
    decisions = simulate(strategy, bars)
    from_decide = np.array([{B: 1, S: -1, H: 0}[d.action] for d in decisions], dtype=np.int8)
    signals = strategy.signals(bars, strategy.indicators(bars))
    assert signals.dtype == np.int8
    np.testing.assert_array_equal(signals, from_decide)
    for d in decisions:
        assert d.size is None and d.order_type is OrderKind.MARKET  # all-in, all-out
    if small:
        assert (signals == 1).any()


@pytest.mark.parametrize("name", sorted(set(STRATEGIES) - set(SIGNAL_ONLY)))
def test_strategies_that_need_the_account_have_no_signals(name: str) -> None:
    strategy = build_strategy(name, {})
    bars = random_bars(np.random.default_rng(0), 10)
    with pytest.raises(NotImplementedError, match=f"{name} is not a signal-only strategy"):
        strategy.signals(bars, strategy.indicators(bars))


@pytest.mark.parametrize("name", list(STRATEGIES))
@pytest.mark.parametrize("small", [True, False], ids=["small", "defaults"])
def test_decisions_hold_during_warmup_and_explain_themselves(name: str, small: bool) -> None:
    strategy = build_strategy(name, SMALL_PARAMS[name] if small else {})
    decisions: list[Decision] = []
    for seed in range(3):
        bars = random_bars(np.random.default_rng(seed), 300)
        run_decisions = simulate(strategy, bars)
        assert all(d is HOLD for d in run_decisions[: strategy.warmup()])
        decisions += run_decisions
    trades = [d for d in decisions if d.action is not H]
    assert trades
    for d in trades:
        assert d.reasoning
        assert d.confidence is not None and 0.5 <= d.confidence <= 1
        assert d.size is None or 0 < d.size <= 1
        assert (d.order_type is OrderKind.LIMIT) == (d.limit_price is not None)
