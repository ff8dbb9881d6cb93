"""Candles: CSV import (COPY, checks with line numbers, idempotence), reading back, and
aggregation in SQL, checked against the real Binance files and an independent pandas
computation; the `market import` and `market candles` commands as a user runs them."""

from __future__ import annotations

import csv
import gzip
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from cryptotrader.db.session import Conn, as_anon, open_pool
from cryptotrader.market.candle_import import CandleFileRejected, ImportReport, import_candles_csv
from cryptotrader.market.candles import (
    AggregatedCandle,
    CandleImportError,
    aggregate_candles,
    get_candles,
)
from tests.support import TestDatabase, run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ohlcv"
FILES = {  # file -> (symbol, timeframe)
    "BTC-USDT_1m.csv.gz": ("BTC", "1m"),
    "ETH-USDT_1m.csv.gz": ("ETH", "1m"),
    "BTC-USDT_5m.csv.gz": ("BTC", "5m"),
    "ETH-USDT_5m.csv.gz": ("ETH", "5m"),
    "BTC-USDT_1h.csv.gz": ("BTC", "1h"),
    "ETH-USDT_1h.csv.gz": ("ETH", "1h"),
}
OHLCV = ("open", "high", "low", "close", "volume")
HEADER = "timestamp,open,high,low,close,volume\n"
Bar = tuple[Decimal, Decimal, Decimal, Decimal, Decimal]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def csv_rows(name: str) -> dict[datetime, tuple[str, ...]]:
    """The file's rows as text, by open time."""
    with gzip.open(FIXTURES / name, "rt", newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == list(HEADER.strip().split(","))
        return {utc(r[0]): tuple(r[1:]) for r in reader}


def frame(name: str) -> pd.DataFrame:
    """The file in pandas, every number a Decimal parsed from the CSV text."""
    df = pd.read_csv(FIXTURES / name, dtype=str)
    df.index = pd.to_datetime(df.pop("timestamp"), utc=True, format="ISO8601")
    for col in OHLCV:
        df[col] = df[col].map(Decimal)
    return df


def resampled(df: pd.DataFrame, rule: str) -> dict[datetime, tuple[Bar, int]]:
    """pandas' own OHLCV resampling, non-empty buckets only, with the bar count."""
    r = df.resample(rule)
    out = r.agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    out["bars"] = r["open"].count()
    return {
        ts.to_pydatetime(): (tuple(row[c] for c in OHLCV), int(row["bars"]))
        for ts, row in out[out["bars"] > 0].iterrows()
    }


def ours(bars: list[AggregatedCandle]) -> dict[datetime, tuple[Bar, int]]:
    return {
        b.open_time.astimezone(UTC): ((b.open, b.high, b.low, b.close, b.volume), b.bars)
        for b in bars
    }


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


def count(db: TestDatabase, symbol: str, timeframe: str | None = None) -> int:
    with db.owner() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM market_candles"
            " WHERE symbol = %s AND (%s::text IS NULL OR timeframe = %s)",
            [symbol, timeframe, timeframe],
        ).fetchone()
    assert row is not None
    return int(row["n"])


@asynccontextmanager
async def anon(database: TestDatabase) -> AsyncIterator[Conn]:
    """A unit of work as the API's anonymous caller (candles are public)."""
    pool = open_pool(database.app_conninfo, min_size=1, max_size=1)
    await pool.open()
    try:
        async with as_anon(pool) as conn:
            yield conn
    finally:
        await pool.close()


# ------------------------------------------------------------------ the real files


@pytest.fixture(scope="module")
def loaded(module_db: TestDatabase) -> dict[str, ImportReport]:
    """The six real files imported once (through the app's login role, as service_role)."""
    return {
        name: import_candles_csv(module_db.app_conninfo, FIXTURES / name, sym, tf)
        for name, (sym, tf) in FILES.items()
    }


