"""DatabaseTarget objects for test databases, so services can be called on them."""

from __future__ import annotations

from cryptotrader.db.target import DatabaseTarget
from tests.support import APP_ROLE, TestDatabase


def target_for(db: TestDatabase) -> DatabaseTarget:
    return DatabaseTarget(
        owner=db.owner_conninfo,
        app=db.app_conninfo,
        dbname=db.name,
        app_role=APP_ROLE,
        bin_dir=db.server.bin_dir,
        embedded=db.server.bin_dir is not None,
    )
