"""The developer CLI behind the Makefile: `python -m devtools dev|servers|migrate|seed|gen-key`.

`dev` runs the whole platform locally: embedded PostgreSQL 16 + pgvector and Redis (unless DATABASE_URL /
REDIS_URL are set), migrations, the demo seed, every service under uvicorn, every stream worker and the
gateway, as children of this process. Ctrl-C or SIGTERM stops all of it; so does this process dying (the
children carry a parent-death signal). Decisions are in docs/dev-stack.md.

Exit codes: 0 stopped on request, 1 something failed at run time, 2 configuration error (bad setting value,
port in use).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from typing import Any

import typer

from devtools.backends import Servers, check_ports, server_ports, start_servers
from devtools.dev import SEED_MODULE, run_dev, seed_available
from devtools.settings import EXIT_CONFIG, EXIT_FAILED, ConfigError, DevSettings, dev_secrets
from devtools.supervisor import Shutdown, say, stop_signals
from shared import migrations
from shared.config import SettingsError, load_settings
from shared.crypto import new_secrets_key

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
            say("Run `python -m devtools migrate`, then any service by hand. Press Ctrl-C to stop.")
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
    """Upgrade every service's schema to head on DATABASE_URL (the runtime's `python -m shared.migrations`)."""
    raise typer.Exit(migrations.main())


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
