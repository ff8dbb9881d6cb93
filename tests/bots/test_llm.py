"""The LLM client against a local stub speaking the chat-completions wire format of OpenAI,
DeepSeek and Ollama, with their real replies and errors (tests/fixtures/llm, from the
shared reference): every path gives a valid decision or a recorded abstention that says
what to do next, never an exception and never a decision from invalid output."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cryptotrader.bots.decision import LLMReply
from cryptotrader.bots.errors import UnknownModel
from cryptotrader.bots.llm import (
    MODES,
    LLMClient,
    Prompt,
    Provider,
    first_json_object,
    from_settings,
    retry_after,
    route,
)
from cryptotrader.config import Settings

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"
PROMPT = Prompt(
    system="You trade BTC and ETH.",
    user="BTC closes ... RSI 38. Decide.",
    allowed_symbols=["BTC", "ETH"],
)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def with_content(name: str, content: str | None, **message: Any) -> dict[str, Any]:
    body = fixture(name)
    body["choices"][0]["message"]["content"] = content
    body["choices"][0]["message"].update(message)
    return body


BUY = json.dumps(
    {
        "action": "buy",
        "symbol": "BTC",
        "size": 0.25,
        "order_type": "limit",
        "limit_price": 36800,
        "stop_loss": 35000,
        "take_profit": None,
        "confidence": 0.71,
        "reasoning": "bounce off support",
    }
)


def decision(**changes: Any) -> str:
    """A buy of 0.1 of the cap in BTC, with ``changes``."""
    fields = {"action": "buy", "symbol": "BTC", "size": 0.1, "confidence": 0.5, "reasoning": "x"}
    return json.dumps(fields | changes)


@dataclass
class Canned:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None  # sent as is instead of body


class StubLLM:
    """POST /chat/completions answering from a queue (the last answer repeats)."""

    def __init__(self) -> None:
        self.replies: list[Canned] = []
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = json.loads(self.rfile.read(length))
                with stub._lock:
                    stub.requests.append(({k.lower(): v for k, v in self.headers.items()}, request))
                    canned = stub.replies.pop(0) if len(stub.replies) > 1 else stub.replies[0]
                    stub.in_flight += 1
                    stub.most_in_flight = max(stub.most_in_flight, stub.in_flight)
                try:
                    time.sleep(canned.delay)
                    data = (
                        canned.raw if canned.raw is not None else json.dumps(canned.body).encode()
                    )
                    self.send_response(canned.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in canned.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with stub._lock:
                        stub.in_flight -= 1

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def answer(self, *replies: Canned) -> None:
        with self._lock:
            self.replies = list(replies)
            self.requests.clear()


@pytest.fixture
def stub() -> Iterator[StubLLM]:
    server = StubLLM()
    server._thread.start()
    yield server
    server._server.shutdown()
    server._server.server_close()


def client_for(stub: StubLLM, *, timeout: float = 5.0, concurrency: int = 8) -> LLMClient:
    keys = {"openai": "sk-test", "deepseek": "sk-ds", "ollama": None}
    return LLMClient(
        providers={
            name: Provider(
                name=name, base_url=stub.url, api_key=key, mode=MODES[name], concurrency=concurrency
            )
            for name, key in keys.items()
        },
        timeout=timeout,
    )


async def ask(stub: StubLLM, model: str, *replies: Canned, **kw: Any) -> LLMReply:
    stub.answer(*replies)
    client = client_for(stub, **kw)
    try:
        return await client.decide(model, PROMPT)
    finally:
        await client.aclose()


# ------------------------------------------------------------------ decisions


async def test_openai_structured_outputs_give_a_typed_decision(stub: StubLLM) -> None:
    reply = await ask(
        stub, "gpt-4o-mini", Canned(body=with_content("response_openai_gpt-4o-mini", BUY))
    )
    assert reply.failure is None and reply.decision is not None
    d = reply.decision
    assert (d.action, d.symbol, d.size, d.order_type, d.limit_price, d.stop_loss) == (
        "buy", "BTC", Decimal("0.25"), "limit", Decimal("36800"), Decimal("35000"),
    )  # fmt: skip
    assert (reply.tokens_in, reply.tokens_out, reply.reported_model) == (
        118,
        38,
        "gpt-4o-mini-2024-07-18",
    )
    headers, sent = stub.requests[0]
    assert headers["authorization"] == "Bearer sk-test"
    assert sent["model"] == "gpt-4o-mini" and sent["stream"] is False
    fmt = sent["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False and set(schema["required"]) == set(
        schema["properties"]
    )


async def test_deepseek_r1_is_the_reasoner_in_json_mode_with_its_reasoning_kept(
    stub: StubLLM,
) -> None:
    reply = await ask(stub, "deepseek-r1", Canned(body=fixture("response_deepseek_reasoner_json")))
    assert reply.decision is not None and reply.decision.action == "hold"
    assert reply.decision.confidence == 0.62 and "RSI 38" in reply.decision.reasoning
    assert reply.reasoning_text is not None and reply.reasoning_text.startswith("The closes fell")
    _, sent = stub.requests[0]
    assert sent["model"] == "deepseek-reasoner" and sent["response_format"] == {
        "type": "json_object"
    }
    assert "json" in sent["messages"][0]["content"].lower()  # JSON mode needs the word
    assert (reply.tokens_in, reply.tokens_out) == (121, 187)


async def test_ollama_reasoning_field_and_an_inline_think_block(stub: StubLLM) -> None:
    reply = await ask(stub, "deepseek-r1:8b", Canned(body=fixture("response_ollama_deepseek_r1")))
    assert (
        reply.decision is not None
        and reply.reasoning_text == "Closes trend down, RSI 38 is not oversold... hold."
    )
    assert stub.requests[0][1]["model"] == "deepseek-r1:8b"
    inline = with_content(
        "response_ollama_deepseek_r1", f"<think>\nweighing it up\n</think>\n\n{BUY}", reasoning=None
    )
    reply = await ask(stub, "deepseek-r1:8b", Canned(body=inline))
    assert reply.decision is not None and reply.decision.action == "buy"
    assert reply.reasoning_text == "weighing it up"


async def test_prose_and_fences_around_the_json_are_tolerated(stub: StubLLM) -> None:
    for content in (f"```json\n{BUY}\n```", f"Here is my decision: {BUY} Good luck!"):
        reply = await ask(
            stub,
            "deepseek-chat",
            Canned(body=with_content("response_deepseek_reasoner_json", content)),
        )
        assert reply.decision is not None and reply.decision.symbol == "BTC", content


async def test_a_rejected_mode_is_asked_again_once_with_a_weaker_one(stub: StubLLM) -> None:
    rejected = Canned(status=400, body=fixture("error_deepseek_400_json_schema"))
    reply = await ask(
        stub, "gpt-4o-mini", rejected, Canned(body=with_content("response_openai_gpt-4o-mini", BUY))
    )
    assert reply.decision is not None and reply.response_mode == "json_object"
    assert [r[1].get("response_format", {}).get("type") for r in stub.requests] == [
        "json_schema",
        "json_object",
    ]


# ------------------------------------------------------------------ abstentions


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("I think you should buy some bitcoin.", "invalid_json"),
        (
            decision(symbol="DOGE"),
            "symbol_not_allowed",
        ),
        (
            decision(size=1.5),
            "invalid_decision",
        ),
        (
            decision(confidence=1.7),
            "invalid_decision",
        ),
        (
            decision(action="short"),
            "invalid_decision",
        ),
        (
            decision(order_type="limit"),
            "invalid_decision",
        ),
        ('{"action": "buy", "confidence": 0.5, "reasoning": "which coin?"}', "invalid_decision"),
    ],
)
async def test_invalid_output_is_an_abstention_with_the_raw_reply(
    stub: StubLLM, content: str, code: str
) -> None:
    reply = await ask(
        stub, "gpt-4o-mini", Canned(body=with_content("response_openai_gpt-4o-mini", content))
    )
    assert reply.decision is None and reply.failure is not None
    assert (reply.failure.kind, reply.failure.code) == ("invalid", code)
    assert reply.raw == content


async def test_a_refusal_a_truncation_and_an_empty_reply(stub: StubLLM) -> None:
    reply = await ask(stub, "gpt-4o-mini", Canned(body=fixture("response_openai_refusal")))
    assert reply.failure is not None and (reply.failure.kind, reply.failure.code) == (
        "invalid",
        "refusal",
    )
    assert reply.raw == "I'm sorry, I can't help with that request."
    cut = with_content("response_openai_gpt-4o-mini", BUY[:40])
    cut["choices"][0]["finish_reason"] = "length"
    reply = await ask(stub, "gpt-4o-mini", Canned(body=cut))
    assert reply.failure is not None and reply.failure.code == "truncated"
    reply = await ask(
        stub, "deepseek-chat", Canned(body=with_content("response_deepseek_reasoner_json", ""))
    )
    assert reply.failure is not None and (reply.failure.kind, reply.failure.code) == (
        "transient",
        "empty_reply",
    )


@pytest.mark.parametrize(
    ("status", "name", "headers", "kind", "code", "wait"),
    [
        (401, "error_openai_401", {}, "operational", "auth_failed", None),
        (402, "error_deepseek_402", {}, "operational", "insufficient_balance", None),
        (
            429,
            "error_openai_429_insufficient_quota",
            {},
            "operational",
            "insufficient_balance",
            None,
        ),
        (
            429,
            "error_openai_429_rate_limit",
            {"Retry-After": "7"},
            "transient",
            "rate_limited",
            7.0,
        ),
        (
            429,
            "error_openai_429_rate_limit",
            {"x-ratelimit-reset-requests": "1m30s"},
            "transient",
            "rate_limited",
            90.0,
        ),
        (404, "error_ollama_404_model", {}, "operational", "model_not_found", None),
        (400, "error_openai_400_json_word", {}, "operational", "bad_request", None),
        (503, None, {}, "transient", "provider_unavailable", None),
        (500, None, {"Retry-After": "2"}, "transient", "provider_unavailable", 2.0),
    ],
)
async def test_provider_errors_by_what_to_do_next(
    stub: StubLLM,
    status: int,
    name: str | None,
    headers: dict[str, str],
    kind: str,
    code: str,
    wait: float | None,
) -> None:
    body = (
        fixture(name) if name else {"error": {"message": "Server overloaded", "type": "api_error"}}
    )
    reply = await ask(stub, "gpt-4o-mini", Canned(status=status, body=body, headers=headers))
    assert reply.decision is None and reply.failure is not None
    assert (reply.failure.kind, reply.failure.code, reply.failure.retry_after) == (kind, code, wait)
    assert reply.raw is not None and reply.failure.detail  # the body, and what it said


async def test_a_rate_limit_message_says_how_long_without_a_header(stub: StubLLM) -> None:
    reply = await ask(
        stub, "gpt-4o-mini", Canned(status=429, body=fixture("error_openai_429_rate_limit"))
    )
    assert reply.failure is not None and reply.failure.code == "rate_limited"
    assert reply.failure.retry_after is not None and 0 < reply.failure.retry_after < 60


async def test_a_timeout_and_a_garbled_body(stub: StubLLM) -> None:
    reply = await ask(stub, "gpt-4o-mini", Canned(body={}, delay=1.0), timeout=0.2)
    assert reply.failure is not None and (reply.failure.kind, reply.failure.code) == (
        "transient",
        "timeout",
    )
    reply = await ask(stub, "gpt-4o-mini", Canned(raw=b"<html>bad gateway</html>"))
    assert reply.failure is not None and reply.failure.code == "provider_unavailable"
    # DeepSeek under load: blank lines before the JSON body
    padded = b"\n\n\n" + json.dumps(with_content("response_deepseek_reasoner_json", BUY)).encode()
    reply = await ask(stub, "deepseek-chat", Canned(raw=padded))
    assert reply.decision is not None


@pytest.mark.parametrize(
    "body",
    [
        {"choices": "not a list"},
        {"choices": [], "usage": "none"},
        {"choices": [{"message": ["not", "a", "dict"]}]},
        {"choices": [{"message": {"content": 42}}], "usage": {"prompt_tokens": "many"}},
    ],
)
async def test_a_200_of_the_wrong_shape_is_an_abstention(stub: StubLLM, body: Any) -> None:
    reply = await ask(stub, "gpt-4o-mini", Canned(body=body))
    assert reply.decision is None and reply.failure is not None
    assert (reply.failure.kind, reply.failure.code) == ("transient", "empty_reply")
    assert (reply.tokens_in, reply.tokens_out) == (0, 0)


async def test_each_provider_has_its_concurrency_limit(stub: StubLLM) -> None:
    stub.answer(Canned(body=with_content("response_openai_gpt-4o-mini", BUY), delay=0.2))
    client = client_for(stub, concurrency=2)
    try:
        started = time.perf_counter()
        replies = await asyncio.gather(*(client.decide("gpt-4o-mini", PROMPT) for _ in range(6)))
        took = time.perf_counter() - started
    finally:
        await client.aclose()
    assert all(r.decision is not None for r in replies)
    assert stub.most_in_flight == 2 and took >= 0.55  # three rounds of two


# ------------------------------------------------------------------ the pieces


def test_models_route_to_their_providers() -> None:
    assert route("gpt-4o-mini") == ("openai", "gpt-4o-mini")
    assert route("deepseek-r1") == ("deepseek", "deepseek-reasoner")
    assert route("deepseek-chat") == ("deepseek", "deepseek-chat")
    assert route("deepseek-r1:8b") == ("ollama", "deepseek-r1:8b")
    assert route("qwen3:8b") == ("ollama", "qwen3:8b")
    with pytest.raises(UnknownModel):
        route("claude-9")


def test_retry_after_and_first_json_object() -> None:
    assert retry_after({"retry-after": "3"}) == 3.0
    assert (
        retry_after({"x-ratelimit-reset-tokens": "120ms", "x-ratelimit-reset-requests": "20s"})
        == 20.0
    )
    assert retry_after({}, "Please try again in 125ms.") == 0.125
    assert retry_after({}) is None
    assert first_json_object('noise {"a": 1} {"b": 2}') == {"a": 1}
    assert first_json_object('{not json} then {"ok": true}') == {"ok": True}
    assert first_json_object("[1, 2]") is None


async def test_the_client_from_settings_takes_keys_from_the_environment(
    stub: StubLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("CRYPTOTRADER_DEEPSEEK_API_KEY", "sk-ds-env")
    settings = Settings(openai_base_url=stub.url, deepseek_base_url=stub.url, llm_concurrency=3)
    client = from_settings(settings)
    stub.answer(Canned(body=with_content("response_openai_gpt-4o-mini", BUY)))
    try:
        assert (await client.decide("gpt-4o-mini", PROMPT)).decision is not None
        assert (await client.decide("deepseek-chat", PROMPT)).decision is not None
    finally:
        await client.aclose()
    keys = [headers["authorization"] for headers, _ in stub.requests]
    assert keys == ["Bearer sk-from-env", "Bearer sk-ds-env"]
    assert "sk-from-env" not in repr(settings)  # a secret, not printed