def test_real_files_import_whole(loaded: dict[str, ImportReport]) -> None:
    for name, report in loaded.items():
        rows = len(csv_rows(name))
        assert (report.rows_read, report.rows_written, report.rows_unchanged) == (rows, rows, 0)
        assert report.bad_rows == () and report.skipped == 0
        assert not report.raw_path, f"{name} should take the fast path"
        assert report.seconds > 0


@pytest.mark.parametrize("name", list(FILES))
def test_stored_rows_are_identical_to_the_file(
    loaded: dict[str, ImportReport], module_db: TestDatabase, name: str
) -> None:
    symbol, timeframe = FILES[name]
    expected = {t: tuple(Decimal(v) for v in values) for t, values in csv_rows(name).items()}
    with module_db.owner() as conn:
        rows = conn.execute(
            "SELECT open_time, open, high, low, close, volume, source FROM market_candles"
            " WHERE symbol = %s AND timeframe = %s ORDER BY open_time",
            [symbol, timeframe],
        ).fetchall()
    stored = {r["open_time"].astimezone(UTC): tuple(r[c] for c in OHLCV) for r in rows}
    assert stored == expected  # every row, every value, exactly
    # and with the file's own digits (numeric keeps the scale: "19720.0" stays "19720.0")
    assert all(tuple(str(v) for v in stored[t]) == text for t, text in csv_rows(name).items())
    assert {r["source"] for r in rows} == {"import"}


def test_gaps_and_zero_volume_bars_are_kept(
    loaded: dict[str, ImportReport], module_db: TestDatabase
) -> None:
    with module_db.owner() as conn:
        zero = conn.execute(
            "SELECT timeframe, count(*) AS n FROM market_candles"
            " WHERE symbol = 'BTC' AND volume = 0 GROUP BY 1 ORDER BY 1"
        ).fetchall()
        around_gap = conn.execute(
            "SELECT open_time FROM market_candles WHERE symbol = 'BTC' AND timeframe = '1m'"
            " AND open_time BETWEEN %s AND %s ORDER BY open_time",
            [utc("2021-04-25T03:59:00Z"), utc("2021-04-25T08:46:00Z")],
        ).fetchall()
    # SOURCES.md: 28 zero-volume bars in each 5m file, 2 in each 1h file, none in 1m
    assert zero == [{"timeframe": "1h", "n": 2}, {"timeframe": "5m", "n": 28}]
    # and the 1m files' maintenance gap: nothing between 04:00 and 08:45
    assert [r["open_time"].astimezone(UTC).strftime("%H:%M") for r in around_gap] == [
        "03:59",
        "04:00",
        "08:45",
        "08:46",
    ]


# ------------------------------------------------------------------ reading and aggregating


@pytest.mark.anyio
@pytest.mark.parametrize("symbol", ["BTC", "ETH"])
async def test_1h_from_1m_equals_pandas(
    loaded: dict[str, ImportReport], module_db: TestDatabase, symbol: str
) -> None:
    async with anon(module_db) as conn:
        bars = await aggregate_candles(conn, symbol, "1h", source_timeframe="1m")
    got, want = ours(bars), resampled(frame(f"{symbol}-USDT_1m.csv.gz"), "1h")
    complete = [t for t, (_, n) in want.items() if n == 60]
    assert len(complete) >= 700
    for t in complete:  # every complete hour: O, H, L, C and V exactly as Decimals
        assert got[t] == want[t], t
    # and the partial ones (the first hour, the gap, the last hour) the same way
    assert got == want
    assert all(b.expected_bars == 60 and b.complete == (b.bars == 60) for b in bars)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("timeframe", "rule"),
    [("5m", "5min"), ("15m", "15min"), ("30m", "30min"), ("4h", "4h"), ("1d", "1D")],
)
async def test_other_timeframes_from_1m_equal_pandas(
    loaded: dict[str, ImportReport], module_db: TestDatabase, timeframe: str, rule: str
) -> None:
    async with anon(module_db) as conn:
        bars = await aggregate_candles(conn, "BTC", timeframe, source_timeframe="1m")
    assert ours(bars) == resampled(frame("BTC-USDT_1m.csv.gz"), rule)
    # buckets start at multiples of the timeframe since the epoch (4h: 00, 04, ... UTC)
    step = {"5m": 300, "15m": 900, "30m": 1800, "4h": 14400, "1d": 86400}[timeframe]
    assert all(int(b.open_time.timestamp()) % step == 0 for b in bars)


