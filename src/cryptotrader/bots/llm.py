"""One OpenAI-compatible chat-completions client for every LLM strategy: OpenAI, DeepSeek,
Ollama, at their configured base URLs (docs/bots.md).

A call asks for a typed decision (bots/schemas.py) with the strongest structured-output
mode the provider supports: ``json_schema`` strict on OpenAI and Ollama (a grammar there),
``json_object`` on DeepSeek; a provider that rejects the mode (400/422 naming
``response_format``) is asked again once with the next weaker one, down to the schema in
the prompt alone. The reply's content is read tolerantly: the reasoning of R1-style models
is taken from ``reasoning_content`` (DeepSeek), ``reasoning`` (Ollama) or a leading
``<think>`` block, code fences and prose around the JSON are stripped, and the first JSON
object is parsed and validated, against the strategy's allowed symbols too.

Nothing a provider sends becomes an exception or a guess: every call returns an
:class:`LLMReply`, a decision or an abstention whose :class:`Failure` says what to do next
(``invalid``: hold; ``transient``: later, after ``retry_after`` where the provider said;
``operational``: the bot cannot go on as configured), with the raw reply kept for the
journal. Each provider has its own concurrency limit.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx2
from pydantic import SecretStr, ValidationError

from cryptotrader.bots.decision import DECISION_SCHEMA, Decision, Failure, LLMReply
from cryptotrader.bots.errors import UnknownModel
from cryptotrader.config import Settings
from cryptotrader.retry_after import retry_after as http_retry_after

Mode = Literal["json_schema", "json_object", "prompt"]
WEAKER: dict[Mode, Mode | None] = {
    "json_schema": "json_object",
    "json_object": "prompt",
    "prompt": None,
}
_THINK = re.compile(r"^\s*<think>(.*?)</think>\s*", re.S)
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_TRY_AGAIN = re.compile(r"try again in (\d+(?:\.\d+)?)(ms|s)", re.I)


@dataclass(frozen=True, kw_only=True)
class Provider:
    """Where a provider is and how to ask it."""

    name: str
    base_url: str
    api_key: str | None
    mode: Mode
    concurrency: int = 8


@dataclass(frozen=True, kw_only=True)
class Prompt:
    """A rendered prompt and what its answer may contain."""

    system: str
    user: str
    allowed_symbols: Sequence[str]
    max_tokens: int = 800
    temperature: float = 0.2


# The strongest structured output each provider supports (Ollama maps json_schema to a
# grammar-constrained format).
MODES: dict[str, Mode] = {
    "openai": "json_schema",
    "deepseek": "json_object",
    "ollama": "json_schema",
}


def from_settings(settings: Settings) -> LLMClient:
    """The client of the configured providers (keys from the environment only; Ollama's
    is ignored, so none is sent)."""
    where: dict[str, tuple[str, SecretStr | None]] = {
        "openai": (settings.openai_base_url, settings.openai_api_key),
        "deepseek": (settings.deepseek_base_url, settings.deepseek_api_key),
        "ollama": (settings.ollama_base_url, None),
    }
    return LLMClient(
        providers={
            name: Provider(
                name=name,
                base_url=url,
                api_key=secret.get_secret_value() if secret is not None else None,
                mode=MODES[name],
                concurrency=settings.llm_concurrency,
            )
            for name, (url, secret) in where.items()
        },
        timeout=settings.llm_timeout,
    )


def route(model: str) -> tuple[str, str]:
    """(provider, the model's id there) for a strategy's model name. ``deepseek-r1`` is
    DeepSeek's ``deepseek-reasoner``; a ``name:tag`` is a local Ollama model."""
    if ":" in model:
        return "ollama", model
    if model == "deepseek-r1":
        return "deepseek", "deepseek-reasoner"
    if model.startswith("deepseek-"):
        return "deepseek", model
    if model.startswith(("gpt-", "o1", "o3", "o4")):
        return "openai", model
    raise UnknownModel(
        f"no provider serves the model {model!r}; known: gpt-*, o1/o3/o4*, deepseek-*, name:tag"
        " (Ollama)"
    )


def retry_after(headers: Mapping[str, str], message: str = "") -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date), else OpenAI's
    ``x-ratelimit-reset-*`` durations (``120ms``, ``1m30s``), else "try again in 125ms"."""
    said_header = http_retry_after(headers.get("retry-after"), datetime.now(UTC))
    if said_header is not None:
        return said_header
    resets = [
        _duration(headers[h])
        for h in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
        if h in headers
    ]
    if any(r is not None for r in resets):
        return max(r for r in resets if r is not None)
    said = _TRY_AGAIN.search(message)
    if said:
        return float(said.group(1)) / (1000 if said.group(2).lower() == "ms" else 1)
    return None


def _duration(text: str) -> float | None:
    parts = _DURATION.findall(text)
    if not parts:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[unit] for n, unit in parts)


def request_body(model: str, prompt: Prompt, mode: Mode) -> dict[str, Any]:
    """The chat-completions request for ``mode``. The schema is in the system prompt in
    every mode (the JSON-object modes need it, and the word "json", there)."""
    system = (
        f"{prompt.system}\n\nReply with one JSON object only, of this JSON Schema:\n"
        f"{json.dumps(DECISION_SCHEMA, separators=(',', ':'))}"
    )
    body: dict[str, Any] = {
        "model": model,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": prompt.user},
        ],
        "max_tokens": prompt.max_tokens,
        "temperature": prompt.temperature,
        "stream": False,
    }
    if mode == "json_schema":
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "trade_decision", "strict": True, "schema": DECISION_SCHEMA},
        }
    elif mode == "json_object":
        body["response_format"] = {"type": "json_object"}
    return body


def first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (a fenced block, or one amid prose), or None."""
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"\{", text)):
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


