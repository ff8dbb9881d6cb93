"""Candles: bulk import of OHLCV CSV files, and reading them back, aggregated on the fly.

Import (:func:`import_candles_csv`) runs as ``service_role`` in one transaction: the
file is streamed with COPY into a temporary staging table, every row is checked by one
set-based query that reports line numbers, and the rows are then written with one
``INSERT ... SELECT`` (an upsert when the series already has bars on those days). A file
with a bad row writes nothing unless ``skip_bad`` is given; importing a file again
changes nothing.

The file format is ``timestamp,open,high,low,close,volume`` with a header line; the
timestamp is the bar's open time in ISO-8601 UTC (``2021-04-20T20:42:00Z``), the numbers
are plain decimals (exponents allowed, no quotes). A gzip file is read as such.

Reading (:func:`get_candles`, :func:`aggregate_candles`, and :func:`read_candles`, which
aggregates from a finer stored timeframe on its own when the asked one has no stored
bars) goes through the API's async units of work (``as_anon`` is enough: candles are
public data).
"""

from __future__ import annotations

import codecs
import gzip
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal, LiteralString, cast

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import tuple_row

from cryptotrader.db.calls import fetch_all
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.market.errors import NoCandles
from cryptotrader.market.schemas import TIMEFRAME_SECONDS, Candle, Timeframe

Q = load_queries("cryptotrader.market")

HEADER = ("timestamp", "open", "high", "low", "close", "volume")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._/-]{0,31}$")
_BLOCK = 1 << 20  # bytes read (and sent to COPY) at a time
# Bytes a well-formed data line can hold. A block with anything else goes the raw path,
# where every field is checked as text (this keeps NaN, Infinity, hex and the like out of
# the fast path, whose numbers PostgreSQL's numeric input reads).
_FAST_BYTES = b"0123456789.,-+:TZeE \r\n"

Phase = Literal["reading", "checking", "writing"]
# progress(phase, done, total): during "reading", rows sent so far and rows in the file
# (a line count); "checking" and "writing" are reported once each, as they start.
ImportProgress = Callable[[Phase, int, int], None]


class CandleImportError(ValueError):
    """The file cannot be imported at all (unreadable, wrong header, bad arguments)."""


@dataclass(frozen=True)
class BadRow:
    """A data row that may not be stored: its line in the file (the header is line 1)."""

    line: int
    reason: str


@dataclass(frozen=True)
class ImportReport:
    """What an import did. ``rows_read`` counts data rows (not the header, not blank
    lines); ``rows_written`` the bars inserted or changed; ``bad_rows`` every rejected row
    (skipped when the import used ``skip_bad``, otherwise nothing was written)."""

    path: Path
    symbol: str
    timeframe: str
    rows_read: int
    rows_written: int
    bad_rows: tuple[BadRow, ...]
    skipped: int
    seconds: float
    raw_path: bool = False  # whether the file needed the slower, field-by-field path

    @property
    def rows_unchanged(self) -> int:
        """Good rows that were already stored exactly so (0 for a rejected file)."""
        if self.bad_rows and not self.skipped:
            return 0
        return self.rows_read - self.skipped - self.rows_written

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0


class CandleFileRejected(CandleImportError):
    """The file has bad rows and ``skip_bad`` was not given: nothing was written."""

    def __init__(self, report: ImportReport) -> None:
        bad = report.bad_rows
        first = f"line {bad[0].line}: {bad[0].reason}" if bad else ""
        super().__init__(
            f"{report.path.name}: {len(bad)} bad row(s), nothing written (first: {first})"
        )
        self.report = report


class AggregatedCandle(Candle):
    """A bar built from finer bars; ``bars`` of the ``expected_bars`` source bars were there."""

    bars: int
    expected_bars: int

    @property
    def complete(self) -> bool:
        return self.bars == self.expected_bars


# ------------------------------------------------------------------ arguments


def check_timeframe(timeframe: str) -> Timeframe:
    if timeframe not in TIMEFRAME_SECONDS:
        known = ", ".join(TIMEFRAME_SECONDS)
        raise CandleImportError(f"unknown timeframe {timeframe!r} (one of {known})")
    return cast(Timeframe, timeframe)


