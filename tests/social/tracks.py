"""Traders with a public track, made by the real path: a listed profile (its listing moved
back in time), fills of a symbol of the trader's own whose daily closes give the account
exactly the daily returns asked for (fully invested, no fee), round trips (the position
sold and bought back at the last close), and the daily analytics step run day by day as
the daily job runs it (private.analytics_run). The trader's trials are backtest rows,
inserted as the owner (running hundreds of sweeps would take minutes and prove nothing
more here)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg

from tests.support import Row, TestDatabase, create_user, default_account

DAY = timedelta(days=1)
TODAY = datetime.now(UTC).date()
YESTERDAY = TODAY - DAY
START_PRICE = Decimal(100)
PLACES = Decimal("0.000001")
# A short, noisy, lucky track (16 days, daily Sharpe 0.67) and a steadier one (45 days,
# 0.27): the lucky one has the higher return and raw Sharpe.
LUCKY = [0.09, -0.04, 0.08, 0.07, -0.05, 0.10, -0.03, 0.06, 0.08, -0.06, 0.09, 0.05, 0.07]
LUCKY += [-0.02, 0.08, 0.04]
STEADY = [0.012, -0.010, 0.010, -0.006, 0.006] * 9
LUCKY_TRIALS = [-4 + 8 * i / 199 for i in range(200)]  # 200 sweep combinations
STEADY_TRIALS = [1.0, 1.4]
# their round trips (days into the track): four won and two lost; eight won and two lost
LUCKY_TRIPS = [2, 4, 5, 9, 10, 14]
STEADY_TRIPS = [5, 10, 11, 12, 15, 20, 25, 30, 35, 40]


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass
class Trader:
    user_id: uuid.UUID
    account: uuid.UUID
    name: str
    first: date  # the track's first day
    closes: list[Decimal]  # the close before the first day, then each day's
    trips: list[Decimal] = field(default_factory=list)  # the round trips' PnL

    @property
    def returns(self) -> list[float]:
        """The daily returns the closes give (the account is all in the symbol)."""
        return [float(b / a - 1) for a, b in zip(self.closes, self.closes[1:], strict=False)]

    @property
    def wins(self) -> int:
        return sum(1 for p in self.trips if p > 0)


def _closes(returns: Sequence[float]) -> list[Decimal]:
    out = [START_PRICE]
    for r in returns:
        out.append((out[-1] * Decimal(repr(1 + r))).quantize(PLACES))
    return out


def _fill(
    conn: psycopg.Connection[Row],
    t: Trader,
    symbol: str,
    side: str,
    amount: Decimal,
    price: Decimal,
    at: datetime,
    realized: Decimal = Decimal(0),
) -> None:
    conn.execute(
        """INSERT INTO paper_trades (user_id, account_id, symbol, side, amount, price,
             execution_price, total_value, fee, status, realized_pnl, filled_at, closed_at,
             created_at, timestamp, account_epoch)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, 'completed', %s, %s, %s, %s, %s, 0)""",
        [t.user_id, t.account, symbol, side, amount, price, price, amount * price, realized]
        + [at] * 4,
    )


def list_trader(
    conn: psycopg.Connection[Row], user_id: uuid.UUID, name: str, listed_at: datetime | None
) -> None:
    """A listed profile (or a private one, ``listed_at`` None), listed since ``listed_at``:
    the listing trigger stamps now(), so it is held off while the time is moved back."""
    conn.execute(
        "INSERT INTO trader_profiles (user_id, display_name, category, is_listed)"
        " VALUES (%s, %s, 'Swing', %s)",
        [user_id, name, listed_at is not None],
    )
    if listed_at is None:
        return
    with conn.transaction():
        conn.execute("ALTER TABLE trader_profiles DISABLE TRIGGER trader_profiles_listed_at")
        conn.execute(
            "UPDATE trader_profiles SET listed_at = %s WHERE user_id = %s", [listed_at, user_id]
        )
        conn.execute("ALTER TABLE trader_profiles ENABLE TRIGGER trader_profiles_listed_at")


def add_trials(
    conn: psycopg.Connection[Row],
    user_id: uuid.UUID,
    sweep: Sequence[float | None] = (),
    singles: Sequence[float | None] = (),
) -> None:
    """A sweep session with one result row per combination (its Sharpe ratio), and single
    backtest sessions (completed, with their Sharpe ratio) without result rows."""
    window = ["BTC", "2021-01-01T00:00:00Z", "2021-02-01T00:00:00Z"]
    if sweep:
        session = conn.execute(
            "INSERT INTO backtest_sessions (user_id, session_name, symbol, start_date, end_date,"
            " status) VALUES (%s, 'sweep', %s, %s, %s, 'completed') RETURNING id",
            [user_id, *window],
        ).fetchone()
        assert session is not None
        conn.execute(
            "INSERT INTO backtest_results (session_id, user_id, parameters, rank, sharpe_ratio)"
            " SELECT %s, %s, jsonb_build_object('fast', u.i), u.i, u.s"
            " FROM unnest(%s::numeric[]) WITH ORDINALITY AS u(s, i)",
            [session["id"], user_id, list(sweep)],
        )
    for sharpe in singles:
        conn.execute(
            "INSERT INTO backtest_sessions (user_id, session_name, symbol, start_date, end_date,"
            " status, sharpe_ratio) VALUES (%s, 'single', %s, %s, %s, 'completed', %s)",
            [user_id, *window, sharpe],
        )


def make_trader(
    db: TestDatabase,
    name: str,
    returns: Sequence[float],
    *,
    trip_days: Sequence[int] = (),
    listed_at: datetime | None = None,
    listed: bool = True,
) -> Trader:
    """A trader whose account opens on the day ``len(returns)`` days before today, buys
    its symbol with all its cash at 100 and holds it, the closes moving it by ``returns``
    day after day up to yesterday; on each of ``trip_days`` (indexes into the days) it
    sells all at the last close and buys it back (a round trip). Listed since the day
    before the first (unless ``listed_at`` says otherwise, or ``listed`` is false)."""
    first = TODAY - timedelta(days=len(returns))
    with db.owner() as conn:
        user_id = create_user(conn, display_name=name)
        account = default_account(conn, user_id)
        conn.execute(
            "UPDATE paper_trading_accounts SET created_at = %s WHERE id = %s",
            [midnight(first) + timedelta(minutes=30), account],
        )
        list_trader(conn, user_id, name, (listed_at or midnight(first - DAY)) if listed else None)
        cash = conn.execute(
            "SELECT initial_balance FROM paper_trading_accounts WHERE id = %s", [account]
        ).fetchone()
        assert cash is not None
        t = Trader(user_id, account, name, first, _closes(returns))
        symbol = f"T{uuid.uuid4().hex[:6].upper()}"
        amount = cash["initial_balance"] / START_PRICE
        _fill(conn, t, symbol, "buy", amount, START_PRICE, midnight(first) + timedelta(hours=1))
        basis = START_PRICE
        for i in trip_days:
            price, at = t.closes[i], midnight(first + i * DAY) + timedelta(hours=12)
            pnl = amount * (price - basis)
            _fill(conn, t, symbol, "sell", amount, price, at, pnl)
            _fill(conn, t, symbol, "buy", amount, price, at + timedelta(seconds=1))
            t.trips.append(pnl)
            basis = price
        conn.execute(
            "INSERT INTO market_candles (symbol, timeframe, open_time, open, high, low, close)"
            " SELECT %s, '1d', u.t, u.c, u.c, u.c, u.c"
            " FROM unnest(%s::timestamptz[], %s::numeric[]) AS u(t, c)",
            [symbol, [midnight(first + (i - 1) * DAY) for i in range(len(t.closes))], t.closes],
        )
    return t


def run_daily_job(db: TestDatabase, traders: Sequence[Trader]) -> None:
    """The daily analytics step for each day from the earliest first day to yesterday."""
    day = min(t.first for t in traders)
    accounts = [t.account for t in traders]
    with db.owner() as conn:
        while day <= YESTERDAY:
            conn.execute("SELECT private.analytics_run(%s, %s)", [day, accounts])
            day += DAY
