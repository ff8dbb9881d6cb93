"""The ``cryptotrader`` command line: the same services the API and the workers call.

One module per command group (``db``, ``users``, ``market``, ``backtest``, ``accounts``,
``admin``, ``jobs``, ``analytics``, ``bots``; ``run`` for ``serve``, ``worker`` and
``version``), ``render`` (and ``render_bots``) for what is printed and ``common`` for what
they share. A command parses its options, calls services in a unit of work as the service
role (``common.run_service``), or as the user ``--user`` names where rows are the owner's
(``bots``), and renders; every command that changes data leaves the same ``audit_logs``
rows as the API."""

from __future__ import annotations

import typer

from cryptotrader.cli import (
    accounts,
    admin,
    alerts,
    analytics,
    backtest,
    bot_reports,  # noqa: F401 - adds `bots calibration` and `bots performance` to bots.app
    bots,
    db,
    jobs,
    market,
    notifications,
    run,
    social,
    users,
    webhooks,
)

app = typer.Typer(
    help="CryptoTrader Pro: crypto paper trading on PostgreSQL.", no_args_is_help=True
)
run.register(app)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(market.app, name="market")
app.add_typer(backtest.app, name="backtest")
app.add_typer(accounts.app, name="accounts")
app.add_typer(admin.app, name="admin")
app.add_typer(jobs.app, name="jobs")
app.add_typer(analytics.app, name="analytics")
app.add_typer(bots.app, name="bots")
app.add_typer(social.app, name="social")
app.add_typer(notifications.app, name="notifications")
app.add_typer(alerts.app, name="alerts")
app.add_typer(webhooks.app, name="webhooks")


def main() -> None:
    app()


__all__ = ["app", "main"]
