"""Backtest sessions and the plans they run (the CLI, the API and the worker share them).

A session is created ``pending`` (:func:`create_backtest`); the worker (or the CLI) claims
and runs it (``cryptotrader.backtest.tasks``): ``running`` -> ``completed`` | ``failed``
(with ``error``), or ``cancelled`` by its owner before it finishes.

The strategy of a session (:func:`resolve_strategy`): ``backtest_config.strategy`` (a
built-in name) when set; otherwise the ``ai_strategies`` row of ``strategy_id``, whose
``parameters.strategy`` names the built-in (falling back to the row's ``name`` when that
is a built-in). Parameters: the row's ``parameters`` (without ``strategy``), overridden
by ``backtest_config.parameters``.

Results: the stats columns (NULL where a metric is undefined, e.g. ``profit_factor``
without a losing trade), ``results_data`` (every statistic, the parameters and config,
the data range and, for a sweep, its grid), ``equity_curve`` (``[[iso_time, equity],
...]``, at most 2,000 points: first, last, the max-drawdown peak and trough and each
stretch's low and high), ``trade_history`` (every round trip), and one
``backtest_results`` row per parameter set, ranked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import numpy as np
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import Actor
from cryptotrader.backtest.errors import SessionNotCancellable, SessionNotFound
from cryptotrader.backtest.schemas import (
    BacktestSpec,
    SessionConfig,
    SessionRequest,
    iso_ms,
    jsonable,
    trade_record,
)
from cryptotrader.backtest.sweep import Grid, SweepRow, grid, rank, run_one, run_sweep
from cryptotrader.backtest.sweep import summarize_result as _summary
from cryptotrader.backtest.types import BacktestConfig, BacktestResult
from cryptotrader.db.calls import execute, fetch_all, fetch_one
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.errors import DomainError, InvalidRequest
from cryptotrader.market.candles import aggregate_candles
from cryptotrader.market.errors import NoCandles
from cryptotrader.market.schemas import TIMEFRAME_SECONDS
from cryptotrader.strategies import registry
from cryptotrader.strategies.base import Bars
from cryptotrader.strategies.errors import StrategyNotFound

log = logging.getLogger(__name__)
Q = load_queries("cryptotrader.backtest")

MAX_EQUITY_POINTS = 2000
STATS_COLUMNS = (
    "win_rate",
    "profit_factor",
    "max_drawdown",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
)


# ------------------------------------------------------------------ plans (no database)


@dataclass(frozen=True)
class Plan:
    """What to run: one parameter set, or a grid of them over ``parameters``."""

    strategy: str
    parameters: dict[str, Any]
    config: BacktestConfig
    sweep: Grid | None = None
    ranges: dict[str, list[Any]] | None = None
    rank_by: str = "sharpe_ratio"
    processes: int | None = None


@dataclass
class Outcome:
    """The (best) full result, and every parameter set's summary, ranked."""

    result: BacktestResult
    rows: list[SweepRow] = field(default_factory=list)


def make_plan(
    strategy: str,
    parameters: dict[str, Any],
    config: BacktestConfig,
    *,
    ranges: dict[str, list[Any]] | None = None,
    rank_by: str = "sharpe_ratio",
    processes: int | None = None,
) -> Plan:
    """A checked plan. Raises the registry's ``unknown_strategy`` and
    ``invalid_strategy_parameters`` errors, and InvalidSweep."""
    if ranges:
        swept = grid(ranges, strategy=strategy, base_params=parameters)
        return Plan(strategy, parameters, config, swept, ranges, rank_by, processes)
    registry.build_strategy(strategy, parameters)
    return Plan(strategy, parameters, config, rank_by=rank_by, processes=processes)


def execute_plan(
    bars: Bars, plan: Plan, progress: Callable[[float], None] | None = None
) -> Outcome:
    """Run a plan (CPU-bound; call it from a thread in async code). ``progress`` gets the
    fraction done and may raise to stop the run."""

    def tell(done: int, total: int) -> None:
        if progress is not None and total > 0:
            progress(done / total)

    if plan.sweep is None:
        result = run_one(bars, plan.strategy, plan.parameters, plan.config, progress=tell)
        return Outcome(result, rank([_summary(0, result)], plan.rank_by))
    combos = plan.sweep.combinations
    rows = run_sweep(
        bars,
        plan.strategy,
        plan.parameters,
        combos,
        plan.config,
        processes=plan.processes,
        rank_by=plan.rank_by,
        progress=lambda done, total: tell(done, total + 1),  # + the best one, run in full
    )
    best = {**plan.parameters, **combos[rows[0].index]}
    result = run_one(bars, plan.strategy, best, plan.config)
    tell(1, 1)
    return Outcome(result, rows)


