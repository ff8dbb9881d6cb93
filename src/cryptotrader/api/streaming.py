"""Responses streamed from a unit of work that stays open until the last chunk is sent
(the trade CSV export of the API and of the dashboard)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack

from fastapi.responses import StreamingResponse

from cryptotrader.db.session import Conn


async def streamed_csv(
    unit: AbstractAsyncContextManager[Conn],
    produce: Callable[[Conn], AsyncIterator[str]],
    filename: str,
) -> StreamingResponse:
    """``produce(conn)``'s chunks as a CSV download. The query runs before the response
    starts, so a refusal is still an ordinary error response."""
    stack = AsyncExitStack()
    conn = await stack.enter_async_context(unit)
    chunks = produce(conn)
    try:
        first = await anext(chunks)
    except BaseException as exc:
        await stack.__aexit__(type(exc), exc, exc.__traceback__)
        raise

    async def body() -> AsyncIterator[str]:
        async with stack:
            yield first
            async for chunk in chunks:
                yield chunk

    return StreamingResponse(
        body(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
