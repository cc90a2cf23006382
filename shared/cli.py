"""The developer CLI behind the Makefile: `python -m shared.cli dev|servers|migrate|seed|gen-key`.

`dev` runs the whole platform locally: embedded PostgreSQL 16 + pgvector and Redis (unless DATABASE_URL /
REDIS_URL are set), migrations, the demo seed, every service under uvicorn, every stream worker and the
gateway, as children of this process. Ctrl-C or SIGTERM stops all of it; so does this process dying (the
children carry a parent-death signal). Decisions are in docs/dev-stack.md.

Exit codes: 0 stopped on request, 1 something failed at run time, 2 configuration error (bad setting value,
port in use).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from dotenv import dotenv_values
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.config import ServiceSettings, SettingsError, env_names, load_settings
from shared.devstack import EmbeddedPostgres, EmbeddedRedis, _child_setup

EXIT_FAILED = 1
EXIT_CONFIG = 2

SERVICES = ("auth", "chat", "channels", "transcription", "search")
APPS = (*SERVICES, "gateway")


class DevSettings(BaseSettings):
    """Settings of the local dev stack itself (env prefix DEV_)."""

    model_config = SettingsConfigDict(env_prefix="DEV_", env_file=".env", extra="ignore")

    # Where embedded Postgres/Redis keep their data and where generated dev secrets are kept (kept between runs).
    data_dir: Path = Path(".data")
    # Ports of the embedded servers; fixed so hand-run services find them with the default DATABASE_URL/REDIS_URL.
    pg_port: int = Field(5432, ge=1, le=65535)
    redis_port: int = Field(6379, ge=1, le=65535)
    # Seconds to wait for every /health after start, and for children to stop after SIGTERM before SIGKILL.
    startup_timeout: float = Field(120.0, gt=0)
    stop_timeout: float = Field(10.0, gt=0)
    # CPU priority (nice, 0-19) of the stream workers against the APIs, the gateway and the servers: a burst of
    # webhooks is acked first and the workers catch up on the stream backlog, which is durable (docs/pipeline.md,
    # "Giving the webhook tier the CPU"). 0 = the same priority as everything else.
    worker_nice: int = Field(19, ge=0, le=19)


class ConfigError(Exception):
    """A problem the user fixes in their configuration; printed as is, exit code 2."""


class Shutdown(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# --------------------------------------------------------------------------------------------------- settings


@dataclass
class AppSpec:
    name: str
    settings: ServiceSettings
    port_env: str

    @property
    def module(self) -> str:
        return "gateway" if self.name == "gateway" else f"services.{self.name}"

    @property
    def asgi(self) -> str:
        return f"{self.module}.main:app"

    @property
    def probe_host(self) -> str:
        host = self.settings.host
        return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host  # noqa: S104 - probing, not binding

    @property
    def url(self) -> str:
        return f"http://{self.probe_host}:{self.settings.port}"


def _settings_class(module: str) -> type[ServiceSettings]:
    mod = importlib.import_module(f"{module}.config")
    classes = [
        obj
        for obj in vars(mod).values()
        if isinstance(obj, type) and issubclass(obj, ServiceSettings) and obj is not ServiceSettings
    ]
    if len(classes) != 1:
        raise RuntimeError(f"{module}.config must define exactly one ServiceSettings subclass")
    return classes[0]


def load_all_settings() -> tuple[DevSettings, list[AppSpec]]:
    """Every settings object of the stack, or one ConfigError listing every bad value (each named once)."""
    problems: list[str] = []
    dev = None
    try:
        dev = load_settings(DevSettings)
    except SettingsError as exc:
        problems.extend(str(exc).splitlines()[1:])
    specs = []
    for name in APPS:
        cls = _settings_class("gateway" if name == "gateway" else f"services.{name}")
        try:
            settings = load_settings(cls)
        except SettingsError as exc:
            problems.extend(line for line in str(exc).splitlines()[1:] if line not in problems)
            continue
        specs.append(AppSpec(name, settings, env_names(cls)["port"][0]))  # type: ignore[arg-type]
    if problems:
        raise ConfigError("invalid settings:\n" + "\n".join(problems))
    assert dev is not None
    return dev, specs  # type: ignore[return-value]


def explicit(name: str) -> str | None:
    """A value the user set in the environment or in ./.env (not a default)."""
    value = os.environ.get(name)
    if value is None:
        value = dotenv_values(".env").get(name) if Path(".env").exists() else None
    return value or None


def _persisted_secret(path: Path, make) -> str:
    """A generated dev secret, kept in the data dir so restarts keep decrypting what was stored."""
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def new_secrets_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def dev_secrets(dev: DevSettings) -> dict[str, str]:
    """SECRETS_KEY and SERVICE_SECRET: the user's if set, else generated once and kept under the data dir."""
    env = {}
    if not explicit("SECRETS_KEY"):
        env["SECRETS_KEY"] = _persisted_secret(dev.data_dir / "secrets_key", new_secrets_key)
    if not explicit("SERVICE_SECRET"):
        env["SERVICE_SECRET"] = _persisted_secret(dev.data_dir / "service_secret", lambda: secrets.token_urlsafe(32))
    return env