def equity_points(result: BacktestResult, limit: int = MAX_EQUITY_POINTS) -> list[list[Any]]:
    """The equity curve as ``[[iso_time, equity], ...]``, at most ``limit`` points: the
    first and last, the max-drawdown peak and trough, then each stretch's low and high."""
    equity = np.asarray(result.equity, dtype=np.float64)
    times = np.asarray(result.time, dtype=np.int64)
    n = int(equity.shape[0])
    if n <= limit:
        chosen = list(range(n))
    else:
        keep = {0, n - 1}
        for key in ("max_drawdown_start", "max_drawdown_end"):
            i = result.stats.get(key)
            if isinstance(i, int) and 0 <= i < n:
                keep.add(i)
        stretches = (limit - len(keep)) // 2
        edges = np.linspace(0, n, stretches + 1).astype(np.int64)
        for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
            if hi > lo:
                part = equity[lo:hi]
                keep.update((lo + int(np.argmin(part)), lo + int(np.argmax(part))))
        chosen = sorted(keep)
    return [[iso_ms(int(times[i])), round(float(equity[i]), 2)] for i in chosen]


def outcome_document(outcome: Outcome, plan: Plan) -> dict[str, Any]:
    """The result as one JSON document (decimals as strings): strategy, parameters,
    capital, stats and every trade; for a sweep also the ranked combinations."""
    r = outcome.result
    doc: dict[str, Any] = {
        "strategy": r.strategy,
        "parameters": jsonable(r.parameters),
        "bars": r.bars,
        "first_bar": iso_ms(int(r.time[0])) if r.bars else None,
        "last_bar": iso_ms(int(r.time[-1])) if r.bars else None,
        "config": plan.config.model_dump(mode="json"),
        "initial_capital": str(r.initial_capital),
        "final_capital": str(r.final_capital),
        "stats": jsonable(r.stats),
        "trades": [trade_record(t) for t in r.trades],
    }
    if plan.sweep is not None:
        doc["sweep"] = {
            "ranges": jsonable(plan.ranges),
            "combinations": len(plan.sweep),
            "skipped": plan.sweep.skipped,
            "rank_by": plan.rank_by,
        }
        doc["results"] = [row_document(row) for row in outcome.rows]
    return doc


def row_document(row: SweepRow) -> dict[str, Any]:
    return {
        "rank": row.rank,
        "parameters": jsonable(row.parameters),
        "final_capital": str(row.final_capital),
        "total_return": str(row.total_return),
        "total_trades": row.trades,
        "stats": jsonable(row.stats),
    }


def row_document_from_db(row: dict[str, Any]) -> dict[str, Any]:
    """A ``backtest_results`` row in the shape of :func:`row_document`."""
    return {
        "rank": row["rank"],
        "parameters": row["parameters"],
        "final_capital": str(row["final_capital"]),
        "total_return": str(row["total_return"]),
        "total_trades": row["total_trades"],
        "stats": row["stats"],
    }


# ------------------------------------------------------------------ candles


def _bars(row: dict[str, Any]) -> Bars:
    return Bars(
        time=np.asarray(row["time"], dtype=np.int64),
        open=np.asarray(row["open"], dtype=np.float64),
        high=np.asarray(row["high"], dtype=np.float64),
        low=np.asarray(row["low"], dtype=np.float64),
        close=np.asarray(row["close"], dtype=np.float64),
        volume=np.asarray(row["volume"], dtype=np.float64),
    )


