"""Scenario tests of the backtesting engine: small candle tables written out here, a
scripted strategy that returns given decisions at given bars, and every price, fee,
quantity, cash figure and PnL worked out by hand (the live engine's rounding: prices to
10 decimals, values and fees to 8, half away from zero; all-in quantities rounded down
to 8 decimals)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any, ClassVar

import numpy as np
import pytest

from cryptotrader.backtest import (
    BacktestConfig,
    BacktestResult,
    InvalidCandles,
    InvalidDecision,
    run_backtest,
)
from cryptotrader.strategies.base import (
    HOLD,
    Action,
    BarContext,
    Bars,
    Decision,
    FloatArray,
    OrderKind,
    Strategy,
    StrategyParams,
)

D = Decimal
MINUTE = 60_000
HOUR = 3_600_000
Row = tuple[float, float, float, float, float]


# ---------------------------------------------------------------- helpers
def r8(x: Decimal) -> Decimal:
    return x.quantize(D("1e-8"), ROUND_HALF_UP)


def r10(x: Decimal) -> Decimal:
    return x.quantize(D("1e-10"), ROUND_HALF_UP)


def floor8(x: Decimal) -> Decimal:
    return x.quantize(D("1e-8"), ROUND_FLOOR)


def all_in(cash: Decimal, price: Decimal, fee_rate: Decimal) -> Decimal:
    """The largest 8-decimal quantity whose rounded value plus fee fits in ``cash``."""
    qty = floor8(cash / (price * (1 + fee_rate)))
    while r8(qty * price) + r8(r8(qty * price) * fee_rate) > cash:
        qty -= D("1e-8")
    return qty


def bars_of(rows: Sequence[Row], step: int = MINUTE, start: int = 0) -> Bars:
    cols = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    time = start + step * np.arange(len(rows), dtype=np.int64)
    return Bars(time, *(np.ascontiguousarray(cols[:, k]) for k in range(5)))


class NoParams(StrategyParams):
    pass


class Scripted(Strategy[NoParams]):
    """Returns ``script[i]`` on bar ``i`` (hold elsewhere) and records what it saw."""

    name: ClassVar[str] = "scripted"
    params_model: ClassVar[type[StrategyParams]] = NoParams

    def __init__(self, script: Mapping[int, Decision]) -> None:
        super().__init__(NoParams())
        self.script = dict(script)
        self.seen: list[BarContext] = []

    def indicators(self, bars: Bars) -> dict[str, FloatArray]:
        return {"close": bars.close.copy()}

    def decide(self, ctx: BarContext) -> Decision:
        self.seen.append(ctx)
        return self.script.get(ctx.i, HOLD)


BUY = Decision(Action.BUY)
SELL = Decision(Action.SELL)


def buy(**kw: Any) -> Decision:
    return Decision(Action.BUY, **kw)


def limit_buy(price: float, **kw: Any) -> Decision:
    return Decision(Action.BUY, order_type=OrderKind.LIMIT, limit_price=price, **kw)


def config(**kw: Any) -> BacktestConfig:
    base: dict[str, Any] = {"initial_capital": D(10000), "fill_model": "ideal"}
    return BacktestConfig(**(base | kw))


def run(
    rows: Sequence[Row],
    script: Mapping[int, Decision],
    step: int = MINUTE,
    **kw: Any,
) -> tuple[BacktestResult, Scripted]:
    strategy = Scripted(script)
    result = run_backtest(bars_of(rows, step), strategy, config(**kw), fast=False)
    return result, strategy


def cash_after(result: BacktestResult) -> Decimal:
    """Cash at the end, from the fills: what the final capital is without a position."""
    cash = result.initial_capital
    for f in result.fills:
        value = r8(f.price * f.quantity)
        cash += -value - f.fee if f.side == "buy" else value - f.fee
    return cash


FLAT: Row = (100, 101, 99, 100, 10)
RISING: list[Row] = [
    FLAT,
    (100.5, 102, 100, 101, 10),
    (101, 103, 100.5, 102, 10),
    (102.5, 104, 102, 103, 10),
]
TAKER = D("0.001")
MAKER = D("0.0008")


# ---------------------------------------------------------------- market orders
def test_market_buy_and_sell_fill_at_the_next_open_with_the_taker_fee() -> None:
    rows = RISING
    result, _ = run(rows, {0: BUY, 2: SELL})

    buy_fill, sell_fill = result.fills
    assert (buy_fill.bar, buy_fill.side, buy_fill.order_type) == (1, "buy", "market")
    assert buy_fill.price == D("100.5")
    # 10000 / (100.5 * 1.001) = 99.403084477..., rounded down to 8 decimals
    assert buy_fill.quantity == D("99.40308447")
    # value 99.40308447 * 100.5 = 9990.009989235 -> 9990.00998924; fee 9.99000998924 -> 9.99000999
    assert buy_fill.fee == D("9.99000999")
    assert (sell_fill.bar, sell_fill.price, sell_fill.quantity) == (3, D("102.5"), D("99.40308447"))
    # value 10188.816158175 -> 10188.81615818, fee 10.18881616
    assert sell_fill.fee == D("10.18881616")
    # cash 0.00000077 left after the buy, + 10188.81615818 - 10.18881616
    assert result.final_capital == D("10178.62734279")
    (trade,) = result.trades
    assert trade.pnl == D("178.62734279")  # 10188.81615818 - 9990.00998924 - both fees
    assert trade.return_pct == D("1.7863")  # of the 9999.99999923 the entry cost
    assert (trade.entry_bar, trade.exit_bar, trade.exit_reason, trade.closed) == (
        1,
        3,
        "signal",
        True,
    )
    assert (trade.entry_fee, trade.exit_fee) == (D("9.99000999"), D("10.18881616"))
    assert buy_fill.time.isoformat() == "1970-01-01T00:01:00+00:00"


def test_fixed_slippage_moves_buys_up_and_sells_down() -> None:
    rows = RISING
    result, _ = run(rows, {0: BUY, 2: SELL}, fill_model="fixed", slippage_bps=D(5))

    buy_fill, sell_fill = result.fills
    assert buy_fill.price == D("100.55025")  # 100.5 * 1.0005
    assert buy_fill.quantity == D("99.35340777") == all_in(D(10000), D("100.55025"), TAKER)
    assert buy_fill.fee == D("9.99000999")  # of 9990.00998963
    assert sell_fill.price == D("102.44875")  # 102.5 * 0.9995
    assert sell_fill.fee == D("10.17863243")  # of 10178.63243428
    assert result.final_capital == D("10168.45380223")
    assert result.trades[0].pnl == D("168.45380223")


def test_a_volume_model_fill_pays_the_square_root_impact_of_the_last_24_hours() -> None:
    rows = [
        (100, 102, 98, 100, 500),
        (100, 101, 97, 99, 400),
        (99, 103, 99, 102, 300),
        (102, 104, 101, 103, 200),
        (103, 105, 102, 104, 100),
    ]
    result, _ = run(
        rows, {3: BUY}, step=HOUR, initial_capital=D(1000), fill_model="volume", slippage_bps=D(5)
    )

    # before bar 4: quote volume 100*500 + 99*400 + 102*300 + 103*200 = 140800,
    # range (104 - 97) / 103; bps = 5 + 10000 * range * sqrt(notional / 140800), 4 decimals
    volume, spread, open_ = D(140800), D(7) / D(103), D(103)

    def bps(qty: Decimal) -> Decimal:
        impact = 10000 * spread * (qty * open_ / volume).sqrt()
        return min(D(500), (5 + impact).quantize(D("1e-4"), ROUND_HALF_UP))

    # sized at the open, slipped, sized again at the slipped price, slipped for that size
    first = all_in(D(1000), open_, TAKER)
    qty = all_in(D(1000), r10(open_ * (1 + bps(first) / 10000)), TAKER)
    price = r10(open_ * (1 + bps(qty) / 10000))
    (fill,) = result.fills
    assert bps(qty) == D("62.0683")  # 5 + 10000 * 0.067961 * sqrt(992.82 / 140800)
    assert (fill.bar, fill.quantity, fill.price) == (4, qty, price)
    assert price == D("103.6393034900")
    assert fill.fee == r8(r8(qty * price) * TAKER)
    assert r8(qty * price) + fill.fee <= D(1000)


def test_the_volume_model_caps_the_impact_at_500_bps() -> None:
    rows = [(100, 110, 90, 100, 0.001), (100, 110, 90, 100, 0.001), (100, 101, 99, 100, 1)]
    result, _ = run(rows, {1: BUY}, step=HOUR, fill_model="volume", slippage_bps=D(5))
    assert result.fills[0].price == D("105")  # 100 * (1 + 500 / 10000)


def test_the_volume_model_without_volume_in_the_window_uses_the_base_slippage() -> None:
    # zero-volume bars (as around exchange maintenance), then a bar after a 2-day gap:
    # nothing traded in the 24 hours before either fill, so the base 5 bps apply
    rows = [(100, 100, 100, 100, 0), (100, 100, 100, 100, 0), (100, 101, 99, 100, 10)]
    bars = bars_of(rows, HOUR)
    strategy = Scripted({0: BUY})
    cfg = config(fill_model="volume", slippage_bps=D(5))
    result = run_backtest(bars, strategy, cfg, fast=False)
    assert result.fills[0].price == D("100.05")

    gapped = Bars(
        np.array([0, HOUR, 50 * HOUR], dtype=np.int64),
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        np.array([10.0, 10.0, 10.0]),
    )
    result = run_backtest(gapped, Scripted({1: BUY}), cfg, fast=False)
    assert result.fills[0].price == D("100.05")


def test_zero_volume_bars_still_fill_market_orders_at_the_open() -> None:
    rows = [FLAT, (100, 100, 100, 100, 0), (100, 100, 100, 100, 0), (101, 101, 101, 101, 0)]
    for model, price in (("ideal", D(100)), ("fixed", D("100.05"))):
        result, _ = run(rows, {0: BUY, 2: SELL}, fill_model=model, slippage_bps=D(5))
        assert [f.bar for f in result.fills] == [1, 3]
        assert result.fills[0].price == price


# ---------------------------------------------------------------- limit orders
def test_a_limit_buy_rests_then_fills_at_its_price_with_the_maker_fee() -> None:
    rows = [FLAT, (100, 101, 98, 99, 10), (99, 100, 96, 97, 10), (97, 99, 96, 98, 10)]
    result, strategy = run(rows, {0: limit_buy(97)})

    qty = all_in(D(10000), D(97), MAKER)
    value = r8(qty * 97)
    fee = r8(value * MAKER)
    assert qty == D("103.0103752")  # 10000 / (97 * 1.0008) = 103.010375204...
    (fill,) = result.fills
    assert (fill.bar, fill.order_type, fill.price, fill.quantity, fill.fee) == (
        2,
        "limit",
        D(97),
        qty,
        fee,
    )
    # bar 1: resting, its cost reserved (free cash down, equity unchanged)
    bar1 = strategy.seen[1]
    assert bar1.open_orders == 1
    assert bar1.cash == pytest.approx(float(D(10000) - value - fee))
    assert bar1.equity == pytest.approx(10000.0)
    assert strategy.seen[2].quantity == float(qty)
    assert result.final_capital == r8(D(10000) - value - fee + qty * 98)


def test_a_limit_that_is_never_reached_does_not_fill() -> None:
    rows = [FLAT, (100, 101, 98, 99, 10), (99, 100, 97.5, 98, 10)]
    result, strategy = run(rows, {0: limit_buy(97)})
    assert result.fills == []
    assert result.trades == []
    assert result.final_capital == D(10000)  # the reservation is still cash
    assert strategy.seen[-1].open_orders == 1


def test_a_limit_gapped_through_fills_at_the_limit_price() -> None:
    # resting at 97 from bar 1; bar 2 opens at 94: filled at 97, as the live engine does
    rows = [FLAT, (100, 101, 98, 99, 10), (94, 95, 93, 94, 10)]
    result, _ = run(rows, {0: limit_buy(97)})
    (fill,) = result.fills
    assert (fill.bar, fill.price, fill.fee) == (2, D(97), r8(r8(fill.quantity * 97) * MAKER))


def test_a_limit_buy_above_the_next_open_fills_there_as_a_taker() -> None:
    rows = [FLAT, (100, 101, 98, 99, 10), (99, 100, 96, 97, 10)]
    result, _ = run(rows, {0: limit_buy(101)}, fill_model="fixed", slippage_bps=D(5))
    (fill,) = result.fills
    assert (fill.bar, fill.order_type, fill.price) == (1, "limit", D("100.05"))
    assert fill.quantity == all_in(D(10000), D("100.05"), TAKER)

    capped, _ = run(rows, {0: limit_buy(100.02)}, fill_model="fixed", slippage_bps=D(5))
    assert capped.fills[0].price == D("100.02")  # never worse than the limit


def test_a_new_order_on_a_side_replaces_the_resting_limit_on_that_side() -> None:
    rows = [FLAT, (100, 101, 98, 99, 10), (99, 100, 98, 99, 10), (99, 100, 90, 95, 10)]
    result, strategy = run(rows, {0: limit_buy(91), 1: BUY})
    (fill,) = result.fills  # the limit at 91 would have filled in bar 3
    assert (fill.bar, fill.order_type, fill.price) == (2, "market", D(99))
    assert fill.quantity == all_in(D(10000), D(99), TAKER)  # the reservation came back
    assert strategy.seen[2].open_orders == 0


# ---------------------------------------------------------------- stop-loss and take-profit
ENTRY: Row = (100, 101, 99.5, 100.5, 10)


def protected(**kw: Any) -> dict[int, Decision]:
    return {0: buy(stop_loss=97.0, take_profit=110.0, **kw)}


def entry_fill(result: BacktestResult) -> tuple[Decimal, Decimal]:
    fill = result.fills[0]
    assert (fill.bar, fill.price) == (1, D("100.05"))
    return fill.quantity, r8(fill.quantity * fill.price) + fill.fee


def test_a_stop_loss_fills_at_the_stop_with_slippage_and_the_taker_fee() -> None:
    rows = [FLAT, ENTRY, (100, 100.5, 96, 97, 10), (97, 98, 96, 97, 10)]
    result, strategy = run(rows, protected(), fill_model="fixed", slippage_bps=D(5))

    qty, cost = entry_fill(result)
    assert strategy.seen[1].open_orders == 2  # the OCO pair rests after the entry
    stop = result.fills[1]
    assert (stop.bar, stop.side, stop.order_type, stop.reason) == (2, "sell", "stop", "stop_loss")
    assert stop.price == D("96.9515")  # 97 * 0.9995
    value = r8(qty * D("96.9515"))
    assert stop.fee == r8(value * TAKER)
    (trade,) = result.trades
    assert (trade.exit_reason, trade.exit_price) == ("stop_loss", D("96.9515"))
    assert trade.pnl == value - stop.fee - cost
    assert strategy.seen[2].open_orders == 0  # the take-profit was cancelled with it


def test_a_take_profit_fills_at_its_price_with_the_maker_fee() -> None:
    rows = [FLAT, ENTRY, (101, 111, 100, 110, 10), (110, 112, 109, 111, 10)]
    result, _ = run(rows, protected(), fill_model="fixed", slippage_bps=D(5))
    qty, cost = entry_fill(result)
    tp = result.fills[1]
    assert (tp.bar, tp.order_type, tp.reason, tp.price) == (2, "limit", "take_profit", D(110))
    assert tp.fee == r8(r8(qty * 110) * MAKER)
    assert result.trades[0].pnl == r8(qty * 110) - tp.fee - cost
    assert len(result.fills) == 2


def test_when_both_are_touched_in_one_bar_the_stop_loss_fills_and_the_take_profit_not() -> None:
    rows = [FLAT, ENTRY, (100, 111, 96, 100, 10), (100, 112, 99, 111, 10)]
    result, _ = run(rows, protected(), fill_model="fixed", slippage_bps=D(5))
    assert [(f.bar, f.reason) for f in result.fills] == [(1, "signal"), (2, "stop_loss")]
    assert result.fills[1].price == D("96.9515")
    assert result.trades[0].exit_reason == "stop_loss"


def test_a_gap_below_the_stop_fills_at_the_open() -> None:
    rows = [FLAT, ENTRY, (95, 96, 94, 95, 10)]
    result, _ = run(rows, protected(), fill_model="fixed", slippage_bps=D(5))
    assert result.fills[1].price == D("94.9525")  # the open 95 * 0.9995, not the stop


def test_a_market_entry_is_protected_within_its_own_bar() -> None:
    # bought at the open of bar 1, which then falls through the stop
    rows = [FLAT, (100, 101, 96, 99, 10), (99, 100, 98, 99, 10)]
    result, _ = run(rows, protected())
    assert [(f.bar, f.reason, f.price) for f in result.fills] == [
        (1, "signal", D(100)),
        (1, "stop_loss", D(97)),
    ]


def test_a_limit_entry_takes_profit_only_from_the_next_bar() -> None:
    # bar 1 reaches the limit 99 and the take-profit 110, in an unknown order: no TP yet
    rows = [FLAT, (100, 112, 98, 105, 10), (105, 111, 104, 110, 10)]
    script = {0: limit_buy(99, stop_loss=97.0, take_profit=110.0)}
    result, _ = run(rows, script)
    assert [(f.bar, f.reason, f.price) for f in result.fills] == [
        (1, "signal", D(99)),
        (2, "take_profit", D(110)),
    ]


def test_a_limit_entry_is_stopped_within_its_own_bar() -> None:
    # from an open above the limit the price must pass 99 before it reaches the stop
    rows = [FLAT, (100, 101, 95, 96, 10), (96, 97, 95, 96, 10)]
    script = {0: limit_buy(99, stop_loss=97.0, take_profit=110.0)}
    result, _ = run(rows, script)
    assert [(f.bar, f.reason, f.price) for f in result.fills] == [
        (1, "signal", D(99)),
        (1, "stop_loss", D(97)),
    ]


def test_exits_on_the_wrong_side_of_the_fill_reject_the_buy() -> None:
    # the live engine refuses a stop-loss at or above the entry (and so on)
    rows = [FLAT, (96, 97, 95, 96, 10), (96, 97, 95, 96, 10)]
    result, _ = run(rows, protected())  # fills would be at 96, below the stop 97
    assert result.fills == []


# ---------------------------------------------------------------- the account
def test_a_sell_without_a_position_is_ignored() -> None:
    result, _ = run([FLAT, FLAT, FLAT], {0: SELL})
    assert result.fills == []
    assert result.final_capital == D(10000)


def test_a_buy_without_cash_is_ignored() -> None:
    rows = [FLAT, FLAT, FLAT, FLAT]
    result, _ = run(rows, {0: BUY, 1: BUY})  # the second finds 0.00000099 of cash
    assert [f.bar for f in result.fills] == [1]
    poor, _ = run(rows, {0: BUY}, initial_capital=D("0.000001"))
    assert poor.fills == []  # 1e-6 buys less than 1e-8 at 100


def test_no_shorting_partial_sells_close_first_in_first_out() -> None:
    rows = [FLAT, FLAT, (102, 103, 101, 102, 10), (104, 105, 103, 104, 10), FLAT, FLAT]
    half = Decision(Action.SELL, size=0.5)
    result, _ = run(rows, {0: BUY, 1: half, 2: SELL, 3: SELL})
    buy_fill, first, second = result.fills
    qty = all_in(D(10000), D(100), TAKER)
    assert qty == D("99.9000999")
    assert first.quantity == floor8(qty * D("0.5")) == D("49.95004995")
    assert second.quantity == qty - first.quantity  # the rest, not 0.5 again; no short
    one, two = result.trades
    assert one.quantity + two.quantity == qty
    # the entry's value and fee are shared pro rata, the second piece takes the rest
    entry_value = r8(qty * 100)
    one_value = r8(entry_value * first.quantity / qty)
    one_fee = r8(buy_fill.fee * first.quantity / qty)
    assert one.entry_fee == one_fee
    assert two.entry_fee == buy_fill.fee - one_fee
    assert one.pnl == r8(first.quantity * 102) - one_value - one_fee - first.fee
    assert sum(t.pnl for t in result.trades) == result.final_capital - 10000


def test_a_decision_on_the_last_bar_is_not_executed() -> None:
    result, strategy = run([FLAT, FLAT, FLAT], {2: BUY})
    assert len(strategy.seen) == 3
    assert result.fills == []


def test_an_open_position_at_the_end_is_marked_at_the_last_close_without_a_fee() -> None:
    rows = [FLAT, FLAT, (100, 106, 99, 105.5, 10)]
    result, _ = run(rows, {0: BUY})
    qty = all_in(D(10000), D(100), TAKER)
    (trade,) = result.trades
    assert (trade.exit_reason, trade.closed, trade.exit_bar) == ("end", False, 2)
    assert (trade.exit_price, trade.exit_fee) == (D("105.5"), D(0))
    entry_cost = r8(qty * 100) + result.fills[0].fee
    assert trade.pnl == r8(qty * D("105.5")) - entry_cost
    assert result.final_capital == r8(D(10000) - entry_cost + qty * D("105.5"))


def test_an_open_position_at_the_end_counts_as_a_trade_in_the_summary() -> None:
    """Buy and hold is one trade (open, valued at the last close), not "trades 0"; as
    backtesting.py counts it with finalize_trades."""
    rows = [FLAT, FLAT, (100, 106, 99, 105.5, 10)]
    result, _ = run(rows, {0: BUY})
    (trade,) = result.trades
    assert trade.is_open and not trade.closed
    assert (trade.exit_bar, trade.exit_price) == (2, D("105.5"))
    stats = result.stats
    assert (stats["total_trades"], stats["open_trades"]) == (1, 1)
    assert (stats["winning_trades"], stats["losing_trades"]) == (1, 0)
    assert stats["best_trade"] == stats["worst_trade"] == float(trade.pnl) > 0
    assert stats["win_rate"] == 1.0


def test_closed_and_open_trades_are_counted_together() -> None:
    rows = [FLAT, (100, 101, 99, 99, 10), (99, 100, 98, 99, 10), FLAT, (100, 104, 99, 103, 10)]
    result, _ = run(rows, {0: BUY, 1: SELL, 2: BUY})
    closed, held = result.trades
    assert (closed.closed, held.is_open) == (True, True)
    assert closed.pnl < 0 < held.pnl
    stats = result.stats
    assert (stats["total_trades"], stats["open_trades"]) == (2, 1)
    assert (stats["winning_trades"], stats["losing_trades"]) == (1, 1)
    assert stats["expectancy"] == pytest.approx(float(closed.pnl + held.pnl) / 2)


def test_equity_is_marked_at_every_close_and_exposure_counts_bars_in_the_market() -> None:
    rows = [FLAT, (100, 101, 99, 101, 10), (101, 102, 100, 102, 10), (102, 103, 101, 101, 10)]
    result, _ = run(rows, {0: BUY, 1: SELL})
    qty = all_in(D(10000), D(100), TAKER)
    cash = D(10000) - r8(qty * 100) - result.fills[0].fee
    assert result.equity[0] == 10000.0
    assert result.equity[1] == float(cash) + float(qty) * 101.0
    assert result.equity[2] == result.equity[3] == float(result.final_capital)
    assert result.exposure == 0.25


def test_the_strategy_sees_only_the_past_and_the_account_after_the_bar() -> None:
    rows = [FLAT, (100.5, 102, 100, 101, 10), (101, 103, 100.5, 102, 10)]
    _, strategy = run(rows, {0: BUY})
    for i, ctx in enumerate(strategy.seen):
        assert len(ctx.history) == i + 1
        assert ctx.indicators["close"].shape == (i + 1,)
        assert ctx.close == rows[i][3]
    assert strategy.seen[0].quantity == 0.0
    assert strategy.seen[1].quantity == float(D("99.40308447"))
    assert strategy.seen[1].avg_entry_price == pytest.approx(100.5)


def test_runs_are_deterministic() -> None:
    rng = np.random.default_rng(5)
    rows = random_rows(rng, 300)
    script = {int(i): (BUY if rng.random() < 0.5 else SELL) for i in rng.integers(0, 300, 60)}
    a, _ = run(rows, script, fill_model="volume")
    b, _ = run(rows, script, fill_model="volume")
    assert a.fills == b.fills
    assert a.trades == b.trades
    assert np.array_equal(a.equity, b.equity)
    assert a.stats == b.stats
    assert a.final_capital == b.final_capital


def random_rows(rng: np.random.Generator, n: int) -> list[Row]:
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    rows: list[Row] = []
    prev = 100.0
    for c in close:
        o = round(prev * (1 + rng.normal(0, 0.01)), 2)
        c2 = round(float(c), 2)
        hi = round(max(o, c2) * (1 + abs(rng.normal(0, 0.01))), 2)
        lo = round(min(o, c2) * (1 - abs(rng.normal(0, 0.01))), 2)
        rows.append((o, hi, lo, c2, float(rng.choice([0.0, 5.0, 50.0]))))
        prev = c2
    return rows


class Chaotic(Strategy[NoParams]):
    """Random orders of every kind, to check the account's invariants."""

    name: ClassVar[str] = "chaotic"
    params_model: ClassVar[type[StrategyParams]] = NoParams

    def __init__(self, seed: int) -> None:
        super().__init__(NoParams())
        self.rng = np.random.default_rng(seed)
        self.cash: list[float] = []

    def indicators(self, bars: Bars) -> dict[str, FloatArray]:
        return {}

    def decide(self, ctx: BarContext) -> Decision:
        self.cash.append(ctx.cash)
        r = self.rng.random()
        size = None if self.rng.random() < 0.5 else float(self.rng.uniform(0.1, 1))
        if r < 0.15:
            return Decision(Action.BUY, size=size)
        if r < 0.25:
            price = ctx.close * float(self.rng.uniform(0.9, 1.02))
            sl, tp = ctx.close * 0.9, ctx.close * 1.1
            return Decision(Action.BUY, size, OrderKind.LIMIT, price, stop_loss=sl, take_profit=tp)
        if r < 0.3:
            return Decision(Action.BUY, size=size, stop_loss=ctx.close * 0.95)
        if r < 0.45:
            return Decision(Action.SELL, size=size)
        if r < 0.5:
            price = ctx.close * float(self.rng.uniform(0.98, 1.1))
            return Decision(Action.SELL, size, OrderKind.LIMIT, price)
        return HOLD


