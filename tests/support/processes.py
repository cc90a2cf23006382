"""The platform as separate processes, for tests that kill and restart them (tests/e2e/chaos.py) or run `make run`
itself (tests/e2e): started as `make run` starts it (devtools' settings, wiring, argv and supervisor), on free ports,
with the stand-in LLM, Twilio and Telegram as processes too, a clean environment and the check that nothing is left
running. In-process whole-stack tests use tests/support/platform.py instead."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

from devtools.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from devtools.settings import APPS, load_all_settings, wiring_env
from devtools.supervisor import Child, Supervisor, uvicorn_argv, worker_argv
from shared.migrations import upgrade_all

__all__ = [
    "LLM_KEY", "PLATFORM_SETTINGS", "TWILIO_FROM", "TWILIO_SID", "TWILIO_TOKEN", "ProcessPlatform", "Service",
    "clean_env", "distinct_free_ports", "snapshot", "survivors",
]  # fmt: skip

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
LLM_KEY = "sk-process-platform"
TWILIO_SID = "AC" + "c" * 32
TWILIO_TOKEN = "process-platform-twilio-auth-token"
TWILIO_FROM = "whatsapp:+14155238886"
SECRETS_KEY = "process-platform-secrets-key"
# Settings a developer's shell or another test may have set (name prefixes): a stack under test gets only its own.
PLATFORM_SETTINGS = ("DATABASE_URL", "REDIS_URL", "AUTH_URL", "JWKS_URL", "JWKS_JSON", "SECRETS_KEY", "SERVICE_SECRET",
                     "LOG_", "DEV_", "GATEWAY_", "AUTH_", "CHAT_", "CHANNELS_", "TRANSCRIPTION_", "SEARCH_", "DEMO_",
                     "TEST_", "EVENTS_")  # fmt: skip


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any of the platform's settings, plus `extra`; the repository root on the path (the
    children import this checkout, as `make` has it from its cwd)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PLATFORM_SETTINGS)}
    return env | {"PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)} | extra


def distinct_free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def snapshot(procs: list[psutil.Process]) -> dict[int, tuple[float, str]]:
    """pid -> (create time, description): a pid reused later by an unrelated process does not count."""
    snap = {}
    for p in procs:
        with contextlib.suppress(psutil.Error):
            snap[p.pid] = (p.create_time(), " ".join(p.cmdline())[:160] or p.name())
    return snap


def survivors(snap: dict[int, tuple[float, str]], timeout: float) -> list[str]:
    """The processes of `snap` still running after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for pid, (created, desc) in snap.items():
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(pid)
                if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{pid} {desc}")
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


# -- stand-in providers as processes (uvicorn --factory targets); /_calls lists what they were sent -------------------


def _with_calls(recorder, rows):
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def calls(request):
        since = int(request.query_params.get("since", "0"))
        return JSONResponse({"next": len(recorder.calls), "calls": rows(recorder.calls[since:])})

    recorder.app.router.routes.append(Route("/_calls", calls, methods=["GET"]))
    return recorder.app


def llm_app():
    from tests.support.llm import LLMStandIn

    return LLMStandIn(api_key=LLM_KEY).app


def twilio_app():
    """Twilio's API; /_calls: [to, body, at] of every message sent."""
    from tests.support.providers import TwilioStandIn

    return _with_calls(
        TwilioStandIn(TWILIO_SID, TWILIO_TOKEN),
        lambda calls: [
            [c["params"].get("To"), c["params"].get("Body"), c["at"]] for c in calls if c["method"] == "messages.create"
        ],
    )


def telegram_app():
    """Telegram's Bot API; /_calls: [chat id, text, at] of every message sent."""
    from tests.support.providers import TelegramStandIn

    return _with_calls(
        TelegramStandIn(),
        lambda calls: [
            [str(c["params"].get("chat_id")), c["params"].get("text"), c["at"]]
            for c in calls
            if c["method"] == "sendMessage"
        ],
    )


STAND_INS = {"llm": "llm_app", "twilio": "twilio_app", "telegram": "telegram_app"}


# -- the platform ---------------------------------------------------------------------------------------------------


@dataclass
class Service:
    """One process of the platform: an API (`health` is its /health), a worker (its consumer shows up in `group` of
    `stream` when it is back) or a stand-in."""

    name: str
    argv: list[str]
    health: str | None = None
    stream: str | None = None
    group: str | None = None
    child: Child | None = None
    starts: int = 0

    @property
    def pid(self) -> int | None:
        return self.child.proc.pid if self.child is not None else None


