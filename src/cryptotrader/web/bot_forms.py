"""The bots pages' forms as the bots service's models: a bot (a rule strategy with its
``key=value`` parameters, or an LLM bot with its AI strategy), a new AI strategy and the
changes to one (its indicators comma-separated), a prompt to preview (the editor's text
on the symbols and timeframe given); and the service's refusals at the field each
concerns."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from pydantic import ValidationError

from cryptotrader.bots.schemas import (
    LLM,
    AIStrategyCreate,
    AIStrategyUpdate,
    BotCreate,
    PromptPreviewRequest,
)
from cryptotrader.errors import DomainError
from cryptotrader.strategies.errors import InvalidStrategyParameters
from cryptotrader.strategies.registry import parse_param_pairs
from cryptotrader.web.forms import FieldRefusal, invalid_form
from cryptotrader.web.session import CSRF_FIELD

SEPARATORS = re.compile(r"[\s,;]+")
PAIRS = re.compile(r"[\n,;]+")
OPTIONAL_AMOUNTS = ("paper_balance", "max_position_size", "daily_budget_usd")
# the service's refusal codes: the field of the bot form each concerns, and what it means
BOT_REFUSALS: dict[str, tuple[str, str | None]] = {
    "unknown_symbol": ("target_symbols", "No prices are tracked for this coin here."),
    "account_not_found": ("account_id", "There is no such account of yours."),
    "ai_strategy_not_found": ("strategy_id", "There is no such AI strategy of yours."),
    "unknown_model": ("strategy_id", "The AI strategy's model is served by no provider."),
    "unknown_strategy": ("strategy", None),
    "invalid_strategy_parameters": ("parameters", None),
    "invalid_bot_config": ("parameters", None),
}
STRATEGY_REFUSALS: dict[str, tuple[str, str | None]] = {
    "unknown_model": ("model", "No provider serves this model."),
    "unknown_indicator": ("indicators", None),
    "invalid_bot_config": ("_form", None),
}
PREVIEW_REFUSALS: dict[str, tuple[str, str | None]] = {
    "unknown_symbol": ("preview_symbols", "No prices are tracked for this coin here."),
    "unknown_indicator": ("indicators", None),
}
# a preview request's fields, as the strategy page's form names them
PREVIEW_FIELDS = {"symbols": "preview_symbols", "timeframe": "preview_timeframe"}
LLM_PARAMETERS = ("temperature", "max_tokens")


async def form_of(request: Request) -> dict[str, str]:
    """A posted form's text fields, without its CSRF token."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    form.pop(CSRF_FIELD, None)
    return form


def words(text: str) -> list[str]:
    """``"BTC, eth  SOL"`` -> ``["BTC", "eth", "SOL"]``."""
    return [w for w in SEPARATORS.split(text) if w]


def parameters_of(text: str) -> dict[str, Any]:
    """A rule strategy's parameters from ``key=value`` pairs, one a line or
    comma-separated (numbers become numbers). Raises a refusal at ``parameters``."""
    pairs = [p.strip() for p in PAIRS.split(text) if p.strip()]
    try:
        return parse_param_pairs(pairs)
    except InvalidStrategyParameters as exc:
        raise FieldRefusal.of(exc, "parameters") from exc


def bot_create(form: dict[str, str]) -> BotCreate:
    """The bot the form describes. A rule bot's parameters come from its text; an LLM
    bot's from its AI strategy (a field of the other kind, sent without the page's
    script, is ignored). Raises a refusal at the field a value is wrong in."""
    strategy = form.get("strategy", "").strip()
    body: dict[str, Any] = {
        "name": form.get("name", ""),
        "account_id": form.get("account_id", "").strip() or None,
        "strategy": strategy,
        "target_symbols": words(form.get("target_symbols", "")),
        "config": {"timeframe": form.get("timeframe", "").strip() or "1h"},
    }
    for name in OPTIONAL_AMOUNTS:
        if form.get(name, "").strip():
            body[name] = form[name].strip()
    if strategy == LLM:
        body["strategy_id"] = form.get("strategy_id", "").strip() or None
    else:
        body["config"]["parameters"] = parameters_of(form.get("parameters", ""))
    try:
        return BotCreate.model_validate(body)
    except ValidationError as exc:
        raise invalid_form(exc) from exc


def ai_strategy_create(form: dict[str, str]) -> AIStrategyCreate:
    """The AI strategy the form describes (its indicators comma-separated)."""
    body: dict[str, Any] = {
        "name": form.get("name", ""),
        "model": form.get("model", "").strip() or "gpt-4o-mini",
        "prompt": form.get("prompt", ""),
        "indicators": words(form.get("indicators", "").lower()),
    }
    try:
        return AIStrategyCreate.model_validate(body)
    except ValidationError as exc:
        raise invalid_form(exc) from exc


def bot_refusal(error: DomainError, strategy: str) -> FieldRefusal:
    """The service's refusal of a new bot at the form's field it concerns (an LLM bot's
    configuration is its AI strategy's)."""
    field, sentence = BOT_REFUSALS.get(error.code, ("_form", None))
    if strategy == LLM and field == "parameters":
        field = "strategy_id"
    return FieldRefusal.of(error, field, sentence)


def strategy_refusal(error: DomainError) -> FieldRefusal:
    field, sentence = STRATEGY_REFUSALS.get(error.code, ("_form", None))
    return FieldRefusal.of(error, field, sentence)


def ai_strategy_update(form: dict[str, str]) -> AIStrategyUpdate:
    """The strategy page's editor as the changes to save: its name, model, prompt,
    indicators and parameters (an empty parameter is its default)."""
    parameters = {k: form[k].strip() for k in LLM_PARAMETERS if form.get(k, "").strip()}
    body: dict[str, Any] = {
        "name": form.get("name", ""),
        "model": form.get("model", ""),
        "prompt": form.get("prompt", ""),
        "indicators": words(form.get("indicators", "").lower()),
        "parameters": parameters,
    }
    try:
        return AIStrategyUpdate.model_validate(body)
    except ValidationError as exc:
        raise invalid_form(exc) from exc


def preview_request(form: dict[str, str]) -> PromptPreviewRequest:
    """The editor's prompt and indicators (saved or not) on the preview's symbols and
    timeframe."""
    body: dict[str, Any] = {
        "prompt": form.get("prompt", ""),
        "indicators": words(form.get("indicators", "").lower()),
        "symbols": words(form.get("preview_symbols", "")),
        "timeframe": form.get("preview_timeframe", "").strip() or "1h",
    }
    try:
        return PromptPreviewRequest.model_validate(body)
    except ValidationError as exc:
        refusal = invalid_form(exc)
        refusal.field = PREVIEW_FIELDS.get(refusal.field, refusal.field)
        raise refusal from exc


def preview_refusal(error: DomainError) -> FieldRefusal:
    field, sentence = PREVIEW_REFUSALS.get(error.code, ("_form", None))
    return FieldRefusal.of(error, field, sentence)