@pytest.mark.parametrize("model", ["ideal", "fixed", "volume"])
def test_cash_and_the_position_never_go_negative(model: str) -> None:
    rng = np.random.default_rng(11)
    rows = random_rows(rng, 400)
    strategy = Chaotic(3)
    result = run_backtest(bars_of(rows), strategy, config(fill_model=model), fast=False)
    assert len(result.fills) > 50
    assert min(strategy.cash) >= 0
    cash, held = result.initial_capital, D(0)
    for f in result.fills:
        value = r8(f.price * f.quantity)
        cash += -value - f.fee if f.side == "buy" else value - f.fee
        held += f.quantity if f.side == "buy" else -f.quantity
        assert held >= 0
    assert cash >= 0
    assert result.final_capital == r8(cash + held * D(repr(rows[-1][3])))
    assert sum(t.quantity for t in result.trades if not t.closed) == held
    assert bool((result.equity >= 0).all())


# ---------------------------------------------------------------- the run itself
def test_progress_is_reported_about_a_hundred_times_and_ends_at_the_total() -> None:
    calls: list[tuple[int, int]] = []
    rows = [FLAT] * 1234
    run_backtest(bars_of(rows), Scripted({}), config(), progress=lambda d, t: calls.append((d, t)))
    assert 10 <= len(calls) <= 101
    assert calls[-1] == (1234, 1234)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_stats_come_from_the_metrics_with_buy_and_hold_as_the_benchmark() -> None:
    rows = RISING
    result, _ = run(rows, {0: BUY, 2: SELL})
    assert result.stats["total_trades"] == 1
    assert result.stats["winning_trades"] == 1
    assert result.stats["total_return"] == pytest.approx(float(result.final_capital) / 10000 - 1)
    assert result.stats["beta"] is not None
    assert result.strategy == "scripted"
    assert result.bars == 4


