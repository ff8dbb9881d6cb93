"""The copy gap's four books and the what-if's replay against hand-computed fixtures."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cryptotrader.social.copy_math import Copier
from cryptotrader.social.gap import copy_gap, pct, replay

D = Decimal


def row(kind: str, symbol: str, side: str, leader: str, status: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": kind,
        "symbol": symbol,
        "side": side,
        "leader_price": D(leader),
        "entry_price": None,
        "fraction": D("0"),
        "target_value": None,
        "status": status,
        "filled_quantity": D(0),
        "total_value": D(0),
        "fee": D(0),
    }
    return base | {k: D(v) if isinstance(v, str) else v for k, v in kw.items()}


LOG = [
    # the trader's buy, asked 1,000 (10 BTC at 100), cut to 8 and filled at 101
    row(
        "trade",
        "BTC",
        "buy",
        "100",
        "reduced",
        target_value="1000",
        filled_quantity="8",
        total_value="808",
        fee="0.8",
    ),
    # the trader's ETH, opened at today's 50; the trader had bought it at 40
    row(
        "mirror",
        "ETH",
        "buy",
        "50",
        "filled",
        entry_price="40",
        target_value="500",
        filled_quantity="10",
        total_value="500",
        fee="0.5",
    ),
    # the trader sold half at 120; the copy sold half of its 8 at 119
    row(
        "trade",
        "BTC",
        "sell",
        "120",
        "filled",
        fraction="0.5",
        filled_quantity="4",
        total_value="476",
        fee="0.476",
    ),
    # a buy worth 11 (0.1 BTC at 110), skipped under the minimum
    row("trade", "BTC", "buy", "110", "skipped", target_value="11"),
]
NOW = {"BTC": D(130), "ETH": D(60)}


def test_the_gap_splits_exactly_into_its_four_parts() -> None:
    gap = copy_gap(LOG, NOW)
    # actual: -808 - 0.8 - 500 - 0.5 + 476 - 0.476 = -833.776 cash, 4 BTC and 10 ETH
    assert gap.copied_pnl == D("286.224")
    # trader: BTC 10 @100, -5 @120, +0.1 @110; ETH 10 @40: -811 cash, 5.1 BTC, 10 ETH
    assert gap.trader_pnl == D("452")
    assert gap.parts == {
        "skipped": D("-52"),  # at the trader's prices: 300 filled against 352 asked
        "slippage": D("-12"),  # 8 BTC one dollar dear, 4 one dollar cheap
        "fees": D("-1.776"),
        "timing": D("-100"),  # 10 ETH opened at 50, not at the trader's 40
    }
    assert sum(gap.parts.values()) == gap.copied_pnl - gap.trader_pnl
    assert (gap.copies, gap.skipped) == (4, 1)
    assert pct(gap.parts["timing"], D(10000)) == D("-1.0000")


def test_an_empty_log_has_no_gap() -> None:
    gap = copy_gap([], NOW)
    assert gap.copied_pnl == gap.trader_pnl == 0 and set(gap.parts.values()) == {0}


TEMPLATE = Copier(
    mode="ratio",
    allocation_pct=D(50),
    fixed_amount=None,
    min_order=D(10),
    max_per_trade=None,
    slippage_pct=D(1),
    account_active=True,
    cash=D(0),
    taker_fee_rate=D("0.001"),
    equity=D(0),
    quote=None,
    copied=D(0),
    held=D(0),
)


def test_the_what_if_replays_the_track_through_the_copy_rules() -> None:
    events = [
        {"symbol": "BTC", "side": "buy", "price": D(100), "fraction": D("0.1")},
        {"symbol": "BTC", "side": "sell", "price": D(120), "fraction": D("0.5")},
        {"symbol": "ETH", "side": "buy", "price": D(50), "fraction": D("0.2")},
        {"symbol": "ETH", "side": "buy", "price": D(50), "fraction": D("0.0001")},
    ]
    got = replay(events, NOW, capital=D(10000), template=TEMPLATE)
    # 0.1 x 50% x 10,000 = 500: 5 BTC (fee 0.5); half sold at 120: 300 (fee 0.3);
    # equity 9,799.2 + 2.5 x 120 = 10,099.2: 0.2 x 50% of it = 1,009.92, 20.1984 ETH
    # (fee 1.00992); the last is worth about 0.5: under the minimum
    assert got.final_equity == D("8788.27008") + D("2.5") * 130 + D("20.1984") * 60
    assert got.fees == D("1.80992")
    assert (got.fills, dict(got.outcomes)) == (4, {"copied": 3, "skipped": 1})
    assert dict(got.skipped_by_reason) == {"below_minimum": 1}
