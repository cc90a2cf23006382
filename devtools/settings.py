"""Settings of the local dev stack: DEV_* values, every service's settings, generated secrets and the wiring."""

from __future__ import annotations

import importlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.config import ServiceSettings, SettingsError, env_names, load_settings
from shared.crypto import new_secrets_key

EXIT_FAILED = 1
EXIT_CONFIG = 2

SERVICES = ("auth", "chat", "channels", "transcription", "search")
APPS = (*SERVICES, "gateway")


class DevSettings(BaseSettings):
    """Settings of the local dev stack itself (env prefix DEV_)."""

    model_config = SettingsConfigDict(env_prefix="DEV_", env_file=".env", extra="ignore")

    # Where embedded Postgres/Redis keep their data and where generated dev secrets are kept (kept between runs).
    data_dir: Path = Path(".data")
    # Ports of the embedded servers; fixed so hand-run services find them with the default DATABASE_URL/REDIS_URL.
    pg_port: int = Field(5432, ge=1, le=65535)
    redis_port: int = Field(6379, ge=1, le=65535)
    # Seconds to wait for every /health after start, and for children to stop after SIGTERM before SIGKILL.
    startup_timeout: float = Field(120.0, gt=0)
    stop_timeout: float = Field(10.0, gt=0)
    # CPU priority (nice, 0-19) of the stream workers against the APIs, the gateway and the servers: a burst of
    # webhooks is acked first and the workers catch up on the stream backlog, which is durable (docs/pipeline.md,
    # "Giving the webhook tier the CPU"). 0 = the same priority as everything else.
    worker_nice: int = Field(19, ge=0, le=19)


class ConfigError(Exception):
    """A problem the user fixes in their configuration; printed as is, exit code 2."""


class Shutdown(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# --------------------------------------------------------------------------------------------------- settings


@dataclass
class AppSpec:
    name: str
    settings: ServiceSettings
    port_env: str

    @property
    def module(self) -> str:
        return "gateway" if self.name == "gateway" else f"services.{self.name}"

    @property
    def asgi(self) -> str:
        return f"{self.module}.main:app"

    @property
    def probe_host(self) -> str:
        host = self.settings.host
        return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host  # noqa: S104 - probing, not binding

    @property
    def url(self) -> str:
        return f"http://{self.probe_host}:{self.settings.port}"


def _settings_class(module: str) -> type[ServiceSettings]:
    mod = importlib.import_module(f"{module}.config")
    classes = [
        obj
        for obj in vars(mod).values()
        if isinstance(obj, type) and issubclass(obj, ServiceSettings) and obj is not ServiceSettings
    ]
    if len(classes) != 1:
        raise RuntimeError(f"{module}.config must define exactly one ServiceSettings subclass")
    return classes[0]


def load_all_settings() -> tuple[DevSettings, list[AppSpec]]:
    """Every settings object of the stack, or one ConfigError listing every bad value (each named once)."""
    problems: list[str] = []
    dev = None
    try:
        dev = load_settings(DevSettings)
    except SettingsError as exc:
        problems.extend(str(exc).splitlines()[1:])
    specs = []
    for name in APPS:
        cls = _settings_class("gateway" if name == "gateway" else f"services.{name}")
        try:
            settings = load_settings(cls)
        except SettingsError as exc:
            problems.extend(line for line in str(exc).splitlines()[1:] if line not in problems)
            continue
        specs.append(AppSpec(name, settings, env_names(cls)["port"][0]))  # type: ignore[arg-type]
    if problems:
        raise ConfigError("invalid settings:\n" + "\n".join(problems))
    assert dev is not None
    return dev, specs  # type: ignore[return-value]


def explicit(name: str) -> str | None:
    """A value the user set in the environment or in ./.env (not a default)."""
    value = os.environ.get(name)
    if value is None:
        value = dotenv_values(".env").get(name) if Path(".env").exists() else None
    return value or None


def _persisted_secret(path: Path, make) -> str:
    """A generated dev secret, kept in the data dir so restarts keep decrypting what was stored."""
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def dev_secrets(dev: DevSettings) -> dict[str, str]:
    """SECRETS_KEY and SERVICE_SECRET: the user's if set, else generated once and kept under the data dir."""
    env = {}
    if not explicit("SECRETS_KEY"):
        env["SECRETS_KEY"] = _persisted_secret(dev.data_dir / "secrets_key", new_secrets_key)
    if not explicit("SERVICE_SECRET"):
        env["SERVICE_SECRET"] = _persisted_secret(dev.data_dir / "service_secret", lambda: secrets.token_urlsafe(32))
    return env


# Settings that are empty by default (= feature off when a service runs alone) but that the whole local
# platform turns on: (app, field) -> the service whose URL it gets.
LINKS = {("chat", "search_url"): "search", ("channels", "public_base_url"): "gateway"}


def wiring_env(specs: list[AppSpec]) -> dict[str, str]:
    """Point every `http://127.0.0.1:<default port of X>` URL setting (AUTH_URL, GATEWAY_*_UPSTREAM, ...) and
    every LINKS setting at where X really listens, unless the user set that setting."""
    default_port = {spec.name: type(spec.settings).model_fields["port"].default for spec in specs}
    actual = {default_port[spec.name]: spec.url for spec in specs}
    by_name = {spec.name: spec for spec in specs}
    env: dict[str, str] = {}
    for (app, field_name), target in LINKS.items():
        cls = type(by_name[app].settings)
        if field_name in cls.model_fields:
            env_name = env_names(cls)[field_name][0]
            if not explicit(env_name):
                env[env_name] = by_name[target].url
    for spec in specs:
        names = env_names(type(spec.settings))
        for field_name, info in type(spec.settings).model_fields.items():
            default = info.default
            if not isinstance(default, str):
                continue
            for port, url in actual.items():
                prefix = f"http://127.0.0.1:{port}"
                if default == prefix or default.startswith(prefix + "/"):
                    env_name = names[field_name][0]
                    if not explicit(env_name):
                        env[env_name] = url + default[len(prefix) :]
    return env
