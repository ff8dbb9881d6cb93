"""The top-level commands: ``version``, ``serve`` (the API and the workers) and ``worker``."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from cryptotrader import __version__
from cryptotrader.cli.common import friendly_errors
from cryptotrader.cli.render import console
from cryptotrader.config import Settings, get_settings
from cryptotrader.db.embedded import released_on_sigterm
from cryptotrader.db.runtime import migrate_target


def version() -> None:
    """Print the version."""
    console.print(f"cryptotrader {__version__}")


@friendly_errors
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default from settings).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="API processes (each with its pool).")] = 1,
) -> None:
    """Serve the API and run the workers in-process (migrates first when needed)."""
    with released_on_sigterm():
        _serve(host, port, workers)


def _serve(host: str | None, port: int | None, workers: int) -> None:
    import uvicorn

    from cryptotrader.api.app import create_app

    settings = get_settings()
    target, _ = migrate_target(settings)
    bind_host, bind_port = host or settings.host, port or settings.port
    console.print(f"serving on http://{bind_host}:{bind_port} (database {target.describe()})")
    # uvicorn formats each access line's fields before its logger drops them: above INFO
    # there is nothing to log, so nothing to format
    access_log = settings.log_level.upper() in ("DEBUG", "INFO")
    if workers == 1:
        uvicorn.run(
            create_app(settings, target),
            host=bind_host,
            port=bind_port,
            log_level=settings.log_level.lower(),
            access_log=access_log,
        )
        return
    # several processes: each builds its app from the environment (the data dir's
    # generated secrets are shared through the files, DATABASE_URL through the environment)
    uvicorn.run(
        "cryptotrader.api.app:app_from_env",
        factory=True,
        workers=workers,
        host=bind_host,
        port=bind_port,
        log_level=settings.log_level.lower(),
        access_log=access_log,
    )


@friendly_errors
def worker(
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only these workers (market, backtests, bots, jobs)."),
    ] = None,
) -> None:
    """Run background workers (the market feed, backtests, bots, jobs) until interrupted."""
    with released_on_sigterm():
        _work(only)


def _work(only: list[str] | None) -> None:
    import signal

    from cryptotrader.workers import run_workers

    settings = get_settings()
    _configure_logging(settings)
    target, _ = migrate_target(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_workers(settings, target, stop, set(only) if only else None)

    console.print(f"workers running against {target.describe()} (Ctrl-C stops)")
    asyncio.run(main())  # its signal handlers stop the workers cleanly


def _configure_logging(settings: Settings) -> None:
    import logging

    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``."""
    app.command()(version)
    app.command()(serve)
    app.command()(worker)
