"""Settings from the environment (and an optional `.env`), validated once at start-up.

The names, types and defaults are the Epic 1 spec's; where a Node-only variable needed a Python
meaning, the field's description says what it is here (see also README "Configuration").
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AnyHttpUrl,
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"
    TEST = "test"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


# What each variable expects, in words: the error line for a bad value ends with this.
EXPECTED: dict[str, str] = {
    "NODE_ENV": "one of development, production, test",
    "DATABASE_URL": "a postgresql:// or postgres:// URL (unset outside production: embedded PostgreSQL)",
    "NZTAB_API_URL": "an http(s) URL such as https://api.tab.co.nz",
    "NZTAB_API_KEY": "the partner ID Entain issued, or unset",
    "NZTAB_FROM_EMAIL": "a contact e-mail address sent as the From header",
    "NZTAB_PARTNER_NAME": "a non-empty partner name sent as the X-Partner header",
    "PORT": "a positive integer (TCP port)",
    "HOST": "an address to listen on, e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)",
    "LOG_LEVEL": "one of debug, info, warn, error",
    "UV_THREADPOOL_SIZE": "a positive integer",
    "MAX_WORKER_THREADS": "a positive integer",
    "DB_POOL_MAX": "a positive integer, at least 2 (the pool keeps 2 connections warm)",
    "RACEDAY_DATA_DIR": "a directory path",
    "TRACKED_COUNTRIES": "comma-separated NZ TAB country codes, e.g. NZ,AUS",
    "TRACKED_CATEGORIES": "comma-separated categories from T, H, G",
    "POLL_CONCURRENCY": "a positive integer (races processed at once)",
    "RETENTION_DAYS": "a positive integer (days of history partitions kept attached)",
    "ARCHIVE_DIR": "a directory path (where expired partitions are archived)",
    "SIMULATOR_SEED": "an integer",
    "SIMULATOR_SPEED": "a positive number (1 = real time)",
    "CORS_ORIGINS": "comma-separated origins such as https://app.example.com, or *",
    "API_HISTORY_LIMIT": "a positive integer up to 1000 (history rows per entrant)",
}

NonEmpty = Annotated[str, Field(min_length=1)]


class Settings(BaseSettings):
    """The service's whole configuration; see `.env.example`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        # docker compose passes `${VAR:-}` as an empty string: empty means unset, so the default applies.
        env_ignore_empty=True,
    )

    node_env: Environment = Environment.DEVELOPMENT
    database_url: SecretStr | None = Field(
        default=None,
        description="Unset outside production: raceday starts its own embedded PostgreSQL 18.",
    )
    nztab_api_url: AnyHttpUrl | None = Field(
        default=None,
        description="Base URL without /affiliates/v1; unset outside production: the built-in simulator.",
    )
    nztab_api_key: SecretStr | None = Field(
        default=None,
        description="Entain's partner ID, sent as X-Partner-ID; the API has no other credential.",
    )
    nztab_from_email: NonEmpty = "raceday@example.invalid"
    nztab_partner_name: NonEmpty = "raceday"
    port: PositiveInt = 3000
    host: NonEmpty = Field(
        default="127.0.0.1",
        description="Listen address: this machine only by default; 0.0.0.0 in a container (compose sets it).",
    )
    log_level: LogLevel = LogLevel.INFO
    uv_threadpool_size: PositiveInt = Field(
        default=8, description="Threads in the event loop's default executor (blocking I/O)."
    )
    max_worker_threads: PositiveInt = Field(
        default=3, description="Poll worker processes (each does whole polls: fetch, transform, write)."
    )
    db_pool_max: PositiveInt = Field(default=10, ge=2)
    raceday_data_dir: str = Field(
        default=".data", description="Where the embedded PostgreSQL keeps its cluster."
    )
    cors_origins: str | None = Field(
        default=None,
        description="Comma-separated origins CORS allows; unset: `*` outside production, none in production.",
    )
    api_history_limit: PositiveInt = Field(
        default=50, le=1000, description="Latest odds and money-flow rows per entrant in /api/entrants."
    )
    tracked_countries: Annotated[frozenset[str], NoDecode] = frozenset({"NZ", "AUS"})
    tracked_categories: Annotated[frozenset[str], NoDecode] = frozenset({"T", "H"})
    poll_concurrency: PositiveInt = 5
    retention_days: PositiveInt = 30
    archive_dir: str | None = Field(
        default=None,
        description="Where partitions past the retention are archived; unset: RACEDAY_DATA_DIR/archives.",
    )
    simulator_seed: int = 1
    simulator_speed: PositiveFloat = 1.0

    @field_validator("tracked_countries", "tracked_categories", mode="before")
    @classmethod
    def _codes(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(code.strip().upper() for code in value.split(",") if code.strip())
        return value

    @field_validator("tracked_categories")
    @classmethod
    def _known_categories(cls, value: frozenset[str]) -> frozenset[str]:
        if not value or not value <= {"T", "H", "G"}:
            raise ValueError("categories are T, H and G")
        return value

    @field_validator("tracked_countries")
    @classmethod
    def _some_countries(cls, value: frozenset[str]) -> frozenset[str]:
        if not value:
            raise ValueError("at least one country")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value())
        try:
            parts.port  # noqa: B018 - parsing the port is the check
        except ValueError:
            raise ValueError("the port is not a number") from None
        if parts.scheme not in {"postgres", "postgresql"} or not (parts.hostname or parts.query):
            raise ValueError("not a PostgreSQL URL")
        return value

    @model_validator(mode="after")
    def _production_needs_real_services(self) -> Settings:
        if self.node_env is Environment.PRODUCTION:
            missing = [
                name
                for name, value in (
                    ("DATABASE_URL", self.database_url),
                    ("NZTAB_API_URL", self.nztab_api_url),
                )
                if value is None
            ]
            if missing:
                raise ValueError(f"required when NODE_ENV=production: {', '.join(missing)}")
        return self

    @property
    def archive_path(self) -> Path:
        return Path(self.archive_dir) if self.archive_dir else Path(self.raceday_data_dir) / "archives"

    @property
    def is_production(self) -> bool:
        return self.node_env is Environment.PRODUCTION

    @property
    def cors_origin_list(self) -> list[str]:
        """The origins CORS allows: the configured list, else any origin outside production."""
        if self.cors_origins is None:
            return [] if self.is_production else ["*"]
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]


class SettingsError(Exception):
    """Invalid environment: one readable line per bad variable, never a value."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _error_lines(error: ValidationError) -> list[str]:
    lines: list[str] = []
    for item in error.errors(include_input=False, include_url=False):
        if item["loc"]:
            name = str(item["loc"][0]).upper()
            lines.append(f"{name}: invalid value ({item['msg']}); expected {EXPECTED.get(name, '')}")
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            for name in message.split(": ", 1)[-1].split(", "):
                lines.append(f"{name}: missing; {message.split(':', 1)[0]}")
    return lines


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the environment; raise SettingsError naming every bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(_error_lines(error)) from None


def redact_url(url: str) -> str:
    """The URL with its password replaced, safe for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
