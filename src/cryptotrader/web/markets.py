"""Markets: the cached prices (USD or AUD, 24h change, age of the quote), the watchlists,
and a page per symbol with its candle chart (volume, timeframes, the viewer's own fills
as markers, their active price alerts as lines; a click on a price level makes an alert
there, through the alerts service) and the order ticket."""

from __future__ import annotations

from typing import Annotated, Literal, get_args
from uuid import UUID

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from cryptotrader.accounts import service as accounts
from cryptotrader.alerts import service as alerts
from cryptotrader.alerts.errors import AlertTargetNotFound
from cryptotrader.alerts.schemas import Alert
from cryptotrader.market import service as market
from cryptotrader.market.errors import NoCandles
from cryptotrader.market.schemas import TIMEFRAME_SECONDS, Timeframe
from cryptotrader.notifications import service as notifications
from cryptotrader.trading import service as trading
from cryptotrader.trading.schemas import OrderFilter
from cryptotrader.watchlists import service as watchlists
from cryptotrader.watchlists.schemas import WatchlistCreate
from cryptotrader.web import charts
from cryptotrader.web.alerts import alert_form
from cryptotrader.web.display import display_of
from cryptotrader.web.forms import FieldRefusal, go, invalid_form, is_htmx
from cryptotrader.web.render import page, price
from cryptotrader.web.session import SignedInForm, SignedInPage

router = APIRouter(include_in_schema=False)
TIMEFRAMES: tuple[str, ...] = get_args(Timeframe)
CHART_BARS = 2000
MARKERS = 500
ALERT_LINES = 50
CONDITION_WORDS = {
    "crosses_above": "crosses above",
    "crosses_below": "crosses below",
    "above": "is above",
    "below": "is below",
}


@router.get("/markets", response_class=HTMLResponse)
async def markets_page(request: Request, viewer: SignedInPage) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        prices = await market.list_prices(conn)
        lists = await watchlists.list_watchlists(conn)
        display = await display_of(conn, prices)
    context = {
        "prices": prices,
        "watchlists": lists,
        "stream_symbols": ",".join(p.symbol for p in prices[:50]),
    }
    return page(request, "markets.html", context | display.context(), viewer=viewer)


@router.get("/markets/{symbol}", response_class=HTMLResponse)
async def symbol_page(
    request: Request,
    viewer: SignedInPage,
    symbol: Annotated[str, Path(max_length=15)],
    timeframe: Timeframe = "1h",
) -> HTMLResponse:
    async with viewer.caller.unit() as conn:
        quote = await market.get_price(conn, symbol.upper())
        prices = await market.list_prices(conn)
        mine = await accounts.list_accounts(conn)
        display = await display_of(conn, prices)
        unread = await notifications.unread_count(conn)
    context = {
        "unread_count": unread,
        "quote": quote,
        "timeframe": timeframe,
        "timeframes": TIMEFRAMES,
        "timeframe_seconds": TIMEFRAME_SECONDS[timeframe],
        "ticket_symbols": [p.symbol for p in prices],
        "ticket_symbol": quote.symbol,
        "ticket_accounts": [a for a in mine if a.status == "active"],
        "stream_symbols": quote.symbol,
    }
    return page(request, "market.html", context | display.context(), viewer=viewer)


@router.get("/markets/{symbol}/candles.json")
async def candles_json(
    viewer: SignedInPage, symbol: Annotated[str, Path(max_length=15)], timeframe: Timeframe = "1h"
) -> JSONResponse:
    """The chart's data: the newest bars of ``timeframe`` (market service) and the viewer's
    own fills of this symbol (trading service) as markers."""
    async with viewer.caller.unit() as conn:
        try:
            window = await market.list_candles(conn, symbol.upper(), timeframe, limit=CHART_BARS)
            bars = window.items
        except NoCandles:
            bars = []
        fills = await trading.list_orders(
            conn, OrderFilter(status="completed", symbol=symbol.upper()), limit=MARKERS
        )
    fill_markers = [
        charts.marker(
            f.filled_at or f.created_at,
            f.side,
            f.execution_price or f.price,
            f"{'Buy' if f.side == 'buy' else 'Sell'} {f.amount.normalize()}",
        )
        for f in fills
    ]
    body = charts.candles(symbol.upper(), bars, fill_markers, timeframe=timeframe)
    return JSONResponse(body)


