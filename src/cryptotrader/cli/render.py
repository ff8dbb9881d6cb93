"""What the command line prints: Rich tables, progress bars and number formats. Data in,
text out; nothing here reads the database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from rich.progress import Progress

    from cryptotrader.accounts.schemas import Account
    from cryptotrader.analytics.schemas import Performance
    from cryptotrader.auth.schemas import User
    from cryptotrader.db.migrate import MigrationState
    from cryptotrader.market.cache import Price
    from cryptotrader.market.candle_import import BadRow, ImportReport, Phase
    from cryptotrader.market.candles import CandleSeries

console = Console()
err = Console(stderr=True, soft_wrap=True)

SHOWN_BAD_ROWS = 20


def error(message: str) -> None:
    """One ``error:`` line on stderr (``message`` is Rich markup)."""
    err.print(f"[red]error:[/red] {message}")


# ------------------------------------------------------------------ numbers


def price(value: Decimal) -> str:
    """Two decimals from 1 up, every significant digit below (SHIB trades at 0.0000072)."""
    return f"{value:,.2f}" if value >= 1 else f"{value.normalize():f}"


def money(value: Any) -> str:
    return f"{Decimal(value):,.2f}"


def pct(value: Any) -> str:
    return "" if value is None else f"{float(value) * 100:,.2f} %"


def ratio(value: Any) -> str:
    return "" if value is None else f"{float(value):,.3f}"


def trade_count(stats: dict[str, Any]) -> str:
    """``3 (1 / 2)``, and how many of them are still open at the end (valued at the last
    close): ``1 (1 / 0), 1 open``."""
    text = (
        f"{stats.get('total_trades') or 0}"
        f" ({stats.get('winning_trades') or 0} / {stats.get('losing_trades') or 0})"
    )
    held = stats.get("open_trades") or 0
    return f"{text}, {held} open" if held else text


# ------------------------------------------------------------------ progress


def progress_bar(label: str) -> tuple[Progress, Callable[[float], None]]:
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


def import_progress() -> tuple[Progress, Callable[[Phase, int, int], None]]:
    """The candle import's bar on stderr (phase, rows done of total), and its callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = bar.add_task("reading", total=None)

    def progress(phase: Phase, done: int, total: int) -> None:
        bar.update(task, description=phase, completed=done, total=total or None)

    return bar, progress


# ------------------------------------------------------------------ database and users


def migrations(states: Sequence[MigrationState]) -> None:
    table = Table("version", "name", "state", "applied at")
    for s in states:
        colour = {"applied": "green", "pending": "yellow"}.get(s.state, "red")
        table.add_row(
            f"{s.migration.version:04d}",
            s.migration.name,
            f"[{colour}]{s.state}[/{colour}]",
            s.applied_at.isoformat(timespec="seconds") if s.applied_at else "",
        )
    console.print(table)


def users(found: Sequence[User]) -> None:
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


def accounts(found: Sequence[Account]) -> None:
    table = Table("id", "name", "type", "status", "default", "balance", "equity", "epoch")
    for a in found:
        table.add_row(
            str(a.id),
            escape(a.account_name),
            a.account_type,
            a.status,
            "yes" if a.is_default else "",
            money(a.balance),
            money(a.equity),
            str(a.epoch),
        )
    console.print(table)


# ------------------------------------------------------------------ market data


def prices(found: Sequence[Price]) -> None:
    table = Table("symbol", "name", "USD", "AUD", "24h %", "source", "age")
    for p in found:
        age = f"{p.age_seconds:.0f} s" + (" [red](stale)[/red]" if p.stale else "")
        change = p.change_percentage_24h
        table.add_row(
            p.symbol,
            p.name or "",
            price(p.price_usd),
            price(p.price_aud),
            "" if change is None else f"{change:+.2f}",
            p.exchange,
            age,
        )
    console.print(table)


def candles(series: CandleSeries, label: str) -> None:
    from cryptotrader.market.candles import AggregatedCandle

    table = Table("open time (UTC)", "open", "high", "low", "close", "volume", title=label)
    if series.aggregated:
        table.add_column("bars")
    for bar in series.bars:
        cells = [
            bar.open_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            *(str(v) for v in (bar.open, bar.high, bar.low, bar.close, bar.volume)),
        ]
        if isinstance(bar, AggregatedCandle):
            mark = "" if bar.complete else " [yellow](gap)[/yellow]"
            cells.append(f"{bar.bars}/{bar.expected_bars}{mark}")
        table.add_row(*cells)
    console.print(table)
    console.print(f"{len(series.bars):,} bar(s)")


def bad_rows(rows: Sequence[BadRow], total: int, out: Console) -> None:
    """The first rejected rows of a file, and how many more there are."""
    for row in rows[:SHOWN_BAD_ROWS]:
        out.print(f"  line {row.line}: {row.reason}", markup=False)
    if total > SHOWN_BAD_ROWS:
        out.print(f"  … and {total - SHOWN_BAD_ROWS:,} more")


def import_report(report: ImportReport, file: object) -> None:
    console.print(
        f"imported {report.symbol} {report.timeframe} from {file}: "
        f"{report.rows_read:,} rows read, {report.rows_written:,} written, "
        f"{report.rows_unchanged:,} unchanged, {report.skipped:,} skipped "
        f"in {report.seconds:.2f} s ({report.rows_per_second:,.0f} rows/s)",
        markup=False,
    )
    if report.skipped:
        console.print(f"skipped {report.skipped:,} bad row(s):")
        bad_rows(report.bad_rows, report.skipped, console)


