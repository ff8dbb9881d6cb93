"""The `cryptotrader` command line: the same services the API and the workers call."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar
from uuid import UUID

import typer
from psycopg_pool import AsyncConnectionPool
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from cryptotrader import __version__
from cryptotrader.auth import service as users_service
from cryptotrader.auth.errors import AuthError
from cryptotrader.config import Settings, get_settings
from cryptotrader.db import backup as backup_service
from cryptotrader.db import migrate as migrate_service
from cryptotrader.db.embedded import released_on_sigterm
from cryptotrader.db.errors import DatabaseError
from cryptotrader.db.runtime import app_pool, migrate_target
from cryptotrader.db.session import Conn, as_anon, as_service
from cryptotrader.db.target import resolve_target
from cryptotrader.errors import DomainError, InvalidRequest, NotFound

if TYPE_CHECKING:
    from cryptotrader.backtest.service import Plan
    from cryptotrader.strategies.base import Bars

P = ParamSpec("P")
T = TypeVar("T")

console = Console()
err = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    help="CryptoTrader Pro: crypto paper trading on PostgreSQL.", no_args_is_help=True
)
db_app = typer.Typer(help="Database: migrate, status, seed, backup, restore.", no_args_is_help=True)
users_app = typer.Typer(help="Users: create, list, promote to admin.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")


def friendly_errors(fn: Callable[P, T]) -> Callable[P, T]:
    """Expected failures print one line and exit non-zero; no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except DatabaseError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        except AuthError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None

    return wrapper


def _with_pool(settings: Settings, work: Callable[[AsyncConnectionPool[Conn]], Awaitable[T]]) -> T:
    target = resolve_target(settings)

    async def run() -> T:
        async with app_pool(target, settings) as pool:
            return await work(pool)

    return asyncio.run(run())


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"cryptotrader {__version__}")


@app.command()
@friendly_errors
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default from settings).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="API processes (each with its pool).")] = 1,
) -> None:
    """Serve the API and run the workers in-process (migrates first when needed)."""
    with released_on_sigterm():
        _serve(host, port, workers)


def _serve(host: str | None, port: int | None, workers: int) -> None:
    import uvicorn

    from cryptotrader.api.app import create_app

    settings = get_settings()
    target, _ = migrate_target(settings)
    bind_host, bind_port = host or settings.host, port or settings.port
    console.print(f"serving on http://{bind_host}:{bind_port} (database {target.describe()})")
    if workers == 1:
        uvicorn.run(
            create_app(settings, target),
            host=bind_host,
            port=bind_port,
            log_level=settings.log_level.lower(),
        )
        return
    # several processes: each builds its app from the environment (the data dir's
    # generated secrets are shared through the files, DATABASE_URL through the environment)
    uvicorn.run(
        "cryptotrader.api.app:app_from_env",
        factory=True,
        workers=workers,
        host=bind_host,
        port=bind_port,
        log_level=settings.log_level.lower(),
    )


@app.command()
@friendly_errors
def worker(
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only these workers (market, backtests)."),
    ] = None,
) -> None:
    """Run background workers (the market feed, backtests) until interrupted."""
    with released_on_sigterm():
        _work(only)


