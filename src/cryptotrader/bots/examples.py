"""The OpenAPI examples of the bots' answers (kept apart: they are data, not schema)."""

from __future__ import annotations

from typing import Any

from cryptotrader.accounts.schemas import EXAMPLE_ACCOUNT_ID

EXAMPLE_BOT_ID = "b07c1e55-2f4a-4d1b-9a7e-5c3d2e1f0a9b"
EXAMPLE_AI_STRATEGY_ID = "a1570a7e-9d3c-4b2a-8e6f-1f2d3c4b5a69"

A_I_STRATEGY: dict[str, Any] = {
    "id": EXAMPLE_AI_STRATEGY_ID,
    "name": "Momentum with RSI",
    "description": None,
    "model": "gpt-4o-mini",
    "prompt": "You trade {symbols} on {timeframe} bars.\n{context}",
    "parameters": {"temperature": 0.2, "max_tokens": 800},
    "indicators": ["rsi_14", "sma_20"],
    "market_data_sources": [],
    "is_active": True,
    "created_at": "2025-01-10T08:50:00Z",
    "updated_at": "2025-01-10T08:50:00Z",
}

BOT: dict[str, Any] = {
    "id": EXAMPLE_BOT_ID,
    "name": "BTC trend",
    "account_id": EXAMPLE_ACCOUNT_ID,
    "strategy": "sma_crossover",
    "strategy_id": None,
    "ai_model": "rule",
    "target_symbols": ["BTC"],
    "status": "active",
    "mode": "paper",
    "paper_balance": "5000.00000000",
    "max_position_size": "5000.00000000",
    "risk_level": "medium",
    "config": {"timeframe": "1h", "parameters": {"fast": 10, "slow": 30}},
    "performance": {"trades": 4, "win_rate": 0.5, "total_pnl": "112.40"},
    "error_message": None,
    "daily_budget_usd": None,
    "lifetime_budget_usd": None,
    "last_trade_at": "2025-01-15T14:00:03Z",
    "status_changed_at": "2025-01-10T09:00:00Z",
    "created_at": "2025-01-10T08:55:00Z",
    "updated_at": "2025-01-15T14:00:03Z",
}

JOURNAL_ENTRY: dict[str, Any] = {
    "id": "d3c1a9e2-7b4f-4e21-9c3a-0f1e2d3c4b5a",
    "bot_id": EXAMPLE_BOT_ID,
    "kind": "llm",
    "source": "live",
    "timeframe": "1h",
    "bar_time": "2025-01-15T13:00:00Z",
    "scope": "*",
    "status": "traded",
    "attempts": 1,
    "snapshot_hash": "5f0c6e2b9a7d4c1e8f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e",
    "prompt": "You trade BTC, ETH on 1h bars. ...",
    "model": "gpt-4o-mini",
    "raw_reply": '{"action": "buy", "symbol": "BTC", "size": 0.1, ...}',
    "reasoning": "RSI 58 and rising above the 20-bar SMA.",
    "decision": {
        "action": "buy",
        "symbol": "BTC",
        "size": "0.1",
        "confidence": 0.64,
    },
    "action": "buy",
    "symbol": "BTC",
    "confidence": "0.64000000",
    "reference_price": "97250.0000000000",
    "abstain_code": None,
    "abstain_reason": None,
    "tokens_in": 1630,
    "tokens_out": 92,
    "cost_usd": "0.00029970",
    "latency_ms": 1180,
    "replayed": False,
    "order_id": "8d2f6a1c-3e5b-4c7d-9a0b-1c2d3e4f5a6b",
    "order_status": "completed",
    "order_error": None,
    "created_at": "2025-01-15T14:00:01Z",
    "decided_at": "2025-01-15T14:00:02Z",
    "completed_at": "2025-01-15T14:00:02Z",
}

BOT_COSTS: dict[str, Any] = {
    "bot_id": EXAMPLE_BOT_ID,
    "calls": 240,
    "replayed": 12,
    "tokens_in": 391200,
    "tokens_out": 22080,
    "cost_usd": "0.07192800",
    "cost_today_usd": "0.00719280",
    "daily_budget_usd": "1.00000000",
    "lifetime_budget_usd": None,
}

CALIBRATION: dict[str, Any] = {
    "bot_id": EXAMPLE_BOT_ID,
    "horizon_bars": 1,
    "decisions": 3,
    "brier_score": 0.1766666667,
    "buckets": [
        {
            "lower": 0.6,
            "upper": 0.7,
            "count": 2,
            "mean_confidence": 0.65,
            "hit_rate": 0.5,
        },
        {
            "lower": 0.9,
            "upper": 1.0,
            "count": 1,
            "mean_confidence": 0.9,
            "hit_rate": 1.0,
        },
    ],
}

BOT_BACKTEST: dict[str, Any] = {
    "mode": "dry_run",
    "model": "gpt-4o-mini",
    "symbol": "BTC",
    "bars": 187,
    "decisions": 167,
    "recorded": 120,
    "called": 0,
    "missing": 47,
    "cost_usd": "0.00000000",
    "estimated_cost_usd": "0.01410000",
    "budget_usd": None,
    "budget_spent": False,
    "training_cutoff": "2023-10-01",
    "before_cutoff": False,
    "final_capital": "10112.40000000",
    "trades": [
        {
            "time": "2025-01-02T14:00:00Z",
            "side": "buy",
            "quantity": "0.01029000",
            "price": "97168.5900000000",
            "fee": "0.99986480",
        }
    ],
}

PROMPT_PREVIEW: dict[str, Any] = {
    "system": "You are a trading strategy ...",
    "user": "You trade BTC, ETH on 1h bars.\nContext: {...}",
    "context": {"timeframe": "1h", "allowed_symbols": ["BTC", "ETH"]},
    "snapshot_hash": "5f0c6e2b9a7d4c1e8f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e",
    "bar_time": "2025-01-15T13:00:00Z",
    "bars_shown": {"BTC": 20, "ETH": 20},
}

BOT_PERFORMANCE: dict[str, Any] = {
    "trades": 6,
    "buys": 3,
    "sells": 3,
    "wins": 2,
    "losses": 1,
    "win_rate": 0.6667,
    "realized_pnl": "112.40000000",
    "cash": "10112.40000000",
    "positions_value": "0.00000000",
    "total_pnl": "112.40000000",
    "return_pct": "1.124000",
    "decisions": 240,
    "cost_usd": "0.00000000",
    "updated_at": "2025-01-15T14:00:03Z",
}