def normalize_symbol(symbol: str) -> str:
    """Our ticker, upper case (``btc`` -> ``BTC``)."""
    s = symbol.strip().upper()
    if not _SYMBOL.match(s):
        raise CandleImportError(f"invalid symbol {symbol!r}")
    return s


# ------------------------------------------------------------------ reading the file


def _open(path: Path) -> IO[bytes]:
    try:
        f = path.open("rb")
        magic = f.read(2)
        f.seek(0)
    except OSError as exc:
        raise CandleImportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if magic == b"\x1f\x8b":
        f.close()
        return cast(IO[bytes], gzip.open(path, "rb"))
    return f


def _read_header(f: IO[bytes], path: Path) -> None:
    try:
        line = f.readline(4096)
    except (OSError, EOFError) as exc:
        raise CandleImportError(f"cannot read {path}: {exc}") from exc
    text = line.decode("utf-8", "replace").lstrip("\ufeff").strip()
    names = tuple(n.strip().strip('"').lower() for n in text.split(","))
    if names != HEADER:
        raise CandleImportError(
            f"{path.name}: line 1 must be the header {','.join(HEADER)!r}, found {text[:80]!r}"
        )


def _blocks(f: IO[bytes], path: Path) -> Iterator[bytes]:
    """The data after the header in blocks; trailing blank lines dropped, the last line
    ended with a newline."""
    try:
        prev = f.read(_BLOCK)
        while prev:
            block = f.read(_BLOCK)
            if not block:
                break
            yield prev
            prev = block
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise CandleImportError(f"cannot read {path}: {exc}") from exc
    tail = prev.rstrip(b" \t\r\n")
    if tail:
        yield tail + (b"\r\n" if b"\r\n" in prev else b"\n")


def _count_rows(path: Path) -> int:
    """Lines after the header (for progress only)."""
    n, last = 0, b"\n"
    with _open(path) as f:
        try:
            f.readline(4096)
            for block in iter(lambda: f.read(_BLOCK), b""):
                n += block.count(b"\n")
                last = block[-1:]
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise CandleImportError(f"cannot read {path}: {exc}") from exc
    return n + (last != b"\n")


