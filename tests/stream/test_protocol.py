"""The stream's messages without a server: what parses, what each answer says, and the
bytes the server writes."""

from __future__ import annotations

import json

import pytest

from cryptotrader.stream.errors import BadMessage
from cryptotrader.stream.protocol import (
    Auth,
    Error,
    Ping,
    Pong,
    Ready,
    Subscribe,
    Unsubscribe,
    parse_client,
    parse_server,
    pong,
)
from cryptotrader.stream.schemas import OrderEvent, PricesEvent


def test_client_messages_parse_by_type() -> None:
    sub = parse_client('{"type":"subscribe","channels":["prices"],"symbols":[" btc","",""]}', 5)
    assert isinstance(sub, Subscribe)
    assert (sub.channels, sub.symbols) == ({"prices"}, {"BTC"})
    unsub = parse_client('{"type":"unsubscribe","extra":1}', 5)
    assert isinstance(unsub, Unsubscribe) and not unsub.channels and not unsub.symbols
    auth = parse_client('{"type":"auth","token":null}', 5)
    assert isinstance(auth, Auth) and auth.token == ""
    assert isinstance(parse_client('{"type":"ping"}', 5), Ping)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("not json", "messages must be JSON objects"),
        ("[1]", "messages must be JSON objects"),
        ("[" * 100_000, "messages must be JSON objects"),
        ('{"type":"dance"}', "unknown message type 'dance'"),
        ("{}", "unknown message type None"),
        ('{"type":"subscribe","channels":"prices"}', "channels must be a list of strings"),
        ('{"type":"subscribe","channels":["a","b","c","d"]}', "at most 3 channels"),
        (
            '{"type":"subscribe","channels":["gossip"],"symbols":7}',
            "unknown channels ['gossip']; known: ['notifications', 'orders', 'prices']",
        ),
        ('{"type":"subscribe","symbols":[1]}', "symbols must be a list of strings"),
        ('{"type":"subscribe","symbols":["A","B","C"]}', "at most 2 symbols"),
    ],
)
def test_bad_client_messages_say_why(raw: str, error: str) -> None:
    with pytest.raises(BadMessage) as bad:
        parse_client(raw, 2)
    assert str(bad.value) == error
    assert Error(error=str(bad.value)).text() == json.dumps(
        {"type": "error", "error": error}, separators=(",", ":")
    )


def test_server_messages_are_compact_json_with_their_type_first() -> None:
    ready = Ready(
        user_id="u", channels=["a"], heartbeat_interval=15, expires_at="2025-01-01T00:00:00Z"
    )
    assert ready.text() == (
        '{"type":"ready","user_id":"u","channels":["a"],"heartbeat_interval":15.0,'
        '"expires_at":"2025-01-01T00:00:00Z"}'
    )
    assert isinstance(parse_server(ready.text()), Ready)
    # a ping's id is echoed as it came, even null, however deep; no id, no id
    deep = "[" * 500 + "]" * 500
    for ping_id in ("7", "null", deep, '"é"'):
        ping = parse_client(f'{{"type":"ping","id":{ping_id}}}', 2)
        assert isinstance(ping, Ping)
        answer = json.loads(pong(ping))
        assert answer["type"] == "pong" and answer["id"] == json.loads(ping_id)
    assert "id" not in json.loads(pong(Ping(type="ping")))
    assert isinstance(parse_server(Pong(at="x").text()), Pong)


def test_events_write_decimals_like_rest_and_keep_unknown_fields() -> None:
    prices = PricesEvent.model_validate(
        {"type": "prices", "at": 1.5, "prices": {"BTC": ["1E-7", "x"], "ETH": 3}, "seq": 4}
    )
    assert json.loads(prices.text()) == {
        "type": "prices",
        "at": 1.5,
        "prices": {"BTC": ["0.0000001000", "x"], "ETH": 3},
        "seq": 4,
    }
    only = prices.only(frozenset({"ETH"}))
    assert only is not None and json.loads(only.text())["prices"] == {"ETH": 3}
    assert prices.only(frozenset({"DOGE"})) is None
    order = OrderEvent.model_validate(
        {"type": "order", "status": "pending", "amount": "0.01", "execution_price": "0"}
    )
    assert json.loads(order.text()) == {
        "type": "order",
        "status": "pending",
        "amount": "0.01000000",
        "execution_price": None,
    }
