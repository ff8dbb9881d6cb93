"""``cryptotrader backtest``: run one (the default command), or list, show and cancel
stored sessions. A run recorded for a user (``--user``) and a cancel are audited as the
system, through the same service functions the API calls."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast
from uuid import UUID

import typer
from typer.core import TyperGroup

from cryptotrader.audit.schemas import SYSTEM
from cryptotrader.cli import render
from cryptotrader.cli.common import (
    TimeframeOption,
    bad_input_exits_2,
    friendly_errors,
    range_end,
    run_service,
    user_id_of,
    utc,
)
from cryptotrader.cli.render import console
from cryptotrader.config import get_settings
from cryptotrader.db.session import Conn
from cryptotrader.db.target import resolve_target
from cryptotrader.errors import InvalidRequest

if TYPE_CHECKING:
    from cryptotrader.backtest.schemas import SessionRequest
    from cryptotrader.backtest.service import Plan
    from cryptotrader.market.schemas import Timeframe
    from cryptotrader.strategies.base import Bars

Span = tuple[datetime, datetime]


class _RunByDefault(TyperGroup):
    """``cryptotrader backtest --symbol BTC ...`` means ``cryptotrader backtest run ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_RunByDefault,
    help="Backtests: run one (the default: `cryptotrader backtest --symbol BTC ...`), or list,"
    " show and cancel stored sessions.",
    no_args_is_help=True,
)


class FillModelOption(StrEnum):
    ideal = "ideal"
    fixed = "fixed"
    volume = "volume"


# ------------------------------------------------------------------ the options of `run`

SymbolOpt = Annotated[
    str | None, typer.Option(help="Ticker, e.g. BTC (with --csv: default from the name).")
]
TimeframeOpt = Annotated[
    TimeframeOption, typer.Option(help="Bar length (of the stored bars, or of the file).")
]
StrategyOpt = Annotated[str, typer.Option(help="A built-in strategy.")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", help="name=value; repeatable.")]
SweepOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--sweep",
        help="Run a grid: name=start:stop:step or name=a,b,c. Several may follow one"
        " --sweep (--sweep fast=5:50:5 slow=20:200:10) or each have their own.",
    ),
]
MoreRangesArg = Annotated[
    list[str] | None, typer.Argument(hidden=True, metavar="RANGES", help="More --sweep ranges.")
]
RankByOpt = Annotated[str, typer.Option(help="The metric that ranks a sweep.")]
FromOpt = Annotated[
    str | None,
    typer.Option("--from", help="First bar's open time, ISO-8601, UTC (default: the first)."),
]
ToOpt = Annotated[
    str | None, typer.Option("--to", help="End: a date includes that day, a time excludes it.")
]
CsvOpt = Annotated[Path | None, typer.Option("--csv", help="Read the bars from this CSV file.")]
CapitalOpt = Annotated[str, typer.Option(help="Initial capital in USD.")]
FillModelOpt = Annotated[FillModelOption, typer.Option(help="How orders fill.")]
FeeOpt = Annotated[str, typer.Option(help="Taker fee rate (0.001 is 0.10 %).")]
MakerFeeOpt = Annotated[str, typer.Option(help="Maker fee rate.")]
SlippageOpt = Annotated[str, typer.Option(help="Slippage in basis points.")]
ProcessesOpt = Annotated[
    int | None,
    typer.Option(min=1, help="Processes of a sweep (default: every CPU; 1 for a small one)."),
]
TopOpt = Annotated[int, typer.Option(min=1, help="Sweep combinations to show.")]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the whole result as one JSON document.")
]
UserOpt = Annotated[
    str | None, typer.Option(help="Record the run as a backtest session of this user (email).")
]
QueueOpt = Annotated[
    bool, typer.Option("--queue", help="With --user: create the session for the workers.")
]


@dataclass(frozen=True)
class _Run:
    """What the options ask for: a checked plan over a symbol's bars in a range (a bound
    may be missing: the data's own), with the bars when they come from a file."""

    plan: Plan
    symbol: str
    timeframe: str
    start: datetime | None
    end: datetime | None
    bars: Bars | None

    @property
    def source(self) -> Literal["database", "csv"]:
        return "csv" if self.bars is not None else "database"

    @property
    def label(self) -> str:
        return f"{self.plan.strategy} {self.symbol} {self.timeframe}"

    def request(self, span: Span) -> SessionRequest:
        from cryptotrader.backtest.schemas import DataSource, SessionRequest

        plan = self.plan
        return SessionRequest(
            symbol=self.symbol,
            timeframe=cast("Timeframe", self.timeframe),  # a TimeframeOption's value
            start=span[0],
            end=span[1],
            strategy=plan.strategy,
            parameters=plan.parameters,
            sweep=plan.ranges,
            rank_by=plan.rank_by,
            config=plan.config,
            source=DataSource(kind=self.source),
        )