def _work(only: list[str] | None) -> None:
    import signal

    from cryptotrader.workers import run_workers

    settings = get_settings()
    _configure_logging(settings)
    target, _ = migrate_target(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_workers(settings, target, stop, set(only) if only else None)

    console.print(f"workers running against {target.describe()} (Ctrl-C stops)")
    asyncio.run(main())  # its signal handlers stop the workers cleanly


def _configure_logging(settings: Settings) -> None:
    import logging

    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@db_app.command("migrate")
@friendly_errors
def db_migrate() -> None:
    """Apply pending migrations (a no-op when there are none)."""
    target, applied = migrate_target(get_settings())
    for m in applied:
        console.print(f"applied {m.version:04d}_{m.name}")
    console.print(f"database {target.describe()} is up to date ({len(applied)} applied)")


@db_app.command("status")
@friendly_errors
def db_status() -> None:
    """List migrations and whether each is applied."""
    target = resolve_target(get_settings())
    table = Table("version", "name", "state", "applied at")
    for s in migrate_service.status(target.owner):
        colour = {"applied": "green", "pending": "yellow"}.get(s.state, "red")
        table.add_row(
            f"{s.migration.version:04d}",
            s.migration.name,
            f"[{colour}]{s.state}[/{colour}]",
            s.applied_at.isoformat(timespec="seconds") if s.applied_at else "",
        )
    console.print(table)


@db_app.command("seed")
@friendly_errors
def db_seed() -> None:
    """Add demo data (idempotent): a demo user with accounts, a watchlist and trades, and
    real BTC and ETH hourly candles for backtests."""
    from cryptotrader.seed import DEMO_EMAIL, DEMO_PASSWORD, seed_demo, seed_demo_candles

    settings = get_settings()
    target, _ = migrate_target(settings)
    report = _with_pool(settings, seed_demo)
    state = "created" if report.created_user else "already present"
    console.print(
        f"demo user {DEMO_EMAIL} {state} (password: {DEMO_PASSWORD}); "
        f"{report.accounts_created} accounts and {report.orders_placed} orders added"
    )
    candles = asyncio.run(seed_demo_candles(target.app))
    for c in candles:
        console.print(
            f"demo candles {c.symbol} {c.timeframe}: {c.rows_read:,} bars,"
            f" {c.rows_written:,} written"
        )


@db_app.command("backup")
@friendly_errors
def db_backup(file: Annotated[Path, typer.Argument(help="Where to write the dump.")]) -> None:
    """Dump the whole database to FILE (pg_dump custom format)."""
    target = resolve_target(get_settings())
    with console.status(f"dumping {target.describe()}…"):
        out = backup_service.backup(target, file)
    console.print(f"backup written to {out} ({out.stat().st_size:,} bytes)")


@db_app.command("restore")
@friendly_errors
def db_restore(
    file: Annotated[Path, typer.Argument(help="A dump made by `db backup`.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replace the database's contents with FILE, in one transaction."""
    settings = get_settings()
    target = resolve_target(settings)
    if not yes:
        typer.confirm(f"replace everything in {target.describe()} with {file}?", abort=True)
    with console.status(f"restoring {file}…"):
        backup_service.restore(target, file)
    migrate_service.ensure_app_role(
        target.owner, target.app_role, settings.resolved_app_password(), target.dbname
    )
    console.print(f"restored {file} into {target.describe()}")


def _run_service(work: Callable[[Conn], Coroutine[Any, Any, T]]) -> T:
    settings = get_settings()
    migrate_target(settings)

    async def in_service(pool: AsyncConnectionPool[Conn]) -> T:
        async with as_service(pool) as conn:
            return await work(conn)

    return _with_pool(settings, in_service)


@users_app.command("create")
@friendly_errors
def users_create(
    email: str,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Password.")
    ],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    admin: Annotated[bool, typer.Option(help="Give the user admin rights.")] = False,
) -> None:
    """Create a user (with their default portfolio and paper account)."""
    user_id = _run_service(
        lambda conn: users_service.create_user(
            conn, email, password, display_name=name, admin=admin
        )
    )
    console.print(f"created user {email} ({user_id})")


@users_app.command("list")
@friendly_errors
def users_list() -> None:
    """List users."""
    found = _run_service(users_service.list_users)
    table = Table("id", "email", "name", "admin", "created")
    for u in found:
        table.add_row(
            str(u.id),
            u.email,
            u.display_name or "",
            "yes" if u.is_admin else "",
            u.created_at.isoformat(timespec="seconds"),
        )
    console.print(table)


@users_app.command("promote")
@friendly_errors
def users_promote(
    email: str,
    revoke: Annotated[bool, typer.Option("--revoke", help="Remove admin rights instead.")] = False,
) -> None:
    """Give (or with --revoke take away) admin rights."""

    async def promote(conn: Conn) -> bool:
        user_id = await users_service.find_user_id(conn, email)
        if user_id is None:
            return False
        await users_service.set_admin(conn, user_id, not revoke)
        return True

    if not _run_service(promote):
        err.print(f"[red]error:[/red] no user with email {email}")
        raise typer.Exit(1)
    console.print(f"{email} is {'no longer ' if revoke else ''}an admin")


# ------------------------------------------------------------------ market data

market_app = typer.Typer(
    help="Market data: prices, candles, import, backfill.", no_args_is_help=True
)
app.add_typer(market_app, name="market")

SHOWN_BAD_ROWS = 20


class TimeframeOption(StrEnum):
    """The bar lengths we store (TIMEFRAME_SECONDS), as a choice on the command line."""

    m1 = "1m"
    m5 = "5m"
    m15 = "15m"
    m30 = "30m"
    h1 = "1h"
    h4 = "4h"
    d1 = "1d"


def _utc(value: str | None, option: str) -> datetime | None:
    """An ISO-8601 instant from the command line; without an offset it is UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO-8601 time: {value!r}", param_hint=option) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@market_app.command("prices")
@friendly_errors
def market_prices(
    symbols: Annotated[str | None, typer.Option(help="Comma-separated, e.g. BTC,ETH.")] = None,
    max_age: Annotated[int, typer.Option(help="Seconds after which a price is stale.")] = 300,
) -> None:
    """Cached prices in USD and AUD, with their age."""
    from cryptotrader.market import cache

    wanted = [s.strip() for s in symbols.split(",")] if symbols else None

    async def read(conn: Conn) -> list[cache.Price]:
        return await cache.list_prices(conn, symbols=wanted, max_age_seconds=max_age)

    table = Table("symbol", "name", "USD", "AUD", "24h %", "source", "age")
    for p in _run_service(read):
        age = f"{p.age_seconds:.0f} s" + (" [red](stale)[/red]" if p.stale else "")
        change = p.change_percentage_24h
        table.add_row(
            p.symbol,
            p.name or "",
            _price(p.price_usd),
            _price(p.price_aud),
            "" if change is None else f"{change:+.2f}",
            p.exchange,
            age,
        )
    console.print(table)


def _price(value: Decimal) -> str:
    """Two decimals from 1 up, every significant digit below (SHIB trades at 0.0000072)."""
    return f"{value:,.2f}" if value >= 1 else f"{value.normalize():f}"


@market_app.command("backfill")
@friendly_errors
def market_backfill(
    symbol: Annotated[str, typer.Option(help="Base ticker, e.g. BTC.")],
    timeframe: Annotated[TimeframeOption, typer.Option(help="Bar length.")],
    since: Annotated[str, typer.Option(help="ISO-8601 start (UTC unless an offset is given).")],
    until: Annotated[str | None, typer.Option(help="ISO-8601 end; default now.")] = None,
    exchange: Annotated[str, typer.Option(help="A ccxt exchange id.")] = "binance",
    quote: Annotated[str, typer.Option(help="Quote currency of the market.")] = "USDT",
) -> None:
    """Fetch historical candles from an exchange (ccxt) and store them (idempotent)."""
    from cryptotrader.market.backfill import backfill
    from cryptotrader.market.exchange import CcxtCandleProvider
    from cryptotrader.market.schemas import ProviderError

    settings = get_settings()
    target, _ = migrate_target(settings)
    start = _utc(since, "--since")
    assert start is not None
    provider = CcxtCandleProvider(exchange_id=exchange, quote=quote)
    try:
        with console.status(
            f"fetching {symbol.upper()}/{quote} {timeframe.value} from {exchange}…"
        ):
            report = asyncio.run(
                backfill(
                    provider, target.app, symbol, timeframe.value, start, _utc(until, "--until")
                )
            )
    except ProviderError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(
        f"{report.symbol} {report.timeframe}: {report.rows_read:,} bars fetched,"
        f" {report.rows_written:,} stored"
    )


@market_app.command("import")
@friendly_errors
def market_import(
    file: Annotated[
        Path,
        typer.Argument(help="CSV or .csv.gz with header timestamp,open,high,low,close,volume."),
    ],
    symbol: Annotated[str, typer.Option(help="Our ticker, e.g. BTC.")],
    timeframe: Annotated[TimeframeOption, typer.Option(help="Bar length of the file.")],
    skip_bad: Annotated[
        bool,
        typer.Option(
            "--skip-bad", help="Skip bad rows (and list them) instead of importing nothing."
        ),
    ] = False,
) -> None:
    """Import candles from FILE (one transaction; importing it again changes nothing)."""
    import psycopg
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from cryptotrader.db.errors import DatabaseUnavailable
    from cryptotrader.db.target import describe_conninfo, one_line
    from cryptotrader.market.candles import (
        CandleFileRejected,
        CandleImportError,
        Phase,
        import_candles_csv,
    )

    target, _ = migrate_target(get_settings())
    columns = (
        TextColumn("{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task("reading", total=None)

            def progress(phase: Phase, done: int, total: int) -> None:
                bar.update(task, description=phase, completed=done, total=total or None)

            report = import_candles_csv(
                target.app, file, symbol, timeframe.value, skip_bad=skip_bad, progress=progress
            )
    except CandleFileRejected as exc:
        bad = exc.report.bad_rows
        err.print(f"[red]error:[/red] {file}: {len(bad):,} bad row(s); nothing was written")
        for row in bad[:SHOWN_BAD_ROWS]:
            err.print(f"  line {row.line}: {row.reason}", markup=False)
        if len(bad) > SHOWN_BAD_ROWS:
            err.print(f"  … and {len(bad) - SHOWN_BAD_ROWS:,} more")
        err.print("(use --skip-bad to import the good rows)")
        raise typer.Exit(1) from None
    except CandleImportError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True)
        raise typer.Exit(1) from None
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot import into {describe_conninfo(target.app)}: {one_line(exc)}"
        ) from exc

    console.print(
        f"imported {report.symbol} {report.timeframe} from {file}: "
        f"{report.rows_read:,} rows read, {report.rows_written:,} written, "
        f"{report.rows_unchanged:,} unchanged, {report.skipped:,} skipped "
        f"in {report.seconds:.2f} s ({report.rows_per_second:,.0f} rows/s)",
        markup=False,
    )
    if report.skipped:
        console.print(f"skipped {report.skipped:,} bad row(s):")
        for row in report.bad_rows[:SHOWN_BAD_ROWS]:
            console.print(f"  line {row.line}: {row.reason}", markup=False)
        if report.skipped > SHOWN_BAD_ROWS:
            console.print(f"  … and {report.skipped - SHOWN_BAD_ROWS:,} more")


@market_app.command("candles")
@friendly_errors
def market_candles(
    symbol: Annotated[str, typer.Option(help="Our ticker, e.g. BTC.")],
    timeframe: Annotated[
        TimeframeOption, typer.Option(help="Bar length to show.")
    ] = TimeframeOption.h1,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="First bar's open time, ISO-8601 (UTC when no offset)."),
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Bars opening before this time, ISO-8601.")
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            min=0, help="At most N bars: the first N from --from, else the last N (0: all)."
        ),
    ] = 100,
    source_timeframe: Annotated[
        TimeframeOption | None,
        typer.Option(help="Build the bars from stored bars of this timeframe (e.g. 1m)."),
    ] = None,
) -> None:
    """Print stored candles, or candles aggregated on the fly from a finer timeframe (also,
    without --source-timeframe, when the symbol has no stored bars of the timeframe: from
    the coarsest finer stored one, as backtests do)."""
    from cryptotrader.market.candles import (
        AggregatedCandle,
        CandleImportError,
        CandleSeries,
        read_candles,
    )
    from cryptotrader.market.errors import NoCandles

    start, end = _utc(from_, "--from"), _utc(to, "--to")
    tf = timeframe.value
    asked = source_timeframe.value if source_timeframe is not None else tf
    settings = get_settings()
    migrate_target(settings)

    async def read(pool: AsyncConnectionPool[Conn]) -> CandleSeries:
        async with as_anon(pool) as conn:
            return await read_candles(
                conn,
                symbol,
                tf,
                source_timeframe=asked if asked != tf else None,
                start=start,
                end=end,
                limit=limit or None,
                latest=start is None,
            )

    try:
        series = _with_pool(settings, read)
    except (CandleImportError, NoCandles) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    bars, source, aggregate = series.bars, series.source, series.aggregated
    label = f"{symbol.upper()} {tf}" + (f" from {source}" if aggregate else "")
    if not bars:
        console.print(f"no {label} candles in that range")
        return
    table = Table("open time (UTC)", "open", "high", "low", "close", "volume", title=label)
    if aggregate:
        table.add_column("bars")
    for bar in bars:
        cells = [
            bar.open_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            *(str(v) for v in (bar.open, bar.high, bar.low, bar.close, bar.volume)),
        ]
        if isinstance(bar, AggregatedCandle):
            mark = "" if bar.complete else " [yellow](gap)[/yellow]"
            cells.append(f"{bar.bars}/{bar.expected_bars}{mark}")
        table.add_row(*cells)
    console.print(table)
    console.print(f"{len(bars):,} bar(s)")


# ------------------------------------------------------------------ backtests


class _RunByDefault(TyperGroup):
    """``cryptotrader backtest --symbol BTC ...`` means ``cryptotrader backtest run ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


backtest_app = typer.Typer(
    cls=_RunByDefault,
    help="Backtests: run one (the default: `cryptotrader backtest --symbol BTC ...`), or list,"
    " show and cancel stored sessions.",
    no_args_is_help=True,
)
app.add_typer(backtest_app, name="backtest")


class FillModelOption(StrEnum):
    ideal = "ideal"
    fixed = "fixed"
    volume = "volume"


def bad_input_exits_2(fn: Callable[P, T]) -> Callable[P, T]:
    """A refused backtest (unknown strategy, bad parameter, no candles, bad file) is one
    line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        from pydantic import ValidationError

        from cryptotrader.backtest.service import describe_error

        try:
            return fn(*args, **kwargs)
        except (DomainError, ValidationError) as exc:
            message = describe_error(exc)
        except OSError as exc:
            message = f"{exc.filename or 'file'}: {exc.strerror or exc}"
        err.print(f"[red]error:[/red] {escape(message)}")
        raise typer.Exit(2)

    return wrapper


def _range_end(value: str | None) -> datetime | None:
    """``--to``: a date alone includes that whole day; a time is exclusive."""
    end = _utc(value, "--to")
    if end is not None and value is not None and len(value.strip()) == 10:
        end += timedelta(days=1)
    return end


def _progress_bar(label: str) -> tuple[Any, Callable[[float], None]]:
    """A Rich progress bar on stderr, and the callback that moves it (from any thread)."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # no noise when stderr goes to a file or a pipe
    )
    task = bar.add_task(label, total=1.0)
    return bar, lambda fraction: bar.update(task, completed=fraction)


@backtest_app.command("run")
@friendly_errors
@bad_input_exits_2
def backtest_run(
    symbol: Annotated[
        str | None, typer.Option(help="Ticker, e.g. BTC (with --csv: default from the name).")
    ] = None,
    timeframe: Annotated[
        TimeframeOption, typer.Option(help="Bar length (of the stored bars, or of the file).")
    ] = TimeframeOption.h1,
    strategy: Annotated[str, typer.Option(help="A built-in strategy.")] = "sma_crossover",
    param: Annotated[
        list[str] | None, typer.Option("--param", help="name=value; repeatable.")
    ] = None,
    sweep: Annotated[
        list[str] | None,
        typer.Option(
            "--sweep",
            help="Run a grid: name=start:stop:step or name=a,b,c. Several may follow one"
            " --sweep (--sweep fast=5:50:5 slow=20:200:10) or each have their own.",
        ),
    ] = None,
    more_ranges: Annotated[
        list[str] | None, typer.Argument(hidden=True, metavar="RANGES", help="More --sweep ranges.")
    ] = None,
    rank_by: Annotated[str, typer.Option(help="The metric that ranks a sweep.")] = "sharpe_ratio",
    from_: Annotated[
        str | None,
        typer.Option("--from", help="First bar's open time, ISO-8601, UTC (default: the first)."),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="End: a date includes that day, a time excludes it."),
    ] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Read the bars from this CSV file.")
    ] = None,
    capital: Annotated[str, typer.Option(help="Initial capital in USD.")] = "10000",
    fill_model: Annotated[
        FillModelOption, typer.Option(help="How orders fill.")
    ] = FillModelOption.fixed,
    fee: Annotated[str, typer.Option(help="Taker fee rate (0.001 is 0.10 %).")] = "0.001",
    maker_fee: Annotated[str, typer.Option(help="Maker fee rate.")] = "0.0008",
    slippage_bps: Annotated[str, typer.Option(help="Slippage in basis points.")] = "5",
    processes: Annotated[
        int | None,
        typer.Option(min=1, help="Processes of a sweep (default: every CPU; 1 for a small one)."),
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="Sweep combinations to show.")] = 10,
    json_: Annotated[
        bool, typer.Option("--json", help="Print the whole result as one JSON document.")
    ] = False,
    user: Annotated[
        str | None,
        typer.Option(help="Record the run as a backtest session of this user (email)."),
    ] = None,
    queue: Annotated[
        bool, typer.Option("--queue", help="With --user: create the session for the workers.")
    ] = False,
) -> None:
    """Backtest a strategy over stored candles or a CSV file; --sweep ranks a grid."""
    from cryptotrader.backtest import service as bt
    from cryptotrader.backtest.data import load_csv
    from cryptotrader.backtest.schemas import iso
    from cryptotrader.backtest.sweep import parse_sweep
    from cryptotrader.backtest.types import BacktestConfig
    from cryptotrader.strategies.registry import parse_param_pairs

    if more_ranges and not sweep:
        raise typer.BadParameter(f"unexpected argument {more_ranges[0]!r}")
    if queue and (user is None or csv is not None):
        raise typer.BadParameter("--queue needs --user and stored candles (not --csv)")
    config = BacktestConfig.model_validate(
        {
            "initial_capital": capital,
            "fill_model": fill_model.value,
            "taker_fee_rate": fee,
            "maker_fee_rate": maker_fee,
            "slippage_bps": slippage_bps,
        }
    )
    ranges = parse_sweep([*(sweep or []), *(more_ranges or [])]) if sweep else None
    params = parse_param_pairs(param or [])
    plan = bt.make_plan(
        strategy, params, config, ranges=ranges, rank_by=rank_by, processes=processes
    )
    start, end = _utc(from_, "--from"), _range_end(to)
    tf = timeframe.value
    bars = None
    if csv is not None:
        bars = bt.bars_between(load_csv(csv), start, end)
        symbol = symbol or csv.name.split("-")[0].split("_")[0].split(".")[0]
    if not symbol:
        raise typer.BadParameter("--symbol is required (or give --csv)")
    meta: dict[str, Any] = {"symbol": symbol.upper(), "timeframe": tf}
    meta["source"] = "csv" if csv is not None else "database"
    if user is not None or csv is None:
        settings = get_settings()
        target, _ = migrate_target(settings)
    if user is not None:
        ran = _backtest_as_user(target.app, user, plan, meta, start, end, bars, queue)
        if ran is None:
            return
        doc, span = ran
    else:
        if bars is None:
            bars, span = _with_pool(
                settings, lambda pool: _stored_bars(pool, meta["symbol"], tf, start, end)
            )
        else:
            span = bt.bars_extent(bars, tf, start, end)
        bar, tell = _progress_bar(f"{plan.strategy} {meta['symbol']} {tf}")
        with bar:
            outcome = bt.execute_plan(bars, plan, tell)
        doc = bt.outcome_document(outcome, plan)
    doc = {**meta, "from": iso(span[0]), "to": iso(span[1]), **doc}
    if json_:
        print(json.dumps(doc))  # one document on stdout, nothing else
    else:
        _print_backtest(doc, top)


