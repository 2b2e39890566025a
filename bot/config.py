"""Configuration: a TOML file, environment overrides for secrets, validated at start.

Environment variables use the prefix DUDAO_ and `__` between section and key, e.g.
DUDAO_TELEGRAM__TOKEN, DUDAO_DATABASE__URL, DUDAO_TELEGRAM__WEBHOOK_SECRET.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot.messages import t

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")
ENV_PREFIX = "DUDAO_"
ENV_DELIMITER = "__"


class InvalidSetting(ValueError):
    """A project validator's refusal: a catalogue key (config.problem.*), shown in Chinese."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TelegramSettings(_Section):
    token: str = ""
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""
    webhook_secret: str = ""
    # Before [web] existed the webhook listened here; still honoured when [web] leaves them unset.
    listen_host: str | None = None
    listen_port: int | None = Field(None, ge=1, le=65535)
    updates_per_minute: int = Field(40, ge=5, le=100_000)  # per user; more is a flood

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: str) -> str:
        value = value.strip()
        if value and not _TOKEN.match(value):
            raise InvalidSetting("config.problem.token")
        return value

    @model_validator(mode="after")
    def _webhook_complete(self) -> TelegramSettings:
        if self.mode == "webhook":
            if not self.webhook_url.startswith("https://"):
                raise InvalidSetting("config.problem.webhook_url")
            if not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", self.webhook_secret):
                raise InvalidSetting("config.problem.webhook_secret")
        return self


class WebSettings(_Section):
    """The one HTTP server `dudao run` keeps in both modes: /health, /metrics, the webhook
    (webhook mode) and the office console."""

    listen_host: str = "127.0.0.1"
    listen_port: int = Field(8080, ge=0, le=65535)  # 0 = any free port (said at start)
    public_url: str = ""  # how browsers reach it, e.g. https://dudao.example.gov.cn
    # The office console: the key that signs session cookies (empty: one is generated and
    # kept in var/web-session-secret), how long a /web link and a session last, and how old
    # a Mini App's signed initData may be.
    session_secret: str = ""
    login_link_minutes: int = Field(10, ge=1, le=60)
    session_hours: int = Field(12, ge=1, le=720)
    init_data_max_age_hours: int = Field(24, ge=1, le=168)

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise InvalidSetting("config.problem.public_url")
        return value

    def base_url(self, port: int | None = None) -> str:
        """public_url, else the address the server listens on (with the bound `port`)."""
        if self.public_url:
            return self.public_url
        host = "127.0.0.1" if self.listen_host in ("", "0.0.0.0", "::") else self.listen_host
        return f"http://{host}:{port or self.listen_port}"


class DeliverySettings(_Section):
    """How fast messages go out: Telegram's limits per bot, kept by construction, and how
    long a request may take before its answer is taken as lost."""

    # Telegram allows about 30 messages a second per bot, counted where the requests arrive;
    # at most this many attempts leave in any one second (a little under 30 leaves room for
    # network jitter). With N instances sharing one bot, give each 1/N of it.
    messages_per_second: float = Field(29.0, ge=1.0, le=30.0)
    # Private chats: Telegram allows about one a second with short bursts; a little under
    # it leaves room for jitter, as above.
    per_chat_per_second: float = Field(0.9, gt=0.0, le=30.0)
    per_chat_burst: int = Field(3, ge=1, le=30)
    group_messages_per_minute: float = Field(19.0, gt=0.0, le=20.0)
    # Long enough for Telegram's slow answers: a request that times out may have been
    # delivered, and is repeated (at least once), so a short timeout makes duplicates.
    request_timeout_seconds: float = Field(20.0, ge=1.0, le=120.0)
    # The parent's reference is replied at once; its outbox row waits this long before
    # delivery sends it instead (after a crash between saving and replying).
    reply_lease_seconds: float = Field(30.0, ge=1.0, le=600.0)


