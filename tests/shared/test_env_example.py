"""Every setting of every Settings class is documented in .env.example (adding one without documenting it fails)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from pydantic_settings import BaseSettings

from shared.config import env_names

ROOT = Path(__file__).resolve().parents[2]
# Identity of the process, not configuration.
NOT_SETTINGS = {"service_name"}


def settings_classes() -> list[type[BaseSettings]]:
    """Import every config module of the repo (plus the CLI) and collect our BaseSettings subclasses."""
    modules = ["shared.config", "devtools.settings", "gateway.config"]
    modules += [f"services.{p.parent.name}.config" for p in sorted((ROOT / "services").glob("*/config.py"))]
    for name in modules:
        importlib.import_module(name)
    found: list[type[BaseSettings]] = []
    todo = list(BaseSettings.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in ("shared", "devtools", "services", "gateway") and cls not in found:
            found.append(cls)
    return found


def documented_names() -> set[str]:
    """Names assigned in .env.example, commented out (`# NAME=`) or not."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.M))


def test_every_settings_class_is_found() -> None:
    names = {cls.__name__ for cls in settings_classes()}
    expected = {"ServiceSettings", "DevSettings", "GatewaySettings", "AuthSettings", "ChatSettings"}
    expected |= {"ChannelsSettings", "TranscriptionSettings", "SearchSettings"}
    assert expected <= names


def test_every_setting_is_in_env_example() -> None:
    documented = documented_names()
    missing = []
    for cls in settings_classes():
        if cls.__name__ == "ServiceSettings":
            # Its unprefixed fields are checked through every subclass; its prefixed ones belong to subclasses.
            continue
        for field_name, envs in env_names(cls).items():
            if field_name not in NOT_SETTINGS and envs[0] not in documented:
                missing.append(f"{envs[0]} ({cls.__name__}.{field_name})")
    assert not missing, "add these to .env.example with a comment:\n" + "\n".join(sorted(set(missing)))


def test_env_example_names_only_real_settings() -> None:
    """A documented name that no Settings class reads is a typo or a leftover."""
    known = {"PG_FAST"}  # read by devtools/embedded.py directly
    compose = ROOT / "docker-compose.yml"
    if compose.exists():  # variables only docker-compose.yml reads (POSTGRES_PASSWORD, ATENDE_TAG, ...)
        known |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose.read_text()))
    for cls in settings_classes():
        for envs in env_names(cls).values():
            known.update(envs)
    stale = documented_names() - known
    assert not stale, f".env.example documents settings nothing reads: {sorted(stale)}"
