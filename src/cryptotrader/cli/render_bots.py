"""What ``cryptotrader bots`` prints: its Rich tables (render.py's part for the bots group,
kept apart to keep both modules small). Data in, text out; nothing here reads the
database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from cryptotrader.cli.render import console, money, pct, price, ratio

if TYPE_CHECKING:
    from cryptotrader.bots.schemas import (
        AIStrategy,
        Bot,
        BotBacktest,
        BotCosts,
        Calibration,
        JournalEntry,
        ModelPrice,
    )

_BOT_STATUS = {"active": "green", "paused": "yellow", "stopped": "dim", "error": "red"}
_DECISION_STATUS = {"traded": "green", "abstained": "yellow", "failed": "red", "claimed": "dim"}


def usd(value: Any) -> str:
    """What model calls cost: four decimals (one call costs a fraction of a cent)."""
    return "" if value is None else f"{Decimal(str(value)):,.4f}"


def per_mtok(value: Decimal) -> str:
    """A price per million tokens: two decimals, more where the price has them."""
    return f"{value:,.2f}" if value == round(value, 2) else f"{value.normalize():f}"


def _minute(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _coloured(value: str, colours: dict[str, str]) -> str:
    colour = colours.get(value)
    return f"[{colour}]{escape(value)}[/{colour}]" if colour else escape(value)


def _pairs(title: str, rows: Sequence[tuple[str, str]]) -> Table:
    """A two-column table of labelled values (the values are Rich markup)."""
    table = Table("", "", show_header=False, title=title, title_justify="left")
    for label, value in rows:
        table.add_row(label, value)
    return table


def bots(found: Sequence[Bot]) -> None:
    table = Table(
        "id", "name", "strategy", "model", "symbols", "timeframe", "status", "trades",
        "win rate", "total PnL", "cost USD",
    )  # fmt: skip
    for b in found:
        perf = b.performance
        table.add_row(
            str(b.id),
            escape(b.name),
            escape(b.strategy),
            escape(b.ai_model),
            ", ".join(b.target_symbols),
            str(b.config.get("timeframe", "")),
            _coloured(b.status, _BOT_STATUS),
            str(perf.get("trades") or 0),
            pct(perf.get("win_rate")),
            _money(perf.get("total_pnl")),
            usd(perf.get("cost_usd")),
        )
    console.print(table)


def bot(b: Bot, costs: BotCosts, calibration: Calibration) -> None:
    """One bot: its settings, its performance, what its model calls cost and how well its
    confidence matched what happened."""
    console.print(f"{b.name} ({b.id})", markup=False, highlight=False)
    console.print(_pairs("bot", _bot_rows(b)))
    console.print(_pairs("performance", _performance_rows(b.performance)))
    console.print(_pairs("model calls", _cost_rows(costs)))
    console.print(_pairs("calibration", _calibration_rows(calibration)))
    buckets = [x for x in calibration.buckets if x.count]
    if buckets:
        table = Table("confidence", "decisions", "mean confidence", "hit rate")
        for x in buckets:
            table.add_row(
                f"{x.lower:.1f} - {x.upper:.1f}",
                str(x.count),
                ratio(x.mean_confidence),
                pct(x.hit_rate),
            )
        console.print(table)


def _bot_rows(b: Bot) -> list[tuple[str, str]]:
    config = b.config
    params = ", ".join(f"{k}={v}" for k, v in (config.get("parameters") or {}).items())
    params = "its AI strategy's" if b.is_llm else params
    status = _coloured(b.status, _BOT_STATUS)
    seen = (
        f"{config.get('prompt_bars')} per prompt"
        if b.is_llm
        else f"up to {config.get('lookback')} for its indicators"
    )
    return [
        ("status", status + (f": {escape(b.error_message)}" if b.error_message else "")),
        ("strategy", escape(b.strategy) + _ai_strategy(b)),
        ("model", escape(b.ai_model)),
        ("account", str(b.account_id) if b.account_id else "[red]deleted[/red]"),
        ("symbols", ", ".join(b.target_symbols)),
        ("timeframe", str(config.get("timeframe", ""))),
        ("bars seen", seen),
        ("parameters", escape(params)),
        ("capital cap", money(b.paper_balance)),
        ("max position", money(b.max_position_size)),
        ("risk level", b.risk_level),
        ("daily budget USD", usd(b.daily_budget_usd) or "none"),
        ("lifetime budget USD", usd(b.lifetime_budget_usd) or "none"),
        ("last trade (UTC)", _minute(b.last_trade_at)),
        ("status since (UTC)", _minute(b.status_changed_at)),
        ("created (UTC)", _minute(b.created_at)),
    ]


def _ai_strategy(b: Bot) -> str:
    if not b.is_llm:
        return ""
    if b.strategy_id is None:
        return " [red](its AI strategy was deleted)[/red]"
    return f" (AI strategy {b.strategy_id})"


def _performance_rows(perf: dict[str, Any]) -> list[tuple[str, str]]:
    if not perf:
        return [("trades", "none yet")]
    returned, trades = perf.get("return_pct"), perf.get("trades", 0)
    return [
        ("trades (buys / sells)", f"{trades} ({perf.get('buys', 0)} / {perf.get('sells', 0)})"),
        ("won / lost", f"{perf.get('wins', 0)} / {perf.get('losses', 0)}"),
        ("win rate", pct(perf.get("win_rate"))),
        ("realized PnL", _money(perf.get("realized_pnl"))),
        ("total PnL", _money(perf.get("total_pnl"))),
        ("return", "" if returned is None else f"{float(returned):,.2f} %"),
        ("cash", _money(perf.get("cash"))),
        ("positions value", _money(perf.get("positions_value"))),
        ("decisions", str(perf.get("decisions", 0))),
        ("as of", escape(str(perf.get("updated_at") or ""))),
    ]


def performance(perf: dict[str, Any]) -> None:
    console.print(_pairs("performance", _performance_rows(perf)))


def _cost_rows(costs: BotCosts) -> list[tuple[str, str]]:
    def against(spent: Any, budget: Any) -> str:
        return usd(spent) + ("" if budget is None else f" of {usd(budget)} budget")

    return [
        ("calls", f"{costs.calls:,} ({costs.replayed:,} replayed from the record)"),
        ("tokens in / out", f"{costs.tokens_in:,} / {costs.tokens_out:,}"),
        ("cost USD", against(costs.cost_usd, costs.lifetime_budget_usd)),
        ("today (UTC)", against(costs.cost_today_usd, costs.daily_budget_usd)),
    ]


def _calibration_rows(calibration: Calibration) -> list[tuple[str, str]]:
    brier = calibration.brier_score
    return [
        ("horizon", f"{calibration.horizon_bars} bar(s) after each buy or sell"),
        ("decisions scored", str(calibration.decisions)),
        ("Brier score", "none yet" if brier is None else f"{brier:.4f} (0 is perfect)"),
    ]


def decisions(found: Sequence[JournalEntry]) -> None:
    """A bot's journal, newest first."""
    table = Table(
        "bar time (UTC)", "scope / symbol", "status", "action", "confidence", "abstain code",
        "tokens in / out", "cost USD", "order",
    )  # fmt: skip
    for d in found:
        scope = d.scope if d.symbol in (None, d.scope) else f"{d.scope} / {d.symbol}"
        llm = d.kind == "llm"
        order = (d.order_status or "") + (f": {d.order_error}" if d.order_error else "")
        table.add_row(
            _minute(d.bar_time),
            escape(scope),
            _coloured(d.status, _DECISION_STATUS),
            d.action or "",
            ratio(d.confidence),
            escape(d.abstain_code or ""),
            f"{d.tokens_in:,} / {d.tokens_out:,}" if llm else "",
            usd(d.cost_usd) if llm else "",
            escape(order),
        )
    console.print(table)