class DatabaseSettings(_Section):
    url: str = "sqlite:///var/dudao.db"

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
            raise InvalidSetting("config.problem.database_url")
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
    verify_working_days: int = Field(5, ge=1, le=60)
    extension_working_days: int = Field(2, ge=1, le=30)
    interview_working_days: int = Field(5, ge=1, le=60)
    county_report_working_days: int = Field(5, ge=1, le=60)
    ladder_working_days: int = Field(5, ge=1, le=60)
    recheck_after_days: int = Field(30, ge=1, le=365)
    visit_reminder_days: list[int] = Field(default_factory=lambda: [20, 27])
    quiet_start: time = time(22, 0)
    quiet_end: time = time(7, 0)

    @field_validator("visit_reminder_days")
    @classmethod
    def _days_of_month(cls, value: list[int]) -> list[int]:
        if not value or any(not 1 <= d <= 28 for d in value):
            raise InvalidSetting("config.problem.visit_days")
        return sorted(set(value))


class SchedulerSettings(_Section):
    # How often the reminder job asks what is due (deadline pings, 督办, visit reminders);
    # 0 turns the scheduler off in this process (e.g. a second instance, or tests).
    interval_seconds: float = Field(60.0, ge=0.0, le=3600.0)


class ClassifierSettings(_Section):
    model_path: str = ""  # empty = var/model; with no model there, the shipped one
    threshold: float | None = Field(None, ge=0.0, le=1.0)  # None = the model's own threshold
    # Retrain from the corpus plus staff corrections every N days (0 = only on /retrain);
    # a new model is installed only if it passes the gate on the frozen held-out set.
    retrain_days: float = Field(7.0, ge=0.0, le=365.0)
    keep_versions: int = Field(5, ge=1, le=100)  # versions kept under model_path
    corpus_path: str = ""  # empty = data/corpus of the source checkout


class DirectorySettings(_Section):
    import_on_start: list[str] = Field(
        default_factory=lambda: [str(PROJECT_ROOT / "data" / "directory")])


class EvidenceSettings(_Section):
    # Originals of evidence files, by content hash (object storage is not built).
    dir: str = "var/evidence"
    # Days after a case closes before its files are deleted (and the audit says so).
    retention_days: int = Field(730, ge=1, le=36_500)


class DocumentSettings(_Section):
    # The issuing office, printed on 整改通知书, 督办函 and 通报.
    office_name: str = "县人民政府教育督导室"
    # Folder with the office's own DOCX templates; empty = the shipped data/templates.
    templates_dir: str = ""
    # The text standing where the seal is stamped on the printed document.
    seal_text: str = "（盖章）"


class CalendarSettings(_Section):
    # Where `dudao calendar import` stores the official schedules (one <year>.toml each);
    # relative to the configuration file's folder, else to the working directory.
    dir: str = "var/calendar"


class HotspotSettings(_Section):
    # The weekly list to staff of the schools, institutions and townships with the most tips.
    weekday: int = Field(1, ge=1, le=7)  # ISO weekday: 1 = Monday
    hour: int = Field(9, ge=0, le=23)  # local time; sent on the first run from then on
    days: int = Field(30, ge=1, le=366)  # the window counted
    threshold: int = Field(3, ge=1, le=100_000)  # at least this many tips to be listed
    limit: int = Field(10, ge=1, le=50)  # at most this many places of each kind
class WeComRobot(_Section):
    """A WeCom (企业微信) group robot: its webhook address carries its key."""

    url: str
    name: str = ""  # how the log names it; default: the channel and its number

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^https?://[^/\s]+/\S*$", value):
            raise InvalidSetting("config.problem.robot_url")
        return value


class DingTalkRobot(WeComRobot):
    """A DingTalk (钉钉) group robot: its webhook address (access_token) and, with 加签, its
    signing secret (SEC…)."""

    secret: str = ""


# What the office's group robots receive by default: every 督办 (by staff or, after the
# deadline, by the system) and the report notices. A kind ending in "." is a prefix.
ROBOT_KINDS = ["supervised", "report."]


class _RobotChannel(_Section):
    kinds: list[str] = Field(default_factory=lambda: list(ROBOT_KINDS))
    # Both allow 20 messages a minute per robot (DingTalk then blocks the robot for 10 min).
    per_minute: int = Field(20, ge=1, le=20)


class DingTalkSettings(_RobotChannel):
    """DingTalk group robots that receive copies of staff notices; none by default."""

    robots: list[DingTalkRobot] = Field(default_factory=list)


