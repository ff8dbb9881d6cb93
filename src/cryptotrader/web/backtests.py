"""Backtests: a form built from each strategy's parameter JSON schema (a value, or a list
of values to sweep), live progress while the workers run it, and the results: equity and
drawdown, the trades as markers on the candles, the stats, and for a sweep the ranked
results and a heatmap of two parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, get_args
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from cryptotrader.analytics import metrics
from cryptotrader.backtest import service as backtests
from cryptotrader.backtest.schemas import Backtest, BacktestCreate, BacktestResultRow
from cryptotrader.backtest.sweep import heatmap
from cryptotrader.db.session import Conn
from cryptotrader.market import service as market
from cryptotrader.market.errors import NoCandles
from cryptotrader.market.schemas import Timeframe
from cryptotrader.strategies import service as strategies
from cryptotrader.web import charts
from cryptotrader.web.display import display_of
from cryptotrader.web.forms import FieldRefusal, go, invalid_form
from cryptotrader.web.render import page
from cryptotrader.web.session import CSRF_FIELD, SignedInForm, SignedInPage

router = APIRouter(include_in_schema=False)
CANDLES = 5000
RESULTS = 200
METRICS = ("sharpe_ratio", "total_return", "sortino_ratio", "calmar_ratio", "win_rate")


def _value(text: str, kind: str) -> int | float | str:
    """A form value as the parameter's JSON schema type says."""
    if kind == "integer":
        return int(text)
    if kind == "number":
        return float(text)
    return text


def _kind(schema: dict[str, Any]) -> str:
    if "type" in schema:
        return str(schema["type"])
    for option in schema.get("anyOf", []):
        if option.get("type") not in (None, "null"):
            return str(option["type"])
    return "string"


def spec_of(form: dict[str, str]) -> dict[str, Any]:
    """The API's BacktestCreate body from the form: each parameter ``p.<name>`` is one
    value, or (``sweep.<name>``) a comma-separated list to sweep."""
    name = form.get("strategy", "")
    schema = strategies.get_strategy(name).parameters.get("properties", {})
    params: dict[str, Any] = {}
    sweep: dict[str, list[Any]] = {}
    for key, prop in schema.items():
        kind = _kind(prop)
        try:
            swept = [s.strip() for s in form.get(f"sweep.{key}", "").split(",") if s.strip()]
            if swept:
                sweep[key] = [_value(s, kind) for s in swept]
            elif form.get(f"p.{key}", "").strip():
                params[key] = _value(form[f"p.{key}"].strip(), kind)
        except ValueError:
            raise FieldRefusal(
                422, "validation_error", "Invalid value", f"{key}: not a {kind}", f"p.{key}"
            ) from None
    body: dict[str, Any] = {
        "strategy": name,
        "symbol": form.get("symbol", ""),
        "timeframe": form.get("timeframe", "1h"),
        "parameters": params,
        "sweep": sweep or None,
        "rank_by": form.get("rank_by") or "sharpe_ratio",
    }
    if form.get("session_name", "").strip():
        body["session_name"] = form["session_name"].strip()
    capital = form.get("initial_capital", "").strip()
    if capital:
        body["config"] = {"initial_capital": capital}
    return body


@router.get("/backtests", response_class=HTMLResponse)
async def backtests_page(request: Request, viewer: SignedInPage) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        sessions = await backtests.list_session_page(conn, after=None, limit=50)
        prices = await market.list_prices(conn)
        display = await display_of(conn, prices)
    context = {
        "sessions": sessions,
        "strategies": strategies.list_strategies(),
        "symbols": sorted(p.symbol for p in prices),
        "metrics": METRICS,
    }
    return page(request, "backtests.html", context | display.context(), viewer=viewer)


