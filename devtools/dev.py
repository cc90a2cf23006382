"""`make run`: servers, migrations, the demo seed, every service, worker and the gateway, until Ctrl-C."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from devtools.backends import Servers, check_ports, check_redis, plan_servers, server_ports, start_servers
from devtools.settings import (
    EXIT_CONFIG,
    EXIT_FAILED,
    SERVICES,
    AppSpec,
    ConfigError,
    DevSettings,
    dev_secrets,
    load_all_settings,
    wiring_env,
)
from devtools.supervisor import Shutdown, Supervisor, say, stop_signals, uvicorn_argv, worker_argv
from shared.migrations import migrate_all, safe_url

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


def seed_content(specs: list[AppSpec]) -> None:
    """The demo tenant's document and conversations (devtools/demo_content.py), through the gateway; a failure is
    reported, not fatal: the platform runs without them."""
    from devtools.demo_content import seed_demo_content

    by_name = {spec.name: spec for spec in specs}
    auth = by_name["auth"].settings
    try:
        created = seed_demo_content(by_name["gateway"].url, auth.demo_admin_email, auth.demo_admin_password)
    except Exception as exc:  # noqa: BLE001 - demo content is a nicety
        say(f"demo content not created: {type(exc).__name__}: {exc}"[:300], err=True)
        return
    if any(created.values()):
        say(f"demo content created: {created['documents']} document(s), {created['threads']} conversation(s)")


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
                    sup.spawn(f"{spec.name}-worker", worker_argv(spec), nice=dev.worker_nice)
            for spec in specs:
                sup.spawn(spec.name, uvicorn_argv(spec))
            wait_healthy(sup, specs, dev.startup_timeout)
            if seed_available():
                seed_content(specs)
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