@pytest.mark.anyio
@pytest.mark.parametrize("symbol", ["BTC", "ETH"])
async def test_5m_from_1m_agrees_with_the_5m_download(
    loaded: dict[str, ImportReport], module_db: TestDatabase, symbol: str
) -> None:
    """Two independent Binance downloads: they agree exactly except on 16 windows of
    2021-04-22/23 (SOURCES.md: a known Binance kline inconsistency)."""
    async with anon(module_db) as conn:
        built = await aggregate_candles(conn, symbol, "5m", source_timeframe="1m")
        stored = await get_candles(
            conn, symbol, "5m", start=built[0].open_time, end=built[-1].open_time
        )
    complete = {t: bar for t, (bar, n) in ours(built).items() if n == 5}
    file_5m = {
        c.open_time.astimezone(UTC): (c.open, c.high, c.low, c.close, c.volume) for c in stored
    }
    overlap = complete.keys() & file_5m.keys()
    differ = sorted(t for t in overlap if complete[t] != file_5m[t])
    assert len(overlap) == 8582
    assert len(differ) == 16
    assert {t.date().isoformat() for t in differ} == {"2021-04-22", "2021-04-23"}


@pytest.mark.anyio
@pytest.mark.parametrize("symbol", ["BTC", "ETH"])
async def test_1h_from_5m_with_gaps_and_zero_volume(
    loaded: dict[str, ImportReport], module_db: TestDatabase, symbol: str
) -> None:
    """The 5m files hold six maintenance gaps and 28 zero-volume bars."""
    async with anon(module_db) as conn:
        built = await aggregate_candles(conn, symbol, "1h", source_timeframe="5m")
        stored = await get_candles(conn, symbol, "1h")
    got = ours(built)
    assert got == resampled(frame(f"{symbol}-USDT_5m.csv.gz"), "1h")
    assert sum(1 for _, n in got.values() if n < 12) == 7  # the gap edges and the last hour
    # the 2020-12-21 maintenance: 13:20 to 14:05 are flat zero-volume bars, then nothing
    # until 18:00
    (o, h, lo, c, v), bars = got[utc("2020-12-21T14:00:00Z")]
    assert bars == 2 and v == 0 and o == h == lo == c
    assert got[utc("2020-12-21T13:00:00Z")][1] == 12
    if symbol == "BTC":  # 13:00 to 13:15 traded, the other 8 bars of the hour are flat
        assert got[utc("2020-12-21T13:00:00Z")][0][4] == Decimal("2830.345587")
    assert [utc(f"2020-12-21T{h}:00:00Z") in got for h in (15, 16, 17, 18)] == [
        False,
        False,
        False,
        True,
    ]
    # the 1h download agrees on all complete hours but three (SOURCES.md)
    hourly = {
        c.open_time.astimezone(UTC): (c.open, c.high, c.low, c.close, c.volume) for c in stored
    }
    overlap = {t for t, (_, n) in got.items() if n == 12} & hourly.keys()
    assert len(overlap) == 5476
    assert sum(1 for t in overlap if got[t][0] != hourly[t]) == 3


@pytest.mark.anyio
async def test_zero_volume_buckets(
    loaded: dict[str, ImportReport], module_db: TestDatabase
) -> None:
    async with anon(module_db) as conn:
        built = await aggregate_candles(conn, "BTC", "15m", source_timeframe="5m")
    flat = [b for b in built if b.volume == 0]
    assert flat, "some 15m buckets hold only zero-volume bars"
    assert all(b.open == b.high == b.low == b.close for b in flat)


