"""`make run` for real: `python -m devtools dev` with embedded Postgres + Redis, every service, worker and the
gateway as processes; stopping it (SIGTERM, Ctrl-C, a child dying, or the parent being SIGKILLed) leaves no
process behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from tests.support.processes import clean_env, distinct_free_ports, snapshot, survivors

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "owner@e2e.example.com"
ADMIN_PASSWORD = "e2e-Admin-password-7"
APPS = ("gateway", "auth", "chat", "channels", "transcription", "search")
WORKERS = ("auth", "chat", "channels", "transcription", "search")


@dataclass
class DevRun:
    proc: subprocess.Popen
    log: Path
    ports: dict[str, int]
    pg_port: int

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_running(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while "Atende is running." not in self.output():
            if self.proc.poll() is not None:
                pytest.fail(f"dev exited with {self.proc.returncode} while starting:\n{self.output()[-6000:]}")
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"dev not running after {timeout}s:\n{self.output()[-6000:]}")
            time.sleep(0.2)

    def tree(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)


def start_dev(workdir: Path, data_dir: Path, log_name: str) -> DevRun:
    """`python -m devtools dev` in its own session (like a terminal job), on free ports, data in `data_dir`."""
    *app_ports, pg_port, redis_port = distinct_free_ports(len(APPS) + 2)
    ports = dict(zip(APPS, app_ports, strict=True))
    env = clean_env(
        DEV_DATA_DIR=str(data_dir),
        DEV_PG_PORT=str(pg_port),
        DEV_REDIS_PORT=str(redis_port),
        PG_FAST="1",
        DEMO_ADMIN_EMAIL=ADMIN_EMAIL,
        DEMO_ADMIN_PASSWORD=ADMIN_PASSWORD,
        **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()},
    )
    log = workdir / log_name
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devtools", "dev"],
            cwd=workdir,  # no stray .env from the repository; relative data dirs land here
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return DevRun(proc, log, ports, pg_port)


def assert_full_tree(run: DevRun) -> dict[int, tuple[float, str]]:
    snap = snapshot(run.tree())
    cmds = [desc for _, desc in snap.values()]
    assert any("/postgres -D" in c for c in cmds), cmds
    assert sum("postgres:" in c for c in cmds) >= 3, cmds  # the postmaster's own children
    assert any("redis-server" in c for c in cmds), cmds
    for app in APPS:
        module = "gateway.main:app" if app == "gateway" else f"services.{app}.main:app"
        assert any(f"uvicorn {module}" in c for c in cmds), f"no uvicorn for {app}: {cmds}"
    for worker in WORKERS:
        assert any(f"-m services.{worker}.worker" in c for c in cmds), f"no {worker} worker: {cmds}"
    assert_worker_priority(run.tree())
    return snap


def autogroup_nice(pid: int) -> int | None:
    """The nice of the process's scheduler autogroup (`/autogroup-N nice K`); None without sched_autogroup."""
    try:
        return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def assert_worker_priority(tree: list[psutil.Process]) -> None:
    """DEV_WORKER_NICE (default 19, the lowest priority): the stream workers yield the CPU to the APIs (nice 0)."""
    seen = {"worker": 0, "api": 0}
    for p in tree:
        cmd = " ".join(p.cmdline())
        kind = "worker" if ".worker" in cmd and "-m services." in cmd else "api" if "uvicorn " in cmd else None
        if kind is None:
            continue
        seen[kind] += 1
        want = 19 if kind == "worker" else 0
        assert p.nice() == want, (cmd, p.nice())
        if (group := autogroup_nice(p.pid)) is not None:
            assert group == want, (cmd, group)
    assert seen["worker"] == len(WORKERS), seen
    assert seen["api"] == len(APPS), seen