async def _stored_bars(
    pool: AsyncConnectionPool[Conn],
    symbol: str,
    timeframe: str,
    start: datetime | None,
    end: datetime | None,
) -> tuple[Bars, tuple[datetime, datetime]]:
    from cryptotrader.backtest import service as bt

    async with as_service(pool) as conn:
        if start is None or end is None:
            first, after_last = await bt.series_extent(conn, symbol, timeframe)
            start, end = start or first, end or after_last
        return await bt.load_bars(conn, symbol, timeframe, start, end), (start, end)


def _backtest_as_user(
    conninfo: str,
    email: str,
    plan: Plan,
    meta: dict[str, Any],
    start: datetime | None,
    end: datetime | None,
    bars: Bars | None,
    queue: bool,
) -> tuple[dict[str, Any], tuple[datetime, datetime]] | None:
    """Run (or with ``queue`` only create) a session of the user: its document and range."""
    from cryptotrader.backtest import service as bt
    from cryptotrader.backtest import tasks
    from cryptotrader.backtest.schemas import DataSource, SessionRequest

    async def work() -> tuple[dict[str, Any], tuple[datetime, datetime]] | None:
        async with tasks.service_connection(conninfo) as conn:
            user_id = await users_service.find_user_id(conn, email)
            if user_id is None:
                raise NotFound(f"no user with email {email}")
            s, e = (start, end)
            if bars is not None:
                s, e = bt.bars_extent(bars, meta["timeframe"], start, end)
            if s is None or e is None:
                first, after_last = await bt.series_extent(conn, meta["symbol"], meta["timeframe"])
                s, e = s or first, e or after_last
        request = SessionRequest(
            symbol=meta["symbol"],
            timeframe=meta["timeframe"],
            start=s,
            end=e,
            strategy=plan.strategy,
            parameters=plan.parameters,
            sweep=plan.ranges,
            rank_by=plan.rank_by,
            config=plan.config,
            source=DataSource(kind="csv" if bars is not None else "database"),
        )
        if queue:
            async with tasks.service_connection(conninfo) as conn, conn.transaction():
                created = await bt.create_session(conn, user_id, request)
            console.print(f"backtest session {created['id']} queued for the workers")
            return None
        bar, tell = _progress_bar(f"{plan.strategy} {meta['symbol']} {meta['timeframe']}")
        with bar:
            session, report = await tasks.run_now(
                conninfo, user_id, request, bars=bars, on_progress=tell, processes=plan.processes
            )
        if report.status != "completed" or report.outcome is None or report.plan is None:
            raise InvalidRequest(
                f"backtest session {session['id']} {report.status}: {report.error}"
            )
        doc = {"session_id": str(session["id"]), **bt.outcome_document(report.outcome, plan)}
        return doc, (s, e)

    return asyncio.run(work())