@app.command("run")
@friendly_errors
@bad_input_exits_2
def backtest_run(
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = TimeframeOption.h1,
    strategy: StrategyOpt = "sma_crossover",
    param: ParamOpt = None,
    sweep: SweepOpt = None,
    more_ranges: MoreRangesArg = None,
    rank_by: RankByOpt = "sharpe_ratio",
    from_: FromOpt = None,
    to: ToOpt = None,
    csv: CsvOpt = None,
    capital: CapitalOpt = "10000",
    fill_model: FillModelOpt = FillModelOption.fixed,
    fee: FeeOpt = "0.001",
    maker_fee: MakerFeeOpt = "0.0008",
    slippage_bps: SlippageOpt = "5",
    processes: ProcessesOpt = None,
    top: TopOpt = 10,
    json_: JsonOpt = False,
    user: UserOpt = None,
    queue: QueueOpt = False,
) -> None:
    """Backtest a strategy over stored candles or a CSV file; --sweep ranks a grid."""
    from cryptotrader.backtest.schemas import iso

    if more_ranges and not sweep:
        raise typer.BadParameter(f"unexpected argument {more_ranges[0]!r}")
    if queue and (user is None or csv is not None):
        raise typer.BadParameter("--queue needs --user and stored candles (not --csv)")
    config = {
        "initial_capital": capital,
        "fill_model": fill_model.value,
        "taker_fee_rate": fee,
        "maker_fee_rate": maker_fee,
        "slippage_bps": slippage_bps,
    }
    ranges = [*(sweep or []), *(more_ranges or [])] if sweep else None
    plan = _plan(strategy, param or [], ranges, config, rank_by, processes)
    run = _read_options(plan, symbol, timeframe.value, utc(from_, "--from"), range_end(to), csv)
    ran = _run_for_user(run, user, queue) if user is not None else _run_here(run)
    if ran is None:
        return
    doc, span = ran
    meta = {"symbol": run.symbol, "timeframe": run.timeframe, "source": run.source}
    doc = {**meta, "from": iso(span[0]), "to": iso(span[1]), **doc}
    if json_:
        print(json.dumps(doc))  # one document on stdout, nothing else
    else:
        render.backtest(doc, top)


def _plan(
    strategy: str,
    params: list[str],
    ranges: list[str] | None,
    config: dict[str, Any],
    rank_by: str,
    processes: int | None,
) -> Plan:
    """The checked plan (the strategy's, the sweep's and the config's errors raise here)."""
    from cryptotrader.backtest import service as bt
    from cryptotrader.backtest.sweep import parse_sweep
    from cryptotrader.backtest.types import BacktestConfig
    from cryptotrader.strategies.registry import parse_param_pairs

    checked = BacktestConfig.model_validate(config)
    swept = parse_sweep(ranges) if ranges else None
    return bt.make_plan(
        strategy,
        parse_param_pairs(params),
        checked,
        ranges=swept,
        rank_by=rank_by,
        processes=processes,
    )


def _read_options(
    plan: Plan,
    symbol: str | None,
    timeframe: str,
    start: datetime | None,
    end: datetime | None,
    csv: Path | None,
) -> _Run:
    """The run; with ``--csv`` its bars (of the range) read now, and the symbol from the
    file's name unless given."""
    from cryptotrader.backtest import service as bt
    from cryptotrader.backtest.data import load_csv

    bars = None
    if csv is not None:
        bars = bt.bars_between(load_csv(csv), start, end)
        symbol = symbol or csv.name.split("-")[0].split("_")[0].split(".")[0]
    if not symbol:
        raise typer.BadParameter("--symbol is required (or give --csv)")
    return _Run(plan, symbol.upper(), timeframe, start, end, bars)


