"""Every setting the processes read, where it belongs, and the value containers get.

The single source is the code: every `BaseSettings` subclass of `services/*/config.py` and `gateway/config.py`
(with the unprefixed fields of `shared.config.ServiceSettings` they inherit). `python deploy/sync_settings.py`
writes the ConfigMap, the example Secret and the environment blocks of docker-compose.yml from this; the tests
in tests/deploy check the files against it, so a setting added in code and not deployed fails the build.
"""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]

# Identity of the process, not configuration (same rule as tests/shared/test_env_example.py).
NOT_SETTINGS = {"service_name"}
# Values that must never sit in a ConfigMap or in docker-compose.yml in clear: they go to Secrets / `.env`.
SECRET_NAME = re.compile(
    r"(SECRET$|_PASSWORD$|PEPPER$|_API_KEY$|_KEY_PEM$|_TOKEN_KEYS$|^SECRETS_KEY$|^DATABASE_URL$|^REDIS_URL$|_SMTP_URL$)"
)

PORTS = {"gateway": 8000, "auth": 8001, "chat": 8002, "channels": 8003, "transcription": 8004, "search": 8005}
SERVICES = ("auth", "chat", "channels", "transcription", "search")

# Where containers differ from the code defaults (which are right for `make run` on one machine).
# Service names resolve both in docker compose and in Kubernetes (same namespace).
# The private ranges a cluster's pod network is taken from (RFC 1918 and the shared address space).
POD_NETWORKS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"]
CONTAINER_VALUES: dict[str, str] = {
    "ENVIRONMENT": "production",
    "AUTH_URL": "http://auth:8001",
    "CHAT_SEARCH_URL": "http://search:8005",
    "CHANNELS_MEDIA_DIR": "/data/media",
    # Containers are read-only but /tmp (a tmpfs of the container); production sets AUTH_SMTP_URL.
    "AUTH_MAIL_OUTBOX_DIR": "/tmp/mail",  # noqa: S108
    "TRANSCRIPTION_STORAGE_DIR": "/data/transcription",
    "TRANSCRIPTION_MODEL_CACHE_DIR": "/opt/models",
    **{f"{name.upper()}_HOST": "0.0.0.0" for name in PORTS},
    **{f"{name.upper()}_PORT": str(port) for name, port in PORTS.items()},
    **{f"GATEWAY_{name.upper()}_UPSTREAM": f"http://{name}:{PORTS[name]}" for name in SERVICES},
    # Kubernetes: pod addresses are not known in advance. Auth believes X-Forwarded-For from the pod network (the
    # NetworkPolicy lets only Atende's own pods reach it), the gateway from the ingress controller's pods (only they
    # may reach it). An overlay narrows both to the cluster's pod CIDR (docs/operations.md).
    "AUTH_TRUSTED_PROXIES": json.dumps(POD_NETWORKS, separators=(",", ":")),
    "GATEWAY_TRUSTED_PROXIES": json.dumps(POD_NETWORKS, separators=(",", ":")),
}


@dataclass(frozen=True)
class Setting:
    env: str  # the documented environment variable
    owner: str  # "common" (unprefixed, every process) or the service / "gateway"
    default: str  # the code default, rendered as an environment value
    secret: bool
    source: str  # Class.field, for messages


def settings_classes() -> list[type[BaseSettings]]:
    """The Settings classes of the deployed processes (the dev stack's DevSettings is not deployed)."""
    modules = ["shared.config", "gateway.config"]
    modules += [f"services.{p.parent.name}.config" for p in sorted((ROOT / "services").glob("*/config.py"))]
    for name in modules:
        importlib.import_module(name)
    found: list[type[BaseSettings]] = []
    todo = list(BaseSettings.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        top = cls.__module__.split(".")[0]
        if top in ("services", "gateway") and cls.__module__.endswith(".config") and cls not in found:
            found.append(cls)
    return sorted(found, key=lambda c: c.__module__)


def render(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


def inventory() -> list[Setting]:
    from shared.config import ServiceSettings, env_names

    found: dict[str, Setting] = {}
    for cls in settings_classes():
        owner = cls.__module__.split(".")[-2]  # services.<name>.config / gateway.config
        for field_name, envs in env_names(cls).items():
            if field_name in NOT_SETTINGS:
                continue
            info = cls.model_fields[field_name]
            common = field_name in ServiceSettings.model_fields and not envs[0].startswith(f"{owner.upper()}_")
            env = envs[0]
            default = render(info.get_default(call_default_factory=True))
            found.setdefault(
                env,
                Setting(
                    env,
                    "common" if common else owner,
                    default,
                    bool(SECRET_NAME.search(env)),
                    f"{cls.__name__}.{field_name}",
                ),
            )
    return sorted(found.values(), key=lambda s: (s.owner != "common", s.owner, s.env))


def container_value(setting: Setting) -> str:
    return CONTAINER_VALUES.get(setting.env, setting.default)


# docker compose only: the gateway has a fixed address on the `apps` network (see docker-compose.yml), so auth
# can believe the client address it forwards.
COMPOSE_GATEWAY_IP = "172.31.250.10"
COMPOSE_VALUES: dict[str, str | None] = {
    "DATABASE_URL": "postgresql+asyncpg://atende:${POSTGRES_PASSWORD:?set it in .env}@postgres:5432/atende",
    "REDIS_URL": "redis://redis:6379/0",
    "AUTH_TRUSTED_PROXIES": f'["{COMPOSE_GATEWAY_IP}"]',
    "GATEWAY_TRUSTED_PROXIES": None,  # the gateway is published directly: from `.env`, default none
}
# Secrets docker compose refuses to start without (no insecure default is acceptable outside `make run`).
COMPOSE_REQUIRED = ("SERVICE_SECRET", "SECRETS_KEY", "CHANNELS_PUBLIC_BASE_URL")


def compose_value(setting: Setting) -> str | None:
    """The value in docker-compose.yml; None = passed through from `.env` / the shell (unset: the code default)."""
    if setting.env in COMPOSE_VALUES:
        return COMPOSE_VALUES[setting.env]
    if setting.env in COMPOSE_REQUIRED:
        return f"${{{setting.env}:?set {setting.env} in .env (docs/operations.md)}}"
    if setting.env in CONTAINER_VALUES:
        return CONTAINER_VALUES[setting.env]
    return None