def _pct(value: Any) -> str:
    return "" if value is None else f"{float(value) * 100:,.2f} %"


def _ratio(value: Any) -> str:
    return "" if value is None else f"{float(value):,.3f}"


def _trade_count(stats: dict[str, Any]) -> str:
    """``3 (1 / 2)``, and how many of them are still open at the end (valued at the last
    close): ``1 (1 / 0), 1 open``."""
    text = (
        f"{stats.get('total_trades') or 0}"
        f" ({stats.get('winning_trades') or 0} / {stats.get('losing_trades') or 0})"
    )
    held = stats.get("open_trades") or 0
    return f"{text}, {held} open" if held else text


def _print_backtest(doc: dict[str, Any], top: int) -> None:
    stats = doc["stats"]
    title = (
        f"{doc['strategy']} {doc['symbol']} {doc['timeframe']}, {doc['first_bar'] or '-'}"
        f" to {doc['last_bar'] or '-'} ({doc['bars']:,} bars)"
    )
    params = ", ".join(f"{k}={v}" for k, v in doc["parameters"].items())
    console.print(f"{title}\n{params}", markup=False, highlight=False)
    table = Table("statistic", "value", show_header=False)
    rows = [
        ("initial capital", f"{Decimal(doc['initial_capital']):,.2f}"),
        ("final capital", f"{Decimal(doc['final_capital']):,.2f}"),
        ("total return", _pct(stats.get("total_return"))),
        ("annual return", _pct(stats.get("annual_return"))),
        ("max drawdown", _pct(stats.get("max_drawdown"))),
        ("sharpe ratio", _ratio(stats.get("sharpe_ratio"))),
        ("sortino ratio", _ratio(stats.get("sortino_ratio"))),
        ("calmar ratio", _ratio(stats.get("calmar_ratio"))),
        ("volatility (annual)", _pct(stats.get("volatility"))),
        ("trades (won / lost)", _trade_count(stats)),
        ("win rate", _pct(stats.get("win_rate"))),
        ("profit factor", _ratio(stats.get("profit_factor"))),
        ("exposure", _pct(stats.get("exposure"))),
        (
            "alpha / beta vs buy-and-hold",
            f"{_ratio(stats.get('alpha'))} / {_ratio(stats.get('beta'))}",
        ),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if "session_id" in doc:
        console.print(f"recorded as backtest session {doc['session_id']}")
    sweep = doc.get("sweep")
    if not sweep:
        return
    ranked = Table(
        "rank",
        "parameters",
        "final capital",
        "return",
        sweep["rank_by"],
        "max DD",
        "trades",
        title=f"top {min(top, len(doc['results']))} of {sweep['combinations']:,} combinations"
        + (f" ({sweep['skipped']:,} invalid skipped)" if sweep["skipped"] else ""),
    )
    for r in doc["results"][:top]:
        metric = (
            r["final_capital"]
            if sweep["rank_by"] == "final_capital"
            else r["stats"].get(sweep["rank_by"])
        )
        ranked.add_row(
            str(r["rank"]),
            ", ".join(f"{k}={v}" for k, v in r["parameters"].items()),
            f"{Decimal(r['final_capital']):,.2f}",
            _pct(r["total_return"]),
            _ratio(metric),
            _pct(r["stats"].get("max_drawdown")),
            str(r["total_trades"]),
        )
    console.print(ranked)


def _session_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise typer.BadParameter(f"not a session id: {value!r}") from None


@backtest_app.command("list")
@friendly_errors
@bad_input_exits_2
def backtest_list(
    user: Annotated[str | None, typer.Option(help="Only this user's sessions (email).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most N sessions, newest first.")] = 20,
) -> None:
    """Stored backtest sessions, newest first."""
    from cryptotrader.backtest import service as bt

    async def read(conn: Conn) -> list[dict[str, Any]]:
        user_id = None
        if user is not None:
            user_id = await users_service.find_user_id(conn, user)
            if user_id is None:
                raise NotFound(f"no user with email {user}")
        return await bt.list_sessions(conn, user_id=user_id, limit=limit)

    table = Table("id", "user", "name", "strategy", "range (UTC)", "status", "final capital")
    for s in _run_service(read):
        status = s["status"] + (f" {float(s['progress']):.0%}" if s["status"] == "running" else "")
        table.add_row(
            str(s["id"]),
            s["email"] or "",
            s["session_name"],
            s["strategy"] or "",
            f"{s['start_date']:%Y-%m-%d} to {s['end_date']:%Y-%m-%d}",
            status,
            f"{s['final_capital']:,.2f}" if s["status"] == "completed" else "",
        )
    console.print(table)


@backtest_app.command("show")
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

    session, results = _run_service(read)
    if json_:
        print(json.dumps(jsonable({**session, "results": results})))
        return
    console.print(
        f"{session['session_name']}: [bold]{session['status']}[/bold]"
        f" ({float(session['progress']):.0%})"
        + (f" - {escape(session['error'])}" if session["error"] else "")
    )
    if session["status"] == "completed":
        data = session["results_data"]
        _print_backtest(
            {
                **data,
                "symbol": session["symbol"],
                "timeframe": session["timeframe"],
                "session_id": str(sid),
                "results": [bt.row_document_from_db(r) for r in results],
            },
            top,
        )


@backtest_app.command("cancel")
@friendly_errors
@bad_input_exits_2
def backtest_cancel(session_id: Annotated[str, typer.Argument(help="The session's id.")]) -> None:
    """Cancel a pending or running session (a running one stops at its next update)."""
    from cryptotrader.backtest import service as bt

    sid = _session_id(session_id)
    if _run_service(lambda conn: bt.cancel_session(conn, sid)):
        console.print(f"backtest session {sid} cancelled")
    else:
        console.print(f"backtest session {sid} had already finished")


def main() -> None:
    app()
