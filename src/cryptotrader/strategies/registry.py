"""The strategies by name: look one up, build it from raw parameters, list them all."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from cryptotrader.strategies.base import Strategy, StrategyParams
from cryptotrader.strategies.builtins import BUILTIN_STRATEGIES
from cryptotrader.strategies.errors import (
    InvalidStrategyParameters,
    StrategyNotFound,
    UnknownStrategy,
)

STRATEGIES: Mapping[str, type[Strategy[Any]]] = MappingProxyType(
    {cls.name: cls for cls in BUILTIN_STRATEGIES}
)

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


EXAMPLE_STRATEGY: dict[str, Any] = {
    "name": "sma_crossover",
    "description": "Buy with all cash when the fast SMA crosses above the slow SMA; sell the"
    " whole position when it crosses below.",
    "version": 1,
    "api_version": 1,
    "signal_only": True,
    "default_warmup": 30,
    "parameters": {
        "additionalProperties": False,
        "properties": {
            "fast": {
                "default": 10,
                "description": "Fast SMA length in bars (1 = the close itself)",
                "maximum": 100000,
                "minimum": 1,
                "title": "Fast",
                "type": "integer",
            },
            "slow": {
                "default": 30,
                "description": "Slow SMA length in bars",
                "maximum": 100000,
                "minimum": 2,
                "title": "Slow",
                "type": "integer",
            },
        },
        "title": "SmaCrossoverParams",
        "type": "object",
    },
}


class StrategyInfo(BaseModel):
    """One strategy as listed by the CLI and the API."""

    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [EXAMPLE_STRATEGY]})

    name: str
    description: str
    version: int
    api_version: int
    signal_only: bool
    default_warmup: int
    """Bars of warm-up with the default parameters."""
    parameters: dict[str, Any]
    """JSON schema of the parameters, with their defaults."""


def get_strategy(name: str) -> type[Strategy[Any]]:
    """The strategy class called ``name``. Raises :class:`UnknownStrategy`."""
    try:
        return STRATEGIES[name]
    except KeyError:
        known = ", ".join(STRATEGIES)
        raise UnknownStrategy(f"Unknown strategy {name!r} (known: {known})") from None


def validate_parameters(name: str, params: Mapping[str, Any]) -> StrategyParams:
    """``params`` validated for strategy ``name``, defaults filled in. Raises
    :class:`UnknownStrategy` or :class:`InvalidStrategyParameters` (unknown keys,
    wrong types, values out of range, inconsistent values such as fast >= slow)."""
    cls = get_strategy(name)
    try:
        return cls.params_model.model_validate(dict(params))
    except ValidationError as exc:
        errors = [_error(e) for e in exc.errors(include_url=False, include_input=False)]
        listed = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise InvalidStrategyParameters(f"{name}: {listed}", errors) from None


def build_strategy(name: str, params: Mapping[str, Any]) -> Strategy[Any]:
    """Strategy ``name`` with ``params`` validated (see :func:`validate_parameters`)."""
    return get_strategy(name)(validate_parameters(name, params))


def describe() -> list[StrategyInfo]:
    """Every strategy: name, description, versions and the JSON schema of its parameters."""
    return [_info(cls) for cls in STRATEGIES.values()]


def describe_one(name: str) -> StrategyInfo:
    """Strategy ``name`` as :func:`describe` lists it. Raises :class:`StrategyNotFound`
    (a name looked up as a resource: 404, where a request naming it gets 422)."""
    cls = STRATEGIES.get(name)
    if cls is None:
        raise StrategyNotFound(f"no strategy named {name!r} (known: {', '.join(STRATEGIES)})")
    return _info(cls)


def _info(cls: type[Strategy[Any]]) -> StrategyInfo:
    return StrategyInfo(
        name=cls.name,
        description=cls.description,
        version=cls.version,
        api_version=cls.api_version,
        signal_only=cls.signal_only,
        default_warmup=cls(cls.params_model()).warmup(),
        parameters=cls.params_model.model_json_schema(),
    )


def parse_param_pairs(pairs: Iterable[str]) -> dict[str, Any]:
    """``["fast=10", "std_dev=2.5", "x=abc"]`` -> ``{"fast": 10, "std_dev": 2.5, "x": "abc"}``:
    integers and decimal numbers become int and float, anything else stays a string (the
    parameters model then validates it). Raises :class:`InvalidStrategyParameters` for a
    pair without ``=``, an empty key or a key given twice."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key:
            raise InvalidStrategyParameters(f"Expected key=value, got {pair!r}")
        if key in out:
            raise InvalidStrategyParameters(f"Parameter {key!r} is given twice")
        if _INT.fullmatch(raw):
            out[key] = int(raw)
        elif _FLOAT.fullmatch(raw):
            out[key] = float(raw)
        else:
            out[key] = raw
    return out


def _error(e: Mapping[str, Any]) -> dict[str, Any]:
    field = ".".join(str(part) for part in e["loc"]) or "parameters"
    message = str(e["msg"]).removeprefix("Value error, ")
    return {"field": field, "message": message}
