"""Errors of the bots and their strategies."""

from __future__ import annotations

from cryptotrader.errors import InvalidRequest


class UnknownModel(InvalidRequest):
    """A strategy names a model no configured provider serves."""

    code = "unknown_model"
    title = "Unknown model"
    example_detail = (
        "no provider serves the model 'gpt-9'; known: gpt-*, deepseek-*, name:tag (Ollama)"
    )
