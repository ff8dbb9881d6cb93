"""The live stream: ``GET /api/v1/stream``, a websocket of prices, the caller's own orders
and notifications (protocol.py says what goes over it, hub.py how events reach it)."""
