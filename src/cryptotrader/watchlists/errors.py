"""Errors of watchlists (an unknown symbol is the shared UnknownSymbol)."""

from __future__ import annotations

from cryptotrader.errors import Conflict, NotFound


class WatchlistNotFound(NotFound):
    code = "watchlist_not_found"
    title = "Watchlist not found"


class WatchlistNameTaken(Conflict):
    code = "watchlist_name_taken"
    title = "You already have a watchlist with this name"
    example_detail = "you already have a watchlist named 'Majors'"


class WatchlistFull(Conflict):
    code = "watchlist_full"
    title = "Watchlist is full"
    example_detail = "a watchlist holds at most 500 symbols"
