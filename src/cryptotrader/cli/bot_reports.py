"""``cryptotrader bots calibration`` and ``bots performance``: a bot's reports, read as its
owner (the ``bots`` group's other commands are in :mod:`.bots`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from cryptotrader.cli import render_bots as render
from cryptotrader.cli.bots import BotArg, JsonOpt, UserOpt, app
from cryptotrader.cli.common import as_owner, bad_input_exits_2, friendly_errors, print_json
from cryptotrader.cli.render import console

if TYPE_CHECKING:
    from cryptotrader.audit.schemas import Actor
    from cryptotrader.bots.schemas import BotPerformance, Calibration
    from cryptotrader.db.session import Conn


@app.command("calibration")
@friendly_errors
@bad_input_exits_2
def bots_calibration(
    bot_id: BotArg,
    user: UserOpt,
    horizon: Annotated[
        int, typer.Option(min=1, max=500, help="Bars after each decision the outcome is read.")
    ] = 1,
    buckets: Annotated[int, typer.Option(min=2, max=20, help="Confidence buckets.")] = 10,
    json_: JsonOpt = False,
) -> None:
    """How well a bot's confidence matched what happened: the Brier score of its buys and
    sells (a buy is right if the price --horizon bars later is higher, a sell if lower) and
    the reliability table (per confidence bucket: count, mean confidence, hit rate)."""
    from cryptotrader.bots import service

    async def read(conn: Conn, _: Actor) -> Calibration:
        return await service.bot_calibration(conn, bot_id, horizon=horizon, buckets=buckets)

    calibration = as_owner(user, read)
    if json_:
        print_json(calibration)
        return
    brier = calibration.brier_score
    console.print(
        f"{calibration.decisions} decision(s) scored at {calibration.horizon_bars} bar(s);"
        f" Brier score {'none yet' if brier is None else f'{brier:.4f}'} (0 is perfect,"
        " 0.25 a coin at 0.5)"
    )
    table = Table("confidence", "count", "mean confidence", "hit rate", title="reliability")
    for b in calibration.buckets:
        mean = "" if b.mean_confidence is None else f"{b.mean_confidence:.3f}"
        hit = "" if b.hit_rate is None else f"{b.hit_rate:.0%}"
        table.add_row(f"{b.lower:.1f}-{b.upper:.1f}", str(b.count), mean, hit)
    console.print(table)


@app.command("performance")
@friendly_errors
@bad_input_exits_2
def bots_performance(bot_id: BotArg, user: UserOpt, json_: JsonOpt = False) -> None:
    """A bot's performance now, from its own fills at current prices: trades, wins and
    losses, win rate, realized and total PnL, return, cash and positions, model costs."""
    from cryptotrader.bots import service

    async def read(conn: Conn, _: Actor) -> BotPerformance:
        return await service.bot_performance(conn, bot_id)

    performance = as_owner(user, read)
    if json_:
        print_json(performance)
    else:
        render.performance(performance.model_dump(mode="json"))
