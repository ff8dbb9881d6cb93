"""Server time of the dashboard's two heaviest pages, beside the JSON API calls they replace.

Set-up (not measured): a fresh database; user A with 50 accounts (the sign-up default and
49 more), each with 6 market fills of BTC, ETH and SOL; user B with one account holding
10,000 market fills (BTC, ETH, SOL and XRP, two buys to a sell) and 5 resting limit
orders. Every order goes through ``execute_paper_trade`` (as the owner: the engine's
service path), one transaction each (a DO block that commits after every order), so the
trades, positions, audit rows and timestamps are the engine's own. Then VACUUM ANALYZE
and a checkpoint. The cached prices are made fresh (``last_updated = now()``) before each
round. The app is served by ``cryptotrader serve`` (one process, the workers off, a pool
of 4), as ``benchmarks/api_throughput.py`` serves it.

Measured: one client (``http.client``, one keep-alive connection), sequential requests,
after a warm-up; the pages and their references interleaved, iteration by iteration, in
``--rounds`` rounds (each round alternates which comes first):

- ``GET /`` as A (session cookies ``ct_access`` and ``ct_csrf``, as a browser sends them).
  Reference, the API calls that give the same data: ``GET /api/v1/accounts``,
  ``/api/v1/market/prices``, ``/api/v1/me/settings``, ``/api/v1/account-templates?limit=24``
  and, for the sparklines, ``/api/v1/accounts/{id}/equity?points=40`` for each of the 50.
  Also printed: the same without the 50 equity calls (the page without its sparklines).
- ``GET /accounts/{id}`` of B's account. Reference: ``GET /api/v1/accounts/{id}``,
  ``.../positions``, ``/api/v1/orders?account_id=..&status=pending``,
  ``/api/v1/trades?account_id=..&limit=50``, ``.../audit?limit=50``,
  ``/api/v1/market/prices``, ``/api/v1/me/settings``.
- ``GET /accounts/{id}/equity.json``: the account page's equity chart, which the page
  fetches once it is shown (it does not wait for the curve). Reference:
  ``/api/v1/accounts/{id}/equity?points=1000``.

A reference iteration's cost is the sum of its calls' latencies. Reported: p50/p95 of each
page, p95 of its reference sum, and ratio = page p95 / reference p95. Then (unless
``--no-breakdown``) where a page's time goes: the same app in this process (ASGI, no
socket), each service call, its SQL and the template's rendering timed with
``perf_counter``.

Target (issue: the dashboard): both pages under 100 ms p95, and each (and the chart's
data) at most 2x the API calls it replaces. The last line printed is one JSON object
with the result.

    .venv/bin/python benchmarks/dashboard_pages.py [--rounds 5] [--requests 100] [--warmup 10]
        [--no-breakdown]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.client
import importlib
import json
import os
import secrets
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

import _harness as h
from api_throughput import SECRET, free_port, serve_api, wait_up
from cryptotrader.auth.tokens import issue_access_token

TARGET_MS = 100.0
TARGET_RATIO = 2.0
ACCOUNTS = 50
TRADES = 10_000
PENDING = 5
SPARK_POINTS = 40  # web/overview.py
CURVE_POINTS = 1000  # web/account.py
# the fills of each of the 50 accounts: symbol, side, USD value
SMALL_FILLS = [
    ("BTC", "buy", 2000),
    ("ETH", "buy", 1500),
    ("SOL", "buy", 1000),
    ("BTC", "sell", 800),
    ("ETH", "sell", 500),
    ("BTC", "buy", 300),
]
BIG_SYMBOLS = ["BTC", "ETH", "SOL", "XRP"]
BIG_FILL_USD = 100

# One order per transaction (each COMMIT starts the next with a later now()), so the
# timestamps are as distinct as real ones; execute_paper_trade as the owner is the
# engine's service path. {orders}: a VALUES list of (n, account, symbol, side, amount).
FILLS_DO = """
DO $$
DECLARE
  o record;
