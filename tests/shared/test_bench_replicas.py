"""bench/replicas.py: N API processes on one port, each with its own SO_REUSEPORT socket, so connections opened in
one burst are spread over the processes (uvicorn --workers' shared socket gave them all to one: docs/pipeline.md)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from devtools.embedded import free_port

REPO = Path(__file__).resolve().parents[2]
APP = '''
import os

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
'''


def _start(tmp_path: Path, port: int) -> subprocess.Popen:
    (tmp_path / "whoami.py").write_text(APP)
    env = os.environ | {"PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    cmd = [sys.executable, "-m", "bench.replicas", "whoami:app", "--port", str(port), "--processes", "2"]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_up(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode()
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("replicas did not come up")


def _children(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


async def _burst(port: int, n: int) -> list[str]:
    """n keep-alive connections opened at once (as the bench's load generator does), one request each."""

    async def one() -> str:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            return (await client.get("/")).text

    return await asyncio.gather(*(one() for _ in range(n)))


def test_a_burst_of_connections_reaches_both_processes_and_sigterm_stops_all(tmp_path: Path):
    port = free_port()
    proc = _start(tmp_path, port)
    try:
        _wait_up(f"http://127.0.0.1:{port}/", proc)
        children = _children(proc.pid)
        assert len(children) == 2
        served = [int(p) for p in asyncio.run(_burst(port, 64))]
        assert set(served) == children  # every request answered by one of the two, and both served some
        assert min(served.count(p) for p in children) >= 8  # a hash spread, not one process with a straggler
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        time.sleep(0.2)
        assert not any(Path(f"/proc/{p}").exists() for p in children)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_replica_that_dies_stops_the_rest_and_fails(tmp_path: Path):
    port = free_port()
    proc = _start(tmp_path, port)
    try:
        _wait_up(f"http://127.0.0.1:{port}/", proc)
        first, second = sorted(_children(proc.pid))
        os.kill(first, signal.SIGKILL)
        assert proc.wait(30) == 1
        time.sleep(0.2)
        assert not Path(f"/proc/{second}").exists()  # stopped and reaped by the parent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
