"""total_pnl after fills equals equity at current prices minus the initial balance."""

from decimal import Decimal

from tests.support import TestDatabase, create_user, default_account
from tests.trading.helpers import (
    account,
    check_invariants,
    place,
    service_session,
    set_price,
    tick,
    update_account,
    user_session,
)

EQUITY = """
SELECT a.balance + a.reserved_balance + coalesce(sum(p.quantity * m.price_usd), 0)
       - a.initial_balance AS pnl
  FROM paper_trading_accounts a
  LEFT JOIN account_positions p ON p.account_id = a.id
  LEFT JOIN market_data_cache m ON m.symbol = p.symbol
 WHERE a.id = %s GROUP BY a.id
"""


def test_total_pnl_is_exact_after_several_fills_of_one_account_in_one_tick(
    db: TestDatabase,
) -> None:
    with db.owner() as owner:
        user = create_user(owner)
        acct = default_account(owner, user)
        update_account(owner, acct, max_position_size=Decimal(10**9), fill_model="fixed")
        set_price(owner, "ETH", 3000)
        set_price(owner, "BTC", 50000)
        with user_session(db, user) as conn:
            place(conn, acct, "ETH", "buy", Decimal("2"))  # another symbol in the equity
            place(conn, acct, "BTC", "buy", Decimal("0.3"))
            for limit in (49000, 48500, 48000):
                place(
                    conn, acct, "BTC", "buy", Decimal("0.1"), order_type="limit", limit_price=limit
                )
            place(conn, acct, "BTC", "sell", Decimal("0.2"), order_type="limit", limit_price=52000)
        set_price(owner, "BTC", 47000)
        with service_session(db) as service:
            assert tick(service, "BTC", 47000) == 3
        expected = owner.execute(EQUITY, [acct]).fetchone()
        after = account(owner, acct)
        assert expected is not None
        assert after["total_pnl"] == round(expected["pnl"], 8)
        set_price(owner, "BTC", 53000)
        with service_session(db) as service:
            assert tick(service, "BTC", 53000) == 1
        expected = owner.execute(EQUITY, [acct]).fetchone()
        assert expected is not None
        assert account(owner, acct)["total_pnl"] == round(expected["pnl"], 8)
        check_invariants(owner, acct)