@router.post("/watchlists")
async def create_watchlist(
    request: Request,
    viewer: SignedInForm,
    name: Annotated[str, Form(max_length=200)] = "",
    symbols: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        data = WatchlistCreate.model_validate(
            {"name": name.strip(), "symbols": [s for s in symbols.replace(",", " ").split() if s]}
        )
    except ValidationError as exc:
        raise invalid_form(exc) from exc
    async with viewer.caller.unit() as conn:
        await watchlists.create_watchlist(conn, viewer.caller.actor, data)
    return go(request, "/markets")


@router.post("/watchlists/{watchlist_id}/symbols")
async def add_symbol(
    request: Request,
    viewer: SignedInForm,
    watchlist_id: UUID,
    symbol: Annotated[str, Form(min_length=1, max_length=15)],
) -> Response:
    async with viewer.caller.unit() as conn:
        await watchlists.add_symbol(conn, viewer.caller.actor, watchlist_id, symbol.strip())
    return go(request, "/markets")


@router.post("/watchlists/{watchlist_id}/symbols/{symbol}/remove")
async def remove_symbol(
    request: Request, viewer: SignedInForm, watchlist_id: UUID, symbol: str
) -> Response:
    async with viewer.caller.unit() as conn:
        await watchlists.remove_symbol(conn, viewer.caller.actor, watchlist_id, symbol)
    return go(request, "/markets")


def _line(alert: Alert) -> dict[str, str]:
    words = CONDITION_WORDS.get(alert.condition, alert.condition.replace("_", " "))
    return {"id": str(alert.id), "price": str(alert.value), "title": f"Alert: {words}"}


@router.get("/markets/{symbol}/alert-lines.json")
async def alert_lines(
    viewer: SignedInPage, symbol: Annotated[str, Path(max_length=15)]
) -> JSONResponse:
    """The chart's lines: the viewer's active price alerts on this symbol (crossings and
    levels; a move in percent has no level to draw)."""
    async with viewer.caller.unit() as conn:
        mine = await alerts.list_alerts(
            conn, status="active", alert_type="price", symbol=symbol.upper(), limit=ALERT_LINES
        )
    lines = [_line(a) for a in mine if a.condition in CONDITION_WORDS and a.value is not None]
    return JSONResponse({"symbol": symbol.upper(), "lines": lines})


@router.post("/markets/{symbol}/alerts")
async def create_alert(
    request: Request,
    viewer: SignedInForm,
    symbol: Annotated[str, Path(max_length=15)],
    condition: Annotated[Literal["crosses_above", "crosses_below", "above", "below"], Form()],
    value: Annotated[str, Form(max_length=40)],
    frequency: Annotated[str, Form(max_length=20)] = "once",
    expires_in: Annotated[str, Form(max_length=5)] = "",
    account_id: Annotated[str, Form(max_length=36)] = "",
) -> Response:
    """An alert at the level clicked on the chart (alerts.service.create_alert: the one
    path, audited); the chart re-reads its lines (ct-alerts-changed)."""
    fields = {"type": "price", "symbol": symbol.upper(), "condition": condition}
    fields |= {"value": value.replace(",", ""), "frequency": frequency, "account_id": account_id}
    data = alert_form(fields, expires_in)
    async with viewer.caller.unit() as conn:
        await market.get_price(conn, data.symbol)  # a symbol we quote (else unknown_symbol)
        try:
            made = await alerts.create_alert(conn, viewer.caller.actor, data)
        except AlertTargetNotFound as exc:
            raise FieldRefusal.of(exc, "account_id", "That account is not one of yours.") from exc
    if not is_htmx(request):
        return go(request, f"/markets/{data.symbol}")
    context = {"alert": made, "words": CONDITION_WORDS[made.condition], "level": price(made.value)}
    response = page(request, "_chart_alert_done.html", context, viewer=viewer)
    response.headers["HX-Trigger"] = "ct-alerts-changed"
    return response
