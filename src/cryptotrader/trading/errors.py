"""Errors of trading that are not the engine's rejections (those are in cryptotrader.errors,
raised from SQL and shared with the backtests)."""

from __future__ import annotations

from cryptotrader.errors import InvalidRequest


class IdempotencyKeyReused(InvalidRequest):
    code = "idempotency_key_reused"
    example_detail = "this Idempotency-Key was used for a different order"
    title = "Idempotency key reused with a different request"