@pytest.mark.anyio
async def test_ranges_limits_and_latest(
    loaded: dict[str, ImportReport], module_db: TestDatabase
) -> None:
    async with anon(module_db) as conn:
        # stored bars: open_time in [start, end), oldest first
        three = await get_candles(
            conn, "btc", "1h", start=utc("2020-12-01T01:00:00Z"), end=utc("2020-12-01T04:00:00Z")
        )
        first2 = await get_candles(conn, "BTC", "1h", start=utc("2020-12-01T01:00:00Z"), limit=2)
        last2 = await get_candles(
            conn, "BTC", "1h", end=utc("2020-12-01T04:00:00Z"), limit=2, latest=True
        )
        newest = await get_candles(conn, "BTC", "1h", limit=1, latest=True)
        naive = await get_candles(conn, "BTC", "1h", start=datetime(2021, 7, 17, 20))
        # aggregated: buckets whose start is in [start, end), each built from all its bars
        around_gap = await aggregate_candles(
            conn,
            "BTC",
            "1h",
            start=utc("2021-04-25T02:30:00Z"),
            end=utc("2021-04-25T10:00:00Z"),
        )
        tail = await aggregate_candles(conn, "BTC", "1h", limit=3, latest=True)
        head = await aggregate_candles(conn, "BTC", "1d", limit=2)
        nothing = await aggregate_candles(conn, "DOGE", "1h")
        none = await get_candles(conn, "BTC", "1h", limit=0)
    hours = [c.open_time.astimezone(UTC).hour for c in three]
    assert hours == [1, 2, 3] and all(c.symbol == "BTC" and c.timeframe == "1h" for c in three)
    assert [c.open_time for c in first2] == [c.open_time for c in three[:2]]
    assert [c.open_time for c in last2] == [c.open_time for c in three[1:]]
    assert (
        [c.open_time for c in newest]
        == [utc("2021-07-17T20:00:00Z")]
        == [c.open_time for c in naive]
    )
    assert [(b.open_time.astimezone(UTC).hour, b.bars) for b in around_gap] == [
        (3, 60),
        (4, 1),  # the maintenance gap: 04:00 then nothing until 08:45
        (8, 15),
        (9, 60),
    ]
    assert [b.complete for b in around_gap] == [True, False, False, True]
    assert [(b.open_time, b.bars) for b in tail] == [
        (utc("2021-05-20T18:00:00Z"), 60),
        (utc("2021-05-20T19:00:00Z"), 60),
        (utc("2021-05-20T20:00:00Z"), 41),
    ]
    assert [(b.open_time, b.bars, b.expected_bars) for b in head] == [
        (utc("2021-04-20T00:00:00Z"), 198, 1440),  # 20:42 to midnight
        (utc("2021-04-21T00:00:00Z"), 1440, 1440),
    ]
    assert nothing == [] and none == []


@pytest.mark.anyio
async def test_aggregation_arguments_are_checked(module_db: TestDatabase) -> None:
    async with anon(module_db) as conn:
        with pytest.raises(CandleImportError, match="cannot build 5m bars from 1h bars"):
            await aggregate_candles(conn, "BTC", "5m", source_timeframe="1h")
        with pytest.raises(CandleImportError, match="unknown timeframe"):
            await aggregate_candles(conn, "BTC", "2h")


# ------------------------------------------------------------------ bad rows