BEGIN
  FOR o IN SELECT * FROM (VALUES {orders}) v(n, account, symbol, side, amount) ORDER BY n LOOP
    PERFORM execute_paper_trade(o.account::uuid, o.symbol, o.side, o.amount::numeric);
    COMMIT;
  END LOOP;
END $$
"""
# the big account's orders, generated in the DO block: two buys to a sell of each symbol
BIG_DO = """
DO $$
DECLARE
  syms text[] := {symbols};
  amounts numeric[] := {amounts};
  k int;
BEGIN
  FOR g IN 0 .. {n} - 1 LOOP
    k := 1 + g % array_length(syms, 1);
    PERFORM execute_paper_trade({account}::uuid, syms[k],
      CASE WHEN (g / array_length(syms, 1)) % 3 = 2 THEN 'sell' ELSE 'buy' END, amounts[k]);
    COMMIT;
  END LOOP;
END $$
"""


# --------------------------------------------------------------------------- set-up


def fresh_prices(owner: str) -> None:
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute("UPDATE market_data_cache SET last_updated = now()")


def set_up(owner: str) -> tuple[str, list[str], str, str]:
    """User A with ACCOUNTS accounts and a few fills each, user B with one account of
    TRADES fills. Returns (A's id, A's account ids, B's id, B's account id)."""
    (user_a, default_a), (user_b, big) = h.create_accounts(owner, 2)
    fresh_prices(owner)
    with psycopg.connect(owner, autocommit=True) as conn:
        # set-up only: one commit per order, without waiting for each one's WAL flush
        conn.execute("SET synchronous_commit = off")
        with conn.transaction():
            rows = conn.execute(
                "INSERT INTO paper_trading_accounts (user_id, account_name, initial_balance,"
                "   balance, max_daily_loss, max_position_size, color_theme)"
                " SELECT %(user)s, format('Account %%s', g), %(bal)s, %(bal)s, %(lim)s, %(lim)s,"
                "        '#' || lpad(to_hex((g * 2654435) %% 16777216), 6, '0')"
                "   FROM generate_series(2, %(n)s) g"
                " RETURNING id",
                {"user": user_a, "bal": h.BIG_BALANCE, "lim": h.BIG_LIMIT, "n": ACCOUNTS},
            ).fetchall()
            extra = [str(r[0]) for r in rows]
            # the values the trigger may have overridden, and the price age the harness uses
            conn.execute(
                "UPDATE paper_trading_accounts SET balance = initial_balance,"
                "   max_price_age_seconds = %s WHERE id = ANY(%s::uuid[])",
                [h.PRICE_AGE_S, extra],
            )
        prices = {
            str(s): Decimal(p)
            for s, p in conn.execute("SELECT symbol, price_usd FROM market_data_cache").fetchall()
        }
        accounts_a = [default_a, *extra]
        orders = []
        for i, (symbol, side, usd) in enumerate(SMALL_FILLS):
            amount = round(Decimal(usd) / prices[symbol], 6)
            for j, account in enumerate(accounts_a):
                orders.append((i * len(accounts_a) + j, account, symbol, side, str(amount)))
        t0 = time.perf_counter()
        values = sql.SQL(", ").join(
            sql.SQL("({})").format(sql.SQL(", ").join(map(sql.Literal, o))) for o in orders
        )
        conn.execute(sql.SQL(FILLS_DO).format(orders=values))
        print(
            f"  {len(orders)} fills on {len(accounts_a)} accounts: {time.perf_counter() - t0:.1f} s"
        )
        t0 = time.perf_counter()
        amounts = [round(Decimal(BIG_FILL_USD) / prices[s], 6) for s in BIG_SYMBOLS]
        conn.execute(
            sql.SQL(BIG_DO).format(
                symbols=sql.Literal(BIG_SYMBOLS),
                amounts=sql.Literal(amounts),
                n=sql.Literal(TRADES),
                account=sql.Literal(big),
            )
        )
        print(f"  {TRADES} fills on one account: {time.perf_counter() - t0:.1f} s")
        # a few resting limit buys far below the market: the open-orders table
        conn.execute(
            "SELECT execute_paper_trade(%s, 'BTC', 'buy', 0.001, 'limit', round(%s * 0.5, 2))"
            "  FROM generate_series(1, %s)",
            [big, prices["BTC"], PENDING],
        )
        counts = conn.execute(
            "SELECT count(*) FILTER (WHERE account_id = %(big)s AND status = 'completed'),"
            "       count(*) FILTER (WHERE account_id = %(big)s AND status = 'pending'),"
            "       count(*) FILTER (WHERE account_id = ANY(%(a)s::uuid[])"
            "                          AND status = 'completed')"
            "  FROM paper_trades",
            {"big": big, "a": accounts_a},
        ).fetchone()
        conn.execute("VACUUM ANALYZE")
    expected = (TRADES, PENDING, len(SMALL_FILLS) * ACCOUNTS)
    if counts is None or tuple(counts) != expected:
        raise SystemExit(f"set-up: expected (fills, pending, small fills) {expected}, got {counts}")
    h.checkpoint(owner)
    return user_a, accounts_a, user_b, big


# --------------------------------------------------------------------------- measuring


class Client:
    """One keep-alive HTTP/1.1 connection; ``get`` returns (seconds, status, body)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str, headers: dict[str, str]) -> tuple[float, int, bytes]:
        t0 = time.perf_counter()
        self.conn.request("GET", path, headers=headers)
        response = self.conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - t0
        return elapsed, response.status, body

    def ok(self, path: str, headers: dict[str, str]) -> tuple[float, bytes]:
        elapsed, status, body = self.get(path, headers)
        if status != 200:
            raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
        return elapsed, body

    def each(self, paths: list[str], headers: dict[str, str]) -> list[float]:
        """The calls' latencies, one call after the other."""
        return [self.ok(path, headers)[0] for path in paths]


