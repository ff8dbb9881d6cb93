"""The per-process cache of the rendered price list (GET /api/v1/market/prices)."""

from __future__ import annotations

from cryptotrader.market.router import PriceListCache


def test_fresh_until_the_ttl_then_a_miss() -> None:
    cache = PriceListCache(ttl=0.5)
    assert cache.fresh(300, now=10.0) is None
    cache.store(300, b"[1]", now=10.0)
    assert cache.fresh(300, now=10.4) == b"[1]"
    assert cache.fresh(300, now=10.5) is None
    assert cache.fresh(60, now=10.1) is None  # one entry per max_age_seconds


def test_stale_body_is_served_while_one_request_refreshes() -> None:
    cache = PriceListCache(ttl=0.5)
    cache.store(300, b"[old]", now=0.0)
    assert cache.fresh(300, now=1.0) is None  # the first request after expiry refreshes...
    cache.refreshing.add(300)
    assert cache.fresh(300, now=1.0) == b"[old]"  # ...and the others get the old body
    cache.store(300, b"[new]", now=1.1)
    cache.refreshing.discard(300)
    assert cache.fresh(300, now=1.2) == b"[new]"


def test_entries_are_bounded() -> None:
    cache = PriceListCache(ttl=5, max_entries=3)
    for key in range(3):
        cache.store(key, b"x", now=0)
    cache.store(99, b"y", now=0)
    assert list(cache.entries) == [99]
