"""``cryptotrader db``: migrate, status, seed, backup, restore."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import SYSTEM
from cryptotrader.cli import render
from cryptotrader.cli.common import friendly_errors, run_service, with_pool
from cryptotrader.cli.render import console
from cryptotrader.config import get_settings
from cryptotrader.db import backup as backup_service
from cryptotrader.db import migrate as migrate_service
from cryptotrader.db.runtime import migrate_target
from cryptotrader.db.target import resolve_target

app = typer.Typer(help="Database: migrate, status, seed, backup, restore.", no_args_is_help=True)


@app.command("migrate")
@friendly_errors
def db_migrate() -> None:
    """Apply pending migrations (a no-op when there are none)."""
    target, applied = migrate_target(get_settings())
    for m in applied:
        console.print(f"applied {m.version:04d}_{m.name}")
    console.print(f"database {target.describe()} is up to date ({len(applied)} applied)")


@app.command("status")
@friendly_errors
def db_status() -> None:
    """List migrations and whether each is applied."""
    target = resolve_target(get_settings())
    render.migrations(migrate_service.status(target.owner))


@app.command("seed")
@friendly_errors
def db_seed() -> None:
    """Add demo data (idempotent): a demo user with accounts, a watchlist and trades, and
    real BTC and ETH hourly candles for backtests."""
    from cryptotrader.seed import DEMO_EMAIL, DEMO_PASSWORD, seed_demo, seed_demo_candles

    settings = get_settings()
    target, _ = migrate_target(settings)
    report = with_pool(settings, seed_demo)
    state = "created" if report.created_user else "already present"
    console.print(
        f"demo user {DEMO_EMAIL} {state} (password: {DEMO_PASSWORD}); "
        f"{report.accounts_created} accounts and {report.orders_placed} orders added"
    )
    candles = asyncio.run(seed_demo_candles(target.app))
    for c in candles:
        console.print(
            f"demo candles {c.symbol} {c.timeframe}: {c.rows_read:,} bars,"
            f" {c.rows_written:,} written"
        )


@app.command("backup")
@friendly_errors
def db_backup(file: Annotated[Path, typer.Argument(help="Where to write the dump.")]) -> None:
    """Dump the whole database to FILE (pg_dump custom format)."""
    target = resolve_target(get_settings())
    with console.status(f"dumping {target.describe()}…"):
        out = backup_service.backup(target, file)
    console.print(f"backup written to {out} ({out.stat().st_size:,} bytes)")


@app.command("restore")
@friendly_errors
def db_restore(
    file: Annotated[Path, typer.Argument(help="A dump made by `db backup`.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replace the database's contents with FILE, in one transaction.

    Then audited as db.restore (by the system) in the restored audit trail."""
    settings = get_settings()
    target = resolve_target(settings)
    if not yes:
        typer.confirm(f"replace everything in {target.describe()} with {file}?", abort=True)
    with console.status(f"restoring {file}…"):
        backup_service.restore(target, file)
    migrate_service.ensure_app_role(
        target.owner, target.app_role, settings.resolved_app_password(), target.dbname
    )
    details = {"file": file.name}
    run_service(
        lambda conn: audit.record(conn, SYSTEM, "db.restore", "database", target.dbname, details),
        migrate=False,  # the dump as it was: `db migrate` brings it up to date
    )
    console.print(f"restored {file} into {target.describe()}")