BAD_FILE = (
    HEADER
    + "2021-01-01T00:00:00Z,100,110,90,105,1.5\n"  # 2 good
    + "2021-01-01T00:01:00Z,100,110,90,NaN,1\n"  # 3
    + "\n"  # 4 blank: ignored
    + "2021-01-01T00:02:30Z,100,110,90,105,1\n"  # 5
    + "2021-01-01T00:03:00Z,100,99,90,95,1\n"  # 6
    + "2021-01-01T00:04:00Z,100,110,101,105,1\n"  # 7
    + "2021-01-01T00:05:00Z,100,110,90,105,-1\n"  # 8
    + "2021-01-01T00:00:00Z,100,110,90,105,1\n"  # 9 duplicate of line 2
    + "2021-02-30T00:00:00Z,100,110,90,105,1\n"  # 10
    + "2021-01-01T00:06:00+02:00,100,110,90,105,1\n"  # 11
    + "2021-01-01T00:07:00Z,100,110,90,105\n"  # 12
    + "2021-01-01T00:08:00Z,0,0,0,0,0\n"  # 13
    + "2021-01-01 00:09:00,100,110,90,105,1\n"  # 14 no offset
    + "2021-01-01T00:10:00Z,1e2,1E2,100,100.0,0\n"  # 15 good: exponents, zero volume
    + "2021-01-01T00:11:00.000Z,100,110,90,105,1\n"  # 16 good
    + "2021-01-01T00:12:00+00:00,100,110,90,105,1\n"  # 17 good
    + "2021-01-01T24:00:00Z,100,110,90,105,1\n"  # 18
    + "2021-01-01T00:13:00Z,Infinity,110,90,105,1\n"  # 19
    + "2021-01-01T00:14:00Z,100,110,90,105,1\n"  # 20 good
    + "\n\n"  # trailing blank lines
)
BAD_LINES = {
    3: "close is not a finite decimal number",
    5: "not aligned to the 1m timeframe",
    6: "high 99 is below open 100",
    7: "low 101 is above open 100",
    8: "volume must not be negative",
    9: "duplicate open time 2021-01-01T00:00:00Z (first on line 2)",
    10: "not a valid date and time",
    11: "not ISO-8601 UTC",
    12: "expected 6 fields",
    13: "low must be positive",
    14: "not ISO-8601 UTC",
    18: "not a valid date and time",
    19: "open is not a finite decimal number",
}
GOOD_TIMES = ["00:00", "00:10", "00:11", "00:12", "00:14"]


def assert_bad_lines(report: ImportReport) -> None:
    assert [b.line for b in report.bad_rows] == sorted(BAD_LINES)
    for bad in report.bad_rows:
        assert BAD_LINES[bad.line] in bad.reason, bad


def test_bad_rows_are_reported_by_line_and_nothing_is_written(
    db: TestDatabase, tmp_path: Path
) -> None:
    path = write(tmp_path / "bad.csv", BAD_FILE)
    with pytest.raises(CandleFileRejected) as caught:
        import_candles_csv(db.app_conninfo, path, "XBAD", "1m")
    report = caught.value.report
    assert_bad_lines(report)
    assert (report.rows_read, report.rows_written, report.skipped) == (18, 0, 0)
    assert "13 bad row(s), nothing written (first: line 3:" in str(caught.value)
    assert count(db, "XBAD") == 0


