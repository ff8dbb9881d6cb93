"""``GET /api/v1/stream``: the live stream's websocket, thin over the stream service (the
protocol: protocol.py)."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from cryptotrader.stream import service
from cryptotrader.stream.errors import Unauthorized
from cryptotrader.stream.hub import Client, StreamHub
from cryptotrader.stream.protocol import CLOSE_INTERNAL_ERROR, CLOSE_UNAUTHORIZED

router = APIRouter(tags=["stream"])


@router.websocket("/stream", name="stream")
async def stream(websocket: WebSocket) -> None:
    """The live stream: prices, the caller's own orders and notifications."""
    await websocket.accept()
    hub: StreamHub | None = getattr(websocket.app.state, "stream_hub", None)
    if hub is None:
        await websocket.close(CLOSE_INTERNAL_ERROR, "the stream is not running")
        return
    secret: str = websocket.app.state.jwt_secret
    try:
        claims = await service.authenticate(websocket, secret, hub.settings)
    except WebSocketDisconnect:
        return
    except Unauthorized as exc:
        await websocket.close(CLOSE_UNAUTHORIZED, str(exc))
        return
    client = Client(str(claims["sub"]), float(claims["exp"]), hub.settings.stream_queue_size)
    try:
        await websocket.send_text(service.ready(client, hub.settings))
    except WebSocketDisconnect:
        return
    await service.converse(websocket, hub, client, secret)
