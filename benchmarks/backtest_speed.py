"""Backtest speed: an SMA crossover over 1,000,000 one-minute candles, in bars/s, beside
backtesting.py 0.6 on the same candles with the same strategy.

Setup (not measured): 1,000,000 one-minute candles bootstrapped from the real Binance
candles of ``data/ohlcv/BTC-USDT_1m.csv`` (42,915 bars): blocks of 60 consecutive real
bars, drawn with a seeded RNG, are chained so that each bar keeps its real gap from the
previous close, its body, wicks and volume (as log ratios to its open); the mean log
return is taken out, so the price wanders without the source month's drift (it stays
between about 51k and 285k); prices are rounded to cents, which keeps
``low <= open, close <= high``. One bar per minute from 2021-01-01.

Strategy: ``sma_crossover`` (fast 10, slow 30) from our registry: buy with all the cash
when SMA(10) crosses above SMA(30), sell everything when it crosses below; decisions on
a bar's close fill at the next bar's open; 0.1% commission (our taker fee), the ideal
fill model (no slippage), long only.

Measured, after one warm-up run of each, alternately, ``--runs`` times each (the median
is reported):
  * ours: ``run_backtest(bars, strategy, config)``, the fast path: indicators (TA-Lib's
    SMA), signals, every fill in Decimal, the equity curve and the statistics;
  * reference: backtesting.py's ``FractionalBacktest(...).run()`` (units of 1e-8 BTC, as
    our quantities have 8 decimals) with ``commission=0.001`` and ``finalize_trades=True``,
    its strategy ``if crossover(fast, slow): self.buy()`` / ``elif crossover(slow, fast):
    self.position.close()`` — fed *our* two SMA arrays through ``self.I`` so that both sides
    cross on exactly the same floats (its own rolling mean differs in the last bits and may
    flip a near-tie). Its run includes its statistics, as ours does.
Both start with 1e24 of cash: an all-in 1-minute SMA crossover pays 0.2% per round trip
over ~20,000 round trips and loses all but ~1e-20 of its capital; starting smaller, one
side would run out of whole 1e-8 units before the other and the trade lists would part.

Then every trade's entry and exit bar is compared (backtesting.py's ``EntryBar`` /
``ExitBar`` against our ``entry_bar`` / ``exit_bar``; a position still open at the end is
closed at the last bar's close by both: ``finalize_trades=True`` puts it in backtesting.py's
``_trades`` and ``# Trades``, and ours is the open ``"end"`` trade, which our summary's
``total_trades`` counts too), and so are the two summaries' trade counts. For
information, the bar-by-bar loop (``fast=False``) runs once over ``--loop-rows`` bars; it
must give the same result.

Target: our bars/s at least 20x backtesting.py's, and identical entry and exit bars.
The last line printed is one JSON object.

    .venv/bin/python benchmarks/backtest_speed.py [--rows 1000000] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from backtesting import Strategy as BtStrategy
from backtesting.lib import FractionalBacktest, crossover

import _harness as h
from cryptotrader.backtest import BacktestConfig, BacktestResult, load_csv, run_backtest
from cryptotrader.strategies.base import Bars, FloatArray
from cryptotrader.strategies.registry import build_strategy

TARGET = 20.0
SOURCE = Path(__file__).resolve().parent.parent / "data" / "ohlcv" / "BTC-USDT_1m.csv"
START_MS = 1_609_459_200_000  # 2021-01-01T00:00:00Z
MINUTE_MS = 60_000
BLOCK = 60
CASH = Decimal("1e24")
PARAMS = {"fast": 10, "slow": 30}


def bootstrap(source: Bars, rows: int, seed: int) -> Bars:
    """``rows`` one-minute candles chained from random 60-bar blocks of ``source``."""
    o, hi, lo, c = source.open, source.high, source.low, source.close
    gap = np.log(o[1:] / c[:-1])  # this bar's open over the previous close
    body = np.log(c[1:] / o[1:])
    up = np.log(hi[1:] / o[1:])
    down = np.log(lo[1:] / o[1:])
    drift = float((gap + body).mean())
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, gap.size - BLOCK + 1, size=-(-rows // BLOCK))
    pick = (starts[:, None] + np.arange(BLOCK)).ravel()[:rows]
    steps = gap[pick] - drift + np.concatenate(([0.0], body[pick][:-1]))
    opens = c[0] * np.exp(np.cumsum(steps))
    return Bars(
        START_MS + MINUTE_MS * np.arange(rows, dtype=np.int64),
        np.round(opens, 2),
        np.round(opens * np.exp(up[pick]), 2),
        np.round(opens * np.exp(down[pick]), 2),
        np.round(opens * np.exp(body[pick]), 2),
        source.volume[1:][pick].copy(),
    )


def run_ours(bars: Bars, *, fast: bool = True) -> tuple[float, BacktestResult]:
    config = BacktestConfig(
        initial_capital=CASH, fill_model="ideal", taker_fee_rate=Decimal("0.001")
    )
    strategy = build_strategy("sma_crossover", PARAMS)
    t0 = time.perf_counter()
    result = run_backtest(bars, strategy, config, fast=fast)
    return time.perf_counter() - t0, result


def reference_frame(bars: Bars) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Open": bars.open,
            "High": bars.high,
            "Low": bars.low,
            "Close": bars.close,
            "Volume": bars.volume,
        },
        index=pd.to_datetime(bars.time, unit="ms"),
    )


def run_reference(frame: pd.DataFrame, sma: dict[str, FloatArray]) -> tuple[float, Any]:
    fast_sma, slow_sma = sma["sma_fast"], sma["sma_slow"]

    class SmaCross(BtStrategy):  # type: ignore[misc]
        def init(self) -> None:
            self.fast = self.I(lambda: fast_sma, name="SMA(10)")
            self.slow = self.I(lambda: slow_sma, name="SMA(30)")

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = FractionalBacktest(
            frame, SmaCross, cash=float(CASH), commission=0.001, finalize_trades=True
        )
        t0 = time.perf_counter()
        stats = bt.run()
        return time.perf_counter() - t0, stats


def compare_trades(ours: BacktestResult, stats: Any) -> tuple[int, int, int]:
    """(our trades, theirs, trades whose entry or exit bar differ, by position)."""
    mine = [(t.entry_bar, t.exit_bar) for t in ours.trades]
    frame = stats["_trades"]
    theirs = list(zip(frame["EntryBar"].tolist(), frame["ExitBar"].tolist(), strict=True))
    mismatches = sum(1 for a, b in zip(mine, theirs, strict=False) if a != b)
    mismatches += abs(len(mine) - len(theirs))
    return len(mine), len(theirs), mismatches


def same_result(a: BacktestResult, b: BacktestResult) -> bool:
    return (
        a.fills == b.fills
        and a.trades == b.trades
        and a.final_capital == b.final_capital
        and np.array_equal(a.equity, b.equity)
    )


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="one-minute candles")
    parser.add_argument("--runs", type=int, default=7, help="measured runs of each")
    parser.add_argument("--loop-rows", type=int, default=1_000_000, help="bars for the loop")
    parser.add_argument("--seed", type=int, default=20210420)
    opts = parser.parse_args()
    if opts.rows < 100 or opts.runs < 1 or opts.loop_rows < 0:
        parser.error("--rows must be at least 100, --runs at least 1")
    return opts


def _setup(rows: int, seed: int) -> tuple[Bars, pd.DataFrame, dict[str, FloatArray]]:
    t0 = time.perf_counter()
    bars = bootstrap(load_csv(SOURCE), rows, seed)
    frame = reference_frame(bars)
    sma = build_strategy("sma_crossover", PARAMS).indicators(bars)
    print(
        f"  setup: {len(bars):,} candles bootstrapped from {SOURCE.name}, close"
        f" {bars.close.min():,.2f}..{bars.close.max():,.2f}, in"
        f" {time.perf_counter() - t0:.1f} s (not measured)"
    )
    return bars, frame, sma


def _measure(
    bars: Bars, frame: pd.DataFrame, sma: dict[str, FloatArray], runs: int
) -> tuple[list[float], list[float], BacktestResult, Any]:
    """Both sides ``runs`` times, alternately, after one warm-up run of each: the first
    calls, and the allocator's first big blocks (the first million-bar run of either side
    is 20-80% slower than the next ones)."""
    run_ours(bars)
    run_reference(frame, sma)
    ours_s: list[float] = []
    ref_s: list[float] = []
    result: BacktestResult | None = None
    stats: Any = None
    for i in range(runs):
        seconds, result = run_ours(bars)
        ours_s.append(seconds)
        seconds, stats = run_reference(frame, sma)
        ref_s.append(seconds)
        print(
            f"  run {i + 1}: ours {ours_s[-1]:.3f} s ({len(bars) / ours_s[-1]:,.0f} bars/s),"
            f" backtesting.py {ref_s[-1]:.2f} s ({len(bars) / ref_s[-1]:,.0f} bars/s)"
        )
    if result is None or not result.fast_path:
        raise SystemExit("our run did not take the fast path")
    return ours_s, ref_s, result, stats


def _check_trades(result: BacktestResult, stats: Any) -> tuple[int, int, int]:
    """(our trades, theirs, mismatches): entry/exit bars, and the summaries' counts."""
    mine, theirs, mismatches = compare_trades(result, stats)
    counted = (int(result.stats["total_trades"]), int(stats["# Trades"]))
    print(
        f"  trades: ours {mine:,} (open at the end {sum(t.is_open for t in result.trades):,}),"
        f" backtesting.py {theirs:,}; entry/exit bar mismatches: {mismatches}"
    )
    print(
        f"  summary trade count: ours {counted[0]:,}, backtesting.py {counted[1]:,}"
        f" ({'same' if counted[0] == counted[1] == mine else 'DIFFERENT'})"
    )
    mismatches += 0 if counted[0] == counted[1] == mine else 1
    print(
        f"  final capital: ours {result.final_capital:.2f},"
        f" backtesting.py {float(stats['Equity Final [$]']):.2f} (of {CASH:.0e})"
    )
    return mine, theirs, mismatches