@dataclass
class _Bad:
    decision: Decision
    message: str


@pytest.mark.parametrize(
    "bad",
    [
        _Bad(Decision(Action.BUY, size=1.5), "size"),
        _Bad(Decision(Action.BUY, size=0.0), "size"),
        _Bad(Decision(Action.BUY, order_type=OrderKind.LIMIT), "limit price"),
        _Bad(Decision(Action.BUY, limit_price=99.0), "only for limit"),
        _Bad(Decision(Action.SELL, stop_loss=90.0), "go with a buy"),
        _Bad(Decision(Action.BUY, stop_loss=float("nan")), "stop-loss"),
    ],
)
def test_malformed_decisions_are_refused_naming_the_bar(bad: _Bad) -> None:
    with pytest.raises(InvalidDecision, match=f"bar 1: .*{bad.message}"):
        run([FLAT, FLAT, FLAT], {1: bad.decision})


def test_fast_is_refused_for_a_strategy_without_signals() -> None:
    with pytest.raises(ValueError, match="not signal-only"):
        run_backtest(bars_of([FLAT, FLAT]), Scripted({}), config(), fast=True)


def test_no_bars_is_an_error() -> None:
    with pytest.raises(InvalidCandles, match="there are no candles to backtest"):
        run_backtest(bars_of([]), Scripted({}), config())


def test_indicators_of_the_wrong_length_are_refused() -> None:
    class Short(Scripted):
        def indicators(self, bars: Bars) -> dict[str, FloatArray]:
            return {"x": bars.close[:-1]}

    with pytest.raises(ValueError, match="indicator 'x'"):
        run_backtest(bars_of([FLAT, FLAT]), Short({}), config())