async def load_bars(
    conn: Conn, symbol: str, timeframe: str, start: datetime, end: datetime
) -> Bars:
    """Stored bars of ``[start, end)``, oldest first; when the timeframe itself is not
    stored, built from the coarsest finer one that is. Raises NoCandles."""
    params = {"symbol": symbol.upper(), "timeframe": timeframe, "start": start, "end": end}
    row = await fetch_one(conn, Q["bars"], params)
    if row is not None and row["time"]:
        return _bars(row)
    step = TIMEFRAME_SECONDS[timeframe]
    finer = [tf for tf, s in TIMEFRAME_SECONDS.items() if s < step and step % s == 0]
    for source in sorted(finer, key=TIMEFRAME_SECONDS.__getitem__, reverse=True):
        extent = await fetch_one(conn, Q["series_extent"], {**params, "timeframe": source})
        if extent is None or extent["first"] is None:
            continue
        built = await aggregate_candles(
            conn, symbol, timeframe, source_timeframe=source, start=start, end=end
        )
        if built:
            return Bars(
                time=np.array([int(b.open_time.timestamp() * 1000) for b in built], np.int64),
                open=np.array([float(b.open) for b in built]),
                high=np.array([float(b.high) for b in built]),
                low=np.array([float(b.low) for b in built]),
                close=np.array([float(b.close) for b in built]),
                volume=np.array([float(b.volume) for b in built]),
            )
    extent = await fetch_one(conn, Q["series_extent"], params)
    have = (
        f"stored {params['symbol']} {timeframe} bars run from {extent['first']:%Y-%m-%d %H:%M}"
        f" to {extent['last']:%Y-%m-%d %H:%M} UTC"
        if extent is not None and extent["first"] is not None
        else "none are stored (import some with `cryptotrader market import`)"
    )
    raise NoCandles(
        f"no {params['symbol']} {timeframe} candles from {start:%Y-%m-%d %H:%M} to"
        f" {end:%Y-%m-%d %H:%M} UTC; {have}"
    )


def bars_between(bars: Bars, start: datetime | None, end: datetime | None) -> Bars:
    """The bars opening in ``[start, end)`` (either may be None)."""
    lo = 0 if start is None else int(np.searchsorted(bars.time, _ms(start), side="left"))
    hi = len(bars) if end is None else int(np.searchsorted(bars.time, _ms(end), side="left"))
    if hi <= lo:
        raise NoCandles("no candles in that range")
    part = slice(lo, hi)
    return Bars(
        bars.time[part],
        bars.open[part],
        bars.high[part],
        bars.low[part],
        bars.close[part],
        bars.volume[part],
    )