def session_headers(user_id: str, email: str) -> tuple[dict[str, str], dict[str, str]]:
    """The browser's cookies (an access token and a CSRF token, as after signing in) and
    the API's bearer header, for the same user."""
    token, _ = issue_access_token(SECRET, UUID(user_id), email=email)
    csrf = secrets.token_urlsafe(32)
    cookie = {"Cookie": f"ct_access={token}; ct_csrf={csrf}", "Accept": "text/html"}
    return cookie, {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def overview_calls(accounts: list[str], with_sparks: bool = True) -> list[str]:
    calls = [
        "/api/v1/accounts",
        "/api/v1/market/prices",
        "/api/v1/me/settings",
        "/api/v1/account-templates?limit=24",
    ]
    if with_sparks:
        calls += [f"/api/v1/accounts/{a}/equity?points={SPARK_POINTS}" for a in accounts]
    return calls


def account_calls(account: str) -> list[str]:
    a = f"/api/v1/accounts/{account}"
    return [
        a,
        f"{a}/positions",
        f"/api/v1/orders?account_id={account}&status=pending",
        f"/api/v1/trades?account_id={account}&limit=50",
        f"{a}/audit?limit=50",
        "/api/v1/market/prices",
        "/api/v1/me/settings",
    ]


def check_pages(
    client: Client, overview: tuple[str, dict[str, str]], account: tuple[str, dict[str, str]]
) -> None:
    """The pages show what was set up: 50 account rows; 50 trade rows, the open orders, and
    the equity chart's data (fetched by the page after it is shown) a full curve."""
    _, overview_body = client.ok(*overview)
    rows = overview_body.count(b"data-account-id=")
    if rows != ACCOUNTS:
        raise SystemExit(f"overview shows {rows} accounts, expected {ACCOUNTS}")
    _, body = client.ok(*account)
    text = body.decode()
    trades = text.count("data-trade-id=")
    orders = text.count("data-order-id=")
    _, chart = client.ok(f"{account[0]}/equity.json", account[1])
    points = len(json.loads(chart)["points"])
    if trades != 50 or orders != PENDING or points < CURVE_POINTS // 2:
        raise SystemExit(
            f"account page: {trades} trades, {orders} open orders, {points} curve points"
        )
    print(
        f"  pages checked: overview {rows} accounts ({len(overview_body) // 1024} kB);"
        f" account page {trades} trades, {orders} open orders, {points} curve points"
        f" ({len(body) // 1024} kB)"
    )


def summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return h.percentile(ordered, 0.5) * 1000, h.percentile(ordered, 0.95) * 1000


def measure(
    port: int,
    owner: str,
    who: dict[str, Any],
    rounds: int,
    requests: int,
    warmup: int,
) -> dict[str, list[float]]:
    """Latencies (s) of each page and each reference sum, interleaved."""
    client = Client(port)
    page_o = ("/", who["a_cookie"])
    page_a = (f"/accounts/{who['big']}", who["b_cookie"])
    ref_o = overview_calls(who["accounts"])
    core = len(overview_calls(who["accounts"], with_sparks=False))
    ref_a = account_calls(who["big"])
    check_pages(client, page_o, page_a)
    out: dict[str, list[float]] = defaultdict(list)

    def overview_api() -> None:
        calls = client.each(ref_o, who["a_bearer"])
        out["overview_api"].append(sum(calls))
        out["overview_api_core"].append(sum(calls[:core]))  # the calls without the sparklines

    chart_a = (f"/accounts/{who['big']}/equity.json", who["b_cookie"])
    ref_chart = [f"/api/v1/accounts/{who['big']}/equity?points={CURVE_POINTS}"]
    steps: list[Callable[[], None]] = [
        lambda: out["overview"].append(client.ok(*page_o)[0]),
        overview_api,
        lambda: out["account"].append(client.ok(*page_a)[0]),
        lambda: out["account_api"].append(sum(client.each(ref_a, who["b_bearer"]))),
        lambda: out["equity"].append(client.ok(*chart_a)[0]),
        lambda: out["equity_api"].append(sum(client.each(ref_chart, who["b_bearer"]))),
    ]
    for _ in range(warmup):
        for step in steps:
            step()
    out.clear()
    per_round = max(1, requests // rounds)
    for r in range(rounds):
        fresh_prices(owner)  # no feed runs: keep the quotes from going stale
        order = steps if r % 2 == 0 else steps[::-1]
        start = len(out["overview"])
        t0 = time.perf_counter()
        for _ in range(per_round):
            for step in order:
                step()
        figures = ", ".join(
            f"{name} {summary(values[start:])[1]:.1f}" for name, values in out.items()
        )
        print(f"round {r + 1}/{rounds} ({time.perf_counter() - t0:.0f} s), p95 ms: {figures}")
    client.conn.close()
    return out


# --------------------------------------------------------------------------- breakdown

PROBED = {
    "cryptotrader.accounts.service": [
        "list_accounts",
        "get_account",
        "list_positions",
        "list_audit",
        "equity_curves",
    ],
    "cryptotrader.trading.service": ["list_orders"],
    "cryptotrader.market.service": ["list_prices"],
    "cryptotrader.profiles.service": ["list_settings"],
    "cryptotrader.templates.service": ["list_templates"],
}
SQL_IN = [
    "cryptotrader.accounts.service",
    "cryptotrader.trading.service",
    "cryptotrader.market.cache",
    "cryptotrader.profiles.service",
    "cryptotrader.templates.service",
]


class Probe:
    """Times the services a request calls (outermost calls only), their SQL (execute and
    fetch), and the template's rendering, in this process."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)
        self.depth = 0

    def wrap_async(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            self.depth += 1
            t0 = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.depth -= 1
                if self.depth == 0 or name.startswith("sql"):
                    self.current[name] += time.perf_counter() - t0

        return timed

    def wrap_sync(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.current[name] += time.perf_counter() - t0

        return timed

    def install(self) -> None:
        from cryptotrader.web import render

        for module_name, names in PROBED.items():
            module = importlib.import_module(module_name)
            for name in names:
                setattr(module, name, self.wrap_async(name, getattr(module, name)))
        for module_name in SQL_IN:
            module = importlib.import_module(module_name)
            for name in ("fetch_all", "fetch_one"):
                if hasattr(module, name):
                    setattr(module, name, self.wrap_async("sql", getattr(module, name)))
        render.TEMPLATES.TemplateResponse = self.wrap_sync(  # type: ignore[method-assign]
            "render", render.TEMPLATES.TemplateResponse
        )

    def take(self) -> dict[str, float]:
        taken, self.current = dict(self.current), defaultdict(float)
        return taken


async def breakdown_async(owner: str, data_dir: Path, who: dict[str, Any], reps: int) -> None:
    import httpx2

    os.environ.update(
        DATABASE_URL=owner,
        CRYPTOTRADER_APP_PASSWORD=h.APP_PASSWORD,
        CRYPTOTRADER_JWT_SECRET=SECRET,
        CRYPTOTRADER_RUN_WORKERS="false",
        CRYPTOTRADER_DATA_DIR=str(data_dir),
        CRYPTOTRADER_LOG_LEVEL="WARNING",
        CRYPTOTRADER_POOL_MIN_SIZE="4",
        CRYPTOTRADER_POOL_MAX_SIZE="4",
    )
    from cryptotrader.api.app import create_app
    from cryptotrader.config import Settings
    from cryptotrader.db.runtime import migrate_target

    settings = Settings()
    target, _ = migrate_target(settings)  # as `cryptotrader serve` starts
    probe = Probe()
    probe.install()
    app = create_app(settings, target)
    transport = httpx2.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=transport, base_url="http://bench") as http,
    ):
        pages = [
            ("GET /", "/", who["a_cookie"]),
            ("GET /accounts/{id}", f"/accounts/{who['big']}", who["b_cookie"]),
            ("API equity?points=1500", account_calls(who["big"])[5], who["b_bearer"]),
            ("API trades?limit=50", account_calls(who["big"])[3], who["b_bearer"]),
        ]
        for label, path, headers in pages:
            samples: list[dict[str, float]] = []
            for i in range(reps + 5):
                probe.take()
                t0 = time.perf_counter()
                r = await http.get(path, headers=headers)
                total = time.perf_counter() - t0
                if r.status_code != 200:
                    raise SystemExit(f"breakdown {path}: {r.status_code}")
                parts = probe.take()
                parts["total (in-process)"] = total
                if i >= 5:
                    samples.append(parts)
            names = sorted(
                {k for s in samples for k in s},
                key=lambda k: -statistics.median(s.get(k, 0) for s in samples),
            )
            medians = {k: statistics.median(s.get(k, 0.0) for s in samples) * 1000 for k in names}
            total_ms = medians.pop("total (in-process)")
            sql_ms = medians.pop("sql", 0.0)
            rest = total_ms - sum(medians.values())
            shown = ", ".join(f"{k} {v:.1f}" for k, v in medians.items())
            print(
                f"  {label}: {total_ms:.1f} ms = {shown}, the rest {rest:.1f}"
                f" (of which SQL {sql_ms:.1f}; medians of {reps})"
            )


def breakdown(owner: str, data_dir: Path, who: dict[str, Any], reps: int) -> None:
    fresh_prices(owner)
    print(
        "where the time goes (the app in this process, ASGI without a socket; each service"
        " with its SQL; the rest: handler code such as the chart's lists, FastAPI, middleware):"
    )
    asyncio.run(breakdown_async(owner, data_dir, who, reps))


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=100, help="of each page, in all rounds")
    parser.add_argument("--warmup", type=int, default=10, help="iterations before measuring")
    parser.add_argument("--breakdown-reps", type=int, default=30)
    parser.add_argument("--no-breakdown", action="store_true")
    opts = parser.parse_args()
    print(f"machine: {h.machine()}, load average {os.getloadavg()[0]:.1f}")
    with (
        h.server() as srv,
        tempfile.TemporaryDirectory() as tmp,
        h.app_database(srv, "ctbench_pages") as db,
    ):
        print("set-up:")
        user_a, accounts_a, user_b, big = set_up(db.owner)
        a_cookie, a_bearer = session_headers(user_a, "a@bench.example")
        b_cookie, b_bearer = session_headers(user_b, "b@bench.example")
        who = {
            "accounts": accounts_a,
            "big": big,
            "a_cookie": a_cookie,
            "a_bearer": a_bearer,
            "b_cookie": b_cookie,
            "b_bearer": b_bearer,
        }
        port = free_port()
        api = serve_api(db.owner, 1, port, Path(tmp))
        try:
            wait_up(f"http://127.0.0.1:{port}/health")
            lat = measure(port, db.owner, who, opts.rounds, opts.requests, opts.warmup)
        finally:
            api.terminate()
            api.wait(30)
        if not opts.no_breakdown:
            breakdown(db.owner, Path(tmp), who, opts.breakdown_reps)
    fig = {name: summary(values) for name, values in lat.items()}
    n_o, n_a = len(overview_calls(accounts_a)), len(account_calls(big))
    print(f"{len(lat['overview'])} requests of each page; the references: {n_o} and {n_a} calls")

    def line(label: str, name: str) -> None:
        print(f"{label}: p50 {fig[name][0]:.1f} ms, p95 {fig[name][1]:.1f} ms")

    line(f"GET / ({ACCOUNTS} accounts)", "overview")
    line(f"  its API calls ({n_o})", "overview_api")
    line("  the same without the equity calls (4)", "overview_api_core")
    line(f"GET /accounts/{{id}} ({TRADES:,} trades)", "account")
    line(f"  its API calls ({n_a})", "account_api")
    line("GET /accounts/{id}/equity.json (the chart, fetched after the page)", "equity")
    line("  its API call", "equity_api")
    ratio_o = fig["overview"][1] / fig["overview_api"][1]
    ratio_a = fig["account"][1] / fig["account_api"][1]
    ratio_core = fig["overview"][1] / fig["overview_api_core"][1]
    ratio_e = fig["equity"][1] / fig["equity_api"][1]
    print(
        f"page p95 / API p95: overview {ratio_o:.2f} (without the sparklines' calls"
        f" {ratio_core:.2f}), account {ratio_a:.2f}, its chart {ratio_e:.2f}"
        f" (target <= {TARGET_RATIO})"
    )
    worst_page = "overview" if fig["overview"][1] >= fig["account"][1] else "account"
    value = fig[worst_page][1]
    ok = value < TARGET_MS and max(ratio_o, ratio_a, ratio_e) <= TARGET_RATIO
    h.emit(
        {
            "benchmark": "dashboard_pages",
            "value": round(value, 2),
            "unit": "ms p95",
            "reference": round(fig[f"{worst_page}_api"][1], 2),
            "ratio": round(max(ratio_o, ratio_a, ratio_e), 3),
            "target": "< 100 ms p95 and <= 2x the API calls",
            "pass": ok,
            "overview_p50_ms": round(fig["overview"][0], 2),
            "overview_p95_ms": round(fig["overview"][1], 2),
            "overview_api_p95_ms": round(fig["overview_api"][1], 2),
            "overview_api_core_p95_ms": round(fig["overview_api_core"][1], 2),
            "overview_ratio": round(ratio_o, 3),
            "account_p50_ms": round(fig["account"][0], 2),
            "account_p95_ms": round(fig["account"][1], 2),
            "account_api_p95_ms": round(fig["account_api"][1], 2),
            "account_ratio": round(ratio_a, 3),
            "overview_api_core_ratio": round(ratio_core, 3),
            "equity_chart_p95_ms": round(fig["equity"][1], 2),
            "equity_chart_api_p95_ms": round(fig["equity_api"][1], 2),
            "equity_chart_ratio": round(ratio_e, 3),
            "requests": len(lat["overview"]),
            "accounts": ACCOUNTS,
            "trades": TRADES,
        }
    )


if __name__ == "__main__":
    main()