@dataclass(frozen=True, kw_only=True)
class _Answer:
    """What a 200 reply held."""

    content: str | None
    reasoning: str | None
    refusal: str | None
    finish_reason: str | None
    reported_model: str | None
    tokens_in: int
    tokens_out: int


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def read_answer(payload: dict[str, Any]) -> _Answer:
    """The parts of a chat-completion body that matter, whichever provider sent it (a part
    of the wrong shape reads as missing)."""
    choices = payload.get("choices")
    choice = _dict(choices[0]) if isinstance(choices, list) and choices else {}
    message = _dict(choice.get("message"))
    content = _str(message.get("content"))
    reasoning = _str(message.get("reasoning_content")) or _str(message.get("reasoning"))
    think = _THINK.match(content) if content is not None else None
    if content is not None and think:  # R1's chain of thought inline (older Ollama)
        reasoning = reasoning or think.group(1).strip()
        content = content[think.end() :]
    usage = _dict(payload.get("usage"))
    return _Answer(
        content=content,
        reasoning=reasoning,
        refusal=_str(message.get("refusal")),
        finish_reason=_str(choice.get("finish_reason")),
        reported_model=_str(payload.get("model")),
        tokens_in=_count(usage.get("prompt_tokens")),
        tokens_out=_count(usage.get("completion_tokens")),
    )


def judge(answer: _Answer, allowed: Sequence[str]) -> Decision | Failure:
    """The decision in a 200 reply, or why there is none (kind ``invalid``: hold)."""
    if answer.refusal:
        return Failure(kind="invalid", code="refusal", detail=answer.refusal)
    if not answer.content or not answer.content.strip():
        # DeepSeek's JSON mode "may occasionally return empty content": ask again later
        return Failure(kind="transient", code="empty_reply", detail="the reply had no content")
    found = first_json_object(answer.content)
    if found is None:
        code = "truncated" if answer.finish_reason == "length" else "invalid_json"
        return Failure(kind="invalid", code=code, detail="no JSON object in the reply")
    try:
        decision = Decision.model_validate(found)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "decision"
        return Failure(kind="invalid", code="invalid_decision", detail=f"{where}: {first['msg']}")
    if decision.action != "hold" and decision.symbol not in allowed:
        return Failure(
            kind="invalid",
            code="symbol_not_allowed",
            detail=f"{decision.symbol} is not among the bot's symbols ({', '.join(allowed)})",
        )
    return decision


