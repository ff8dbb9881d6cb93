"""The strategies by name: look one up, build it from raw parameters, list them all."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from cryptotrader.strategies.base import Strategy, StrategyParams
from cryptotrader.strategies.builtins import BUILTIN_STRATEGIES
from cryptotrader.strategies.errors import (
    InvalidStrategyParameters,
    StrategyNotFound,
    UnknownStrategy,
)
from cryptotrader.strategies.schemas import StrategyInfo

STRATEGIES: Mapping[str, type[Strategy[Any]]] = MappingProxyType(
    {cls.name: cls for cls in BUILTIN_STRATEGIES}
)

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


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