# ------------------------------------------------------------------ backtests


def backtest(doc: dict[str, Any], top: int) -> None:
    """A run's (or a completed session's) document: its statistics and, for a sweep, the
    best ``top`` parameter sets."""
    title = (
        f"{doc['strategy']} {doc['symbol']} {doc['timeframe']}, {doc['first_bar'] or '-'}"
        f" to {doc['last_bar'] or '-'} ({doc['bars']:,} bars)"
    )
    params = ", ".join(f"{k}={v}" for k, v in doc["parameters"].items())
    console.print(f"{title}\n{params}", markup=False, highlight=False)
    table = Table("statistic", "value", show_header=False)
    for name, value in _statistics(doc):
        table.add_row(name, value)
    console.print(table)
    if "session_id" in doc:
        console.print(f"recorded as backtest session {doc['session_id']}")
    if doc.get("sweep"):
        console.print(_ranked(doc, top))


def _statistics(doc: dict[str, Any]) -> list[tuple[str, str]]:
    stats = doc["stats"]
    return [
        ("initial capital", money(doc["initial_capital"])),
        ("final capital", money(doc["final_capital"])),
        ("total return", pct(stats.get("total_return"))),
        ("annual return", pct(stats.get("annual_return"))),
        ("max drawdown", pct(stats.get("max_drawdown"))),
        ("sharpe ratio", ratio(stats.get("sharpe_ratio"))),
        ("sortino ratio", ratio(stats.get("sortino_ratio"))),
        ("calmar ratio", ratio(stats.get("calmar_ratio"))),
        ("volatility (annual)", pct(stats.get("volatility"))),
        ("trades (won / lost)", trade_count(stats)),
        ("win rate", pct(stats.get("win_rate"))),
        ("profit factor", ratio(stats.get("profit_factor"))),
        ("exposure", pct(stats.get("exposure"))),
        (
            "alpha / beta vs buy-and-hold",
            f"{ratio(stats.get('alpha'))} / {ratio(stats.get('beta'))}",
        ),
    ]


def _ranked(doc: dict[str, Any], top: int) -> Table:
    sweep = doc["sweep"]
    rank_by = sweep["rank_by"]
    ranked = Table(
        "rank",
        "parameters",
        "final capital",
        "return",
        rank_by,
        "max DD",
        "trades",
        title=f"top {min(top, len(doc['results']))} of {sweep['combinations']:,} combinations"
        + (f" ({sweep['skipped']:,} invalid skipped)" if sweep["skipped"] else ""),
    )
    for r in doc["results"][:top]:
        metric = r["final_capital"] if rank_by == "final_capital" else r["stats"].get(rank_by)
        ranked.add_row(
            str(r["rank"]),
            ", ".join(f"{k}={v}" for k, v in r["parameters"].items()),
            money(r["final_capital"]),
            pct(r["total_return"]),
            ratio(metric),
            pct(r["stats"].get("max_drawdown")),
            str(r["total_trades"]),
        )
    return ranked


def sessions(found: Sequence[dict[str, Any]]) -> None:
    table = Table("id", "user", "name", "strategy", "range (UTC)", "status", "final capital")
    for s in found:
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


def session_status(session: dict[str, Any]) -> None:
    console.print(
        f"{session['session_name']}: [bold]{session['status']}[/bold]"
        f" ({float(session['progress']):.0%})"
        + (f" - {escape(session['error'])}" if session["error"] else "")
    )


# ------------------------------------------------------------------ analytics


def tear_sheet(sheet: Performance) -> None:
    """A tear sheet: the stats per window (MTD, 3M, YTD, 1Y, All), then the deepest drawdowns."""
    subject = sheet.subject
    title = f"{subject.name} ({subject.kind} {subject.id})"
    if sheet.as_of is None:
        console.print(f"{title}: no daily rows yet (cryptotrader analytics run)", markup=False)
        return
    table = Table(title=f"{title}, as of {sheet.as_of:%Y-%m-%d}")
    table.add_column("")
    for w in sheet.stats:
        table.add_column(w.window, justify="right")
    rows: list[tuple[str, Callable[[Any], str], str]] = [
        ("return", pct, "total_return"), ("annual return", pct, "annual_return"),
        ("volatility", pct, "volatility"), ("Sharpe", ratio, "sharpe_ratio"),
        ("Sortino", ratio, "sortino_ratio"), ("max drawdown", pct, "max_drawdown"),
        ("Calmar", ratio, "calmar_ratio"), ("alpha", pct, "alpha"), ("beta", ratio, "beta"),
        ("correlation", ratio, "correlation"), ("round trips", str, "total_trades"),
        ("win rate", pct, "win_rate"), ("profit factor", ratio, "profit_factor"),
        ("expectancy", _maybe_money, "expectancy"),
    ]  # fmt: skip
    for label, show, key in rows:
        table.add_row(label, *(show(getattr(w, key)) for w in sheet.stats))
    console.print(table)
    if sheet.drawdowns:
        worst = Table(title="deepest drawdowns")
        for name in ("depth", "peak", "trough", "recovered"):
            worst.add_column(name, justify="right" if name == "depth" else "left")
        for d in sheet.drawdowns:
            worst.add_row(
                pct(d.depth), f"{d.start:%Y-%m-%d}", f"{d.trough:%Y-%m-%d}",
                f"{d.recovery:%Y-%m-%d}" if d.recovery else "not yet",
            )  # fmt: skip
        console.print(worst)


def _maybe_money(value: Any) -> str:
    return "" if value is None else money(value)