def classify(status: int, body: Any, headers: Mapping[str, str]) -> Failure:
    """A provider's error reply, by what to do next (its documented meanings)."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message") or f"HTTP {status}")
    code = str(error.get("code") or "")
    if status == 429 and code == "insufficient_quota":
        return Failure(kind="operational", code="insufficient_balance", detail=message)
    if status == 429:
        wait = retry_after(headers, message)
        return Failure(kind="transient", code="rate_limited", detail=message, retry_after=wait)
    if status == 401 or status == 403:
        return Failure(kind="operational", code="auth_failed", detail=message)
    if status == 402:
        return Failure(kind="operational", code="insufficient_balance", detail=message)
    if status == 404:
        return Failure(kind="operational", code="model_not_found", detail=message)
    if status >= 500:
        wait = retry_after(headers, message)
        return Failure(
            kind="transient", code="provider_unavailable", detail=message, retry_after=wait
        )
    return Failure(kind="operational", code="bad_request", detail=message)


def _rejects_mode(failure: Failure) -> bool:
    """A 400/422 about the structured-output mode (DeepSeek's "This response_format type is
    unavailable now"), to be asked again with a weaker one."""
    text = failure.detail.lower()
    about_mode = "response_format" in text or "unavailable now" in text
    return failure.code == "bad_request" and about_mode


@dataclass
class LLMClient:
    """The providers by name, one HTTP client and a concurrency limit per provider."""

    providers: Mapping[str, Provider]
    timeout: float = 60.0
    client: httpx2.AsyncClient | None = None
    _limits: dict[str, asyncio.Semaphore] = field(default_factory=dict, init=False)
    _owns_client: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.client is None:
            self.client = httpx2.AsyncClient(timeout=self.timeout)
            self._owns_client = True
        self._limits = {n: asyncio.Semaphore(p.concurrency) for n, p in self.providers.items()}

    async def aclose(self) -> None:
        if self._owns_client and self.client is not None:
            await self.client.aclose()

    async def decide(self, model: str, prompt: Prompt) -> LLMReply:
        """Ask ``model`` for a decision; a decision or a recorded abstention, never raises
        for what a provider or a model does (an unknown model is UnknownModel)."""
        name, model_id = route(model)
        provider = self.providers.get(name)
        if provider is None:
            raise UnknownModel(f"the model {model!r} needs the {name} provider, which is not set")
        mode: Mode | None = provider.mode
        started = time.perf_counter()
        reply = None
        while mode is not None:
            async with self._limits[name]:
                reply = await self._call(provider, model_id, prompt, mode, started)
            if reply.failure is None or not _rejects_mode(reply.failure):
                break
            mode = WEAKER[mode]  # the provider refused the mode: ask once with a weaker one
        assert reply is not None
        return reply

    async def _call(
        self, provider: Provider, model: str, prompt: Prompt, mode: Mode, started: float
    ) -> LLMReply:
        def done(
            failure: Failure | None,
            decision: Decision | None = None,
            answer: _Answer | None = None,
            raw: str | None = None,
        ) -> LLMReply:
            return _record(provider, model, mode, started, failure, decision, answer, raw)

        sent = await self._post(provider, model, prompt, mode)
        if isinstance(sent, Failure):
            return done(sent)
        status, text, headers = sent
        try:  # DeepSeek under load sends blank lines before the body
            body = json.loads(text.strip()) if text.strip() else None
        except json.JSONDecodeError:
            body = None
        if status != 200:
            return done(classify(status, body, headers), raw=text)
        if not isinstance(body, dict):
            garbled = Failure(kind="transient", code="provider_unavailable", detail="not JSON")
            return done(garbled, raw=text)
        answer = read_answer(body)
        outcome = judge(answer, prompt.allowed_symbols)
        if isinstance(outcome, Failure):
            raw = answer.content if answer.content is not None else answer.refusal
            return done(outcome, answer=answer, raw=raw)
        return done(None, outcome, answer, answer.content)

    async def _post(
        self, provider: Provider, model: str, prompt: Prompt, mode: Mode
    ) -> tuple[int, str, Mapping[str, str]] | Failure:
        """The HTTP exchange: (status, body text, headers), or why there was none."""
        headers = {"Content-Type": "application/json"}
        if provider.api_key:
            headers["Authorization"] = f"Bearer {provider.api_key}"
        url = provider.base_url.rstrip("/") + "/chat/completions"
        assert self.client is not None
        try:
            response = await self.client.post(
                url, json=request_body(model, prompt, mode), headers=headers, timeout=self.timeout
            )
        except httpx2.TimeoutException:
            detail = f"no reply within {self.timeout:g} s"
            return Failure(kind="transient", code="timeout", detail=detail)
        except (httpx2.HTTPError, OSError) as exc:
            detail = str(exc) or type(exc).__name__
            return Failure(kind="transient", code="provider_unavailable", detail=detail)
        return response.status_code, response.text, response.headers


def _record(
    provider: Provider,
    model: str,
    mode: Mode,
    started: float,
    failure: Failure | None,
    decision: Decision | None,
    answer: _Answer | None,
    raw: str | None,
) -> LLMReply:
    return LLMReply(
        decision=decision,
        failure=failure,
        provider=provider.name,
        model=model,
        reported_model=answer.reported_model if answer else None,
        raw=raw,
        reasoning_text=answer.reasoning if answer else None,
        tokens_in=answer.tokens_in if answer else 0,
        tokens_out=answer.tokens_out if answer else 0,
        latency_ms=(time.perf_counter() - started) * 1000,
        response_mode=mode,
    )
