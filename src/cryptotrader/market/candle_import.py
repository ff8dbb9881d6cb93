"""Bulk import of OHLCV CSV files into ``market_candles``.

:func:`import_candles_csv` runs as ``service_role`` in one transaction: the file is
streamed with COPY into a temporary staging table, every row is checked by one set-based
query that reports line numbers, and the rows are then written with one
``INSERT ... SELECT`` (an upsert when the series already has bars on those days). A file
with a bad row writes nothing unless ``skip_bad`` is given; importing a file again
changes nothing. The import is audited (``market.import``) in its own transaction.

The file format is ``timestamp,open,high,low,close,volume`` with a header line; the
timestamp is the bar's open time in ISO-8601 UTC (``2021-04-20T20:42:00Z``), the numbers
are plain decimals (exponents allowed, no quotes). A gzip file is read as such.
"""

from __future__ import annotations

import codecs
import gzip
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, Literal, cast

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import tuple_row

from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import SYSTEM, Actor
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import service_role_within
from cryptotrader.market.candles import CandleImportError, check_timeframe, normalize_symbol
from cryptotrader.market.schemas import TIMEFRAME_SECONDS, Timeframe

Q = load_queries("cryptotrader.market")

HEADER = ("timestamp", "open", "high", "low", "close", "volume")
_BLOCK = 1 << 20  # bytes read (and sent to COPY) at a time
# Bytes a well-formed data line can hold. A block with anything else goes the raw path,
# where every field is checked as text (this keeps NaN, Infinity, hex and the like out of
# the fast path, whose numbers PostgreSQL's numeric input reads).
_FAST_BYTES = b"0123456789.,-+:TZeE \r\n"

Phase = Literal["reading", "checking", "writing"]
# progress(phase, done, total): during "reading", rows sent so far and rows in the file
# (a line count); "checking" and "writing" are reported once each, as they start.
ImportProgress = Callable[[Phase, int, int], None]


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
    actor: Actor = SYSTEM,
) -> ImportReport:
    """Import a candle CSV (or .csv.gz) into ``market_candles`` as ``service_role``.

    ``db`` is a conninfo (a connection is opened and closed here) or an open connection
    whose login role may become ``service_role`` (the app's role, or the owner). All the
    work is one transaction; on a connection already in a transaction it is a savepoint
    and the caller commits. Raises :class:`CandleFileRejected` (with the report) when a
    row is bad and ``skip_bad`` is false, :class:`CandleImportError` when the file cannot
    be read or its header is not ``timestamp,open,high,low,close,volume``. The import is
    recorded in ``audit_logs`` as ``market.import`` by ``actor``, in its transaction.
    """
    file = Path(path)
    sym = normalize_symbol(symbol)
    tf = check_timeframe(timeframe)
    if isinstance(db, str):
        with psycopg.connect(db) as conn:
            return _import(conn, file, sym, tf, skip_bad, progress, source, actor)
    return _import(db, file, sym, tf, skip_bad, progress, source, actor)


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
    actor: Actor,
) -> ImportReport:
    started = time.perf_counter()
    run = _Run(conn, path, symbol, timeframe, skip_bad, progress, source)
    total = _count_rows(path) if progress is not None else 0
    with _open(path) as f:
        _read_header(f, path)  # before any database work: a wrong file fails fast
    with conn.transaction():
        cur = run.cur
        with service_role_within(conn):
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
            details = {"file": path.name, "source": source, "rows_written": written}
            details["rows_skipped"] = len(run.bad)
            series = f"{symbol}/{timeframe}"
            audit.record_sync(conn, actor, "market.import", "candles", series, details)
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
