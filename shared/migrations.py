"""Alembic per service: each owns one schema and keeps its version table there.

`python -m shared.migrations` upgrades every schema to head on DATABASE_URL (the release's migration job; exit 0
done, 1 failed, 2 configuration error).
"""

from __future__ import annotations

import asyncio
import sys
import time
import traceback
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("auth", "chat", "channels", "transcription", "search")


def alembic_config(service: str, database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "services" / service / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["schema"] = service
    return cfg


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, database_url), revision)


def upgrade_all(database_url: str, services: tuple[str, ...] = SERVICES) -> None:
    for service in services:
        upgrade(service, database_url)


def run_env(target_metadata, schema: str, before: tuple[str, ...] = ()) -> None:
    """Body of every service's migrations/env.py: its schema, its version table, async engine."""
    config = context.config
    prelude = (f'CREATE SCHEMA IF NOT EXISTS "{schema}"', *before)

    def include_object(obj, name, type_, reflected, compare_to) -> bool:
        return getattr(obj, "schema", schema) in (schema, None) if type_ == "table" else True

    def do_run(connection: Connection) -> None:
        for stmt in prelude:
            connection.execute(text(stmt))
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = async_engine_from_config(
            config.get_section(config.config_ini_section, {})
            | {"sqlalchemy.url": config.get_main_option("sqlalchemy.url")},
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        async with engine.begin() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=target_metadata,
            version_table_schema=schema,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run_async())


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


def migrate_all(database_url: str) -> None:
    """Every schema to head, one line per schema; a broken migration raises with its traceback."""
    check_database(database_url)
    for service in SERVICES:
        started = time.monotonic()
        try:
            upgrade(service, database_url)
        except Exception as exc:
            raise RuntimeError(f"migrating the {service} schema failed:\n{traceback.format_exc()}") from exc
        print(f"migrated {service} schema to head ({time.monotonic() - started:.1f}s)", flush=True)


def main() -> int:
    """The migration job: 0 done, 1 failed (unreachable database or a broken migration), 2 bad settings."""
    from shared.config import ServiceSettings, SettingsError, load_settings

    try:
        settings = load_settings(ServiceSettings)
    except SettingsError as exc:
        print(exc, file=sys.stderr, flush=True)
        return 2
    try:
        migrate_all(settings.database_url)
    except ConnectionError as exc:
        print(exc, file=sys.stderr, flush=True)
        return 1
    except Exception as exc:  # noqa: BLE001
        print(f"migration failed: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
