"""``cryptotrader market``: prices, candles, import, backfill."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from psycopg_pool import AsyncConnectionPool

from cryptotrader.cli import render
from cryptotrader.cli.common import TimeframeOption, friendly_errors, run_service, utc, with_pool
from cryptotrader.cli.render import console, err
from cryptotrader.config import get_settings
from cryptotrader.db.runtime import migrate_target
from cryptotrader.db.session import Conn, as_anon

if TYPE_CHECKING:
    from datetime import datetime

    from cryptotrader.market.cache import Price
    from cryptotrader.market.candle_import import ImportReport
    from cryptotrader.market.candles import CandleSeries

app = typer.Typer(help="Market data: prices, candles, import, backfill.", no_args_is_help=True)


@app.command("prices")
@friendly_errors
def market_prices(
    symbols: Annotated[str | None, typer.Option(help="Comma-separated, e.g. BTC,ETH.")] = None,
    max_age: Annotated[int, typer.Option(help="Seconds after which a price is stale.")] = 300,
) -> None:
    """Cached prices in USD and AUD, with their age."""
    from cryptotrader.market import cache

    wanted = [s.strip() for s in symbols.split(",")] if symbols else None

    async def read(conn: Conn) -> list[Price]:
        return await cache.list_prices(conn, symbols=wanted, max_age_seconds=max_age)

    render.prices(run_service(read))


@app.command("backfill")
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
    start = utc(since, "--since")
    assert start is not None
    provider = CcxtCandleProvider(exchange_id=exchange, quote=quote)
    try:
        with console.status(
            f"fetching {symbol.upper()}/{quote} {timeframe.value} from {exchange}…"
        ):
            report = asyncio.run(
                backfill(
                    provider, target.app, symbol, timeframe.value, start, utc(until, "--until")
                )
            )
    except ProviderError as exc:
        render.error(str(exc))
        raise typer.Exit(1) from None
    console.print(
        f"{report.symbol} {report.timeframe}: {report.rows_read:,} bars fetched,"
        f" {report.rows_written:,} stored"
    )


@app.command("import")
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
    target, _ = migrate_target(get_settings())
    render.import_report(_import(target.app, file, symbol, timeframe.value, skip_bad), file)


def _import(conninfo: str, file: Path, symbol: str, timeframe: str, skip_bad: bool) -> ImportReport:
    """The import under a progress bar; a refused file or row is a few lines and exit 1."""
    import psycopg

    from cryptotrader.db.errors import DatabaseUnavailable
    from cryptotrader.db.target import describe_conninfo, one_line
    from cryptotrader.market.candle_import import CandleFileRejected, import_candles_csv
    from cryptotrader.market.candles import CandleImportError

    try:
        bar, progress = render.import_progress()
        with bar:
            return import_candles_csv(
                conninfo, file, symbol, timeframe, skip_bad=skip_bad, progress=progress
            )
    except CandleFileRejected as exc:
        bad = exc.report.bad_rows
        render.error(f"{file}: {len(bad):,} bad row(s); nothing was written")
        render.bad_rows(bad, len(bad), err)
        err.print("(use --skip-bad to import the good rows)")
        raise typer.Exit(1) from None
    except CandleImportError as exc:
        render.error(str(exc))
        raise typer.Exit(1) from None
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot import into {describe_conninfo(conninfo)}: {one_line(exc)}"
        ) from exc


@app.command("candles")
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
    tf = timeframe.value
    asked = source_timeframe.value if source_timeframe is not None else tf
    start, end = utc(from_, "--from"), utc(to, "--to")
    series = _candles(symbol, tf, asked if asked != tf else None, start, end, limit or None)
    label = f"{symbol.upper()} {tf}" + (f" from {series.source}" if series.aggregated else "")
    if not series.bars:
        console.print(f"no {label} candles in that range")
        return
    render.candles(series, label)


def _candles(
    symbol: str,
    timeframe: str,
    source: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int | None,
) -> CandleSeries:
    """The bars to show (read as ``anon``: public data); none there is one line, exit 1."""
    from cryptotrader.market.candles import CandleImportError, read_candles
    from cryptotrader.market.errors import NoCandles

    settings = get_settings()
    migrate_target(settings)

    async def read(pool: AsyncConnectionPool[Conn]) -> CandleSeries:
        async with as_anon(pool) as conn:
            return await read_candles(
                conn,
                symbol,
                timeframe,
                source_timeframe=source,
                start=start,
                end=end,
                limit=limit,
                latest=start is None,
            )

    try:
        return with_pool(settings, read)
    except (CandleImportError, NoCandles) as exc:
        render.error(str(exc))
        raise typer.Exit(1) from None
