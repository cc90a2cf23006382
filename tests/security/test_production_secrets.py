"""ENVIRONMENT=production never starts on development secrets: the real start commands (uvicorn on a service's
`main:app`, a worker module, the demo seed) exit 1 with one line naming each bad setting; with real values the
same command serves /health."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from devtools.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
REAL = {"SERVICE_SECRET": "3f9c2a7d41e8b6c05a9d3e7f1b2c4d6e", "SECRETS_KEY": Fernet.generate_key().decode()}


def _env(**values: str) -> dict[str, str]:
    """A clean environment: nothing from the developer's shell or .env reaches the process."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "ENVIRONMENT": "production"} | (
        values
    )


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def _bad_lines(stderr: str) -> set[str]:
    return {line.strip().split(":")[0] for line in stderr.splitlines() if line.startswith("  ")}


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (
            ["-m", "uvicorn", "services.channels.main:app", "--port", "1"],
            {},
            {"SERVICE_SECRET", "SECRETS_KEY", "CHANNELS_PUBLIC_BASE_URL"},
        ),
        (
            ["-m", "uvicorn", "services.auth.main:app", "--port", "1"],
            {"SERVICE_SECRET": "dev-service-secret-change-me", "SECRETS_KEY": REAL["SECRETS_KEY"]},
            {"SERVICE_SECRET"},
        ),
        (
            ["-m", "services.transcription.worker"],
            {"SERVICE_SECRET": REAL["SERVICE_SECRET"], "SECRETS_KEY": "CHANGE-ME-python-m-shared.crypto"},
            {"SECRETS_KEY"},
        ),
        (
            ["-m", "services.auth.seed"],
            REAL | {"DEMO_AGENT_PASSWORD": "a-real-agent-pass-9", "DEMO_VIEWER_PASSWORD": "a-real-viewer-pass-9"},
            {"DEMO_ADMIN_PASSWORD"},
        ),
        (
            ["-m", "services.auth.seed"],
            REAL | {"DEMO_ADMIN_PASSWORD": "CHANGE-ME"},
            {"DEMO_ADMIN_PASSWORD", "DEMO_AGENT_PASSWORD", "DEMO_VIEWER_PASSWORD"},
        ),
    ],
    ids=[
        "channels-api-nothing-set",
        "auth-api-dev-service-secret",
        "transcription-worker-placeholder",
        "seed-admin",
        "seed-both",
    ],
)
def test_production_refuses_to_start_naming_each_setting(tmp_path, args, env, named) -> None:
    done = _run(args, _env(**env), tmp_path)
    assert done.returncode == 1, (done.returncode, done.stdout[-500:], done.stderr[-2000:])
    assert "invalid settings:" in done.stderr, done.stderr[-2000:]
    assert _bad_lines(done.stderr) == named, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    for secret in env.values():  # the refused values themselves are never printed
        assert secret not in done.stderr


def test_production_starts_with_real_values(stack, committed_db, tmp_path) -> None:
    port = free_port()
    env = _env(
        **REAL,
        DATABASE_URL=stack.database_url,
        REDIS_URL=stack.redis_url,
        JWKS_JSON=stack.keys.jwks_json,
        CHANNELS_PUBLIC_BASE_URL="https://atende.example.com",
        CHANNELS_MEDIA_DIR=str(tmp_path / "media"),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "services.channels.main:app", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code
                break
            except httpx.TransportError:
                time.sleep(0.3)
        assert status == 200, (proc.poll(), proc.stdout.read() if proc.poll() is not None else "")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
