"""The dev CLI's bad-input paths (real processes, real sockets) and its migrate / gen-key commands."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.backends import check_ports
from devtools.embedded import free_port
from devtools.settings import ConfigError, load_all_settings, wiring_env
from shared.crypto import SecretBox
from shared.migrations import safe_url
from tests.support.processes import PLATFORM_SETTINGS, clean_env

ROOT = Path(__file__).resolve().parents[2]
APPS = {
    "gateway": "gateway.main:app",
    "auth": "services.auth.main:app",
    "chat": "services.chat.main:app",
    "channels": "services.channels.main:app",
    "transcription": "services.transcription.main:app",
    "search": "services.search.main:app",
}


def cli(args: list[str], cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "devtools", *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_ports_env() -> dict[str, str]:
    """Every port of the stack on a free one, so only the port a test occupies is in use."""
    names = ["DEV_PG_PORT", "DEV_REDIS_PORT"] + [f"{app.upper()}_PORT" for app in APPS]
    ports: set[int] = set()
    while len(ports) < len(names):
        ports.add(free_port())
    return dict(zip(names, map(str, ports), strict=True))


@pytest.fixture
def listener():
    """A port really in use: something listens on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize(
    ("setting", "what"),
    [("CHAT_PORT", "chat service"), ("GATEWAY_PORT", "gateway service"), ("DEV_REDIS_PORT", "embedded Redis")],
)
def test_port_in_use_is_one_clear_line_naming_the_setting(tmp_path: Path, listener: int, setting: str, what: str):
    env = free_ports_env() | {setting: str(listener), "DEV_DATA_DIR": str(tmp_path / "data")}
    result = cli(["dev"], tmp_path, **env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"port {listener} is already in use ({what}); stop what uses it or set {setting}"
        + (" (or REDIS_URL)" if setting == "DEV_REDIS_PORT" else "")
    ]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "data").exists(), "nothing may start before the ports are checked"


def test_two_services_on_one_port_is_refused(tmp_path: Path):
    env = free_ports_env()
    env["SEARCH_PORT"] = env["CHAT_PORT"]
    result = cli(["dev"], tmp_path, **env)
    assert result.returncode == 2
    assert f"port {env['CHAT_PORT']} is configured twice (chat service and search service); change SEARCH_PORT" in (
        result.stderr
    )


