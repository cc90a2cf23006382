"""The Dockerfile: hadolint clean, one non-root target per image, and locks that cover what the code imports."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.deploy.checks import ROOT, dockerfile_problems, hadolint

LOCKS = ROOT / "deploy/docker/requirements"
# image -> pyproject extras it installs (deploy/docker/lock.py) and the code it runs.
IMAGES = {
    "core": (
        ["chat", "channels", "search"],
        [
            "shared",
            "gateway",
            "services/auth",
            "services/chat",
            "services/channels",
            "services/*/migrations",
            "services/*/base.py",
            "services/*/models.py",
            "services/*/config.py",
        ],
    ),
    "search": (["search", "search-local"], ["shared", "services/search"]),
    "transcription": (["transcription"], ["shared", "services/transcription"]),
}
TEST_ONLY = {"shared/testing.py", "shared/testing_keys.py"}


def lock(image: str) -> dict[str, Version]:
    pins = {}
    for line in (LOCKS / f"{image}.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{image}.txt: `{line}` is not pinned with =="
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_hadolint_passes() -> None:
    code, output = hadolint(ROOT / "Dockerfile")
    assert code == 0, output


def test_hadolint_catches_a_bad_dockerfile(tmp_path) -> None:
    bad = (ROOT / "Dockerfile").read_text() + "\nFROM debian:bookworm AS extra\nRUN apt-get install curl\n"
    (tmp_path / "Dockerfile").write_text(bad)
    code, output = hadolint(tmp_path / "Dockerfile")
    assert code != 0
    assert "DL3008" in output or "DL3015" in output  # unpinned apt packages / no --no-install-recommends


def test_dockerfile_targets() -> None:
    assert dockerfile_problems((ROOT / "Dockerfile").read_text()) == []


def test_dockerfile_check_catches_mistakes() -> None:
    text = (ROOT / "Dockerfile").read_text()
    broken = text.replace(
        "FROM runtime AS search\nCOPY --from=deps-search /opt/venv /opt/venv\nUSER 10001:10001",
        "FROM runtime AS search\nCOPY --from=deps-core /opt/venv /opt/venv\nUSER root",
    )
    assert broken != text
    problems = "\n".join(dockerfile_problems(broken))
    assert "search: must end as a non-root USER" in problems
    assert "search: must take its /opt/venv from deps-search" in problems
    assert "core" not in problems and "transcription" not in problems


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = [line[1:].rstrip("/") for line in ignore if line.startswith("!")]
    sources = re.findall(r"^COPY (?!--from)(?:--\S+ )*(\S+) ", (ROOT / "Dockerfile").read_text(), flags=re.M)
    assert sources
    for src in sources:
        assert (ROOT / src).exists(), src
        assert any(src.rstrip("/") == a or src.startswith(a + "/") for a in allowed), f"{src} is excluded"


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_lock_pins_every_declared_dependency(image: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras, _ = IMAGES[image]
    pins = lock(image)
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    stale = []
    for spec in wanted:
        req = Requirement(spec)
        if req.name == "atende":
            continue
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None or not req.specifier.contains(pinned, prereleases=True):
            stale.append(f"{req} (locked: {pinned})")
    assert not stale, f"{image} lock is stale, run `python deploy/docker/lock.py {image}`: {stale}"


def _code_files(patterns: list[str]) -> list[Path]:
    files: set[Path] = set()
    for pattern in patterns:
        for path in ROOT.glob(pattern):
            files |= {path} if path.is_file() else set(path.rglob("*.py"))
    return sorted(p for p in files if str(p.relative_to(ROOT)) not in TEST_ONLY)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_lock_installs_everything_the_image_code_imports(image: str) -> None:
    _, patterns = IMAGES[image]
    pins = lock(image)
    dists = packages_distributions()
    missing = []
    for path in _code_files(patterns):
        for module in _imports(path):
            if module in sys.stdlib_module_names or module in ("shared", "services", "gateway", "__future__"):
                continue
            owners = {canonicalize_name(d) for d in dists.get(module, [])}
            if not owners & set(pins):
                missing.append(f"{path.relative_to(ROOT)}: {module} ({', '.join(sorted(owners)) or 'not installed'})")
    assert not missing, f"the {image} image would not have:\n" + "\n".join(missing)
