"""Candles for the engine: CSV files (ISO or epoch-ms timestamps) and market_candles rows,
checked, with the first bad line named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from cryptotrader.backtest import InvalidCandles, bars_from_rows, check_bars, load_csv
from cryptotrader.strategies.base import Bars

DATA = Path(__file__).resolve().parents[2] / "data" / "ohlcv"
HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = [
    "2021-04-20T20:42:00Z,56738.76,56840.3,56733.23,56813.98,50.9752",
    "2021-04-20T20:43:00Z,56813.98,56813.98,56755.41,56777.0,42.089461",
    "2021-04-20T20:44:00Z,56777.0,56839.95,56775.78,56833.57,0",
]


def write(tmp_path: Path, lines: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "candles.csv"
    path.write_text(header + "".join(line + "\n" for line in lines))
    return path


def test_an_iso_file_loads_column_by_column() -> None:
    bars = load_csv(DATA / "BTC-USDT_1m.csv")
    assert len(bars) == 42_915
    assert int(bars.time[0]) == int(datetime(2021, 4, 20, 20, 42, tzinfo=UTC).timestamp() * 1000)
    assert (bars.open[0], bars.high[0], bars.low[0], bars.close[0]) == (
        56738.76,
        56840.3,
        56733.23,
        56813.98,
    )
    assert bars.volume[0] == 50.9752
    assert bars.time.dtype == np.int64
    assert bars.close.dtype == np.float64
    assert bool((np.diff(bars.time) > 0).all())


def test_the_5m_file_keeps_its_gaps_and_zero_volume_bars() -> None:
    bars = load_csv(DATA / "BTC-USDT_5m.csv")
    assert len(bars) == 65_741
    assert int((bars.volume == 0).sum()) == 28
    assert int((np.diff(bars.time) > 300_000).sum()) == 6  # the six maintenance gaps


def test_epoch_millisecond_timestamps_and_offsets(tmp_path: Path) -> None:
    ms = load_csv(write(tmp_path, ["1618951320000,1,2,0.5,1.5,3", "1618951380000,1.5,2,1,1,0"]))
    iso = load_csv(
        write(
            tmp_path, ["2021-04-20T20:42:00+00:00,1,2,0.5,1.5,3", "2021-04-20 20:43:00,1.5,2,1,1,0"]
        )
    )
    assert ms.time.tolist() == iso.time.tolist() == [1618951320000, 1618951380000]


def test_a_csv_value_reads_back_as_its_decimal_text(tmp_path: Path) -> None:
    bars = load_csv(write(tmp_path, GOOD))
    assert Decimal(repr(float(bars.low[1]))) == Decimal("56755.41")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([GOOD[0], GOOD[0]], "line 3: duplicate timestamp"),
        ([GOOD[1], GOOD[0]], "line 3: timestamps are not in ascending order"),
        ([GOOD[0], "2021-04-20T20:43:00Z,56813.98,56800,56755.41,56777.0,1"], "line 3: high"),
        ([GOOD[0], "2021-04-20T20:43:00Z,56813.98,56900,56790,56777.0,1"], "line 3: low"),
        (
            [GOOD[0], GOOD[1], "2021-04-20T20:44:00Z,1,2,0.5,1.5,-1"],
            "line 4: the volume is negative",
        ),
        ([GOOD[0], "2021-04-20T20:43:00Z,abc,2,0.5,1.5,1"], "line 3: could not convert"),
        ([GOOD[0], "2021-04-20T20:43:00Z,1,2,0.5,1.5"], "line 3: 5 fields, expected 6"),
        ([GOOD[0], "2021-04-20T20:43:00Z,nan,2,0.5,1.5,1"], "line 3: a price is not finite"),
        (["2021-04-20T20:43:00Z,0,2,0,1.5,1"], "line 2: prices must be positive"),
        (["yesterday,1,2,0.5,1.5,1"], "line 2: 'yesterday' is not an ISO-8601"),
        (["2021-04-20T20:43:00+02:00,1,2,0.5,1.5,1"], "line 2: .* is not UTC"),
    ],
)
def test_a_bad_line_is_named(tmp_path: Path, lines: list[str], message: str) -> None:
    with pytest.raises(InvalidCandles, match=message) as caught:
        load_csv(write(tmp_path, lines))
    assert caught.value.code == "invalid_candles"
    assert caught.value.status == 422


def test_a_bad_line_after_a_blank_one_is_still_named_by_its_number(tmp_path: Path) -> None:
    with pytest.raises(InvalidCandles, match="line 4: duplicate"):
        load_csv(write(tmp_path, [GOOD[0], "", GOOD[0]]))


def test_a_wrong_header_or_no_rows_or_no_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidCandles, match="line 1: the header"):
        load_csv(write(tmp_path, GOOD, header="time,o,h,l,c,v\n"))
    with pytest.raises(InvalidCandles, match="no candles"):
        load_csv(write(tmp_path, []))
    with pytest.raises(InvalidCandles, match="cannot read"):
        load_csv(tmp_path / "missing.csv")


def test_a_long_epoch_file_loads_whole_and_exact(tmp_path: Path) -> None:
    # how fast a million lines load: benchmarks/csv_load.py
    n = 200_000
    rng = np.random.default_rng(1)
    stamps = 1_609_459_200_000 + 60_000 * np.arange(n)
    closes = np.round(30_000 + np.cumsum(rng.normal(0, 5, n)), 2)
    path = tmp_path / "big.csv"
    with path.open("w") as f:
        f.write(HEADER)
        f.writelines(f"{t},{c},{c},{c},{c},1.5\n" for t, c in zip(stamps, closes, strict=True))
    bars = load_csv(path)
    assert len(bars) == n
    assert np.array_equal(bars.time, stamps)
    for column in (bars.open, bars.high, bars.low, bars.close):
        assert np.array_equal(column, closes)
    assert np.all(bars.volume == 1.5)


def test_market_candles_rows_become_bars() -> None:
    t0 = datetime(2021, 4, 20, 20, 42, tzinfo=UTC)
    rows = [
        {
            "open_time": t0 + timedelta(minutes=k),
            "open": Decimal("100.5"),
            "high": Decimal("101"),
            "low": Decimal("100"),
            "close": Decimal("100.75"),
            "volume": Decimal("0"),
        }
        for k in range(3)
    ]
    bars = bars_from_rows(rows)
    assert bars.time.tolist() == [1618951320000 + 60_000 * k for k in range(3)]
    assert bars.close.tolist() == [100.75] * 3
    assert len(bars_from_rows([{**rows[0], "open_time": 1618951320000}])) == 1


def test_bad_market_candles_rows_are_named() -> None:
    t0 = datetime(2021, 4, 20, 20, 42, tzinfo=UTC)
    row = {"open_time": t0, "open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 1}
    with pytest.raises(InvalidCandles, match=r"row 1 \(2021-04-20T20:42:00\+00:00\): duplicate"):
        bars_from_rows([row, row])
    with pytest.raises(InvalidCandles, match="row 0: 'volume'"):
        bars_from_rows([{k: v for k, v in row.items() if k != "volume"}])
    with pytest.raises(InvalidCandles, match="no time zone"):
        bars_from_rows([{**row, "open_time": t0.replace(tzinfo=None)}])


def test_check_bars_names_the_bar() -> None:
    good = Bars(
        np.array([0, 60_000], dtype=np.int64),
        np.array([1.0, 1.0]),
        np.array([2.0, 2.0]),
        np.array([0.5, 0.5]),
        np.array([1.5, 1.5]),
        np.array([1.0, 1.0]),
    )
    assert check_bars(good) is good
    bad = Bars(good.time, good.open, np.array([2.0, 0.9]), good.low, good.close, good.volume)
    with pytest.raises(InvalidCandles, match="bar 1: high"):
        check_bars(bad)