def _loop(bars: Bars, rows: int, result: BacktestResult) -> tuple[float | None, bool]:
    """The bar-by-bar loop over the first ``rows`` bars, for information: its bars/s
    (None when not run) and whether it gives the fast path's result."""
    if not rows:
        return None, True
    part = bars if rows >= len(bars) else _prefix(bars, rows)
    loop_s, loop = run_ours(part, fast=False)
    _, fast = run_ours(part) if part is not bars else (0.0, result)
    same = same_result(loop, fast)
    print(
        f"  bar-by-bar loop (for information): {len(part):,} bars in {loop_s:.2f} s"
        f" ({len(part) / loop_s:,.0f} bars/s); identical to the fast path:"
        f" {'yes' if same else 'NO'}"
    )
    return len(part) / loop_s, same


def main() -> None:
    opts = _options()
    print(f"machine: {h.machine()}")
    bars, frame, sma = _setup(opts.rows, opts.seed)
    ours_s, ref_s, result, stats = _measure(bars, frame, sma, opts.runs)
    mine, theirs, mismatches = _check_trades(result, stats)
    loop, loop_same = _loop(bars, opts.loop_rows, result)
    ours = len(bars) / statistics.median(ours_s)
    ref = len(bars) / statistics.median(ref_s)
    ratio = ours / ref
    print(
        f"backtest speed: {ours:,.0f} bars/s (median of {opts.runs}); backtesting.py"
        f" {ref:,.0f} bars/s; ratio {ratio:.1f}; target >= {TARGET:.0f}x with identical"
        f" entry/exit bars"
    )
    h.emit(
        {
            "benchmark": "backtest_speed",
            "value": round(ours),
            "unit": "bars/s",
            "reference": round(ref),
            "ratio": round(ratio, 2),
            "target": TARGET,
            "pass": ratio >= TARGET and mismatches == 0,
            "bars": len(bars),
            "trades": mine,
            "reference_trades": theirs,
            "mismatches": mismatches,
            "loop_value": None if loop is None else round(loop),
            "loop_ratio": None if loop is None else round(loop / ref, 2),
            "loop_identical": loop_same,
        }
    )


def _prefix(bars: Bars, rows: int) -> Bars:
    return bars.upto(rows - 1)


if __name__ == "__main__":
    main()
