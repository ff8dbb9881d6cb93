"""Backtesting: strategies over historical candles with the live engine's fill rules.

``run_backtest(bars, strategy, config)`` is the entry point; ``load_csv`` and
``bars_from_rows`` give it candles. See ``docs/backtesting.md``.
"""

from cryptotrader.backtest.data import bars_from_rows, check_bars, load_csv
from cryptotrader.backtest.engine import run_backtest
from cryptotrader.backtest.errors import InvalidCandles, InvalidDecision
from cryptotrader.backtest.types import (
    BacktestConfig,
    BacktestResult,
    ExitReason,
    Fill,
    FillModelName,
    Progress,
    Trade,
)

__all__ = [
    "BacktestConfig",
    "BacktestResult",
    "ExitReason",
    "Fill",
    "FillModelName",
    "InvalidCandles",
    "InvalidDecision",
    "Progress",
    "Trade",
    "bars_from_rows",
    "check_bars",
    "load_csv",
    "run_backtest",
]