# Settings that are empty by default (= feature off when a service runs alone) but that the whole local
# platform turns on: (app, field) -> the service whose URL it gets.
LINKS = {("chat", "search_url"): "search", ("channels", "public_base_url"): "gateway"}


def wiring_env(specs: list[AppSpec]) -> dict[str, str]:
    """Point every `http://127.0.0.1:<default port of X>` URL setting (AUTH_URL, GATEWAY_*_UPSTREAM, ...) and
    every LINKS setting at where X really listens, unless the user set that setting."""
    default_port = {spec.name: type(spec.settings).model_fields["port"].default for spec in specs}
    actual = {default_port[spec.name]: spec.url for spec in specs}
    by_name = {spec.name: spec for spec in specs}
    env: dict[str, str] = {}
    for (app, field_name), target in LINKS.items():
        cls = type(by_name[app].settings)
        if field_name in cls.model_fields:
            env_name = env_names(cls)[field_name][0]
            if not explicit(env_name):
                env[env_name] = by_name[target].url
    for spec in specs:
        names = env_names(type(spec.settings))
        for field_name, info in type(spec.settings).model_fields.items():
            default = info.default
            if not isinstance(default, str):
                continue
            for port, url in actual.items():
                prefix = f"http://127.0.0.1:{port}"
                if default == prefix or default.startswith(prefix + "/"):
                    env_name = names[field_name][0]
                    if not explicit(env_name):
                        env[env_name] = url + default[len(prefix) :]
    return env


# --------------------------------------------------------------------------------------------------- processes


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
    reader: threading.Thread
    expected_exit: bool = False


@dataclass
class Supervisor:
    """Child processes with service-tagged output, stopped together (SIGTERM, then SIGKILL)."""

    env: dict[str, str]
    width: int = 21  # the longest tag, transcription-worker, plus a space
    children: list[Child] = field(default_factory=list)

    def spawn(self, name: str, argv: list[str], nice: int = 0) -> Child:
        proc = subprocess.Popen(
            argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own process group (stopped as a group), at `nice`, and SIGTERM if we die, even by SIGKILL.
            preexec_fn=_child_setup(None, None, signal.SIGTERM, nice),
        )
        reader = threading.Thread(target=self._forward, args=(name, proc), daemon=True, name=f"out-{name}")
        reader.start()
        child = Child(name, proc, reader)
        self.children.append(child)
        return child

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


def _bind_error(port: int, host: str) -> int | None:
    """The errno binding host:port fails with now, or None if it is free."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return exc.errno or errno.EADDRINUSE
    return None


def check_ports(ports: list[tuple[int, str, str, str]]) -> None:
    """(port, host, what, setting): fail with one line per clash, port already taken or not ours to bind."""
    seen: dict[int, str] = {}
    problems = []
    for port, host, what, setting in ports:
        if port in seen:
            problems.append(f"port {port} is configured twice ({seen[port]} and {what}); change {setting}")
            continue
        seen[port] = what
        error = _bind_error(port, host or "127.0.0.1")
        if error == errno.EACCES:
            problems.append(f"port {port} needs more privileges than this user has ({what}); set {setting}")
        elif error == errno.EADDRNOTAVAIL:
            problems.append(f"address {host} is not on this machine ({what}); change its HOST setting")
        elif error is not None:
            problems.append(f"port {port} is already in use ({what}); stop what uses it or set {setting}")
    if problems:
        raise ConfigError("\n".join(problems))


@dataclass
class Servers:
    """Where Postgres and Redis are, embedded or the user's."""

    database_url: str
    redis_url: str
    pg: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self.pg is not None:
            self.pg.stop()
            self.pg = None