@router.post("/backtests")
async def create(request: Request, viewer: SignedInForm) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    form.pop(CSRF_FIELD, None)
    async with viewer.caller.unit() as conn:
        try:
            body = spec_of(form)
            start, end = await backtests.resolve_range(
                conn,
                body["symbol"].upper(),
                body["timeframe"],
                datetime.fromisoformat(form["start"]) if form.get("start") else None,
                datetime.fromisoformat(form["end"]) if form.get("end") else None,
            )
            spec = BacktestCreate.model_validate(body | {"start": start, "end": end})
        except (ValidationError, ValueError) as exc:
            raise invalid_form(exc) from exc
        except NoCandles as exc:
            raise FieldRefusal.of(exc, "symbol", "No candles are stored for it.") from exc
        row = await backtests.create_backtest(
            conn, viewer.caller.actor, viewer.caller.user_id, spec.session_request()
        )
    return go(request, f"/backtests/{row['id']}")


async def _session_context(
    conn: Conn, session_id: UUID, x: str | None, y: str | None, metric: str
) -> dict[str, Any]:
    test = Backtest.model_validate(
        (row := await backtests.get_session(conn, session_id))
        | {"strategy": (row["backtest_config"] or {}).get("strategy")}
    )
    context: dict[str, Any] = {"test": test, "done": test.status == "completed"}
    if not context["done"]:
        return context
    swept = list((test.backtest_config.get("sweep") or {}).keys())
    rows = [
        BacktestResultRow.model_validate(r)
        for r in await backtests.session_results(conn, session_id, limit=RESULTS)
    ]
    x = x or (swept[0] if swept else None)
    y = y or (swept[1] if len(swept) > 1 else None)
    curve = [[at.isoformat(), str(v)] for at, v in test.equity_curve]
    context |= {
        "swept": swept,
        "results": rows if swept else [],
        "heatmap": heatmap([r.model_dump() for r in rows], x, y, metric) if x and y else None,
        "x": x,
        "y": y,
        "metric": metric,
        "equity": {"points": curve, "drawdown": _drawdown(test)},
        "candles": await _candles(conn, test),
    }
    return context


def _timeframe(text: str | None) -> Timeframe:
    return next((tf for tf in get_args(Timeframe) if tf == text), "1h")


def _drawdown(test: Backtest) -> list[list[str]]:
    falls = metrics.drawdown_series([v for _, v in test.equity_curve])
    times = [at.isoformat() for at, _ in test.equity_curve]
    return [[at, f"{fall:.6f}"] for at, fall in zip(times, falls, strict=True)]


async def _candles(conn: Conn, test: Backtest) -> dict[str, Any]:
    try:
        window = await market.list_candles(
            conn, test.symbol, _timeframe(test.timeframe), start=test.start_date, limit=CANDLES
        )
        bars = [b for b in window.items if b.open_time < test.end_date]
    except NoCandles:
        bars = []
    markers = []
    for t in test.trade_history:
        markers.append(
            charts.marker(t.entry_time, "buy", t.entry_price, f"Buy {t.quantity.normalize()}")
        )
        if t.closed:
            markers.append(
                charts.marker(t.exit_time, "sell", t.exit_price, f"Sell ({t.exit_reason})")
            )
    return charts.candles(test.symbol, bars, markers)


@router.get("/backtests/{session_id}", response_class=HTMLResponse)
async def session_page(
    request: Request,
    viewer: SignedInPage,
    session_id: UUID,
    x: Annotated[str | None, Query(max_length=64)] = None,
    y: Annotated[str | None, Query(max_length=64)] = None,
    metric: Annotated[str, Query(max_length=64)] = "sharpe_ratio",
) -> HTMLResponse:
    metric = metric if metric in METRICS else "sharpe_ratio"
    async with viewer.caller.unit() as conn:
        context = await _session_context(conn, session_id, x, y, metric)
        display = await display_of(conn)
    context["metrics"] = METRICS
    return page(request, "backtest.html", context | display.context(), viewer=viewer)


@router.get("/backtests/{session_id}/progress", response_class=HTMLResponse)
async def progress(request: Request, viewer: SignedInPage, session_id: UUID) -> Response:
    """The status fragment the page polls; once the run has ended, the page reloads."""
    async with viewer.caller.unit() as conn:
        row = await backtests.get_session(conn, session_id)
    if row["status"] in ("completed", "failed", "cancelled"):
        return Response(status_code=204, headers={"HX-Refresh": "true"})
    context = {"status": row["status"], "progress": row["progress"], "session_id": session_id}
    return page(request, "backtest_progress.html", context, viewer=viewer)
