"""Errors of the bots and their strategies."""

from __future__ import annotations

from cryptotrader.errors import Conflict, InvalidRequest, NotFound


class UnknownModel(InvalidRequest):
    """A strategy names a model no configured provider serves."""

    code = "unknown_model"
    title = "Unknown model"
    example_detail = (
        "no provider serves the model 'gpt-9'; known: gpt-*, deepseek-*, name:tag (Ollama)"
    )


class UnknownIndicator(InvalidRequest):
    """A strategy names an indicator we do not compute, or gives it bad parameters."""

    code = "unknown_indicator"
    title = "Unknown indicator"
    example_detail = "no indicator 'ichimoku'; known: atr, bollinger, ema, macd, rsi, sma, vwap"


class AIStrategyNotFound(NotFound):
    code = "ai_strategy_not_found"
    title = "AI strategy not found"


class InvalidBotTransition(Conflict):
    """A lifecycle step the bot's state does not allow (paused -> active -> paused |
    stopped; a stopped bot stays stopped)."""

    code = "invalid_bot_transition"
    title = "The bot cannot make that change of state"
    example_detail = "the bot is stopped; a stopped bot stays stopped"


class BotStopped(Conflict):
    code = "bot_stopped"
    title = "The bot is stopped"
    example_detail = "a stopped bot stays stopped"


class InvalidBotConfig(InvalidRequest):
    """A bot's strategy, parameters, timeframe or symbols do not fit together."""

    code = "invalid_bot_config"
    title = "Invalid bot configuration"
    example_detail = "an LLM bot needs strategy_id, the AI strategy it runs"


class AIStrategyInUse(Conflict):
    code = "ai_strategy_in_use"
    title = "The AI strategy is in use"
    example_detail = "2 bot(s) run this strategy; stop or delete them first"
