"""The bot runner: one round over 1,000 active rule bots on a closed bar, beside the same
decisions computed in one process without the database; and one round of 100 LLM bots
against a stub provider that takes 1 s to answer.

Setup (not measured): the real BTC and ETH 1-hour candles of ``data/ohlcv`` in
``market_candles``; 100 users with 10 rule bots each on their default account (balance
and limits raised so that no order is refused), each bot on BTC or ETH with one of the
built-in strategies and parameters (half of them ``dca`` every bar, which buys on every
bar: the round places about 500 orders; the others are signal strategies, which mostly
hold), started 600 bars before the measured bar so that each computes its indicators over
its full lookback of 500 bars. The prices are the open of the bar after the measured one
(what a replay shows then), fresh.

Measured:
  * ours: ``BotRunner.round(clock)`` at one second after the measured bar closed: the
    claim of 1,000 journal rows, the bots' own money, the bars (two series of 500), every
    strategy's indicators and decision, ~500 orders through ``trading.service.place_order``
    (the one order path, as each bot's owner, with its Idempotency-Key), the journal and
    the bots' performance;
  * reference: the same 1,000 decisions in one process without the database: for each
    bot, its strategy's indicators over the same 500 bars (already in memory) and its
    decision on the last one.
Both must give the same action for every bot. Then 100 LLM bots (a prompt with RSI and
SMA over BTC and ETH) against a loopback stub speaking OpenAI's chat-completions format
that sleeps 1 s per request: the round's wall time (the provider's concurrency limit is
the setting's default).

Target: the rule round under 5 s on 2 cores; the LLM round under 10 s. The last line
printed is one JSON object.

    .venv/bin/python benchmarks/bot_runner.py [--bots 1000] [--llm-bots 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
from pydantic import SecretStr

import _harness as h
from cryptotrader.backtest.service import load_bars
from cryptotrader.bots.llm import from_settings
from cryptotrader.bots.runner import BotRunner
from cryptotrader.config import Settings
from cryptotrader.db.session import as_service, open_pool
from cryptotrader.market.candle_import import import_candles_csv
from cryptotrader.strategies.base import BarContext
from cryptotrader.strategies.registry import build_strategy

DATA = Path(__file__).resolve().parent.parent / "data" / "ohlcv"
RULE_TARGET_S = 5.0
LLM_TARGET_S = 10.0
BAR = datetime(2021, 5, 3, 12, tzinfo=UTC)  # the measured bar (open time)
LOOKBACK = 500
STRATEGIES: list[tuple[str, dict[str, Any]]] = [
    ("dca", {"every": 1, "fraction": 0.01}),
    ("sma_crossover", {"fast": 10, "slow": 30}),
    ("dca", {"every": 1, "fraction": 0.02}),
    ("ema_crossover", {"fast": 12, "slow": 26}),
    ("dca", {"every": 1, "fraction": 0.005}),
    ("rsi_reversion", {"period": 14, "lower": 30, "upper": 70}),
    ("dca", {"every": 1, "fraction": 0.01}),
    ("macd", {"fast": 12, "slow": 26, "signal": 9}),
    ("dca", {"every": 1, "fraction": 0.03}),
    ("bollinger_breakout", {"period": 20, "std_dev": 2.0}),
]
HOLD = json.dumps({"action": "hold", "confidence": 0.5, "reasoning": "no edge"})


def completion() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1_735_000_000,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": HOLD, "refusal": None},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1500, "completion_tokens": 30, "total_tokens": 1530},
        }
    ).encode()


@contextmanager
def slow_provider(latency: float) -> Iterator[str]:
    """A loopback OpenAI-compatible /chat/completions that answers after ``latency`` s."""
    body = completion()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(latency)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def setup(
    db: h.AppDatabase, bots: int, llm_bots: int
) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The candles, the users, 1,000 active rule bots and 100 paused LLM bots. Returns the
    rule bots as (id, strategy, symbol) and the LLM bots' ids."""
    for symbol in ("BTC", "ETH"):
        import_candles_csv(db.app, DATA / f"{symbol}-USDT_1h.csv", symbol, "1h")
    owners = h.create_accounts(db.owner, max(1, bots // 10) + max(1, llm_bots // 10))
    started = BAR - timedelta(hours=600)
    rule: list[tuple[str, str, str]] = []
    llm: list[str] = []
    with psycopg.connect(db.owner, autocommit=True) as conn:
        for i in range(bots):
            user, account = owners[i // 10]
            name, params = STRATEGIES[i % len(STRATEGIES)]
            symbol = "BTC" if (i // len(STRATEGIES)) % 2 == 0 else "ETH"
            config = {"timeframe": "1h", "parameters": params, "lookback": LOOKBACK}
            row = conn.execute(
                "INSERT INTO ai_trading_bots (user_id, name, strategy, ai_model, target_symbols,"
                " paper_balance, max_position_size, config, account_id, status, started_at)"
                " VALUES (%s, %s, %s, 'rule', ARRAY[%s], 10000, 1000000, %s, %s, 'active', %s)"
                " RETURNING id",
                [user, f"bot {i}", name, symbol, json.dumps(config), account, started],
            ).fetchone()
            assert row is not None
            rule.append((str(row[0]), name, symbol))
        base = max(1, bots // 10)
        for i in range(llm_bots):
            user, account = owners[base + i // 10]
            strategy = conn.execute(
                "INSERT INTO ai_strategies (user_id, name, model, prompt, indicators)"
                " VALUES (%s, 'LLM', 'gpt-4o-mini', 'You trade {symbols}.\n{context}',"
                " '{rsi_14,sma_20}') RETURNING id",
                [user],
            ).fetchone()
            assert strategy is not None
            row = conn.execute(
                "INSERT INTO ai_trading_bots (user_id, name, strategy, ai_model, target_symbols,"
                " config, account_id, strategy_id, status, started_at)"
                " VALUES (%s, %s, 'llm', 'gpt-4o-mini', '{BTC,ETH}', %s, %s, %s, 'paused', %s)"
                " RETURNING id",
                [user, f"llm {i}", json.dumps({"timeframe": "1h"}), account, strategy[0], started],
            ).fetchone()
            assert row is not None
            llm.append(str(row[0]))
        # what a replay shows one second after the bar closed: the next bar's open, fresh
        conn.execute(
            "UPDATE market_data_cache m SET price_usd = c.open, last_updated = now()"
            "  FROM market_candles c"
            " WHERE c.symbol = m.symbol AND c.timeframe = '1h' AND c.open_time = %s",
            [BAR + timedelta(hours=1)],
        )
    return rule, llm


async def reference(
    db: h.AppDatabase, rule: list[tuple[str, str, str]]
) -> tuple[float, dict[str, str]]:
    """The same decisions in one process, the bars already in memory."""
    pool = open_pool(db.app, min_size=1, max_size=2)
    await pool.open()
    try:
        async with as_service(pool) as conn:
            series = {
                s: await load_bars(
                    conn, s, "1h", BAR - timedelta(hours=LOOKBACK - 1), BAR + timedelta(hours=1)
                )
                for s in ("BTC", "ETH")
            }
    finally:
        await pool.close()
    started = time.perf_counter()
    actions = {}
    for i, (bot_id, name, symbol) in enumerate(rule):
        bars = series[symbol]
        strategy = build_strategy(name, STRATEGIES[i % len(STRATEGIES)][1])
        ctx = BarContext(
            i=len(bars) - 1,
            history=bars,
            indicators=strategy.indicators(bars),
            cash=10_000.0,
            quantity=0.0,
            equity=10_000.0,
            avg_entry_price=None,
            open_orders=0,
        )
        actions[bot_id] = str(strategy.decide(ctx).action)
    return time.perf_counter() - started, actions


async def ours(
    db: h.AppDatabase, llm: list[str], settings: Settings
) -> tuple[float, dict[str, Any], float, dict[str, Any]]:
    clock = BAR + timedelta(hours=1, seconds=1)
    pool = open_pool(db.app, min_size=4, max_size=16)
    await pool.open()
    try:
        runner = BotRunner(pool=pool, identity="bench")
        started = time.perf_counter()
        report = await runner.round(clock)
        rule_s = time.perf_counter() - started
        with psycopg.connect(db.owner, autocommit=True) as conn:
            conn.execute("UPDATE ai_trading_bots SET status = 'active' WHERE strategy = 'llm'")
        client = from_settings(settings)
        try:
            runner = BotRunner(pool=pool, llm=client, identity="bench-llm")
            started = time.perf_counter()
            llm_report = await runner.round(clock)
            llm_s = time.perf_counter() - started
        finally:
            await client.aclose()
    finally:
        await pool.close()
    return rule_s, vars(report), llm_s, vars(llm_report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--llm-bots", type=int, default=100)
    parser.add_argument("--latency", type=float, default=1.0, help="the stub's seconds")
    opts = parser.parse_args()
    print(f"machine: {h.machine()}")
    with (
        h.server() as srv,
        h.app_database(srv, "ctbench_bots") as db,
        slow_provider(opts.latency) as url,
    ):
        rule, llm = setup(db, opts.bots, opts.llm_bots)
        h.checkpoint(db.owner)
        settings = Settings(openai_base_url=url, openai_api_key=SecretStr("sk-bench"))
        ref_s, expected = asyncio.run(reference(db, rule))
        rule_s, report, llm_s, llm_report = asyncio.run(ours(db, llm, settings))
        with psycopg.connect(db.owner) as conn:
            rows = conn.execute(
                "SELECT bot_id::text, action, status FROM bot_decisions WHERE kind = 'rule'"
            ).fetchall()
        got = {r[0]: r[1] for r in rows}
        differences = sum(1 for b, a in expected.items() if got.get(b) != a)
        statuses: dict[str, int] = {}
        for r in rows:
            statuses[r[2]] = statuses.get(r[2], 0) + 1
    print(
        f"rule round: {rule_s:.2f} s for {report['claimed']} bots ({statuses}),"
        f" reference {ref_s:.3f} s"
    )
    print(f"  decisions that differ from the reference: {differences}")
    print(
        f"llm round: {llm_s:.2f} s for {llm_report['claimed']} bots at {opts.latency} s a call"
        f" (serially: {opts.latency * llm_report['claimed']:.0f} s)"
    )
    ok = (
        rule_s < RULE_TARGET_S
        and llm_s < LLM_TARGET_S
        and differences == 0
        and report["claimed"] == opts.bots
        and llm_report["claimed"] == opts.llm_bots
    )
    h.emit(
        {
            "benchmark": "bot_runner",
            "value": round(rule_s, 3),
            "unit": "s per round of 1,000 rule bots",
            "reference": round(ref_s, 3),
            "ratio": round(rule_s / ref_s, 2) if ref_s else None,
            "target": RULE_TARGET_S,
            "llm_round_s": round(llm_s, 3),
            "llm_target": LLM_TARGET_S,
            "orders": statuses.get("traded", 0),
            "differences": differences,
            "pass": ok,
        }
    )


if __name__ == "__main__":
    main()
