"""Settings base: one pydantic-settings object per service, read from env and `.env`."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/atende"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEV_SERVICE_SECRET = "dev-service-secret-change-me"
Environment = Literal["development", "production"]
PRODUCTION_REFUSES = "empty or a development default, refused with ENVIRONMENT=production"


def is_development_secret(value: str, default: str = "") -> bool:
    """Empty, the code's development default, or a placeholder from the examples (`CHANGE-ME...`)."""
    v = value.strip()
    return not v or v == default or "change-me" in v.lower()


class ServiceSettings(BaseSettings):
    """Settings every service shares; a subclass adds its own fields under its own env prefix.

    `DATABASE_URL`, `REDIS_URL`, `LOG_LEVEL` and the JWT settings have no prefix: one value
    serves every process.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", validate_default=True)

    service_name: str = "service"
    # `production` refuses to start on development secrets (production_problems); anything else is a dev set-up.
    environment: Environment = Field("development", validation_alias=AliasChoices("ENVIRONMENT"))
    database_url: str = Field(DEFAULT_DATABASE_URL, validation_alias=AliasChoices("DATABASE_URL"))
    redis_url: str = Field(DEFAULT_REDIS_URL, validation_alias=AliasChoices("REDIS_URL"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", validation_alias=AliasChoices("LOG_LEVEL"))
    log_json: bool = Field(True, validation_alias=AliasChoices("LOG_JSON"))
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    db_pool_size: int = Field(10, ge=1, le=200)
    # Identity: where the JWKS lives, what every token must carry.
    auth_url: str = Field("http://127.0.0.1:8001", validation_alias=AliasChoices("AUTH_URL"))
    jwks_url: str = Field("", validation_alias=AliasChoices("JWKS_URL"))
    jwks_json: str = Field("", validation_alias=AliasChoices("JWKS_JSON"))
    # Safety net behind auth.keys.v1: re-read a fetched JWKS this often, so a retired key goes even if an event is lost.
    jwks_refresh_seconds: float = Field(5.0, ge=1, le=3600, validation_alias=AliasChoices("JWKS_REFRESH_SECONDS"))
    jwt_audience: str = Field("atende", validation_alias=AliasChoices("JWT_AUDIENCE"))
    jwt_issuer: str = Field("atende-auth", validation_alias=AliasChoices("JWT_ISSUER"))
    # Shared secret a service presents to auth to obtain its service token.
    service_secret: str = Field(DEV_SERVICE_SECRET, validation_alias=AliasChoices("SERVICE_SECRET"))
    secrets_key: str = Field("", validation_alias=AliasChoices("SECRETS_KEY"))
    ops_log_maxlen: int = Field(10_000, ge=100, validation_alias=AliasChoices("OPS_LOG_MAXLEN"))
    # Event bus (shared/events): stream bounds, relay pace, retries before the dead-letter stream.
    events_stream_maxlen: int = Field(100_000, ge=100, validation_alias=AliasChoices("EVENTS_STREAM_MAXLEN"))
    events_dlq_maxlen: int = Field(10_000, ge=100, validation_alias=AliasChoices("EVENTS_DLQ_MAXLEN"))
    events_relay_interval_ms: int = Field(
        200, ge=10, le=60_000, validation_alias=AliasChoices("EVENTS_RELAY_INTERVAL_MS")
    )
    events_max_deliveries: int = Field(5, ge=1, le=100, validation_alias=AliasChoices("EVENTS_MAX_DELIVERIES"))
    events_claim_idle_ms: int = Field(30_000, ge=100, validation_alias=AliasChoices("EVENTS_CLAIM_IDLE_MS"))
    # How long a consumer remembers an event it handled (processed_event): longer than any redelivery can come late.
    events_processed_retention_hours: int = Field(
        168, ge=1, le=24 * 365, validation_alias=AliasChoices("EVENTS_PROCESSED_RETENTION_HOURS")
    )

    def production_problems(self) -> list[str]:
        """`SETTING: why` for each value production must not run on; subclasses add their own."""
        problems = []
        if is_development_secret(self.service_secret, DEV_SERVICE_SECRET):
            problems.append(f"SERVICE_SECRET: {PRODUCTION_REFUSES}; set a random one (openssl rand -hex 32)")
        if is_development_secret(self.secrets_key):
            problems.append(f"SECRETS_KEY: {PRODUCTION_REFUSES}; set one (python -m shared.crypto)")
        return problems

    @model_validator(mode="after")
    def _refuse_development_secrets(self):
        if self.environment == "production":
            problems = self.production_problems()
            if problems:
                raise PydanticCustomError("production_settings", "{problems}", {"problems": "\n".join(problems)})
        return self

    @property
    def resolved_jwks_url(self) -> str:
        return self.jwks_url or f"{self.auth_url.rstrip('/')}/.well-known/jwks.json"


class SettingsError(RuntimeError, SystemExit):
    """Raised at start-up with a message naming every bad setting.

    Also a SystemExit: when nothing catches it (e.g. `uvicorn services.x.main:app` importing the app),
    Python prints just the message and exits with status 1 instead of a traceback.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = message


def env_names(cls: type[BaseSettings]) -> dict[str, list[str]]:
    """Field name -> the environment variable names that set it; the first one is the documented name."""
    prefix = str(cls.model_config.get("env_prefix", "") or "")
    names: dict[str, list[str]] = {}
    for field_name, info in cls.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            choices = [c for c in alias.choices if isinstance(c, str)]
        elif isinstance(alias, str):
            choices = [alias]
        else:
            choices = []
        names[field_name] = [c.upper() for c in choices] or [f"{prefix}{field_name}".upper()]
    return names


def load_settings(cls: type[BaseSettings], **overrides) -> BaseSettings:
    """Build settings or fail with one readable line per bad setting (no traceback soup)."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", "") or "")
        by_key = {}
        for field_name, envs in env_names(cls).items():
            for key in (field_name, *envs):
                by_key.setdefault(key.lower(), envs[0])
        lines = []
        for err in exc.errors():
            if not err["loc"]:  # a rule over several settings: its message names them, one per line
                lines += [f"  {line}" for line in err["msg"].splitlines()]
                continue
            name = ".".join(str(p) for p in err["loc"]) or "?"
            head = str(err["loc"][0]).lower() if err["loc"] else ""
            env = by_key.get(head) or (name.upper() if name.upper() in _UNPREFIXED else f"{prefix}{name}".upper())
            lines.append(f"  {env}: {err['msg']} (got {err.get('input')!r})")
        raise SettingsError("invalid settings:\n" + "\n".join(lines)) from None


_UNPREFIXED = {
    "ENVIRONMENT",
    "DATABASE_URL",
    "REDIS_URL",
    "LOG_LEVEL",
    "LOG_JSON",
    "AUTH_URL",
    "JWKS_URL",
    "JWKS_JSON",
    "JWKS_REFRESH_SECONDS",
    "JWT_AUDIENCE",
    "JWT_ISSUER",
    "SERVICE_SECRET",
    "SECRETS_KEY",
    "OPS_LOG_MAXLEN",
    "EVENTS_STREAM_MAXLEN",
    "EVENTS_DLQ_MAXLEN",
    "EVENTS_RELAY_INTERVAL_MS",
    "EVENTS_MAX_DELIVERIES",
    "EVENTS_CLAIM_IDLE_MS",
}
