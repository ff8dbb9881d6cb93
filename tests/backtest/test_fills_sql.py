"""The backtest's fill arithmetic is the live engine's SQL, to the last digit.

The same grid of inputs (sides, prices, quantities, 24-hour volumes and ranges, fill
models, base slippage, fee rates, cash and positions, with the edge cases: a buy that
costs exactly the cash or 1e-8 more, a sell of the whole position, of more than is
free, of a position that does not exist, zero volume, the 500 bps cap) goes through
``private.slippage_bps``, the execution price's ``round(price * (1 ± bps / 10000), 10)``
and ``private.fill_math`` in PostgreSQL, and through :mod:`cryptotrader.backtest.fills`.
Every figure must be the same decimal, written the same (``str``): same digits, same
scale; every refusal the same code and the same message.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from decimal import Decimal, localcontext
from typing import Any

import psycopg
import pytest

from cryptotrader.backtest.fills import (
    EXACT,
    FILL_MODELS,
    execution_price,
    fill_math,
    fill_model,
    range_24h,
)
from cryptotrader.backtest.types import FillModelName
from tests.support import Row, TestDatabase

D = Decimal
SQL = """
SELECT g.n, s.bps, p.exec_price, m.*
  FROM unnest(%(side)s::text[], %(model)s::text[], %(base)s::numeric[], %(price)s::numeric[],
              %(qty)s::numeric[], %(high)s::numeric[], %(low)s::numeric[],
              %(volume)s::numeric[], %(fee_rate)s::numeric[], %(cash)s::numeric[],
              %(release_cash)s::numeric[], %(pos_qty)s::numeric[], %(pos_reserved)s::numeric[],
              %(pos_basis)s::numeric[], %(release_qty)s::numeric[])
       WITH ORDINALITY AS g(side, model, base, price, qty, high, low, volume, fee_rate, cash,
                            release_cash, pos_qty, pos_reserved, pos_basis, release_qty, n)
 CROSS JOIN LATERAL (SELECT private.slippage_bps(g.model, g.base, g.qty * g.price,
         jsonb_populate_record(NULL::public.market_data_cache, jsonb_build_object(
           'price_usd', g.price, 'high_24h', g.high, 'low_24h', g.low,
           'volume_24h_usd', g.volume))) AS bps) s
 CROSS JOIN LATERAL (SELECT round(g.price * (1 + CASE WHEN g.side = 'buy' THEN s.bps
                                                    ELSE -s.bps END / 10000), 10) AS exec_price) p
 CROSS JOIN LATERAL private.fill_math(g.side, g.qty, p.exec_price, g.fee_rate, g.cash,
         g.release_cash, g.pos_qty, g.pos_reserved, g.pos_basis, g.release_qty) m
 ORDER BY g.n
"""
COLUMNS = (
    "side", "model", "base", "price", "qty", "high", "low", "volume", "fee_rate", "cash",
    "release_cash", "pos_qty", "pos_reserved", "pos_basis", "release_qty",
)  # fmt: skip
OUT = ("total_value", "fee", "cash_delta", "basis_out", "realized", "refused_code", "refused")

PRICES = [D("0.00012345"), D("1"), D("97.5"), D("56738.76"), D("99999.99"), D("123456789.12")]
QUANTITIES = [D("0.00000001"), D("0.00012345"), D("0.5"), D("1.23456789"), D("1000")]
MODELS: list[FillModelName] = list(FILL_MODELS)
BASES = [D(0), D(5), D("7.5"), D("12.3456")]
FEES = [D(0), D("0.0008"), D("0.001"), D("0.0025")]
VOLUMES = [D(0), D("0.01"), D(1), D("1234567.89"), D("2500000000")]
RANGES = [(D("1.02"), D("0.97")), (D(1), D(1)), (D("1.5"), D("0.6"))]


@pytest.fixture(scope="module")
def owner(module_db: TestDatabase) -> Iterator[psycopg.Connection[Row]]:
    """The owner's connection: ``private`` functions are not for the API roles."""
    with module_db.owner() as conn:
        yield conn