_MODES = {
    "dry_run": "dry run: the record replayed, the missing calls priced, none made",
    "offline": "offline: the record replayed, the missing calls abstained (held)",
    "record": "record: the missing calls asked within the budget, and recorded",
}


def backtest(result: BotBacktest) -> None:
    """A bot's backtest: what it replayed, asked and would have asked, the model's
    training cutoff against the window, then its trades."""
    console.print(_pairs("bot backtest", _backtest_rows(result)))
    if result.before_cutoff:
        console.print(
            f"[bold yellow]warning:[/bold yellow] {escape(cutoff_warning(result))}",
            soft_wrap=True,
            highlight=False,
        )
    if not result.trades:
        console.print("no trades")
        return
    table = Table("time (UTC)", "side", "quantity", "price", "fee", title="trades")
    table.title_justify = "left"
    for t in result.trades:
        table.add_row(
            _minute(t.time),
            _coloured(t.side, {"buy": "green", "sell": "red"}),
            f"{t.quantity.normalize():f}",
            price(t.price),
            money(t.fee),
        )
    console.print(table)


def cutoff_warning(result: BotBacktest) -> str:
    return (
        f"the window ends before {result.model}'s training cutoff ({result.training_cutoff}):"
        " the model may know what happened"
    )


def _backtest_rows(r: BotBacktest) -> list[tuple[str, str]]:
    if r.budget_usd is None:
        budget = "none"
    elif r.budget_spent:
        budget = f"{usd(r.budget_usd)}, [yellow]spent[/yellow]: the calls it left are missing"
    else:
        budget = f"{usd(r.budget_usd)}, not spent"
    cutoff = "unknown" if r.training_cutoff is None else r.training_cutoff.isoformat()
    if r.before_cutoff:
        cutoff += " [bold yellow](after the window)[/bold yellow]"
    return [
        ("mode", escape(_MODES.get(r.mode, r.mode))),
        ("model", escape(r.model)),
        ("symbol", escape(r.symbol)),
        ("bars", f"{r.bars:,}"),
        ("decisions", f"{r.decisions:,}"),
        ("replayed from the record", f"{r.recorded:,}"),
        ("calls made", f"{r.called:,}"),
        ("missing", f"{r.missing:,}"),
        ("cost USD", usd(r.cost_usd)),
        ("est. cost of the missing calls USD", usd(r.estimated_cost_usd)),
        ("budget USD", budget),
        ("training cutoff", cutoff),
        ("final capital", money(r.final_capital)),
        ("trades", f"{len(r.trades):,}"),
    ]


def ai_strategies(found: Sequence[AIStrategy]) -> None:
    table = Table("id", "name", "model", "indicators", "parameters", "prompt", "created (UTC)")
    for s in found:
        prompt = " ".join(s.prompt.split())
        table.add_row(
            str(s.id),
            escape(s.name),
            escape(s.model),
            escape(", ".join(s.indicators)),
            escape(", ".join(f"{k}={v}" for k, v in s.parameters.items())),
            escape(prompt if len(prompt) <= 40 else prompt[:39] + "…"),
            _minute(s.created_at),
        )
    console.print(table)


def model_prices(found: Sequence[ModelPrice]) -> None:
    table = Table("model", "input USD / Mtok", "output USD / Mtok", "source")
    for p in found:
        table.add_row(
            escape(p.model),
            per_mtok(p.input_usd_per_mtok),
            per_mtok(p.output_usd_per_mtok),
            escape(p.source or ""),
        )
    console.print(table)


def _money(value: Any) -> str:
    return "" if value is None else money(value)