class WeComSettings(_RobotChannel):
    """WeCom group robots that receive copies of staff notices; none by default."""

    robots: list[WeComRobot] = Field(default_factory=list)


class Settings(BaseSettings):
    """All of dudao's settings."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_DELIMITER,
                                      extra="forbid")

    timezone: str = "Asia/Shanghai"
    telegram: TelegramSettings = Field(default_factory=lambda: TelegramSettings())
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    cases: CaseSettings = Field(default_factory=lambda: CaseSettings())
    time_rules: TimeRules = Field(default_factory=lambda: TimeRules())
    classifier: ClassifierSettings = Field(default_factory=lambda: ClassifierSettings())
    scheduler: SchedulerSettings = Field(default_factory=lambda: SchedulerSettings())
    directory: DirectorySettings = Field(default_factory=DirectorySettings)
    web: WebSettings = Field(default_factory=lambda: WebSettings())
    evidence: EvidenceSettings = Field(default_factory=lambda: EvidenceSettings())
    documents: DocumentSettings = Field(default_factory=lambda: DocumentSettings())
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    hotspots: HotspotSettings = Field(default_factory=lambda: HotspotSettings())
    dingtalk: DingTalkSettings = Field(default_factory=lambda: DingTalkSettings())
    wecom: WeComSettings = Field(default_factory=lambda: WeComSettings())
    delivery: DeliverySettings = Field(default_factory=lambda: DeliverySettings())

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidSetting("config.problem.timezone") from exc
        return value

    @model_validator(mode="after")
    def _web_address_from_telegram(self) -> Settings:
        # Configs written before [web] set the webhook's address under [telegram].
        for key in ("listen_host", "listen_port"):
            old = getattr(self.telegram, key)
            if old is not None and key not in self.web.model_fields_set:
                setattr(self.web, key, old)
        return self

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
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ConfigError(t("config.not_found", path=file)) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(t("config.not_utf8", path=file)) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(t("config.bad_toml", path=file, where=_toml_position(exc))) from exc
    for key, value in overrides.items():
        data.setdefault(key, value) if not isinstance(value, dict) else data.setdefault(
            key, {}).update(value)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(explain_errors(exc, path)) from exc
    except SettingsError as exc:  # an environment value that is not JSON where JSON is needed
        raise ConfigError(_explain_env_error(exc)) from exc
    db = settings.database.url
    if db.startswith("sqlite:///") and not db.startswith("sqlite:////") and path is not None:
        # A relative SQLite path in a config file is relative to that file, not to the cwd.
        rel = db.removeprefix("sqlite:///")
        if rel and rel != ":memory:":
            settings.database.url = "sqlite:///" + str((Path(path).parent / rel).resolve())
    if path is not None:
        # Every relative path in a config file is relative to that file's folder.
        base = Path(path).parent

        def anchored(value: str) -> str:
            if not value or Path(value).is_absolute():
                return value
            return str((base / value).resolve())

        settings.calendar.dir = anchored(settings.calendar.dir)
        settings.evidence.dir = anchored(settings.evidence.dir)
        settings.documents.templates_dir = anchored(settings.documents.templates_dir)
        settings.classifier.model_path = anchored(settings.classifier.model_path)
        settings.directory.import_on_start = [
            str(p if Path(p).is_absolute() else (base / p).resolve())
            for p in settings.directory.import_on_start]
    return settings


def _explain_env_error(exc: SettingsError) -> str:
    """pydantic-settings could not parse a DUDAO_ variable (lists and tables must be JSON)."""
    found = re.search(r'field "(\w+)"', str(exc))
    section = found.group(1) if found else ""
    prefix = (ENV_PREFIX + section).upper()
    names = sorted(k for k in os.environ if k.upper().startswith(prefix)) or [prefix + "__…"]
    return t("config.env_not_json", names="、".join(names))


def _toml_position(exc: tomllib.TOMLDecodeError) -> str:
    found = re.search(r"line (\d+), column (\d+)", str(exc))
    if not found:
        return t("config.bad_toml.somewhere")
    return t("config.bad_toml.at", line=found.group(1), column=found.group(2))


def explain_errors(exc: ValidationError, path: str | Path | None = None) -> str:
    """Pydantic's errors as Chinese lines, each naming the key (and the variable, if set)."""
    errors = exc.errors()
    head = (t("config.invalid_in_file", path=path, count=len(errors)) if path is not None
            else t("config.invalid", count=len(errors)))
    return "\n".join([head] + [_explain(err) for err in errors])


