"""/backtests: thin HTTP over the backtest sessions service. A session is created pending
and run by the workers; its status and progress are read here while they do."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, status

from cryptotrader.api.deps import SignedIn
from cryptotrader.api.pagination import (
    Cursor,
    InvalidCursor,
    Limit,
    Page,
    decode_cursor,
    decode_key,
    page_by,
    page_of,
)
from cryptotrader.api.problems import responses
from cryptotrader.backtest import service
from cryptotrader.backtest.errors import InvalidSweep, SessionNotCancellable, SessionNotFound
from cryptotrader.backtest.schemas import (
    Backtest,
    BacktestCreate,
    BacktestResultRow,
    BacktestSummary,
)
from cryptotrader.errors import InvalidRequest, NotAuthenticated
from cryptotrader.strategies.errors import (
    InvalidStrategyParameters,
    StrategyNotFound,
    UnknownStrategy,
)

router = APIRouter(prefix="/backtests", tags=["backtests"])
ONE = responses(NotAuthenticated, SessionNotFound)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(
        NotAuthenticated,
        StrategyNotFound,
        UnknownStrategy,
        InvalidStrategyParameters,
        InvalidSweep,
        InvalidRequest,
    ),
    summary="Queue a backtest (or a parameter sweep) for the workers",
    description="The strategy, its parameters and the sweep are checked now: a bad request "
    "is refused and nothing is stored. The session is answered `pending` with `progress` "
    "0; poll `GET /backtests/{session_id}` for its progress and, once `completed`, results.",
)
async def create_backtest(caller: SignedIn, body: BacktestCreate) -> Backtest:
    async with caller.unit() as conn:
        request = body.session_request()
        row = await service.create_backtest(conn, caller.actor, caller.user_id, request)
        return Backtest.model_validate(row | {"strategy": body.strategy})


@router.get(
    "",
    responses=responses(NotAuthenticated, InvalidCursor),
    summary="Your backtests, newest first",
)
async def list_backtests(
    caller: SignedIn, cursor: Cursor = None, limit: Limit = 50
) -> Page[BacktestSummary]:
    async with caller.unit() as conn:
        rows = await service.list_session_page(conn, after=decode_cursor(cursor), limit=limit)
    return page_of([BacktestSummary.model_validate(r) for r in rows], limit)


@router.get("/{session_id}", responses=ONE, summary="One backtest: status, progress, results")
async def get_backtest(caller: SignedIn, session_id: UUID) -> Backtest:
    async with caller.unit() as conn:
        row = await service.get_session(conn, session_id)
    return _backtest(row)


@router.post(
    "/{session_id}/cancel",
    responses=responses(NotAuthenticated, SessionNotFound, SessionNotCancellable),
    summary="Cancel a pending or running backtest",
)
async def cancel_backtest(caller: SignedIn, session_id: UUID) -> Backtest:
    async with caller.unit() as conn:
        row = await service.cancel_backtest(conn, caller.actor, session_id)
    return _backtest(row)


@router.delete(
    "/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ONE,
    summary="Delete a backtest and its results",
)
async def delete_backtest(caller: SignedIn, session_id: UUID) -> None:
    async with caller.unit() as conn:
        await service.delete_backtest(conn, caller.actor, session_id)


@router.get(
    "/{session_id}/results",
    responses=responses(ONE, InvalidCursor),
    summary="A backtest's results, one per parameter set, best first",
)
async def list_backtest_results(
    caller: SignedIn, session_id: UUID, cursor: Cursor = None, limit: Limit = 100
) -> Page[BacktestResultRow]:
    async with caller.unit() as conn:
        rows = await service.session_results(
            conn, session_id, after=decode_key(cursor, int, UUID), limit=limit
        )
    items = [BacktestResultRow.model_validate(r) for r in rows]
    return page_by(items, limit, _result_key)


def _result_key(row: BacktestResultRow) -> tuple[int, UUID]:
    return (service.UNRANKED if row.rank is None else row.rank, row.id)


def _backtest(row: dict[str, Any]) -> Backtest:
    strategy = (row["backtest_config"] or {}).get("strategy")
    return Backtest.model_validate(row | {"strategy": strategy})
