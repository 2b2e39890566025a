"""Configuration: a TOML file, environment overrides for secrets, validated at start.

Environment variables use the prefix DUDAO_ and `__` between section and key, e.g.
DUDAO_TELEGRAM__TOKEN, DUDAO_DATABASE__URL, DUDAO_TELEGRAM__WEBHOOK_SECRET.
"""

from __future__ import annotations

import re
import tomllib
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TelegramSettings(_Section):
    token: str = ""
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""
    webhook_secret: str = ""
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(8080, ge=1, le=65535)
    updates_per_minute: int = Field(40, ge=5, le=100_000)  # per user; more is a flood

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: str) -> str:
        value = value.strip()
        if value and not _TOKEN.match(value):
            raise ValueError("token must look like 123456789:AA... (from @BotFather)")
        return value

    @model_validator(mode="after")
    def _webhook_complete(self) -> TelegramSettings:
        if self.mode == "webhook":
            if not self.webhook_url.startswith("https://"):
                raise ValueError("webhook mode needs webhook_url starting with https://")
            if not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", self.webhook_secret):
                raise ValueError("webhook mode needs webhook_secret: 16-256 of A-Z a-z 0-9 _ -")
        return self


class DatabaseSettings(_Section):
    url: str = "sqlite:///var/dudao.db"

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
            raise ValueError("database url must start with sqlite:// or postgresql://")
        return value


class CaseSettings(_Section):
    reference_prefix: str = Field("SJ", pattern=r"^[A-Z]{1,8}$")
    tips_per_hour: int = Field(5, ge=1, le=1_000_000)
    max_text_chars: int = Field(2000, ge=100, le=4000)
    max_evidence_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    max_evidence_files: int = Field(10, ge=0, le=50)
    duplicate_window_days: int = Field(14, ge=0, le=365)


class TimeRules(_Section):
    accept_working_days: int = Field(1, ge=1, le=30)
    propose_working_days: int = Field(5, ge=1, le=60)
    decide_working_days: int = Field(2, ge=1, le=30)
    rectify_default_days: int = Field(15, ge=1, le=365)
    ping_days_before: int = Field(3, ge=0, le=30)
    escalate_after_days: int = Field(3, ge=1, le=30)
    visit_reminder_days: list[int] = Field(default_factory=lambda: [20, 27])
    quiet_start: time = time(22, 0)
    quiet_end: time = time(7, 0)

    @field_validator("visit_reminder_days")
    @classmethod
    def _days_of_month(cls, value: list[int]) -> list[int]:
        if not value or any(not 1 <= d <= 28 for d in value):
            raise ValueError("visit_reminder_days must be days 1..28 of the month")
        return sorted(set(value))


class SchedulerSettings(_Section):
    # How often the reminder job asks what is due (deadline pings, 督办, visit reminders);
    # 0 turns the scheduler off in this process (e.g. a second instance, or tests).
    interval_seconds: float = Field(60.0, ge=0.0, le=3600.0)


class ClassifierSettings(_Section):
    model_path: str = ""  # empty = the model shipped with dudao
    threshold: float | None = Field(None, ge=0.0, le=1.0)  # None = the model's own threshold


class DirectorySettings(_Section):
    import_on_start: list[str] = Field(
        default_factory=lambda: [str(PROJECT_ROOT / "data" / "directory")])


class Settings(BaseSettings):
    """All of dudao's settings."""

    model_config = SettingsConfigDict(env_prefix="DUDAO_", env_nested_delimiter="__",
                                      extra="forbid")

    timezone: str = "Asia/Shanghai"
    telegram: TelegramSettings = Field(default_factory=lambda: TelegramSettings())
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    cases: CaseSettings = Field(default_factory=lambda: CaseSettings())
    time_rules: TimeRules = Field(default_factory=lambda: TimeRules())
    classifier: ClassifierSettings = Field(default_factory=lambda: ClassifierSettings())
    scheduler: SchedulerSettings = Field(default_factory=lambda: SchedulerSettings())
    directory: DirectorySettings = Field(default_factory=DirectorySettings)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file so secrets never need to be written into it.
        return env_settings, init_settings


class ConfigError(Exception):
    """The configuration cannot be used; the message says what to fix."""


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read TOML at `path` (or defaults), apply environment and `overrides`, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        file = Path(path)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {file}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file} is not valid TOML: {exc}") from exc
    for key, value in overrides.items():
        data.setdefault(key, value) if not isinstance(value, dict) else data.setdefault(
            key, {}).update(value)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        where = f" in {path}" if path else ""
        raise ConfigError("invalid configuration" + where + ":\n" + "\n".join(lines)) from exc
    db = settings.database.url
    if db.startswith("sqlite:///") and not db.startswith("sqlite:////") and path is not None:
        # A relative SQLite path in a config file is relative to that file, not to the cwd.
        rel = db.removeprefix("sqlite:///")
        if rel and rel != ":memory:":
            settings.database.url = "sqlite:///" + str((Path(path).parent / rel).resolve())
    if path is not None:
        base = Path(path).parent
        settings.directory.import_on_start = [
            str(p if Path(p).is_absolute() else (base / p).resolve())
            for p in settings.directory.import_on_start]
    return settings
