"""Who acts: the claims an action runs under and where it came from."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

SYSTEM_CLAIMS: Mapping[str, Any] = {"role": "service_role"}


@dataclass(frozen=True, kw_only=True)
class Actor:
    """The caller of an action: a user's JWT claims (``sub`` is the user id) or the system's,
    and, for requests, the client's address and user agent."""

    claims: Mapping[str, Any] = field(default_factory=lambda: SYSTEM_CLAIMS)
    ip: str | None = None
    user_agent: str | None = None

    @property
    def user_id(self) -> UUID | None:
        sub = self.claims.get("sub")
        return None if sub is None else UUID(str(sub))

    @property
    def claims_json(self) -> str:
        return json.dumps(dict(self.claims))


SYSTEM = Actor()
