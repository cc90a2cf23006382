"""Alembic per service: each owns one schema and keeps its version table there."""

from __future__ import annotations

import asyncio
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