def _account(rng: random.Random, side: str, qty: Decimal, price: Decimal) -> dict[str, Any]:
    """Cash and position around what the fill needs: exactly enough, 1e-8 short, plenty."""
    cost = qty * price * D("1.0025")
    cash = rng.choice([D(0), cost.quantize(D("1e-8")), cost * 3, D("1e24")])
    release = rng.choice([D(0), D(0), D("12.34567891")])
    if side == "buy":
        return {"cash": cash, "release_cash": release, "pos_qty": None, "pos_reserved": None,
                "pos_basis": None, "release_qty": D(0)}  # fmt: skip
    held = rng.choice([qty, qty, qty * 2, qty + D("1e-8"), qty - D("1e-8"), None])
    reserved = rng.choice([D(0), D(0), qty / 2]) if held is not None else None
    release_qty = rng.choice([D(0), reserved or D(0)])
    basis = None if held is None else (held * price * rng.choice([D("0.9"), D("1.1")]))
    return {"cash": cash, "release_cash": release, "pos_qty": held, "pos_reserved": reserved,
            "pos_basis": None if basis is None else basis.quantize(D("1e-8")),
            "release_qty": release_qty}  # fmt: skip


def _grid() -> list[dict[str, Any]]:
    """Every side, model, price, quantity and volume, twice, each time with random other
    settings (range, base slippage, fee rate, account)."""
    rng = random.Random(20240501)
    rows = []
    for side, model, price, qty, volume, _ in itertools.product(
        ["buy", "sell"], MODELS, PRICES, QUANTITIES, VOLUMES, range(2)
    ):
        high, low = rng.choice(RANGES)
        row = {"side": side, "model": model, "base": rng.choice(BASES), "price": price,
               "qty": qty, "high": price * high, "low": price * low, "volume": volume,
               "fee_rate": rng.choice(FEES)}  # fmt: skip
        if qty * price < D("1e-8"):
            continue  # a value that rounds to nothing: check_amount's business, not ours
        row |= _account(rng, side, qty, price)
        if side == "sell" and row["pos_qty"] == 0:
            continue
        rows.append(row)
    return rows


def _python(row: dict[str, Any]) -> tuple[Decimal, Decimal, tuple[Any, ...]]:
    with localcontext(EXACT):
        model = fill_model(row["model"], row["base"])
        market = range_24h(row["high"], row["low"], row["price"])
        bps = model.slippage_bps(row["qty"] * row["price"], row["volume"], market)
        price = execution_price(row["price"], bps, row["side"])
        money = fill_math(row["side"], row["qty"], price, row["fee_rate"], row["cash"],
                          row["release_cash"], row["pos_qty"], row["pos_reserved"],
                          row["pos_basis"], row["release_qty"])  # fmt: skip
    return bps, price, money


def _text(x: Any) -> str | None:
    return None if x is None else str(x)


def test_the_grid_covers_the_edge_cases() -> None:
    rows = _grid()
    outcomes = [_python(row) for row in rows]
    codes = {money[5] for _, _, money in outcomes}
    assert codes == {None, "insufficient_funds", "insufficient_position"}
    bps = [b for b, _, _ in outcomes]
    assert any(b == 500 for b in bps) and any(0 < b < 500 and b % 1 for b in bps)
    assert any(r["side"] == "sell" and r["qty"] == r["pos_qty"] for r in rows)
    assert any(r["side"] == "sell" and r["pos_qty"] is None for r in rows)
    assert len(rows) > 1500


def test_python_and_sql_give_the_same_digits(owner: psycopg.Connection[Row]) -> None:
    rows = _grid()
    params = {c: [row[c] for row in rows] for c in COLUMNS}
    sql_rows = owner.execute(SQL, params).fetchall()
    assert len(sql_rows) == len(rows)
    mismatches = []
    for row, got in zip(rows, sql_rows, strict=True):
        bps, price, money = _python(row)
        mine = (_text(bps), _text(price), *map(_text, money))
        theirs = (_text(got["bps"]), _text(got["exec_price"]), *(_text(got[c]) for c in OUT))
        if mine != theirs:
            mismatches.append((row, mine, theirs))
    assert not mismatches, mismatches[:3]
