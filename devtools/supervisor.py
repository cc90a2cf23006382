"""Child processes of `make run`: service-tagged output, stop signals, stopped together."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from devtools.embedded import _child_setup
from devtools.settings import AppSpec


class Shutdown(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_out_lock = threading.Lock()


def say(line: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    with _out_lock:
        stream.write(line + "\n")
        stream.flush()


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    reader: threading.Thread | None  # None: its output goes to a log file
    expected_exit: bool = False


@dataclass
class Supervisor:
    """Child processes with service-tagged output, stopped together (SIGTERM, then SIGKILL).

    With `logdir` (tests that kill and restart children), each child's output is appended to `<logdir>/<name>.log`
    instead."""

    env: dict[str, str]
    width: int = 21  # the longest tag, transcription-worker, plus a space
    children: list[Child] = field(default_factory=list)
    cwd: Path | None = None
    logdir: Path | None = None

    def spawn(self, name: str, argv: list[str], nice: int = 0) -> Child:
        log = None
        if self.logdir is not None:
            log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child, closed below
            log.write(f"\n--- start at {time.time():.3f}\n".encode())
            log.flush()
        try:
            proc = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log or subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # Own process group (stopped as a group), at `nice`, and SIGTERM if we die, even by SIGKILL.
                preexec_fn=_child_setup(None, None, signal.SIGTERM, nice),
            )
        finally:
            if log is not None:
                log.close()
        reader = None
        if log is None:
            reader = threading.Thread(target=self._forward, args=(name, proc), daemon=True, name=f"out-{name}")
            reader.start()
        child = Child(name, proc, reader)
        self.children.append(child)
        return child

    def kill(self, child: Child, timeout: float = 30.0) -> None:
        """SIGKILL one child and its process group, and forget it (a crash, for tests that inject faults)."""
        child.expected_exit = True
        self._signal(child, signal.SIGKILL)
        child.proc.wait(timeout)
        if child.reader is not None:
            child.reader.join(2)
        self.children.remove(child)

    def _forward(self, name: str, proc: subprocess.Popen) -> None:
        tag = f"{name:<{self.width}}| "
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            say(tag + raw.decode("utf-8", "replace").rstrip("\r\n"))
        proc.stdout.close()

    def run(self, name: str, argv: list[str], timeout: float) -> int:
        """Run a one-shot child to completion (its output forwarded)."""
        child = self.spawn(name, argv)
        child.expected_exit = True
        try:
            code = child.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(child, signal.SIGKILL)
            child.proc.wait(5)
            code = -signal.SIGKILL
        if child.reader is not None:
            child.reader.join(5)
        self.children.remove(child)
        return code

    def dead(self) -> Child | None:
        for child in self.children:
            if not child.expected_exit and child.proc.poll() is not None:
                return child
        return None

    @staticmethod
    def _signal(child: Child, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, sig)

    def stop(self, timeout: float) -> None:
        for child in self.children:
            child.expected_exit = True
            if child.proc.poll() is None:
                self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children:
            try:
                child.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{child.name} did not stop within {timeout:g}s; killing it", err=True)
        for child in self.children:
            # The group too: anything a child started must not outlive it.
            self._signal(child, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(5)
        for child in self.children:
            if child.reader is not None:
                child.reader.join(2)
        self.children.clear()


@contextlib.contextmanager
def stop_signals() -> Iterator[list[int]]:
    """SIGINT/SIGTERM raise Shutdown in the main thread once; later ones are recorded and ignored."""
    received: list[int] = []

    def handler(signum, _frame) -> None:
        received.append(signum)
        if len(received) == 1:
            raise Shutdown(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def worker_argv(spec: AppSpec) -> list[str]:
    """The service's stream worker (`python -m services.<name>.worker`)."""
    return [sys.executable, "-m", f"{spec.module}.worker"]


def uvicorn_argv(spec: AppSpec) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        spec.asgi,
        "--host",
        spec.settings.host,
        "--port",
        str(spec.settings.port),
        "--no-access-log",
        "--log-level",
        spec.settings.log_level.lower(),
        "--timeout-graceful-shutdown",
        "5",
        # Each app decides itself whose X-Forwarded-For to believe (GATEWAY_/AUTH_TRUSTED_PROXIES, shared/net.py).
        "--no-proxy-headers",
        *(["--no-server-header"] if spec.name == "gateway" else []),
    ]


# --------------------------------------------------------------------------------------------------- commands