def _run_here(run: _Run) -> tuple[dict[str, Any], Span]:
    """Run in this process, recording nothing (a CSV file needs no database)."""
    from cryptotrader.backtest import service as bt

    async def stored(conn: Conn) -> tuple[Bars, Span]:
        span = await bt.resolve_range(conn, run.symbol, run.timeframe, run.start, run.end)
        return await bt.load_bars(conn, run.symbol, run.timeframe, *span), span

    if run.bars is None:
        bars, span = run_service(stored)
    else:
        bars = run.bars
        span = asyncio.run(
            bt.resolve_range(None, run.symbol, run.timeframe, run.start, run.end, bars=bars)
        )
    bar, tell = render.progress_bar(run.label)
    with bar:
        outcome = bt.execute_plan(bars, run.plan, tell)
    return bt.outcome_document(outcome, run.plan), span


def _run_for_user(run: _Run, email: str, queue: bool) -> tuple[dict[str, Any], Span] | None:
    """Run (or with ``queue`` only create) a session of the user, audited
    ``backtest.create``: its document and range (None when queued)."""
    from cryptotrader.backtest import service as bt
    from cryptotrader.backtest import tasks

    async def prepare(conn: Conn) -> tuple[UUID, SessionRequest, Span, UUID | None]:
        user_id = await user_id_of(conn, email)
        span = await bt.resolve_range(
            conn, run.symbol, run.timeframe, run.start, run.end, bars=run.bars
        )
        request = run.request(span)
        if not queue:
            return user_id, request, span, None
        created = await bt.create_backtest(conn, SYSTEM, user_id, request)
        return user_id, request, span, created["id"]

    user_id, request, span, queued = run_service(prepare)
    if queued is not None:
        console.print(f"backtest session {queued} queued for the workers")
        return None
    conninfo = resolve_target(get_settings()).app
    bar, tell = render.progress_bar(run.label)
    with bar:
        session, report = asyncio.run(
            tasks.run_now(
                conninfo,
                SYSTEM,
                user_id,
                request,
                bars=run.bars,
                on_progress=tell,
                processes=run.plan.processes,
            )
        )
    if report.status != "completed" or report.outcome is None or report.plan is None:
        raise InvalidRequest(f"backtest session {session['id']} {report.status}: {report.error}")
    doc = {"session_id": str(session["id"]), **bt.outcome_document(report.outcome, run.plan)}
    return doc, span


# ------------------------------------------------------------------ stored sessions


def _session_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise typer.BadParameter(f"not a session id: {value!r}") from None


@app.command("list")
@friendly_errors
@bad_input_exits_2
def backtest_list(
    user: Annotated[str | None, typer.Option(help="Only this user's sessions (email).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most N sessions, newest first.")] = 20,
) -> None:
    """Stored backtest sessions, newest first."""
    from cryptotrader.backtest import service as bt

    async def read(conn: Conn) -> list[dict[str, Any]]:
        user_id = None if user is None else await user_id_of(conn, user)
        return await bt.list_sessions(conn, user_id=user_id, limit=limit)

    render.sessions(run_service(read))


@app.command("show")
@friendly_errors
@bad_input_exits_2
def backtest_show(
    session_id: Annotated[str, typer.Argument(help="The session's id.")],
    top: Annotated[int, typer.Option(min=1, help="Results (parameter sets) to show.")] = 10,
    json_: Annotated[
        bool, typer.Option("--json", help="Print the session and its results as JSON.")
    ] = False,
) -> None:
    """One session: its status (or error), statistics and best results."""
    from cryptotrader.backtest import service as bt
    from cryptotrader.backtest.schemas import jsonable

    sid = _session_id(session_id)

    async def read(conn: Conn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return await bt.get_session(conn, sid), await bt.list_results(conn, sid, limit=top)

    session, results = run_service(read)
    if json_:
        print(json.dumps(jsonable({**session, "results": results})))
        return
    render.session_status(session)
    if session["status"] == "completed":
        doc = {
            **session["results_data"],
            "symbol": session["symbol"],
            "timeframe": session["timeframe"],
            "session_id": str(sid),
            "results": [bt.row_document_from_db(r) for r in results],
        }
        render.backtest(doc, top)


@app.command("cancel")
@friendly_errors
@bad_input_exits_2
def backtest_cancel(session_id: Annotated[str, typer.Argument(help="The session's id.")]) -> None:
    """Cancel a pending or running session (a running one stops at its next update).

    Audited as backtest.cancel, like the API's cancel."""
    from cryptotrader.backtest import service as bt
    from cryptotrader.backtest.errors import SessionNotCancellable

    sid = _session_id(session_id)
    try:
        run_service(lambda conn: bt.cancel_backtest(conn, SYSTEM, sid))
    except SessionNotCancellable:
        console.print(f"backtest session {sid} had already finished")
        return
    console.print(f"backtest session {sid} cancelled")
