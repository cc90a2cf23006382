"""docs/operations.md and docs/capacity.md name only things that exist: settings, compose services, files."""

from __future__ import annotations

import re

from deploy.deploylib.settings_env import inventory
from tests.deploy.checks import ROOT, load_compose, render

DOCS = ("docs/operations.md", "docs/capacity.md")
COMPOSE_SUBCOMMANDS = {"up", "logs", "exec", "ps", "build", "pull", "run", "restart", "stop"}


def known_names() -> set[str]:
    names = {s.env for s in inventory()}
    compose_text = (ROOT / "docker-compose.yml").read_text()
    names |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose_text))  # compose-only variables it really reads
    return names


def doc_problems(text: str) -> list[str]:
    problems = []
    known = known_names()
    for name in sorted(set(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]\b", text))):
        if name.startswith(("<", "X_")) or name in known:
            continue
        if "<SVC>" in text and name.endswith("_DB_POOL_SIZE"):
            continue
        problems.append(f"{name} is neither a setting nor a variable docker-compose.yml reads")
    services = set(load_compose(ROOT / "docker-compose.yml")["services"])
    for line in re.findall(r"docker compose ([^\n`#]*)", text):
        words = line.split()
        if not words or words[0] not in COMPOSE_SUBCOMMANDS:
            continue
        args = [w for w in words[1:] if not w.startswith("-") and not re.match(r"^(demo|\d+\w*)$", w)]
        if words[0] == "exec" and args:
            args = args[:1]  # exec SERVICE COMMAND...
        for arg in args:
            if arg not in services:
                problems.append(f"`docker compose {line.strip()}`: no compose service {arg}")
    for path in re.findall(r"`((?:deploy|docs|bench|services|shared|tests)/[\w./-]+)`", text):
        if "<" not in path and not (ROOT / path).exists():
            problems.append(f"{path} does not exist")
    k8s = {f"{d['kind'].lower()}/{d['metadata']['name']}" for d in render(ROOT / "deploy/k8s/overlays/example")}
    for kind, name in re.findall(r"(?<![\w/])(job|deployment)/([a-z0-9-]+)(?![\w/.])", text):
        if f"{kind}/{name}" not in k8s:
            problems.append(f"{kind}/{name} is not in the rendered manifests")
    return problems


def test_docs_name_only_real_things() -> None:
    for doc in DOCS:
        assert doc_problems((ROOT / doc).read_text()) == [], doc


def test_docs_check_catches_a_renamed_setting_and_service() -> None:
    text = (ROOT / "docs/operations.md").read_text()
    broken = text.replace("CHANNELS_PUBLIC_BASE_URL", "CHANNELS_PUBLIC_URL").replace(
        "logs -f chat chat-worker", "logs -f chat chat-consumer"
    )
    problems = "\n".join(doc_problems(broken))
    assert "CHANNELS_PUBLIC_URL is neither a setting" in problems
    assert "no compose service chat-consumer" in problems
    assert "job/atende-migrations is not in the rendered manifests" in "\n".join(
        doc_problems(text.replace("job/atende-migrate", "job/atende-migrations"))
    )