def test_bad_setting_values_are_named_once_each(tmp_path: Path):
    env = free_ports_env() | {"CHAT_PORT": "abc", "LOG_LEVEL": "LOUD", "DEV_STOP_TIMEOUT": "-1"}
    result = cli(["dev"], tmp_path, **env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "invalid settings:"
    named = sorted(line.split(":")[0].strip() for line in lines[1:])
    # LOG_LEVEL is read by all six apps but reported once.
    assert named == ["CHAT_PORT", "DEV_STOP_TIMEOUT", "LOG_LEVEL"], lines
    assert "(got 'abc')" in result.stderr and "(got 'LOUD')" in result.stderr


def test_bad_setting_in_dotenv_is_named(tmp_path: Path):
    (tmp_path / ".env").write_text("AUTH_ACCESS_TOKEN_TTL_SECONDS=soon\n")
    result = cli(["dev"], tmp_path, **free_ports_env())
    assert result.returncode == 2
    assert "AUTH_ACCESS_TOKEN_TTL_SECONDS" in result.stderr and "(got 'soon')" in result.stderr


def test_uvicorn_on_any_app_with_a_bad_setting_prints_the_setting_not_a_traceback(tmp_path: Path):
    """What a user running a service by hand sees: the message and exit status 1."""
    procs = {
        app: subprocess.Popen(
            [sys.executable, "-m", "uvicorn", target, "--port", str(free_port())],
            cwd=tmp_path,
            env=clean_env(**{f"{app.upper()}_DB_POOL_SIZE": "many", "LOG_LEVEL": "LOUD"}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for app, target in APPS.items()
    }
    for app, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, (app, err)
        assert "Traceback" not in err, (app, err)
        assert "invalid settings:" in err, (app, err)
        assert f"{app.upper()}_DB_POOL_SIZE: Input should be a valid integer" in err, (app, err)
        assert "LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR' (got 'LOUD')" in err, (app, err)


def test_gen_key_makes_a_working_secrets_key(tmp_path: Path):
    result = cli(["gen-key"], tmp_path)
    assert result.returncode == 0
    key = result.stdout.strip()
    box = SecretBox(key)
    assert box.decrypt(box.encrypt("twilio-token")) == "twilio-token"
    assert cli(["gen-key"], tmp_path).stdout.strip() != key


def test_migrate_creates_every_schema_and_is_idempotent(stack, tmp_path: Path):
    """On a brand-new database of the test server: every schema at head, twice without error."""
    head, _, _ = stack.database_url.rpartition("/")
    name = f"cli_{uuid.uuid4().hex[:8]}"

    async def create_db() -> None:
        engine = create_async_engine(f"{head}/postgres", isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()

    async def versions() -> dict[str, str]:
        engine = create_async_engine(f"{head}/{name}")
        found = {}
        async with engine.connect() as conn:
            for schema in ("auth", "chat", "channels", "transcription", "search"):
                query = text(f'SELECT version_num FROM "{schema}".alembic_version')
                found[schema] = (await conn.execute(query)).scalar()
            ext = (await conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'"))).scalar()
        await engine.dispose()
        return found | {"vector": ext}

    asyncio.run(create_db())
    first = cli(["migrate"], tmp_path, DATABASE_URL=f"{head}/{name}", timeout=120)
    assert first.returncode == 0, first.stderr
    for schema in ("auth", "chat", "channels", "transcription", "search"):
        assert f"migrated {schema} schema to head" in first.stdout
    found = asyncio.run(versions())
    assert all(found.values()), found
    again = cli(["migrate"], tmp_path, DATABASE_URL=f"{head}/{name}", timeout=120)
    assert again.returncode == 0, again.stderr
    assert asyncio.run(versions()) == found


def test_migrate_against_an_unreachable_database_is_one_message(tmp_path: Path):
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/atende"
    result = cli(["migrate"], tmp_path, DATABASE_URL=url)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cannot use PostgreSQL at {url}: "), result.stderr


def test_external_database_that_is_down_stops_dev_with_one_message(tmp_path: Path):
    """DATABASE_URL set => no embedded Postgres; if it does not answer, say so (nothing else is left running)."""
    url = f"postgresql+asyncpg://app:hunter2@127.0.0.1:{free_port()}/atende"
    env = free_ports_env() | {"DATABASE_URL": url, "DEV_DATA_DIR": str(tmp_path / "data")}
    result = cli(["dev"], tmp_path, **env)
    assert result.returncode == 1
    assert "hunter2" not in result.stderr + result.stdout
    assert "cannot use PostgreSQL at postgresql+asyncpg://app:***@127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr
    assert "starting embedded PostgreSQL" not in result.stdout
    assert "starting embedded Redis" in result.stdout  # REDIS_URL unset: embedded, and stopped again
    assert result.stderr.rstrip().endswith("stopped")


def test_urls_between_services_follow_the_configured_ports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)  # no .env
    for key in list(os.environ):
        if key.startswith(PLATFORM_SETTINGS):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AUTH_PORT", "9101")
    monkeypatch.setenv("CHAT_PORT", "9102")
    monkeypatch.setenv("GATEWAY_SEARCH_UPSTREAM", "http://search.internal:80")
    _, specs = load_all_settings()
    env = wiring_env(specs)
    assert env["AUTH_URL"] == "http://127.0.0.1:9101"
    assert env["GATEWAY_AUTH_UPSTREAM"] == "http://127.0.0.1:9101"
    assert env["GATEWAY_CHAT_UPSTREAM"] == "http://127.0.0.1:9102"
    assert env["GATEWAY_CHANNELS_UPSTREAM"] == "http://127.0.0.1:8003"
    assert "GATEWAY_SEARCH_UPSTREAM" not in env, "a setting the user made is never overridden"
    assert env["CHAT_SEARCH_URL"] == "http://127.0.0.1:8005", "chat's knowledge search is on in the full stack"


def test_check_ports_lists_every_problem(listener: int):
    port = free_port()
    with pytest.raises(ConfigError) as err:
        check_ports(
            [
                (listener, "127.0.0.1", "chat service", "CHAT_PORT"),
                (port, "127.0.0.1", "x", "X_PORT"),
                (port, "127.0.0.1", "y", "Y_PORT"),
                (free_port(), "192.0.2.1", "z", "Z_PORT"),
            ]
        )
    assert str(err.value).splitlines() == [
        f"port {listener} is already in use (chat service); stop what uses it or set CHAT_PORT",
        f"port {port} is configured twice (x and y); change Y_PORT",
        "address 192.0.2.1 is not on this machine (z); change its HOST setting",
    ]
    check_ports([(free_port(), "127.0.0.1", "free", "F_PORT")])  # a free port passes


def test_urls_in_messages_never_show_a_password():
    assert safe_url("postgresql+asyncpg://app:hunter2@db:5432/x") == "postgresql+asyncpg://app:***@db:5432/x"
    assert safe_url("redis://:hunter2@cache:6379/0") == "redis://:***@cache:6379/0"
    assert safe_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(("nice", "policy"), [(19, os.SCHED_IDLE), (10, os.SCHED_OTHER), (0, os.SCHED_OTHER)])
def test_worker_priority_lowest_is_the_idle_class(nice: int, policy: int):
    """DEV_WORKER_NICE=19 (the default) also puts the worker in the idle scheduling class: a waking API preempts it
    at once (devtools.embedded.lower_priority says why nice alone was not enough). Below 19 it is the nice only; 0
    changes nothing."""
    from devtools.embedded import _child_setup

    proc = subprocess.Popen(["sleep", "30"], preexec_fn=_child_setup(None, None, 15, nice))  # noqa: PLW1509
    try:
        assert os.sched_getscheduler(proc.pid) == policy
        assert os.getpriority(os.PRIO_PROCESS, proc.pid) == nice
        autogroup = Path(f"/proc/{proc.pid}/autogroup")
        if autogroup.exists():  # sched_autogroup on: the session's nice is the one that counts between sessions
            assert autogroup.read_text().split()[-1] == str(nice)
    finally:
        proc.kill()
        proc.wait()