def plan_servers(dev: DevSettings) -> tuple[str | None, str | None]:
    """The user's DATABASE_URL / REDIS_URL if set (env or .env); None = start the embedded one."""
    return explicit("DATABASE_URL"), explicit("REDIS_URL")


def start_servers(dev: DevSettings, db_url: str | None, redis_url: str | None, servers: Servers) -> None:
    """Start what is not given (into `servers`, so a failure midway still stops what started)."""
    data = dev.data_dir.resolve()
    if db_url is None:
        say(f"starting embedded PostgreSQL 16 + pgvector on 127.0.0.1:{dev.pg_port} (data in {data / 'postgres'})")
        servers.pg = EmbeddedPostgres(data / "postgres", port=dev.pg_port)
        servers.pg.start()
        servers.database_url = servers.pg.url
    if redis_url is None:
        say(f"starting embedded Redis on 127.0.0.1:{dev.redis_port} (data in {data / 'redis'})")
        servers.redis = EmbeddedRedis(data / "redis", port=dev.redis_port)
        servers.redis.start()
        servers.redis_url = servers.redis.url


def server_ports(dev: DevSettings, db_url: str | None, redis_url: str | None) -> list[tuple[int, str, str, str]]:
    ports = []
    if db_url is None:
        ports.append((dev.pg_port, "127.0.0.1", "embedded PostgreSQL", "DEV_PG_PORT (or DATABASE_URL)"))
    if redis_url is None:
        ports.append((dev.redis_port, "127.0.0.1", "embedded Redis", "DEV_REDIS_PORT (or REDIS_URL)"))
    return ports


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a SQLAlchemy URL (redis://)
        head, sep, tail = url.rpartition("@")
        return f"{head.split(':')[0]}:***@{tail}" if sep and ":" in head.split("//", 1)[-1] else url


def check_database(database_url: str, timeout: float = 10.0) -> None:
    """Fail with one line when the database cannot be reached (before migrations, whose errors are bugs)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def ping() -> None:
        engine = create_async_engine(database_url, connect_args={"timeout": timeout})
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(ping())
    except Exception as exc:  # noqa: BLE001 - whatever it is, the user must see where and why
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConnectionError(f"cannot use PostgreSQL at {safe_url(database_url)}: {detail}") from None


def check_redis(redis_url: str, timeout: float = 5.0) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        raise ConnectionError(f"cannot use Redis at {safe_url(redis_url)}: {exc}") from None
    finally:
        client.close()


def migrate_all(database_url: str) -> None:
    from shared.migrations import SERVICES as MIGRATED
    from shared.migrations import upgrade

    check_database(database_url)
    for service in MIGRATED:
        started = time.monotonic()
        try:
            upgrade(service, database_url)
        except Exception as exc:
            # A broken migration is a bug to fix: show where.
            raise RuntimeError(f"migrating the {service} schema failed:\n{traceback.format_exc()}") from exc
        say(f"migrated {service} schema to head ({time.monotonic() - started:.1f}s)")


SEED_MODULE = "services.auth.seed"


def seed_available() -> bool:
    return importlib.util.find_spec(SEED_MODULE) is not None


def wait_healthy(sup: Supervisor, specs: list[AppSpec], timeout: float) -> None:
    import httpx

    pending = {spec.name: f"{spec.url}/health" for spec in specs}
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while pending:
            dead = sup.dead()
            if dead is not None:
                raise RuntimeError(f"{dead.name} exited with code {dead.proc.returncode} while starting")
            for name, url in list(pending.items()):
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(url).status_code == 200:
                        del pending[name]
            if not pending:
                return
            if time.monotonic() > deadline:
                waiting = ", ".join(sorted(pending))
                raise RuntimeError(f"not healthy after {timeout:g}s: {waiting} (DEV_STARTUP_TIMEOUT waits longer)")
            time.sleep(0.2)


def admin_console_line(gw: AppSpec) -> str:
    """Where the admin console is, or how to build it (the gateway serves GATEWAY_ADMIN_DIR, default admin/dist)."""
    configured = getattr(gw.settings, "admin_dir", "")
    dist = Path(configured) if configured else Path(__file__).resolve().parents[1] / "admin" / "dist"
    if (dist / "index.html").is_file():
        return f"{gw.url}/admin/"
    return "not built: install Node.js 20+ and run `make admin` (docs/admin.md)"


def banner(specs: list[AppSpec], servers: Servers, dev: DevSettings) -> str:
    by_name = {spec.name: spec for spec in specs}
    gw = by_name["gateway"]
    lines = [
        "",
        "Atende is running.",
        f"  gateway (public API)  {gw.url}",
        f"  API docs              {gw.url}/docs",
        f"  admin console         {admin_console_line(gw)}",
    ]
    for name in SERVICES:
        lines.append(f"  {name:<21} {by_name[name].url}  (docs: {by_name[name].url}/docs)")
    pg_note = f"embedded, data in {servers.pg.base_dir}" if servers.pg else "yours, from DATABASE_URL"
    rd_note = f"embedded, data in {servers.redis.base_dir}" if servers.redis else "yours, from REDIS_URL"
    lines += [
        f"  PostgreSQL            {safe_url(servers.database_url)}  ({pg_note})",
        f"  Redis                 {safe_url(servers.redis_url)}  ({rd_note})",
    ]
    auth = by_name["auth"].settings
    email = getattr(auth, "demo_admin_email", None)
    if email and seed_available():
        password = getattr(auth, "demo_admin_password", "")
        default = type(auth).model_fields["demo_admin_password"].default
        shown = f"password {password}" if password == default else "password from DEMO_ADMIN_PASSWORD"
        lines.append(f"  demo admin            {email}  ({shown}; set DEMO_ADMIN_EMAIL/DEMO_ADMIN_PASSWORD)")
    lines += ["Press Ctrl-C to stop.", ""]
    return "\n".join(lines)


def base_child_env(dev: DevSettings, specs: list[AppSpec], servers: Servers) -> dict[str, str]:
    env = dict(os.environ)
    env.update(dev_secrets(dev))
    env.update(wiring_env(specs))
    env["DATABASE_URL"] = servers.database_url
    env["REDIS_URL"] = servers.redis_url
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_dev() -> int:
    """The whole platform until Ctrl-C/SIGTERM (0) or a failure (1); configuration errors are 2."""
    servers = Servers("", "")
    sup: Supervisor | None = None
    stop_timeout = DevSettings.model_fields["stop_timeout"].default
    started = False
    with stop_signals():
        try:
            try:
                dev, specs = load_all_settings()
                stop_timeout = dev.stop_timeout
                db_url, redis_url = plan_servers(dev)
                app_ports = [(s.settings.port, s.settings.host, f"{s.name} service", s.port_env) for s in specs]
                check_ports(server_ports(dev, db_url, redis_url) + app_ports)
            except ConfigError as exc:
                say(str(exc), err=True)
                return EXIT_CONFIG
            started = True
            dev.data_dir.mkdir(parents=True, exist_ok=True)
            servers.database_url, servers.redis_url = db_url or "", redis_url or ""
            start_servers(dev, db_url, redis_url, servers)
            if redis_url is not None:
                check_redis(redis_url)
            migrate_all(servers.database_url)
            sup = Supervisor(base_child_env(dev, specs, servers))
            if seed_available():
                code = sup.run("seed", [sys.executable, "-m", SEED_MODULE], timeout=dev.startup_timeout)
                if code != 0:
                    say(f"the demo seed ({SEED_MODULE}) failed with exit code {code}", err=True)
                    return EXIT_FAILED
            else:
                say(f"no demo seed yet ({SEED_MODULE} does not exist); starting without demo data", err=True)
            for spec in specs:
                if spec.name != "gateway":
                    argv = [sys.executable, "-m", f"{spec.module}.worker"]
                    sup.spawn(f"{spec.name}-worker", argv, nice=dev.worker_nice)
            for spec in specs:
                sup.spawn(spec.name, uvicorn_argv(spec))
            wait_healthy(sup, specs, dev.startup_timeout)
            say(banner(specs, servers, dev))
            while True:
                dead = sup.dead()
                if dead is not None:
                    say(f"{dead.name} exited unexpectedly (code {dead.proc.returncode}); stopping everything", err=True)
                    return EXIT_FAILED
                time.sleep(0.2)
        except Shutdown as stop:
            say(f"received {signal.Signals(stop.signum).name}; stopping", err=True)
            return 0
        except (ConnectionError, RuntimeError) as exc:  # ours: already readable
            say(f"error: {exc}", err=True)
            return EXIT_FAILED
        except Exception as exc:  # noqa: BLE001 - a bug: show where, then a clean stop
            say(f"error: {type(exc).__name__}: {exc}\n{traceback.format_exc()}", err=True)
            return EXIT_FAILED
        finally:
            with contextlib.suppress(Shutdown):
                if sup is not None:
                    sup.stop(stop_timeout)
                servers.stop()
                if started:
                    say("stopped", err=True)


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


cli = typer.Typer(add_completion=False, no_args_is_help=True, help="Atende developer commands.")


@cli.command()
def dev() -> None:
    """Run the whole platform locally (embedded Postgres + Redis unless DATABASE_URL/REDIS_URL are set)."""
    raise typer.Exit(run_dev())


@cli.command()
def servers() -> None:
    """Only the embedded PostgreSQL + Redis (for running services by hand); Ctrl-C stops them."""
    try:
        settings = load_settings(DevSettings)
        check_ports(server_ports(settings, None, None))  # type: ignore[arg-type]
    except (ConfigError, SettingsError) as exc:
        say(str(exc), err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    running = Servers("", "")
    code = 0
    with stop_signals():
        try:
            start_servers(settings, None, None, running)  # type: ignore[arg-type]
            say(f"export DATABASE_URL={running.database_url}")
            say(f"export REDIS_URL={running.redis_url}")
            say("Run `python -m shared.cli migrate`, then any service by hand. Press Ctrl-C to stop.")
            while True:
                time.sleep(3600)
        except Shutdown:
            pass
        except Exception as exc:  # noqa: BLE001
            say(f"error: {exc}", err=True)
            code = EXIT_FAILED
        finally:
            with contextlib.suppress(Shutdown):
                running.stop()
                say("stopped", err=True)
    raise typer.Exit(code)


@cli.command()
def migrate() -> None:
    """Upgrade every service's schema to head on DATABASE_URL."""
    try:
        settings = load_settings(ServiceSettings)
    except SettingsError as exc:
        say(str(exc), err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    try:
        migrate_all(settings.database_url)
    except ConnectionError as exc:
        say(str(exc), err=True)
        raise typer.Exit(EXIT_FAILED) from None
    except Exception as exc:  # noqa: BLE001
        say(f"migration failed: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None


@cli.command()
def seed() -> None:
    """Create the demo tenant, admin and agent (`python -m services.auth.seed`; idempotent)."""
    if not seed_available():
        say(f"{SEED_MODULE} does not exist yet: there is no demo seed to run", err=True)
        raise typer.Exit(EXIT_FAILED)
    try:
        settings = load_settings(DevSettings)
    except SettingsError as exc:
        say(str(exc), err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    env = dict(os.environ) | dev_secrets(settings)  # type: ignore[arg-type]
    raise typer.Exit(subprocess.run([sys.executable, "-m", SEED_MODULE], env=env, check=False).returncode)


@cli.command("gen-key")
def gen_key() -> None:
    """Print a new SECRETS_KEY (Fernet); several comma-separated keys rotate (first one encrypts)."""
    typer.echo(new_secrets_key())


def main(argv: list[str] | None = None) -> Any:
    return cli(args=argv)


if __name__ == "__main__":
    main()