class ProcessPlatform:
    """Embedded Postgres 16 (fsync off: only processes crash here, never the OS) and Redis, migrations, the demo seed,
    every API under uvicorn and every worker as `make run` runs them, plus the stand-ins, each process logging to
    `<base>/logs/<name>.log`. `settings`: extra environment of every process (e.g. CHAT_BUFFER_LEASE_SECONDS).
    `workers`: how many workers per service (default one; a second is named `<service>-worker-2`). `groups`: per
    service, the (stream, group) its workers consume, to tell when a restarted one is back."""

    def __init__(
        self,
        base: Path,
        *,
        settings: dict[str, str] | None = None,
        workers: dict[str, int] | None = None,
        groups: dict[str, tuple[str, str]] | None = None,
        redis_appendfsync: str | None = None,
        admin_email: str = "owner@processes.example.com",
        admin_password: str = "process-Owner-password-1",
    ) -> None:
        self.base = base
        self.logdir = base / "logs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.settings = settings or {}
        self.workers = workers or {}
        self.groups = groups or {}
        self.redis_appendfsync = redis_appendfsync
        self.admin_email, self.admin_password = admin_email, admin_password
        self.pg: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.sup: Supervisor | None = None
        self.services: dict[str, Service] = {}
        self.urls: dict[str, str] = {}

    def start(self, timeout: float = 300.0) -> ProcessPlatform:
        self.start_servers()
        self.start_apps(timeout)
        return self

    def start_servers(self) -> None:
        from tests.support.plugin import shared_bin_root

        os.environ.setdefault("PG_FAST", "1")
        self.pg = EmbeddedPostgres(self.base / "postgres", port=free_port(), bin_root=shared_bin_root()).start()
        aof = self.redis_appendfsync is not None
        self.redis = EmbeddedRedis(
            self.base / "redis", port=free_port(), appendonly=aof, appendfsync=self.redis_appendfsync or "everysec"
        ).start()
        upgrade_all(self.pg.url)

    def start_apps(self, timeout: float = 300.0) -> None:
        ports = dict(zip((*APPS, *STAND_INS), distinct_free_ports(len(APPS) + len(STAND_INS)), strict=True))
        self.urls = {name: f"http://{HOST}:{port}" for name, port in ports.items()}
        limits = {"default": {"ip": "100000/minute"}, "auth_public": {"ip": "1000/minute"}}
        limits["webhooks"] = {"ip": "1000000/minute"}  # every customer comes from 127.0.0.1 here
        env = (
            clean_env(
                DATABASE_URL=self.pg.url,
                REDIS_URL=self.redis.url,
                SECRETS_KEY=SECRETS_KEY,
                SERVICE_SECRET="process-platform-service-secret-" + uuid.uuid4().hex,
                DEMO_ADMIN_EMAIL=self.admin_email,
                DEMO_ADMIN_PASSWORD=self.admin_password,
                CHANNELS_PUBLIC_BASE_URL=self.urls["gateway"],
                CHANNELS_TWILIO_API_URL=self.urls["twilio"],
                CHANNELS_TELEGRAM_API_URL=self.urls["telegram"],
                CHANNELS_MEDIA_DIR=str(self.base / "media"),
                CHAT_LLM_BASE_URL=f"{self.urls['llm']}/v1",
                CHAT_LLM_API_KEY=LLM_KEY,
                CHAT_LLM_MODEL="stand-in-model",
                GATEWAY_RATE_LIMITS=json.dumps(limits),
                TRANSCRIPTION_STORAGE_DIR=str(self.base / "transcription"),
                **{f"{name.upper()}_PORT": str(ports[name]) for name in APPS},
            )
            | self.settings
        )
        # The CLI's own settings loading and wiring (docs/dev-stack.md), on this environment.
        with _environ(env):
            _dev, specs = load_all_settings()
            env |= wiring_env(specs)
        self.sup = Supervisor(env, cwd=self.base, logdir=self.logdir)
        for name, factory in STAND_INS.items():
            argv = [sys.executable, "-m", "uvicorn", f"tests.support.processes:{factory}", "--factory", "--host", HOST,
                    "--port", str(ports[name]), "--log-level", "warning", "--no-access-log"]  # fmt: skip
            probe = f"{self.urls[name]}/v1/models" if name == "llm" else f"{self.urls[name]}/_calls"
            self.services[name] = Service(name, argv, health=probe)
        for spec in specs:
            if spec.name == "gateway":
                continue
            count = self.workers.get(spec.name, 1)
            stream, group = self.groups.get(spec.name, (None, None))
            for i in range(1, count + 1):
                name = f"{spec.name}-worker" + (f"-{i}" if count > 1 else "")
                self.services[name] = Service(name, worker_argv(spec), stream=stream, group=group)
        for spec in specs:
            self.services[spec.name] = Service(spec.name, uvicorn_argv(spec), health=f"{spec.url}/health")
        code = self.sup.run("seed", [sys.executable, "-m", "services.auth.seed"], timeout=timeout)
        if code != 0:
            raise RuntimeError(f"the demo seed failed ({code}); {self.logdir / 'seed.log'}")
        for name in self.services:
            self.start_service(name)
        self.wait_healthy(list(self.services), timeout)

    def start_service(self, name: str) -> Service:
        service = self.services[name]
        service.starts += 1
        service.child = self.sup.spawn(name, service.argv)
        return service

    def kill(self, name: str) -> None:
        """SIGKILL one process (a crash); `start_service(name)` starts it again."""
        service = self.services[name]
        if service.child is not None:
            self.sup.kill(service.child)
            service.child = None

    def dead(self) -> list[str]:
        """Processes that exited on their own."""
        return [s.name for s in self.services.values() if s.child is not None and s.child.proc.poll() is not None]

    def wait_healthy(self, names: list[str], timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        pending = {n for n in names if self.services[n].health}
        with httpx.Client(timeout=2) as client:
            while pending:
                if dead := self.dead():
                    raise RuntimeError(f"{dead} exited while starting; logs in {self.logdir}")
                for name in list(pending):
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(self.services[name].health).status_code == 200:
                            pending.discard(name)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not healthy after {timeout}s: {sorted(pending)}; logs in {self.logdir}")
                time.sleep(0.2)

    def stop(self) -> None:
        if self.sup is not None:
            self.sup.stop(15.0)
        if self.redis is not None:
            self.redis.stop()
        if self.pg is not None:
            self.pg.stop()


@contextlib.contextmanager
def _environ(env: dict[str, str]):
    """os.environ replaced by `env` for the duration (the CLI's settings loaders read it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