def check_every_service(run: DevRun) -> None:
    with httpx.Client(timeout=5) as client:
        for app, port in run.ports.items():
            health = client.get(f"http://127.0.0.1:{port}/health")
            assert health.status_code == 200, (app, health.text)
            assert health.json()["service"] == app
            ready = client.get(f"http://127.0.0.1:{port}/ready")
            assert ready.status_code == 200, (app, ready.text)
        gw = f"http://127.0.0.1:{run.ports['gateway']}"
        # Through the gateway's routes: auth's public keys come from auth behind it.
        jwks = client.get(f"{gw}/.well-known/jwks.json")
        assert jwks.status_code == 200, jwks.text
        assert jwks.json()["keys"], jwks.text
        # The gateway answers for itself and its /docs page is served.
        assert client.get(f"{gw}/health").json()["service"] == "gateway"
        assert client.get(f"{gw}/docs").status_code == 200
        # The demo admin (from DEMO_ADMIN_*) logs in through the gateway and reaches every service behind it.
        login = client.post(f"{gw}/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        me = client.get(f"{gw}/api/v1/auth/me", headers=auth)
        assert me.status_code == 200, me.text
        assert me.json()["is_superuser"] is True
        assert [m["role"] for m in me.json()["memberships"]] == ["admin"], me.text
        for path in ("/api/v1/assistants", "/api/v1/channels", "/api/v1/transcriptions", "/api/v1/documents"):
            listed = client.get(f"{gw}{path}", headers=auth)
            assert listed.status_code == 200, (path, listed.text)
            assert "items" in listed.json(), (path, listed.text)
        # Its readiness asks every upstream's /health where the dev stack told it they are.
        ready = client.get(f"{gw}/ready", headers=auth)  # the demo admin is the platform superuser: details
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        for app, port in run.ports.items():
            if app != "gateway":
                assert checks[app]["status"] == "ok", checks
                assert checks[app]["url"] == f"http://127.0.0.1:{port}", checks


def test_dev_stack_up_then_sigterm_and_ctrl_c_leave_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"

    # First run: initialises the data dir; SIGTERM stops it.
    run = start_dev(tmp_path, data, "run1.log")
    try:
        run.wait_running()
        check_every_service(run)
        snap = assert_full_tree(run)
        out = run.output()
        # Children's output is forwarded, one tagged line per log line; the seed ran; the banner tells where.
        for tag in ("seed", "gateway", "auth", "chat", "channels", "transcription", "search"):
            assert f"\n{tag:<21}| " in out, tag
        for app, port in run.ports.items():
            assert f"http://127.0.0.1:{port}" in out, app
        assert f"demo admin            {ADMIN_EMAIL}  (password from DEMO_ADMIN_PASSWORD" in out
        assert ADMIN_PASSWORD not in out
        # Data to find again in the second run.
        marker = "CREATE TABLE public.e2e_marker (v text); INSERT INTO e2e_marker VALUES ('kept')"
        asyncio.run(_sql(run.pg_port, marker))
        secrets_key = (data / "secrets_key").read_text()
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(45) == 0, run.output()[-4000:]
        left = survivors(snap, timeout=5)
        assert not left, f"left running after SIGTERM: {left}"
    finally:
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)

    # Second run on the same data dir: data and generated secrets are kept; Ctrl-C (SIGINT to the foreground
    # process group) stops it.
    run = start_dev(tmp_path, data, "run2.log")
    try:
        run.wait_running()
        snap = assert_full_tree(run)
        assert asyncio.run(_sql(run.pg_port, "SELECT v FROM public.e2e_marker")) == "kept"
        assert (data / "secrets_key").read_text() == secrets_key
        os.killpg(run.proc.pid, signal.SIGINT)
        assert run.proc.wait(45) == 0, run.output()[-4000:]
        left = survivors(snap, timeout=5)
        assert not left, f"left running after Ctrl-C: {left}"
        assert "received SIGINT; stopping" in run.output()
    finally:
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)


def test_a_child_that_dies_stops_everything(tmp_path: Path) -> None:
    """A worker crashing is not hidden: dev names it, stops the rest and exits 1."""
    run = start_dev(tmp_path, tmp_path / "data", "run.log")
    try:
        run.wait_running()
        snap = assert_full_tree(run)
        worker = next(p for p in run.tree() if "services.chat.worker" in " ".join(p.cmdline()))
        worker.kill()
        assert run.proc.wait(45) == 1, run.output()[-4000:]
        assert "chat-worker exited unexpectedly (code -9); stopping everything" in run.output()
        left = survivors(snap, timeout=5)
        assert not left, f"left running after a child died: {left}"
    finally:
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)


SUPERVISED = """
import sys, time
from devtools.supervisor import Supervisor
sup = Supervisor(env={"PATH": "/usr/bin:/bin"})
for name in ("one", "two"):
    sup.spawn(name, [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"])
print("spawned", *(c.proc.pid for c in sup.children), flush=True)
time.sleep(600)
"""


def test_sigkilled_supervisor_takes_its_children_along(tmp_path: Path) -> None:
    """The parent-death signal of every service/worker child: a parent that cannot clean up still leaves nothing."""
    proc = subprocess.Popen([sys.executable, "-c", SUPERVISED], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        # The children's prefixed output shares the pipe and may come first.
        line = ""
        for _ in range(10):
            line = proc.stdout.readline()
            if line.startswith("spawned"):
                break
        assert line.startswith("spawned"), line
        pids = [int(pid) for pid in line.split()[1:]]
        snap = snapshot([psutil.Process(pid) for pid in pids])
        assert len(snap) == 2
        proc.kill()
        proc.wait(10)
        assert not survivors(snap, timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigkilled_servers_take_postgres_and_redis_along(tmp_path: Path) -> None:
    """The same for the embedded servers (`python -m devtools servers`, also what `dev` starts first)."""
    pg_port, redis_port = distinct_free_ports(2)
    env = clean_env(DEV_DATA_DIR=str(tmp_path / "data"), DEV_PG_PORT=str(pg_port), DEV_REDIS_PORT=str(redis_port))
    log = tmp_path / "servers.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devtools", "servers"], cwd=tmp_path, env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while "export REDIS_URL=" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert f"export DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:{pg_port}/atende" in log.read_text()
        snap = snapshot(psutil.Process(proc.pid).children(recursive=True))
        cmds = [desc for _, desc in snap.values()]
        assert any("/postgres -D" in c for c in cmds) and any("redis-server" in c for c in cmds), cmds
        proc.kill()
        proc.wait(10)
        assert not survivors(snap, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


async def _sql(port: int, sql: str):
    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="atende")
    try:
        if sql.lstrip().upper().startswith("SELECT"):
            return await conn.fetchval(sql)
        await conn.execute(sql)
    finally:
        await conn.close()
