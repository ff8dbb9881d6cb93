"""Exponential backoff with jitter and a cap, for polling a rate-limited provider.

Pure: no sleeping, no clock. The caller asks :meth:`Backoff.next_delay` after a failure,
sleeps that long itself, and calls :meth:`Backoff.reset` after a success::

    backoff = Backoff()
    while True:
        try:
            quotes = await provider.fetch_quotes(coins)
        except ProviderError as exc:
            await anyio.sleep(backoff.next_delay(exc))
            continue
        backoff.reset()
        ...
"""

from __future__ import annotations

import random
from collections.abc import Callable

from cryptotrader.market.schemas import RateLimited

# Past this many doublings every sensible cap has been reached; it keeps factor**n finite.
_MAX_EXPONENT = 64


class Backoff:
    """Delays of ``base * factor**n`` seconds (n = failures so far), capped at ``cap``.

    Jitter shortens each delay by a random fraction of up to ``jitter`` of it, so the
    delay after the n-th failure lies in ``(d * (1 - jitter), d]`` where
    ``d = min(cap, base * factor**n)``; it never exceeds ``cap``. ``rand`` is the random
    source (a callable returning floats in ``[0, 1)``), injectable for tests.

    A :class:`RateLimited` error's ``retry_after`` is honoured: the delay is then
    ``max(retry_after, computed)``, even when that is above ``cap`` (the provider's word
    beats our guess).
    """

    def __init__(
        self,
        *,
        base: float = 1.0,
        factor: float = 2.0,
        cap: float = 300.0,
        jitter: float = 0.5,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if base <= 0:
            raise ValueError("base must be positive")
        if factor < 1:
            raise ValueError("factor must be at least 1")
        if cap < base:
            raise ValueError("cap must be at least base")
        if not 0 <= jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")
        self.base = base
        self.factor = factor
        self.cap = cap
        self.jitter = jitter
        self._rand = rand
        self._failures = 0

    @property
    def failures(self) -> int:
        """Consecutive failures since the last :meth:`reset`."""
        return self._failures

    def next_delay(self, error: BaseException | None = None) -> float:
        """Record one more failure and return the seconds to wait before the next try."""
        exponent = min(self._failures, _MAX_EXPONENT)
        self._failures += 1
        ceiling = min(self.cap, self.base * self.factor**exponent)
        delay = ceiling * (1 - self.jitter * self._rand())
        if isinstance(error, RateLimited):
            delay = max(error.retry_after, delay)
        return delay

    def reset(self) -> None:
        """After a success: the next failure starts again from ``base``."""
        self._failures = 0