def test_skip_bad_writes_the_good_rows(db: TestDatabase, tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", BAD_FILE)
    report = import_candles_csv(db.app_conninfo, path, "xbad", "1m", skip_bad=True)
    assert_bad_lines(report)
    assert (report.rows_read, report.rows_written, report.skipped) == (18, 5, 13)
    with db.owner() as conn:
        rows = conn.execute(
            "SELECT to_char(open_time AT TIME ZONE 'UTC', 'HH24:MI') AS t, open, volume"
            " FROM market_candles WHERE symbol = 'XBAD' ORDER BY open_time"
        ).fetchall()
    assert [r["t"] for r in rows] == GOOD_TIMES
    assert rows[0]["open"] == Decimal("100") and rows[1]["open"] == Decimal("1E+2")
    assert rows[1]["volume"] == 0


def test_semantic_errors_in_a_canonical_file(db: TestDatabase, tmp_path: Path) -> None:
    """All timestamps canonical, so COPY succeeds: the one-pass write notices the short
    count, rolls back, and the careful check names the lines."""
    path = write(
        tmp_path / "sem.csv",
        HEADER
        + "2021-01-01T00:00:00Z,10,11,9,10,1\n"
        + "2021-01-01T00:01:00Z,10,11,9,12,1\n"  # close above high
        + "2021-01-01T00:02:00Z,10,11,9,10,1\n"
        + "2021-01-01T00:02:00Z,10,11,9,10,2\n"  # duplicate
        + "2021-13-01T00:04:00Z,10,11,9,10,1\n",  # month 13: the cast fails
    )
    with pytest.raises(CandleFileRejected) as caught:
        import_candles_csv(db.app_conninfo, path, "SEM", "1m")
    report = caught.value.report
    assert not report.raw_path
    assert [(b.line, b.reason.split(" ")[0]) for b in report.bad_rows] == [
        (3, "high"),
        (5, "duplicate"),
        (6, "timestamp"),
    ]
    assert count(db, "SEM") == 0


def test_messy_bytes_take_the_raw_path(db: TestDatabase, tmp_path: Path) -> None:
    """Invalid UTF-8, NUL, tabs, backslashes, quotes and a lone carriage return: every
    line still gets its own number and the rest of the file imports."""
    body = (
        HEADER.encode()
        + b"2021-01-01T00:00:00Z,10,11,9,10,1\n"
        + b"2021-01-01T00:01:00Z,1\xff0,11,9,10,1\n"  # 3
        + b"2021-01-01T00:02:00Z,10,11,9,10,\x001\n"  # 4
        + b"2021-01-01T00:03:00Z,\\.,11,9,10,1\n"  # 5
        + b"\\.\n"  # 6: COPY's end-of-data marker, escaped
        + b'"2021-01-01T00:04:00Z",10,11,9,10,1\n'  # 7
        + b"2021-01-01T00:05:00Z,10,11,9\r,10,1\n"  # 8 good (white space around a number)
        + b"2021-01-01T00:06:00Z,10\t,11,9,10,1\n"  # 9 good
        + b"2021-01-01T00:07:00Z,10,11,9,10,1"  # 10 good, no final newline
    )
    path = tmp_path / "messy.csv"
    path.write_bytes(body)
    report = import_candles_csv(db.app_conninfo, path, "MESS", "1m", skip_bad=True)
    assert report.raw_path
    assert [b.line for b in report.bad_rows] == [3, 4, 5, 6, 7]
    assert "open is not a finite decimal number" in report.bad_rows[0].reason
    assert "timestamp is not ISO-8601" in report.bad_rows[4].reason
    assert (report.rows_read, report.rows_written) == (9, 4)


def test_crlf_and_gzip_take_the_fast_path(db: TestDatabase, tmp_path: Path) -> None:
    text = HEADER + "".join(f"2021-01-01T00:{m:02d}:00Z,10,11,9,10.5,{m}\n" for m in range(30))
    path = tmp_path / "crlf.csv.gz"
    path.write_bytes(gzip.compress(text.replace("\n", "\r\n").encode() + b"\r\n\r\n"))
    report = import_candles_csv(db.app_conninfo, path, "CRLF", "1m")
    assert (report.rows_read, report.rows_written, report.raw_path) == (30, 30, False)


def test_file_level_errors(db: TestDatabase, tmp_path: Path) -> None:
    with pytest.raises(CandleImportError, match="line 1 must be the header"):
        import_candles_csv(
            db.app_conninfo, write(tmp_path / "h.csv", "date,o,h,l,c,v\n"), "X", "1m"
        )
    with pytest.raises(CandleImportError, match="cannot read"):
        import_candles_csv(db.app_conninfo, tmp_path / "missing.csv", "X", "1m")
    with pytest.raises(CandleImportError, match="unknown timeframe"):
        import_candles_csv(db.app_conninfo, write(tmp_path / "e.csv", HEADER), "X", "2m")
    with pytest.raises(CandleImportError, match="invalid symbol"):
        import_candles_csv(db.app_conninfo, write(tmp_path / "e.csv", HEADER), "B TC", "1m")
    empty = import_candles_csv(db.app_conninfo, write(tmp_path / "e.csv", HEADER), "X", "1d")
    assert (empty.rows_read, empty.rows_written) == (0, 0)


def test_timeframe_alignment(db: TestDatabase, tmp_path: Path) -> None:
    path = write(
        tmp_path / "4h.csv",
        HEADER
        + "2021-01-01T00:00:00Z,10,11,9,10,1\n"
        + "2021-01-01T04:00:00Z,10,11,9,10,1\n"
        + "2021-01-01T06:00:00Z,10,11,9,10,1\n",  # not a 4h boundary
    )
    with pytest.raises(CandleFileRejected) as caught:
        import_candles_csv(db.app_conninfo, path, "ALN", "4h")
    assert [(b.line, "aligned to the 4h" in b.reason) for b in caught.value.report.bad_rows] == [
        (4, True)
    ]


# ------------------------------------------------------------------ idempotence, transactions


def test_reimport_is_idempotent_and_updates_changed_bars(db: TestDatabase, tmp_path: Path) -> None:
    name = "ETH-USDT_1h.csv.gz"
    first = import_candles_csv(db.app_conninfo, FIXTURES / name, "ETH", "1h")
    again = import_candles_csv(db.app_conninfo, FIXTURES / name, "ETH", "1h")
    assert (first.rows_written, again.rows_written, again.rows_unchanged) == (5482, 0, 5482)
    assert count(db, "ETH", "1h") == 5482

    # the last 3 bars again, one of them corrected, and 2 new ones after them
    lines = gzip.decompress((FIXTURES / name).read_bytes()).decode().splitlines()
    tail = lines[-3:]
    ts, o, h, lo, c, _ = tail[1].split(",")
    tail[1] = ",".join([ts, o, h, lo, c, "12345.5"])
    extra = [
        "2021-07-17T21:00:00Z,1898.28,1900.0,1890.0,1895.0,10",
        "2021-07-17T22:00:00Z,1895.0,1899.0,1894.0,1896.0,0",
    ]
    path = write(tmp_path / "more.csv", HEADER + "\n".join(tail + extra) + "\n")
    more = import_candles_csv(db.app_conninfo, path, "ETH", "1h")
    assert (more.rows_read, more.rows_written, more.rows_unchanged) == (5, 3, 2)
    assert count(db, "ETH", "1h") == 5484
    with db.owner() as conn:
        row = conn.execute(
            "SELECT volume FROM market_candles WHERE symbol = 'ETH' AND timeframe = '1h'"
            " AND open_time = %s",
            [utc(ts)],
        ).fetchone()
    assert row == {"volume": Decimal("12345.5")}


def test_duplicates_against_stored_rows_are_reported(db: TestDatabase, tmp_path: Path) -> None:
    """With bars already stored the write is an upsert; a duplicate inside the file is
    still named, not silently applied twice."""
    base = HEADER + "2021-01-01T00:00:00Z,10,11,9,10,1\n"
    import_candles_csv(db.app_conninfo, write(tmp_path / "a.csv", base), "DUP", "1m")
    dup = base + "2021-01-01T00:00:00Z,10,11,9,10,2\n"
    with pytest.raises(CandleFileRejected) as caught:
        import_candles_csv(db.app_conninfo, write(tmp_path / "b.csv", dup), "DUP", "1m")
    assert [b.line for b in caught.value.report.bad_rows] == [3]
    kept = import_candles_csv(
        db.app_conninfo, write(tmp_path / "b.csv", dup), "DUP", "1m", skip_bad=True
    )
    assert (kept.rows_written, kept.skipped) == (0, 1)  # the first occurrence, unchanged


def test_import_joins_the_callers_transaction_and_restores_its_role(
    db: TestDatabase, tmp_path: Path
) -> None:
    path = write(tmp_path / "t.csv", HEADER + "2021-01-01T00:00:00Z,10,11,9,10,1\n")
    with psycopg.connect(db.app_conninfo) as conn:
        conn.execute("SELECT 1")  # a transaction is open
        report = import_candles_csv(conn, path, "TXN", "1m")
        role = conn.execute("SELECT current_setting('role')").fetchone()
        conn.execute("SELECT set_config('role', 'anon', true)")
        seen = conn.execute("SELECT count(*) FROM market_candles WHERE symbol = 'TXN'").fetchone()
        conn.rollback()
    assert report.rows_written == 1 and role == ("none",) and seen == (1,)
    assert count(db, "TXN") == 0  # the caller rolled it back


def test_progress_is_reported(db: TestDatabase, tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.csv",
        HEADER + "".join(f"2021-01-01T{h:02d}:00:00Z,10,11,9,10,1\n" for h in range(24)),
    )
    seen: list[tuple[str, int, int]] = []
    import_candles_csv(db.app_conninfo, path, "PRG", "1h", progress=lambda *a: seen.append(a))
    assert seen[0][0] == "reading" and seen[-1] == ("writing", 24, 24)
    assert max(done for phase, done, _ in seen if phase == "reading") == 24


# ------------------------------------------------------------------ the command line


def test_cli_import_and_candles(cli_env: dict[str, str], db: TestDatabase, tmp_path: Path) -> None:
    fixture = str(FIXTURES / "ETH-USDT_1h.csv.gz")
    out = run_cli(
        ["market", "import", fixture, "--symbol", "ETH", "--timeframe", "1h"], cli_env, tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert "5,482 rows read, 5,482 written, 0 unchanged, 0 skipped" in out.stdout
    again = run_cli(
        ["market", "import", fixture, "--symbol", "eth", "--timeframe", "1h"], cli_env, tmp_path
    )
    assert "5,482 rows read, 0 written, 5,482 unchanged" in again.stdout

    shown = run_cli(
        [
            "market", "candles", "--symbol", "ETH", "--timeframe", "4h",
            "--source-timeframe", "1h", "--from", "2020-12-01T00:00:00Z", "--limit", "2",
        ],
        cli_env,
        tmp_path,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    first4 = resampled(frame("ETH-USDT_1h.csv.gz"), "4h")[utc("2020-12-01T00:00:00Z")]
    line = next(ln for ln in shown.stdout.splitlines() if "2020-12-01 00:00" in ln)
    cells = [cell.strip() for cell in line.split("│")[1:-1]]
    assert cells == ["2020-12-01 00:00", *(str(v) for v in first4[0]), "4/4"]
    assert "2020-12-01 04:00" in shown.stdout and "2 bar(s)" in shown.stdout
    latest = run_cli(
        ["market", "candles", "--symbol", "ETH", "--timeframe", "1h", "--limit", "1"],
        cli_env,
        tmp_path,
    )
    assert "2021-07-17 20:00" in latest.stdout and "1898.28" in latest.stdout


def test_cli_rejects_a_bad_file(cli_env: dict[str, str], db: TestDatabase, tmp_path: Path) -> None:
    lines = [f"2021-01-01T00:{m:02d}:00Z,10,11,9,10,1" for m in range(30)]
    for i in range(5, 30):  # 25 bad rows: open above high
        lines[i] = lines[i].replace(",10,11,", ",12,11,")
    path = write(tmp_path / "bad.csv", HEADER + "\n".join(lines) + "\n")
    args = ["market", "import", str(path), "--symbol", "CLI", "--timeframe", "1m"]
    out = run_cli(args, cli_env, tmp_path)
    assert out.returncode == 1
    assert "25 bad row(s); nothing was written" in out.stderr
    assert "line 7: high 11 is below open 12" in out.stderr
    assert "line 26:" in out.stderr and "line 27:" not in out.stderr  # the first 20
    assert "and 5 more" in out.stderr
    assert count(db, "CLI") == 0
    skipped = run_cli([*args, "--skip-bad"], cli_env, tmp_path)
    assert skipped.returncode == 0, skipped.stderr
    assert "30 rows read, 5 written, 0 unchanged, 25 skipped" in skipped.stdout
    assert count(db, "CLI") == 5