def bars_extent(
    bars: Bars, timeframe: str, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """``start`` and ``end``, defaulting to the first bar's open and the last one's end."""
    first = datetime.fromtimestamp(int(bars.time[0]) / 1000, tz=UTC)
    last = datetime.fromtimestamp(int(bars.time[-1]) / 1000, tz=UTC)
    return start or first, end or last + timedelta(seconds=TIMEFRAME_SECONDS[timeframe])


def _ms(t: datetime) -> int:
    return int((t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp() * 1000)


async def series_extent(conn: Conn, symbol: str, timeframe: str) -> tuple[datetime, datetime]:
    """First open time and the end of the last bar of a stored series. Raises NoCandles."""
    row = await fetch_one(
        conn, Q["series_extent"], {"symbol": symbol.upper(), "timeframe": timeframe}
    )
    if row is None or row["first"] is None:
        raise NoCandles(f"no {symbol.upper()} {timeframe} candles are stored")
    return row["first"], row["last"] + timedelta(seconds=TIMEFRAME_SECONDS[timeframe])


async def resolve_range(
    conn: Conn | None,
    symbol: str,
    timeframe: str,
    start: datetime | None,
    end: datetime | None,
    *,
    bars: Bars | None = None,
) -> tuple[datetime, datetime]:
    """A run's ``[start, end)``: a missing bound from ``bars`` (a CSV file; ``conn`` may be
    None then), else from the stored series (:func:`series_extent`). Raises NoCandles."""
    if bars is not None:
        return bars_extent(bars, timeframe, start, end)
    if start is None or end is None:
        if conn is None:
            raise ValueError("a range without bars needs a connection")
        first, after_last = await series_extent(conn, symbol, timeframe)
        start, end = start or first, end or after_last
    return start, end


# ------------------------------------------------------------------ sessions


async def resolve_strategy(
    conn: Conn, user_id: UUID, strategy_id: UUID | None, cfg: BacktestSpec
) -> tuple[str, dict[str, Any]]:
    """The built-in strategy and parameters of a session (see the module's docstring).
    Raises StrategyNotFound and InvalidRequest."""
    if strategy_id is None:
        if cfg.strategy is None:
            raise InvalidRequest("the session names no strategy")
        return cfg.strategy, dict(cfg.parameters)
    row = await fetch_one(conn, Q["get_strategy"], {"id": strategy_id, "user_id": user_id})
    if row is None:
        raise StrategyNotFound(f"strategy {strategy_id} not found")
    stored = dict(row["parameters"] or {})
    named = stored.pop("strategy", None)
    name = cfg.strategy or named or (row["name"] if row["name"] in registry.STRATEGIES else None)
    if not isinstance(name, str):
        raise InvalidRequest(
            f"strategy {row['name']!r} names no built-in strategy: set its parameters.strategy"
            f" to one of {', '.join(registry.STRATEGIES)}"
        )
    return name, stored | dict(cfg.parameters)


async def _new_session(conn: Conn, user_id: UUID, request: SessionRequest) -> dict[str, Any]:
    """A pending session for ``user_id`` (as that user, RLS checks it is the caller).
    The strategy, its parameters and the sweep are checked now, so a bad request is
    refused here rather than failing later. Raises StrategyNotFound, the registry's
    errors and InvalidSweep."""
    name, params = await resolve_strategy(conn, user_id, request.strategy_id, request)
    make_plan(name, params, request.config, ranges=request.sweep, rank_by=request.rank_by)
    row = await fetch_one(
        conn,
        Q["insert_session"],
        {
            "user_id": user_id,
            "session_name": request.session_name or request.default_name(),
            "symbol": request.symbol,
            "timeframe": request.timeframe,
            "strategy_id": request.strategy_id,
            "bot_id": request.bot_id,
            "start_date": request.start,
            "end_date": request.end,
            "initial_capital": request.config.initial_capital,
            "backtest_config": Jsonb(request.stored_config()),
        },
    )
    assert row is not None  # INSERT ... RETURNING
    return row


async def create_backtest(
    conn: Conn, actor: Actor, user_id: UUID, request: SessionRequest
) -> dict[str, Any]:
    """:func:`_new_session`, audited ``backtest.create`` (for the session's owner)."""
    row = await _new_session(conn, user_id, request)
    details = {"symbol": row["symbol"], "timeframe": row["timeframe"]}
    details["sweep"] = bool(request.sweep)
    await audit.record(
        conn, actor, "backtest.create", "backtest_session", row["id"], details, user_id=user_id
    )
    return row


async def get_session(conn: Conn, session_id: UUID) -> dict[str, Any]:
    """One session (another user's is not found). Raises SessionNotFound."""
    row = await fetch_one(conn, Q["get_session"], {"id": session_id})
    if row is None:
        raise SessionNotFound(f"backtest session {session_id} not found")
    return row


async def list_sessions(
    conn: Conn, *, user_id: UUID | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Newest first, without the JSON columns."""
    return await fetch_all(conn, Q["list_sessions"], {"user_id": user_id, "limit": limit})


UNRANKED = 2_147_483_647
"""Where results without a rank sort, in the key of :func:`list_results`."""


async def list_results(
    conn: Conn,
    session_id: UUID,
    *,
    after: tuple[int, UUID] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """A session's results, best first, after the (rank or UNRANKED, id) of the previous
    page's last one."""
    rank, row_id = after if after is not None else (None, None)
    return await fetch_all(
        conn,
        Q["list_results"],
        {"session_id": session_id, "after_rank": rank, "after_id": row_id, "limit": limit},
    )


async def cancel_session(conn: Conn, session_id: UUID) -> bool:
    """Cancel a pending or running session; False when it had already finished.
    Raises SessionNotFound."""
    await get_session(conn, session_id)
    return await fetch_one(conn, Q["cancel_session"], {"id": session_id}) is not None


async def list_session_page(
    conn: Conn, *, after: tuple[datetime, UUID] | None, limit: int
) -> list[dict[str, Any]]:
    """The caller's sessions (RLS) newest first, after a (created_at, id) cursor, without
    the JSON columns."""
    at, row_id = after if after is not None else (None, None)
    return await fetch_all(
        conn, Q["list_sessions_page"], {"after_at": at, "after_id": row_id, "limit": limit}
    )


async def _stop_session(conn: Conn, session_id: UUID) -> dict[str, Any]:
    """Cancel a pending or running session (a running one stops at its runner's next
    progress update) and return it. Raises SessionNotFound, SessionNotCancellable."""
    if not await cancel_session(conn, session_id):
        status = (await get_session(conn, session_id))["status"]
        raise SessionNotCancellable(f"backtest session is {status}, not pending or running")
    return await get_session(conn, session_id)


async def cancel_backtest(conn: Conn, actor: Actor, session_id: UUID) -> dict[str, Any]:
    """:func:`_stop_session`, audited ``backtest.cancel`` (for the session's owner)."""
    row = await _stop_session(conn, session_id)
    await audit.record(
        conn, actor, "backtest.cancel", "backtest_session", session_id, user_id=row["user_id"]
    )
    return row


async def delete_backtest(conn: Conn, actor: Actor, session_id: UUID) -> None:
    """:func:`_delete_session`, audited ``backtest.delete``. Raises SessionNotFound."""
    await _delete_session(conn, session_id)
    await audit.record(conn, actor, "backtest.delete", "backtest_session", session_id)


async def _delete_session(conn: Conn, session_id: UUID) -> None:
    """Delete a session and its results, whatever its status (a running one stops at its
    runner's next progress update). Raises SessionNotFound."""
    if await fetch_one(conn, Q["delete_session"], {"id": session_id}) is None:
        raise SessionNotFound(f"backtest session {session_id} not found")


async def session_results(
    conn: Conn,
    session_id: UUID,
    *,
    after: tuple[int, UUID] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """A session's ``backtest_results`` rows, best first (a page as in
    :func:`list_results`). Raises SessionNotFound."""
    await get_session(conn, session_id)
    return await list_results(conn, session_id, after=after, limit=limit)


def describe_error(exc: BaseException) -> str:
    """The text stored in ``error``: a domain error's detail, a validation error's
    messages, else the exception's class and message."""
    if isinstance(exc, DomainError):
        return exc.detail
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors()
        )
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def plan_session(
    conn: Conn, session: dict[str, Any], *, processes: int | None = None, csv: bool = False
) -> Plan:
    """The checked plan of a stored session (its ``initial_capital`` column is the
    capital). Raises InvalidRequest (also for a session whose bars come from a CSV file,
    unless ``csv``: the caller has them) and the strategy's errors (the session then
    fails with their message)."""
    try:
        cfg = SessionConfig.model_validate(session["backtest_config"] or {})
    except ValidationError as exc:
        raise InvalidRequest(f"backtest_config: {describe_error(exc)}") from None
    if session["timeframe"] not in TIMEFRAME_SECONDS:
        known = ", ".join(TIMEFRAME_SECONDS)
        raise InvalidRequest(f"unknown timeframe {session['timeframe']!r} (one of {known})")
    if cfg.source.kind != "database" and not csv:
        raise InvalidRequest(
            "this session's bars came from a CSV file; run it with `cryptotrader backtest --csv`"
        )
    name, params = await resolve_strategy(conn, session["user_id"], session["strategy_id"], cfg)
    config = cfg.config
    if session["initial_capital"] is not None and session["initial_capital"] > 0:
        config = config.model_copy(update={"initial_capital": session["initial_capital"]})
    return make_plan(
        name, params, config, ranges=cfg.sweep, rank_by=cfg.rank_by, processes=processes
    )


def _numeric(value: Any) -> Decimal | None:
    """A statistic for a NUMERIC column: None (SQL NULL) when undefined."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal | int):
        return Decimal(value)
    number = float(value)
    return Decimal(repr(number)) if np.isfinite(number) else None


def _stats_columns(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: _numeric(stats.get(k)) for k in STATS_COLUMNS} | {
        k: int(stats.get(k) or 0) for k in ("total_trades", "winning_trades", "losing_trades")
    }


async def store_outcome(conn: Conn, session: dict[str, Any], plan: Plan, outcome: Outcome) -> bool:
    """Write the results if the session is still running (False when it was cancelled
    meanwhile: nothing is written then)."""
    result = outcome.result
    doc = outcome_document(outcome, plan)
    trades = doc.pop("trades")
    doc.pop("results", None)
    doc["exposure"] = result.exposure
    doc["fast_path"] = result.fast_path
    done = await fetch_one(
        conn,
        Q["complete_session"],
        {
            "id": session["id"],
            "final_capital": result.final_capital,
            **_stats_columns(result.stats),
            "results_data": Jsonb(doc),
            "equity_curve": Jsonb(equity_points(result)),
            "trade_history": Jsonb(trades),
        },
    )
    if done is None:
        return False
    await execute(conn, Q["delete_results"], {"session_id": session["id"]})
    rows = [
        {
            "session_id": session["id"],
            "user_id": session["user_id"],
            "parameters": Jsonb(jsonable(row.parameters)),
            "rank": row.rank,
            "final_capital": row.final_capital,
            "total_return": row.total_return,
            **_stats_columns(row.stats),
            "stats": Jsonb(jsonable(row.stats)),
        }
        for row in outcome.rows
    ]
    async with conn.cursor() as cur:
        await cur.executemany(Q["insert_result"], rows)
    return True
