"""Settings from environment variables and an optional ``.env`` file.

Every setting is an upper-case environment variable with the same name as the field. An invalid
value stops the program with one line per problem (``load_settings`` raises ``ConfigError``).
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from automechanica.errors import ConfigError
from automechanica.redaction import redact_url, register_secret

_SECRET_FIELDS = {"database_url", "openai_api_key", "anthropic_api_key", "admin_token"}


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("automechanica"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str | None = Field(
        None,
        description="a PostgreSQL URL like postgresql://user:pass@host:5432/db "
        "(unset: use the embedded server)",
    )
    automechanica_data_dir: Path = Field(
        default_factory=default_data_dir, description="a writable directory path"
    )
    host: str = Field("127.0.0.1", min_length=1, description="an interface address to bind")
    port: int = Field(3001, ge=1, le=65535, description="a TCP port, 1-65535")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="one of debug, info, warning, error"
    )
    log_format: Literal["json", "console"] = Field("json", description="json or console")

    db_pool_min: int = Field(2, ge=0, le=1000, description="an integer 0-1000")
    db_pool_max: int = Field(10, ge=1, le=1000, description="an integer 1-1000, >= DB_POOL_MIN")
    db_pool_timeout_ms: int = Field(5000, ge=1, description="milliseconds, an integer >= 1")
    db_connect_timeout_ms: int = Field(
        5000, ge=1000, description="milliseconds, an integer >= 1000"
    )
    db_statement_timeout_ms: int = Field(
        30000, ge=0, description="milliseconds, an integer >= 0 (0 = no limit)"
    )
    slow_query_threshold_ms: int = Field(300, ge=0, description="milliseconds, an integer >= 0")
    migrate_on_start: bool = Field(False, description="true or false")

    # The engine (queue, worker, maintenance).
    max_concurrent_tasks: int = Field(10, ge=1, le=10000, description="an integer 1-10000")
    task_poll_interval_ms: int = Field(1000, ge=10, description="milliseconds, >= 10")
    task_timeout_ms: int = Field(300000, ge=1, description="milliseconds, >= 1")
    task_retry_base_ms: int = Field(5000, ge=0, description="milliseconds, >= 0")
    task_lease_ms: int = Field(30000, ge=1000, description="milliseconds, >= 1000")
    task_retention_days: float = Field(7.0, gt=0, description="days, > 0")
    worker_drain_timeout_ms: int = Field(10000, ge=0, description="milliseconds, >= 0")
    agent_concurrency: dict[str, int] = Field(
        default_factory=dict,
        description='per-agent limits as JSON, e.g. {"diagnostician": 2}',
    )

    agent_modules: list[str] = Field(
        default_factory=list,
        description='extra modules exposing AGENTS (and WORKFLOWS) lists, as JSON: ["pkg.mod"]',
    )

    # The LLM router.
    llm_default_provider: Literal["local", "openai", "anthropic", "ollama"] = Field(
        "local", description="one of local, openai, anthropic, ollama"
    )
    llm_timeout_ms: int = Field(30000, ge=1, description="milliseconds, >= 1")
    llm_max_retries: int = Field(2, ge=0, le=10, description="an integer 0-10")
    llm_routes: dict[str, list[str]] | None = Field(
        None,
        description="task kinds to provider chains as JSON, e.g. "
        '{"default": ["openai:gpt-4o-mini", "local"]}',
    )
    llm_breaker_failures: int = Field(5, ge=1, le=1000, description="an integer 1-1000")
    llm_breaker_cooldown_ms: int = Field(30000, ge=100, description="milliseconds, >= 100")
    openai_api_key: str | None = Field(None, description="an OpenAI API key")
    openai_base_url: str = Field("https://api.openai.com/v1", description="a URL")
    anthropic_api_key: str | None = Field(None, description="an Anthropic API key")
    anthropic_base_url: str = Field("https://api.anthropic.com", description="a URL")
    ollama_base_url: str | None = Field(None, description="a URL like http://127.0.0.1:11434")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql:// or postgres://")
        return value

    @field_validator("db_pool_max")
    @classmethod
    def _check_pool_bounds(cls, value: int, info: Any) -> int:
        low = info.data.get("db_pool_min")
        if low is not None and value < low:
            raise ValueError(f"must be >= DB_POOL_MIN ({low})")
        return value

    def redacted(self) -> dict[str, Any]:
        """The effective settings with every secret masked, for `config show`."""
        out: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if name == "database_url" and value:
                value = redact_url(value)
            elif name in _SECRET_FIELDS and value:
                value = "***"
            elif isinstance(value, Path):
                value = str(value)
            out[name.upper()] = value
        return out


def _describe(errors: list[Any], raw_env: dict[str, Any]) -> list[str]:
    problems = []
    for err in errors:
        field = str(err["loc"][0]) if err["loc"] else "?"
        info = Settings.model_fields.get(field)
        expected = info.description if info and info.description else "a valid value"
        value = err.get("input")
        if field in _SECRET_FIELDS and isinstance(value, str):
            value = redact_url(value) if field == "database_url" else "***"
        msg = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"{field.upper()}={value!r}: {msg}; expected {expected}")
    return problems


def load_settings(**overrides: Any) -> Settings:
    """Read and validate settings; raise ``ConfigError`` with one line per problem."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors(), overrides)) from None
    for name in _SECRET_FIELDS - {"database_url"}:
        value = getattr(settings, name, None)
        if isinstance(value, str):
            register_secret(value)
    if settings.database_url:
        # Only the password is secret; the rest of the URL is what operators need to see.
        with contextlib.suppress(ValueError):
            register_secret(urlsplit(settings.database_url).password)
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