def _escape_raw(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """Blocks made safe for COPY's text format, one line one value: invalid UTF-8 and
    NUL become U+FFFD, and backslash, tab and carriage return are escaped."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    for block in blocks:
        if not block.isascii() or b"\0" in block:
            block = decoder.decode(block).replace("\0", "\ufffd").encode()
        yield block.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\r", b"\\r")
    rest = decoder.decode(b"", final=True)
    if rest:
        yield rest.encode()


class _NotFast(Exception):
    """The file has bytes the fast path does not take."""


# ------------------------------------------------------------------ import


def import_candles_csv(
    db: str | psycopg.Connection[Any],
    path: str | Path,
    symbol: str,
    timeframe: str,
    *,
    skip_bad: bool = False,
    progress: ImportProgress | None = None,
    source: str = "import",
) -> ImportReport:
    """Import a candle CSV (or .csv.gz) into ``market_candles`` as ``service_role``.

    ``db`` is a conninfo (a connection is opened and closed here) or an open connection
    whose login role may become ``service_role`` (the app's role, or the owner). All the
    work is one transaction; on a connection already in a transaction it is a savepoint
    and the caller commits. Raises :class:`CandleFileRejected` (with the report) when a
    row is bad and ``skip_bad`` is false, :class:`CandleImportError` when the file cannot
    be read or its header is not ``timestamp,open,high,low,close,volume``.
    """
    file = Path(path)
    sym = normalize_symbol(symbol)
    tf = check_timeframe(timeframe)
    if isinstance(db, str):
        with psycopg.connect(db) as conn:
            return _import(conn, file, sym, tf, skip_bad, progress, source)
    return _import(db, file, sym, tf, skip_bad, progress, source)


@dataclass
class _Run:
    conn: psycopg.Connection[Any]
    path: Path
    symbol: str
    timeframe: Timeframe
    skip_bad: bool
    progress: ImportProgress | None
    source: str
    bad: list[BadRow] = field(default_factory=list)
    rows_read: int = 0
    raw_path: bool = False
    cur: psycopg.Cursor[tuple[Any, ...]] = field(init=False)

    def __post_init__(self) -> None:
        self.cur = self.conn.cursor(row_factory=tuple_row)

    def report(self, written: int, started: float) -> ImportReport:
        bad = tuple(sorted(self.bad, key=lambda b: b.line))
        return ImportReport(
            path=self.path,
            symbol=self.symbol,
            timeframe=self.timeframe,
            rows_read=self.rows_read,
            rows_written=written,
            bad_rows=bad,
            skipped=len(bad) if self.skip_bad else 0,
            seconds=time.perf_counter() - started,
            raw_path=self.raw_path,
        )

    def tell(self, phase: Phase, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(phase, done, total)


def _import(
    conn: psycopg.Connection[Any],
    path: Path,
    symbol: str,
    timeframe: Timeframe,
    skip_bad: bool,
    progress: ImportProgress | None,
    source: str,
) -> ImportReport:
    started = time.perf_counter()
    run = _Run(conn, path, symbol, timeframe, skip_bad, progress, source)
    total = _count_rows(path) if progress is not None else 0
    with _open(path) as f:
        _read_header(f, path)  # before any database work: a wrong file fails fast
    with conn.transaction():
        cur = run.cur
        row = cur.execute("SELECT current_setting('role')").fetchone()
        previous_role = row[0] if row else "none"
        cur.execute("SELECT set_config('role', 'service_role', true)")
        _stage(run, total)
        written = _write_checked(run, total)
        if written is None:  # the careful path
            run.tell("checking", run.rows_read, total)
            _check(run)
            if run.bad and not skip_bad:
                raise CandleFileRejected(run.report(0, started))
            run.tell("writing", run.rows_read, total)
            written = _write(run)
        cur.execute(Q["drop_stage"])
        cur.execute("SELECT set_config('role', %s, true)", [previous_role])
    return run.report(written, started)


def _stage(run: _Run, total: int) -> None:
    """Fill candle_stage: the fast COPY, or (when that fails) the raw path."""
    cur = run.cur
    try:
        with run.conn.transaction(), _open(run.path) as f:
            _read_header(f, run.path)
            cur.execute(Q["create_stage"])
            sent = 0
            with cur.copy(Q["copy_stage"]) as copy:
                for block in _blocks(f, run.path):
                    if block.translate(None, _FAST_BYTES):
                        raise _NotFast
                    copy.write(block)
                    sent += block.count(b"\n")
                    run.tell("reading", sent, total)
            run.rows_read = cur.rowcount if cur.rowcount >= 0 else _stage_count(run)
        return
    except (_NotFast, psycopg.DataError, pg_errors.QueryCanceled):
        pass  # rolled back to the savepoint: no stage table any more
    run.raw_path = True
    run.tell("reading", 0, total)
    with _open(run.path) as f:
        _read_header(f, run.path)
        cur.execute(Q["create_stage"])
        cur.execute(Q["create_raw"])
        sent = 0
        with cur.copy(Q["copy_raw"]) as copy:
            for block in _escape_raw(_blocks(f, run.path)):
                copy.write(block)
                sent += block.count(b"\n")
                run.tell("reading", sent, total)
    cur.execute(Q["stage_from_raw"])
    run.rows_read = cur.rowcount


class _NotAllGood(Exception):
    """Some staged row failed the quick checks."""


def _params(run: _Run) -> dict[str, Any]:
    return {
        "symbol": run.symbol,
        "timeframe": run.timeframe,
        "source": run.source,
        "step": timedelta(seconds=TIMEFRAME_SECONDS[run.timeframe]),
    }


def _write_checked(run: _Run, total: int) -> int | None:
    """The fast path: check and write in one pass when every row passes the quick checks
    (a series with no bars on those days yet: one INSERT; otherwise a count, then the
    upsert). None when some row does not (nothing written then): the careful path."""
    cur, params = run.cur, _params(run)
    run.tell("writing", run.rows_read, total)
    try:
        with run.conn.transaction():
            row = cur.execute(Q["stored_overlap"], params).fetchone()
            if not (row and row[0]):
                cur.execute(Q["insert_checked"], params)
                if cur.rowcount != run.rows_read:
                    raise _NotAllGood
                return cur.rowcount
            good = cur.execute(Q["stage_count_checked"], params).fetchone()
            if not good or good[0] != run.rows_read:
                raise _NotAllGood
            # the upsert would let a later duplicate overwrite an earlier one that
            # matches the stored bar (only two changes of one row are refused)
            twice = cur.execute(Q["stage_has_duplicates"]).fetchone()
            if twice and twice[0]:
                raise _NotAllGood
            cur.execute(Q["upsert_staged"], params)
            return max(cur.rowcount, 0)
    except (
        _NotAllGood,
        psycopg.DataError,  # a timestamp that does not parse
        pg_errors.CheckViolation,  # prices or volume
        pg_errors.UniqueViolation,  # a duplicate, or a concurrent writer
        pg_errors.CardinalityViolation,  # a duplicate, in the upsert
    ):
        return None  # rolled back to the savepoint: the careful path says which rows


def _stage_count(run: _Run) -> int:
    row = run.cur.execute(Q["stage_count"]).fetchone()
    return int(row[0]) if row else 0


def _drop_lines(run: _Run, lines: list[int]) -> None:
    if lines:
        run.cur.execute(Q["stage_drop_lines"], {"lines": lines})


def _check(run: _Run) -> None:
    """Find the bad rows, then the later duplicates among the rest; take them all out of
    the stage (what remains may be written)."""
    rows = run.cur.execute(
        Q["stage_problems"],
        {"step": TIMEFRAME_SECONDS[run.timeframe], "timeframe": run.timeframe},
    ).fetchall()
    bad = [BadRow(int(line), str(reason)) for line, reason in rows]
    _drop_lines(run, [b.line for b in bad])
    rows = run.cur.execute(Q["stage_duplicates"]).fetchall()
    duplicates = [
        BadRow(int(line), f"duplicate open time {ts} (first on line {first})")
        for line, first, ts in rows
    ]
    _drop_lines(run, [b.line for b in duplicates])
    run.bad.extend(bad + duplicates)


def _write(run: _Run) -> int:
    """Write the checked stage: a plain insert when the series has nothing on those days,
    else the upsert (also when a concurrent writer got there first)."""
    params, cur = _params(run), run.cur
    row = cur.execute(Q["stored_overlap"], params).fetchone()
    upsert = bool(row and row[0])
    while True:
        try:
            with run.conn.transaction():
                cur.execute(Q["upsert_staged" if upsert else "insert_staged"], params)
                return max(cur.rowcount, 0)
        except pg_errors.UniqueViolation:
            if upsert:
                raise
            upsert = True


# ------------------------------------------------------------------ reading candles


def _ceil_bucket(t: datetime, step: int) -> datetime:
    """The first bucket boundary at or after ``t`` (boundaries: epoch + k * step)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    micros = (t - _EPOCH) // timedelta(microseconds=1)
    unit = step * 1_000_000
    return _EPOCH + timedelta(microseconds=-(-micros // unit) * unit)


def _aware(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def _limit(limit: int | None) -> int | None:
    if limit is not None and limit < 0:
        raise ValueError("limit must not be negative")
    return limit


async def get_candles(
    conn: Conn,
    symbol: str,
    timeframe: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
    latest: bool = False,
) -> list[Candle]:
    """Stored bars with ``start <= open_time < end`` (either may be None), oldest first.
    With ``limit``, the first ``limit`` of them, or with ``latest`` the last ones.
    Naive datetimes are taken as UTC."""
    sym, tf = normalize_symbol(symbol), check_timeframe(timeframe)
    if _limit(limit) == 0:
        return []
    rows = await fetch_all(
        conn,
        Q["candles_backward" if latest else "candles_forward"],
        {
            "symbol": sym,
            "timeframe": tf,
            "start": _aware(start),
            "end": _aware(end),
            "limit": limit,
        },
    )
    if latest:
        rows.reverse()
    return [Candle(symbol=sym, timeframe=tf, **r) for r in rows]


async def aggregate_candles(
    conn: Conn,
    symbol: str,
    timeframe: str,
    *,
    source_timeframe: str = "1m",
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
    latest: bool = False,
) -> list[AggregatedCandle]:
    """Bars of ``timeframe`` built in SQL from the stored ``source_timeframe`` bars.

    Buckets start at multiples of the timeframe since the UTC epoch; a bucket is
    returned when its start is in ``[start, end)`` and it has at least one source bar,
    and it is built from all its source bars (``bars`` says how many: fewer than
    ``expected_bars`` across a gap). Oldest first; ``limit`` and ``latest`` as in
    :func:`get_candles`.
    """
    sym, tf, src = (
        normalize_symbol(symbol),
        check_timeframe(timeframe),
        check_timeframe(source_timeframe),
    )
    step, src_step = TIMEFRAME_SECONDS[tf], TIMEFRAME_SECONDS[src]
    if step % src_step or step < src_step:
        raise CandleImportError(f"cannot build {tf} bars from {src} bars")
    if _limit(limit) == 0:
        return []
    lo = _ceil_bucket(start, step) if start is not None else None
    hi = _ceil_bucket(end, step) if end is not None else None
    query: LiteralString = Q["aggregate_backward" if latest else "aggregate_forward"]
    rows = await fetch_all(
        conn,
        query,
        {
            "symbol": sym,
            "source": src,
            "step": timedelta(seconds=step),
            "lo": lo,
            "hi": hi,
            "limit": limit,
        },
    )
    if latest:
        rows.reverse()
    expected = step // src_step
    return [AggregatedCandle(symbol=sym, timeframe=tf, expected_bars=expected, **r) for r in rows]


async def stored_timeframes(conn: Conn, symbol: str) -> list[Timeframe]:
    """The timeframes with at least one stored bar of ``symbol``, finest first."""
    rows = await fetch_all(
        conn,
        Q["stored_timeframes"],
        {"symbol": normalize_symbol(symbol), "timeframes": list(TIMEFRAME_SECONDS)},
    )
    return [check_timeframe(r["timeframe"]) for r in rows]


def source_for(timeframe: str, stored: list[Timeframe]) -> Timeframe | None:
    """The stored timeframe that ``timeframe``'s bars are built from when none of its own
    are stored: the coarsest of those finer than it and dividing it (the backtests' rule,
    ``backtest.service.load_bars``: the same bars for less work), or None."""
    step = TIMEFRAME_SECONDS[timeframe]
    usable = [
        tf for tf in stored if TIMEFRAME_SECONDS[tf] < step and not step % TIMEFRAME_SECONDS[tf]
    ]
    return max(usable, key=TIMEFRAME_SECONDS.__getitem__, default=None)


@dataclass(frozen=True)
class CandleSeries:
    """Bars of ``timeframe`` and the stored timeframe they come from: ``source`` is
    ``timeframe`` itself for stored bars, a finer one for bars built from those."""

    timeframe: Timeframe
    source: Timeframe
    bars: list[Candle]

    @property
    def aggregated(self) -> bool:
        return self.source != self.timeframe


async def read_candles(
    conn: Conn,
    symbol: str,
    timeframe: str,
    *,
    source_timeframe: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
    latest: bool = False,
) -> CandleSeries:
    """Bars of ``timeframe`` as :func:`get_candles` (or, with ``source_timeframe``,
    :func:`aggregate_candles`) reads them. Without ``source_timeframe``, a series with no
    stored bar at all of ``timeframe`` is built from a finer stored one
    (:func:`source_for`). Raises NoCandles when there is nothing to read or build the bars from (an
    empty range of a stored series is an empty list), CandleImportError for bad
    arguments."""
    sym, tf = normalize_symbol(symbol), check_timeframe(timeframe)
    read: dict[str, Any] = {"start": start, "end": end, "limit": limit, "latest": latest}
    if source_timeframe is None:
        bars: list[Candle] = list(await get_candles(conn, sym, tf, **read))
        if bars or limit == 0:
            return CandleSeries(tf, tf, bars)
        stored = await stored_timeframes(conn, sym)
        if tf in stored:
            return CandleSeries(tf, tf, bars)
        source = source_for(tf, stored)
        if source is None:
            have = ", ".join(stored) or "none"
            raise NoCandles(
                f"no stored {sym} bars of {tf}, nor of a finer timeframe to build them from"
                f" (stored: {have})"
            )
    else:
        source = check_timeframe(source_timeframe)
    built = await aggregate_candles(conn, sym, tf, source_timeframe=source, **read)
    if not built and limit != 0 and source not in await stored_timeframes(conn, sym):
        raise NoCandles(f"no stored {sym} bars of {source} to build {tf} bars from")
    return CandleSeries(tf, source, list(built))
