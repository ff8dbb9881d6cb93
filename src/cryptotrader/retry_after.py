"""``Retry-After`` (RFC 9110 §10.2.3), read one way for every HTTP client we have: the
market provider's, the LLM client's and webhook delivery's."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_SECONDS = re.compile(r"\d+(?:\.\d+)?")


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait: delay-seconds (``"120"``) or an HTTP-date (a past one gives 0);
    None when the header is absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if _SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now.astimezone(UTC)).total_seconds())
