"""Settings, read once from the environment and `.env` (prefix ``CRYPTOTRADER_``)."""

from __future__ import annotations

import json
import os
import secrets
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Every knob of the program. Unset values get safe local defaults."""

    model_config = SettingsConfigDict(
        env_prefix="CRYPTOTRADER_", env_file=".env", extra="ignore", populate_by_name=True
    )

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "CRYPTOTRADER_DATABASE_URL"),
        description="PostgreSQL 15+ to use; unset starts the embedded server in the data dir.",
    )
    data_dir: Path = Field(default=Path(".data"), description="Embedded database, secrets, logs.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 key; generated into the data dir on first run when unset."
    )
    access_token_minutes: int = Field(
        default=15, ge=1, le=1440, description="Lifetime of an access token (JWT)."
    )
    refresh_token_days: int = Field(
        default=30, ge=1, le=365, description="Lifetime of a refresh token; renewed by rotation."
    )
    login_max_attempts: int = Field(
        default=5, ge=1, description="Failed logins per email and IP before logins are refused."
    )
    login_window_seconds: int = Field(
        default=900, ge=1, description="Window over which failed logins are counted."
    )
    # argon2id's cost: RFC 9106's second recommended option (argon2-cffi's default). The
    # test suite lowers it so that its thousands of sign-ups cost microseconds; a hash made
    # with other parameters is re-hashed with these at its next sign-in.
    password_hash_time_cost: int = Field(
        default=3, ge=1, description="argon2id passes (RFC 9106: 3). Lower only in tests."
    )
    password_hash_memory_kib: int = Field(
        default=65536, ge=8, description="argon2id memory in KiB (RFC 9106: 64 MiB)."
    )
    password_hash_parallelism: int = Field(
        default=4, ge=1, le=255, description="argon2id lanes (RFC 9106: 4)."
    )
    log_level: LogLevel = "INFO"
    db_name: str = Field(
        default="cryptotrader", description="Database created on the embedded server."
    )
    app_role: str = Field(
        default="cryptotrader_app",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Login role the app connects as (not superuser, no BYPASSRLS, owns nothing).",
    )
    app_password: SecretStr | None = Field(
        default=None,
        description="Password of the app role; generated into the data dir when unset.",
    )
    analytics_shards: int = Field(
        default_factory=lambda: min(os.cpu_count() or 1, 8),
        ge=1,
        le=64,
        description="Parts of the daily analytics run, run at once (default: the cores, up to 8).",
    )
    leaderboard_min_days: int = Field(
        default=7,
        ge=0,
        le=3650,
        description="Days of public track a listed trader needs to appear on the leaderboard.",
    )
    leaderboard_min_trades: int = Field(
        default=5,
        ge=0,
        le=100_000,
        description="Round trips closed in the track a trader needs to appear on the leaderboard.",
    )
    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=16, ge=1)
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS (JSON list); none by default."
    )
    max_body_bytes: int = Field(default=1_000_000, ge=1024, description="Request body size limit.")
    run_workers: bool = Field(
        default=True, description="`serve` also runs the workers (market feed) in its process."
    )
    market_provider: Literal["simulated", "coingecko", "replay"] = Field(
        default="simulated", description="Where prices come from; simulated needs no network."
    )
    market_interval: float | None = Field(
        default=None,
        gt=0,
        description="Seconds between refreshes (default 1 simulated, 60 CoinGecko).",
    )
    market_seed: int = Field(default=42, description="Seed of the simulated feed.")
    usd_aud_rate: Decimal = Field(default=Decimal("1.4935"), gt=0)
    coingecko_api_key: SecretStr | None = None
    # LLM strategies (bots/llm.py): one OpenAI-compatible client per provider
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CRYPTOTRADER_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str = "https://api.openai.com/v1"
    deepseek_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("CRYPTOTRADER_DEEPSEEK_API_KEY", "DEEPSEEK_API_KEY"),
    )
    deepseek_base_url: str = "https://api.deepseek.com"
    ollama_base_url: str = "http://localhost:11434/v1"
    llm_timeout: float = Field(default=60.0, gt=0, description="Seconds an LLM call may take.")
    llm_concurrency: int = Field(default=32, ge=1, description="Calls at once per LLM provider.")
    bot_poll: float = Field(
        default=1.0, gt=0, le=60, description="Seconds between the bot runner's rounds."
    )
    bot_lateness: float = Field(
        default=300.0,
        gt=0,
        description="Seconds after a bar's close within which a bot may still decide on it "
        "(at most one bar); a bar missed for longer is not traded late.",
    )
    alert_poll: float = Field(
        default=0.2, gt=0, le=60, description="Seconds between the alert worker's idle rounds."
    )
    alert_stale: float = Field(
        default=120.0,
        gt=0,
        description="Seconds after which a price is stale: a stale price never fires an alert.",
    )
    copy_poll: float = Field(
        default=0.2, gt=0, le=60, description="Seconds between the copy worker's idle rounds."
    )
    copy_lease: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a copy worker holds a trader's event; after it another worker "
        "takes the event over (its placed copies replay, never trade twice).",
    )
    copy_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Batches of copies (50 orders each) a copy worker places at once.",
    )
    # webhooks' SSRF guard (webhooks/guard.py): which refused ranges deliveries may reach
    webhook_allow_private: bool = Field(
        default=False,
        description="Let webhooks reach private addresses (10/8, 192.168/16, ...) and loopback.",
    )
    webhook_allow_loopback: bool = Field(
        default=False, description="Let webhooks reach loopback addresses (tests only)."
    )
    coingecko_api_kind: Literal["demo", "pro"] = "demo"
    coingecko_base_url: str | None = None
    replay_timeframe: Literal["1m", "5m", "15m", "30m", "1h", "4h", "1d"] = "1m"
    replay_speed: float = Field(default=60.0, gt=0)
    replay_from: datetime | None = None
    # the live stream (stream/hub.py, stream/service.py)
    stream_heartbeat_interval: float = Field(
        default=15.0, gt=0, description="Seconds between the stream's heartbeats."
    )
    stream_queue_size: int = Field(
        default=1000, ge=1, description="Messages a client may fall behind before it is dropped."
    )
    stream_auth_timeout: float = Field(
        default=10.0, gt=0, description="Seconds the stream waits for an auth message."
    )
    stream_close_timeout: float = Field(
        default=10.0, gt=0, description="How long a close frame may wait on a client."
    )
    stream_max_symbols: int = Field(
        default=500, ge=1, description="Symbols one price filter of the stream may hold."
    )
    stream_reconnect_initial: float = Field(
        default=0.5, gt=0, description="The stream listener's first reconnect delay."
    )
    stream_reconnect_max: float = Field(
        default=30.0, gt=0, description="The stream listener's longest reconnect delay."
    )
    stream_poll_interval: float = Field(
        default=0.05, gt=0, description="Seconds between reads of the order/notification outbox."
    )

    @model_validator(mode="after")
    def _argon2_memory_covers_its_lanes(self) -> Settings:
        if self.password_hash_memory_kib < 8 * self.password_hash_parallelism:
            raise ValueError(
                "password_hash_memory_kib must be at least 8 KiB per lane"
                " (8 x password_hash_parallelism)"
            )
        return self

    @property
    def secrets_file(self) -> Path:
        return self.data_dir / "secrets.json"

    def resolved_jwt_secret(self) -> str:
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        return _stored_secret(self.secrets_file, "jwt_secret")

    def resolved_app_password(self) -> str:
        if self.app_password is not None:
            return self.app_password.get_secret_value()
        return _stored_secret(self.secrets_file, "app_password")


def _stored_secret(path: Path, name: str) -> str:
    """Read a generated secret from the data dir, creating it (mode 0600) the first time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if name not in stored:
        stored[name] = secrets.token_urlsafe(48)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh)
        tmp.replace(path)
    return stored[name]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
