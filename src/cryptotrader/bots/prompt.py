"""An LLM strategy's prompt, rendered with a documented context (docs/bots.md): the recent
bars of each allowed symbol, the strategy's indicators computed here (the model reasons
over numbers, it does not compute them), the bot's positions, cash and limits. The context
is also hashed (``snapshot_hash``), so a decision can be found again for the same model,
prompt and data (record and replay).

Indicators are named ``name`` or ``name_param[_param...]``: ``sma_20``, ``ema_50``,
``rsi_14``, ``macd_12_26_9``, ``bollinger_20``, ``atr_14``, ``vwap_20`` (the defaults:
``rsi`` 14, ``macd`` 12/26/9, ``bollinger`` 20, ``atr`` 14, ``sma``/``ema``/``vwap`` 20).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from cryptotrader.bots.errors import UnknownIndicator
from cryptotrader.bots.llm import Prompt
from cryptotrader.market.schemas import Candle
from cryptotrader.strategies import indicators as ta

SYSTEM = (
    "You are the decision step of a paper-trading bot. Decide one action for this bar: buy,"
    " sell or hold, for one of the allowed symbols only, with a size as a fraction (0 to 1)"
    " of the bot's capital cap, a confidence from 0 to 1 and your reasoning. The numbers in"
    " the context are computed for you; do not recompute them. When unsure, hold."
)
BARS_SHOWN = 20  # the newest bars per symbol in the context, by default
HISTORY_BARS = 200  # the indicators are computed over at least this many bars


def history_bars(shown: int) -> int:
    """How many bars a context needs per symbol: the ``shown`` ones, and enough history
    for the indicators (an EMA 50 or a MACD 12/26/9 is defined, and settled, well within
    200 bars)."""
    return max(shown, HISTORY_BARS)


Series = Mapping[str, np.ndarray[Any, np.dtype[np.float64]]]
_DEFAULTS: dict[str, tuple[int, ...]] = {
    "sma": (20,),
    "ema": (20,),
    "rsi": (14,),
    "macd": (12, 26, 9),
    "bollinger": (20,),
    "atr": (14,),
    "vwap": (20,),
}


def _last(values: np.ndarray[Any, np.dtype[np.float64]]) -> float | None:
    x = float(values[-1]) if len(values) else math.nan
    return None if math.isnan(x) else round(x, 8)


_COMPUTE: dict[str, Callable[[Series, tuple[int, ...]], Any]] = {
    "sma": lambda s, p: _last(ta.sma(s["close"], p[0])),
    "ema": lambda s, p: _last(ta.ema(s["close"], p[0])),
    "rsi": lambda s, p: _last(ta.rsi(s["close"], p[0])),
    "macd": lambda s, p: dict(
        zip(("macd", "signal", "histogram"), map(_last, ta.macd(s["close"], *p)), strict=True)
    ),
    "bollinger": lambda s, p: dict(
        zip(("upper", "middle", "lower"), map(_last, ta.bollinger(s["close"], p[0])), strict=True)
    ),
    "atr": lambda s, p: _last(ta.atr(s["high"], s["low"], s["close"], p[0])),
    "vwap": lambda s, p: _last(ta.vwap(s["high"], s["low"], s["close"], s["volume"], p[0])),
}


def parse_indicator(spec: str) -> tuple[str, tuple[int, ...]]:
    """``rsi_14`` -> ("rsi", (14,)); ``macd`` -> ("macd", (12, 26, 9)). Raises
    UnknownIndicator."""
    name, *params = spec.strip().lower().split("_")
    if name not in _COMPUTE:
        raise UnknownIndicator(f"no indicator {spec!r}; known: {', '.join(sorted(_COMPUTE))}")
    defaults = _DEFAULTS[name]
    try:
        given = tuple(int(p) for p in params)
    except ValueError:
        raise UnknownIndicator(f"{spec!r}: an indicator's parameters are whole numbers") from None
    if len(given) > len(defaults):
        raise UnknownIndicator(f"{spec!r}: {name} takes at most {len(defaults)} parameter(s)")
    return name, given + defaults[len(given) :]


def compute_indicators(specs: Sequence[str], bars: Sequence[Candle]) -> dict[str, Any]:
    """Each indicator's value at the newest bar (None before it is defined)."""
    series: Series = {
        k: np.array([float(getattr(b, k)) for b in bars], dtype=np.float64)
        for k in ("open", "high", "low", "close", "volume")
    }
    out: dict[str, Any] = {}
    for spec in specs:
        name, params = parse_indicator(spec)
        try:
            out[spec] = _COMPUTE[name](series, params)
        except ValueError as exc:  # a period out of range, fast >= slow, ...
            raise UnknownIndicator(f"{spec!r}: {exc}") from None
    return out


@dataclass(frozen=True, kw_only=True)
class Context:
    """What the bot knows at the bar it decides on."""

    timeframe: str
    bars: Mapping[str, Sequence[Candle]]  # per allowed symbol, oldest first
    cash: Decimal
    capital_cap: Decimal
    max_position_size: Decimal
    positions: Mapping[str, Decimal] = field(default_factory=dict)  # symbol -> quantity
    shown: int = BARS_SHOWN  # the newest bars the context shows (the indicators see all)


@dataclass(frozen=True, kw_only=True)
class Rendered:
    prompt: Prompt
    context: dict[str, Any]  # what the user message shows, as data
    snapshot_hash: str  # sha256 of the context, canonical JSON


def _money(x: Decimal) -> str:
    return format(x.normalize(), "f")


def build_context(ctx: Context, indicator_specs: Sequence[str]) -> dict[str, Any]:
    """The documented context: per symbol its newest bars and indicators, then the bot."""
    symbols: dict[str, Any] = {}
    for symbol in sorted(ctx.bars):
        bars = list(ctx.bars[symbol])
        symbols[symbol] = {
            "bars": [
                {
                    "time": b.open_time.isoformat(),
                    "open": _money(b.open),
                    "high": _money(b.high),
                    "low": _money(b.low),
                    "close": _money(b.close),
                    "volume": _money(b.volume),
                }
                for b in bars[-ctx.shown :]
            ],
            "indicators": compute_indicators(indicator_specs, bars) if bars else {},
        }
    return {
        "timeframe": ctx.timeframe,
        "allowed_symbols": sorted(ctx.bars),
        "symbols": symbols,
        "cash": _money(ctx.cash),
        "capital_cap": _money(ctx.capital_cap),
        "max_position_size": _money(ctx.max_position_size),
        "positions": {s: _money(q) for s, q in sorted(ctx.positions.items()) if q},
    }


def render(strategy_prompt: str, ctx: Context, indicator_specs: Sequence[str]) -> Rendered:
    """The strategy's prompt with the context: at ``{context}`` where it says so (and its
    ``{symbols}`` and ``{timeframe}``), else after it. No other braces are touched."""
    data = build_context(ctx, indicator_specs)
    shown = json.dumps(data, indent=1, sort_keys=True)
    text = strategy_prompt.replace("{symbols}", ", ".join(data["allowed_symbols"]))
    text = text.replace("{timeframe}", ctx.timeframe)
    user = (
        text.replace("{context}", shown) if "{context}" in text else f"{text}\n\nContext:\n{shown}"
    )
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return Rendered(
        prompt=Prompt(system=SYSTEM, user=user, allowed_symbols=data["allowed_symbols"]),
        context=data,
        snapshot_hash=hashlib.sha256(canonical.encode()).hexdigest(),
    )