def env_variable(loc: tuple[int | str, ...]) -> str | None:
    """The environment variable that set the value at `loc` (or a section around it), if any."""
    keys = [str(p) for p in loc if isinstance(p, str)]
    for end in range(len(keys), 0, -1):
        name = ENV_PREFIX + ENV_DELIMITER.join(keys[:end]).upper()
        found = next((k for k in os.environ if k.upper() == name), None)
        if found is not None:
            return found
    return None


_SECRET_KEYS = ("token", "secret")


def _shown(loc: tuple[int | str, ...], value: Any) -> str:
    """`，当前为 …` for a value safe to print (never a token or secret; no DB password)."""
    name = str(loc[-1]) if loc else ""
    if (any(word in name for word in _SECRET_KEYS) or isinstance(value, dict)
            or "robots" in loc):  # a robot's address holds its access token
        return ""
    if isinstance(value, str):
        shown = "“" + re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", value) + "”"
    elif isinstance(value, bool):
        shown = "true" if value else "false"
    else:
        shown = str(value)
    return t("config.value", value=shown)


def _known_keys(loc: tuple[int | str, ...]) -> str:
    """The keys allowed next to the unknown one at `loc`."""
    model: Any = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type):
            return ""
        model = field.annotation
    return "、".join(model.model_fields)


_SIMPLE = {
    "int_parsing": "config.problem.int", "int_type": "config.problem.int",
    "int_from_float": "config.problem.int", "float_parsing": "config.problem.float",
    "float_type": "config.problem.float", "bool_parsing": "config.problem.bool",
    "bool_type": "config.problem.bool", "string_type": "config.problem.str",
    "list_type": "config.problem.list", "time_parsing": "config.problem.time",
    "time_type": "config.problem.time", "url_parsing": "config.problem.url",
    "url_type": "config.problem.url", "url_scheme": "config.problem.url",
    "url_syntax_violation": "config.problem.url",
}
_BOUNDS = {"greater_than_equal": ("ge", "config.problem.ge"),
           "less_than_equal": ("le", "config.problem.le"),
           "greater_than": ("gt", "config.problem.gt"),
           "less_than": ("lt", "config.problem.lt")}


def _problem(err: ErrorDetails) -> str:
    kind, loc, ctx = err["type"], tuple(err["loc"]), err.get("ctx") or {}
    value = _shown(loc, err.get("input"))
    if kind == "missing":
        return t("config.problem.missing")
    if kind == "extra_forbidden":
        known = _known_keys(loc)
        return t("config.problem.extra_section" if len(loc) == 1 else "config.problem.extra",
                 known=known)
    if kind in _BOUNDS:
        bound, key = _BOUNDS[kind]
        return t(key, limit=ctx.get(bound), value=value)
    if kind in _SIMPLE:
        return t(_SIMPLE[kind], value=value)
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return t("config.problem.section", key=".".join(str(p) for p in loc), value=value)
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace(" or ", "、").replace(", ", "、")
        return t("config.problem.literal", expected=expected, value=value)
    if kind == "string_pattern_mismatch":
        if loc == ("cases", "reference_prefix"):
            return t("config.problem.reference_prefix", value=value)
        return t("config.problem.pattern", pattern=ctx.get("pattern", ""), value=value)
    error = ctx.get("error")
    if isinstance(error, InvalidSetting):
        return t(error.key, value=value)
    return t("config.problem.other", value=value, detail=kind)


def _explain(err: ErrorDetails) -> str:
    loc = tuple(err["loc"])
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    key = key or "（全部）"
    problem = _problem(err)
    var = env_variable(loc) if loc else None
    if var is not None:
        return t("config.line.env", key=key, var=var, problem=problem)
    return t("config.line", key=key, problem=problem)
