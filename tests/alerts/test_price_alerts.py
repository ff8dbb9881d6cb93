"""Price alerts on inline price sequences (TradingView's semantics): a cross fires once per
fresh cross, "above" fires at once when it already holds, once per bar fires once a bar,
every time waits its cooldown, an expired alert and a stale price fire nothing; each
firing is recorded and notified once, and its user alone reads the history (RLS, in SQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from psycopg_pool import AsyncConnectionPool

from cryptotrader.alerts import service
from cryptotrader.alerts.schemas import PriceAlertCreate
from cryptotrader.db.session import Conn, as_service, as_user, user_claims
from cryptotrader.market import cache
from cryptotrader.market.schemas import Quote
from tests.support import TestDatabase, create_user, default_account

pytestmark = pytest.mark.anyio
Pool = AsyncConnectionPool[Conn]
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


async def alert(pool: Pool, user: UUID, **fields: Any) -> UUID:
    async with as_user(pool, user_claims(user)) as conn:
        made = await service.create_price_alert(
            conn, PriceAlertCreate.model_validate({"symbol": "BTC"} | fields)
        )
    return made.id


async def play(pool: Pool, prices: list[str], *, step: timedelta = timedelta(seconds=1)) -> None:
    """Each price a tick of its own (BTC), ``step`` apart in market time from T0, each
    evaluated before the next."""
    previous: Decimal | None = None
    now = datetime.now(UTC)
    for i, price in enumerate(prices):
        async with as_service(pool) as conn:
            at = T0 + i * step
            await service.record_tick(conn, {"BTC": (previous, Decimal(price), now)}, as_of=at)
        async with as_service(pool) as conn:
            await service.evaluate(conn)
        previous = Decimal(price)


def fired(db: TestDatabase, alert_id: UUID) -> list[dict[str, Any]]:
    with db.owner() as conn:
        return conn.execute(
            "SELECT f.value, f.fire_key, a.status, a.fire_count,"
            " (SELECT count(*) FROM account_notifications n"
            "   WHERE n.metadata->>'firing_id' = f.id::text) AS notices"
            " FROM alert_firings f JOIN risk_alerts a ON a.id = f.alert_id"
            " WHERE f.alert_id = %s ORDER BY f.fired_at, f.value",
            [alert_id],
        ).fetchall()


def status(db: TestDatabase, alert_id: UUID) -> str:
    with db.owner() as conn:
        row = conn.execute("SELECT status FROM risk_alerts WHERE id = %s", [alert_id]).fetchone()
    assert row is not None
    return str(row["status"])


@pytest.fixture
def user(db: TestDatabase) -> UUID:
    with db.owner() as conn:
        made = create_user(conn)
        default_account(conn, made)
    return made


async def test_a_cross_fires_once_per_fresh_cross(db: TestDatabase, pool: Pool, user: UUID) -> None:
    every = await alert(pool, user, condition="crosses_above", value="100", frequency="every_time")
    once = await alert(pool, user, condition="crosses_above", value="100")
    await play(pool, ["99", "101", "102", "98", "100", "97"])
    # up at 101, staying above is no cross, down, up again at exactly 100
    assert [r["value"] for r in fired(db, every)] == [Decimal("101"), Decimal("100")]
    assert all(r["notices"] == 1 for r in fired(db, every))
    [first] = fired(db, once)
    assert first["value"] == Decimal("101") and first["status"] == "triggered"


async def test_a_first_price_is_no_cross_and_below_crosses_down(
    db: TestDatabase, pool: Pool, user: UUID
) -> None:
    up = await alert(pool, user, condition="crosses_above", value="100", frequency="every_time")
    down = await alert(pool, user, condition="crosses_below", value="100", frequency="every_time")
    await play(pool, ["150", "120", "90", "95"])
    assert fired(db, up) == []  # 150 was the first price: nothing before it to cross from
    assert [r["value"] for r in fired(db, down)] == [Decimal("90")]


async def test_above_fires_at_once_when_already_true(
    db: TestDatabase, pool: Pool, user: UUID
) -> None:
    above = await alert(pool, user, condition="above", value="100")
    below = await alert(pool, user, condition="below", value="50")
    await play(pool, ["120", "130"])
    [row] = fired(db, above)
    assert row["value"] == Decimal("120") and row["status"] == "triggered" and row["notices"] == 1
    assert fired(db, below) == [] and status(db, below) == "active"


async def test_once_per_bar_fires_once_a_bar(db: TestDatabase, pool: Pool, user: UUID) -> None:
    bar = await alert(pool, user, condition="above", value="100", frequency="once_per_bar",
                      bar_seconds=60)  # fmt: skip
    # ticks 20 s apart from 12:00:00: bars 12:00 (3 ticks), 12:01 (3), 12:02 (1)
    await play(pool, ["101", "102", "103", "99", "104", "105", "106"], step=timedelta(seconds=20))
    rows = fired(db, bar)
    assert [r["value"] for r in rows] == [Decimal("101"), Decimal("104"), Decimal("106")]
    assert status(db, bar) == "active" and rows[-1]["fire_count"] == 3


async def test_every_time_waits_its_cooldown(db: TestDatabase, pool: Pool, user: UUID) -> None:
    each = await alert(pool, user, condition="above", value="100", frequency="every_time",
                       cooldown_seconds=30)  # fmt: skip
    await play(pool, ["101", "102", "103", "104", "105"], step=timedelta(seconds=10))
    # at 0 s, then not before 30 s: at 30 s
    assert [r["value"] for r in fired(db, each)] == [Decimal("101"), Decimal("104")]


async def test_a_move_within_the_window(db: TestDatabase, pool: Pool, user: UUID) -> None:
    moved = await alert(pool, user, condition="moves_pct", value="5", window_seconds=300)
    with db.owner() as conn:  # the 1-minute close five minutes before the ticks: 100
        conn.execute(
            "INSERT INTO market_candles (symbol, timeframe, open_time, open, high, low, close)"
            " VALUES ('BTC', '1m', %s, 100, 100, 100, 100)",
            [T0 - timedelta(minutes=6)],
        )
    await play(pool, ["103", "104.99", "94"])
    [row] = fired(db, moved)
    assert row["value"] == Decimal("-6.0000")


async def test_an_expired_alert_fires_nothing(db: TestDatabase, pool: Pool, user: UUID) -> None:
    gone = await alert(pool, user, condition="above", value="100",
                       expires_at=datetime.now(UTC) - timedelta(seconds=1))  # fmt: skip
    later = await alert(pool, user, condition="above", value="100", expires_at=T0)
    await play(pool, ["150"], step=timedelta(seconds=1))
    await play(pool, ["151"])
    assert fired(db, gone) == [] and status(db, gone) == "expired"
    assert fired(db, later) == []  # it expired at T0, the ticks' own time


async def test_a_stale_price_never_fires(db: TestDatabase, pool: Pool, user: UUID) -> None:
    above = await alert(pool, user, condition="above", value="100", frequency="every_time")
    old = datetime.now(UTC) - timedelta(minutes=10)
    async with as_service(pool) as conn:  # a quote that was ten minutes old when stored
        await service.record_tick(conn, {"BTC": (None, Decimal("150"), old)}, as_of=T0)
        await service.record_tick(conn, {"BTC": (Decimal(150), Decimal("160"), None)}, as_of=T0)
    with db.owner() as conn:  # and a tick that waited too long to be evaluated
        conn.execute("UPDATE private.alert_ticks SET created_at = now() - interval '10 minutes'"
                     " WHERE prices = '{160}'")  # fmt: skip
    async with as_service(pool) as conn:
        done = await service.evaluate(conn, stale_after=120)
    assert done.ticks == 2 and done.fired == 0 and fired(db, above) == []


async def test_an_alert_made_after_a_tick_does_not_see_it(
    db: TestDatabase, pool: Pool, user: UUID
) -> None:
    async with as_service(pool) as conn:
        await service.record_tick(conn, {"BTC": (None, Decimal("150"), None)}, as_of=T0)
    late = await alert(pool, user, condition="above", value="100")
    async with as_service(pool) as conn:
        await service.evaluate(conn)
    assert fired(db, late) == []


async def test_a_refresh_records_its_changed_prices_and_fires(
    db: TestDatabase, pool: Pool, user: UUID
) -> None:
    crossed = await alert(pool, user, condition="crosses_above", value="100")
    for price in ("90", "90", "110"):  # the repeat changes nothing: no tick
        quote = Quote(symbol="BTC", price_usd=Decimal(price), price_aud=Decimal(price),
                      exchange="test", last_updated=datetime.now(UTC))  # fmt: skip
        async with as_service(pool) as conn:
            await cache.store_quotes(conn, [quote])
    with db.owner() as conn:
        ticks = conn.execute("SELECT prev, prices FROM private.alert_ticks ORDER BY id").fetchall()
    assert [t["prices"] for t in ticks] == [[Decimal(90)], [Decimal(110)]]
    assert ticks[1]["prev"] == [Decimal(90)]
    async with as_service(pool) as conn:
        await service.evaluate(conn)
    [row] = fired(db, crossed)
    assert row["value"] == Decimal("110") and row["notices"] == 1


async def test_the_history_is_its_users_alone_in_sql(
    db: TestDatabase, pool: Pool, user: UUID
) -> None:
    mine = await alert(pool, user, condition="above", value="100")
    await play(pool, ["150"])
    with db.owner() as conn:
        other = create_user(conn)
    for who, expected in ((user, 1), (other, 0)):
        async with as_user(pool, user_claims(who)) as conn:
            cur = await conn.execute("SELECT count(*) AS n FROM alert_firings")
            row = await cur.fetchone()
            assert row is not None and row["n"] == expected
            cur = await conn.execute("SELECT count(*) AS n FROM risk_alerts WHERE id = %s", [mine])
            row = await cur.fetchone()
            assert row is not None and row["n"] == expected
    async with as_user(pool, user_claims(other)) as conn:  # nor writes another's firing
        cur = await conn.execute("SELECT has_table_privilege('alert_firings', 'INSERT') AS ok")
        row = await cur.fetchone()
        assert row is not None and not row["ok"]
