"""Calibration of a bot's confidence: the Brier score of (confidence, outcome) pairs and
the reliability table (pure functions; the service reads the pairs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

from cryptotrader.bots.schemas import ReliabilityBucket


def brier_and_reliability(
    pairs: Sequence[tuple[float, int]], buckets: int = 10
) -> tuple[float | None, list[ReliabilityBucket]]:
    """The Brier score of ``(confidence, outcome)`` pairs (mean of (confidence - outcome)²,
    0 is perfect, 0.25 is a coin at 0.5) and the reliability table: per confidence bucket
    ``[k/n, (k+1)/n)`` (the last one closed) its count, mean confidence and hit rate."""
    table = []
    for k in range(buckets):
        lower, upper = k / buckets, (k + 1) / buckets
        inside = [
            (c, o) for c, o in pairs if lower <= c < upper or (k == buckets - 1 and c == upper)
        ]
        table.append(
            ReliabilityBucket(
                lower=lower,
                upper=upper,
                count=len(inside),
                mean_confidence=math.fsum(c for c, _ in inside) / len(inside) if inside else None,
                hit_rate=sum(o for _, o in inside) / len(inside) if inside else None,
            )
        )
    if not pairs:
        return None, table
    return math.fsum((c - o) ** 2 for c, o in pairs) / len(pairs), table


def outcome(action: str, reference: Decimal, later: Decimal) -> int:
    """1 if the decision was right: a buy before a rise, a sell before a fall."""
    return int(later > reference) if action == "buy" else int(later < reference)
