"""The copy rules against hand-computed fixtures, exact in Decimal: both modes, the maximum
per trade, the cash, the minimum, the slippage cap, and sells of the copied position."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from cryptotrader.social.copy_math import Copier, Fill, Plan, size_copy, slippage_cap

D = Decimal

# The trader bought 5,000 worth of BTC at 50,000 with 100,000 of equity: a 5% buy.
BUY = Fill(side="buy", price=D("50000"), fraction=D("0.05"))
COPIER = Copier(
    mode="ratio",
    allocation_pct=D("25"),
    fixed_amount=None,
    min_order=D("10"),
    max_per_trade=None,
    slippage_pct=D("1"),
    account_active=True,
    cash=D("10000"),
    taker_fee_rate=D("0.001"),
    equity=D("20000"),
    quote=D("50100"),
    copied=D("0"),
    held=D("0"),
)


def plan(fill: Fill = BUY, **changes: object) -> Plan:
    return size_copy(fill, replace(COPIER, **changes))  # type: ignore[arg-type]


def test_ratio_mode_buys_the_traders_share_of_the_allocation() -> None:
    # 0.05 x 25% x 20,000 = 250 USD; 250 / 50,100 = 0.004990019... -> 0.00499001 (down)
    got = plan()
    assert got == Plan(
        quantity=D("0.00499001"), target_value=D("250.0000"), limit_price=D("50500.0000000000")
    )
    assert got.target_value == D("250")


def test_fixed_mode_buys_the_fixed_amount() -> None:
    eth = Fill(side="buy", price=D("2000"), fraction=D("0.9"))
    got = plan(eth, mode="fixed", fixed_amount=D("300"), quote=D("2000"))
    # 300 / 2,000 = 0.15, whatever share of equity the trader used
    assert (got.quantity, got.target_value, got.reason) == (D("0.15"), D("300"), None)
    assert got.limit_price == D("2020")


def test_the_maximum_per_trade_reduces_a_buy() -> None:
    got = plan(max_per_trade=D("100"))
    # 100 / 50,100 = 0.0019960079... -> 0.00199600
    assert (got.quantity, got.reason) == (D("0.00199600"), "max_per_trade")
    assert got.target_value == D("250")  # what the mode asked for is kept


def test_cash_reduces_a_buy_to_what_it_pays_at_the_cap_with_the_fee() -> None:
    got = plan(cash=D("100"))
    # 100 / (50,500 x 1.001) = 100 / 50,550.5 = 0.0019782197... -> 0.00197821
    assert (got.quantity, got.reason) == (D("0.00197821"), "insufficient_funds")
    assert got.quantity * D("50500") * D("1.001") <= D("100")


def test_under_the_minimum_a_buy_is_skipped() -> None:
    got = plan(equity=D("400"))  # 0.05 x 25% x 400 = 5 USD
    assert got.skipped and got.reason == "below_minimum"
    assert got.target_value == D("5")
    short = plan(cash=D("5"))  # the cash, not the mode, put it under the minimum
    assert short.skipped and short.reason == "insufficient_funds"


def test_a_price_over_the_slippage_cap_skips_a_buy() -> None:
    assert slippage_cap(BUY, COPIER) == D("50500")
    at_cap = plan(quote=D("50500"))
    assert not at_cap.skipped and at_cap.limit_price == D("50500")
    over = plan(quote=D("50500.01"))
    assert over.skipped and over.reason == "slippage_cap"
    assert over.message is not None and "50500" in over.message
    tight = plan(slippage_pct=D("0.1"))  # cap 50,050 < 50,100
    assert tight.skipped and tight.reason == "slippage_cap"


SELL_40 = Fill(side="sell", price=D("50000"), fraction=D("0.4"))  # the trader sold 40%


def test_a_sell_closes_the_same_share_of_the_copied_position_only() -> None:
    # 0.4 x 0.00499001 = 0.001996004 -> 0.00199600; the account's other 1 BTC is not touched
    got = plan(SELL_40, copied=D("0.00499001"), held=D("1.00499001"))
    assert (got.quantity, got.reason, got.limit_price) == (D("0.00199600"), None, None)


def test_a_close_sells_the_whole_copied_position_even_under_the_minimum() -> None:
    close = Fill(side="sell", price=D("50000"), fraction=D("1"))
    got = plan(close, copied=D("0.0001"), held=D("2"), min_order=D("10"))  # worth 5.01
    assert got.quantity == D("0.0001") and not got.skipped


def test_a_partial_sell_under_the_minimum_is_skipped() -> None:
    half = Fill(side="sell", price=D("50000"), fraction=D("0.5"))
    got = plan(half, copied=D("0.0003"), held=D("0.0003"))  # 0.00015 x 50,100 = 7.515
    assert got.skipped and got.reason == "below_minimum"


def test_a_sell_is_cut_to_what_the_account_still_holds() -> None:
    got = plan(SELL_40, copied=D("0.01"), held=D("0.001"))  # the follower sold some
    assert (got.quantity, got.reason) == (D("0.001"), "insufficient_position")
    nothing = plan(SELL_40, copied=D("0"), held=D("3"))
    assert nothing.skipped and nothing.reason == "no_copied_position"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"in_chain": True}, "cycle"),
        ({"account_active": False}, "account_paused"),
        ({"quote": None}, "stale_price"),
        ({"listed": False}, "trader_unlisted"),
    ],
)
def test_copies_that_never_size(changes: dict[str, object], reason: str) -> None:
    got = plan(**changes)
    assert got.skipped and got.reason == reason and got.message


def test_an_unlisted_traders_sells_are_still_copied() -> None:
    got = plan(SELL_40, listed=False, copied=D("0.01"), held=D("0.01"))
    assert got.quantity == D("0.004")
