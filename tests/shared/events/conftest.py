"""Fixtures for the event-bus tests: committed database, a sessionmaker, an effect table handlers write to."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import create_engine, create_sessionmaker

EFFECT_DDL = """
CREATE TABLE IF NOT EXISTS public.event_effect (
    id bigserial PRIMARY KEY,
    key text NOT NULL,
    worker text NOT NULL,
    tag text,
    CONSTRAINT uq_event_effect_tag UNIQUE (tag) DEFERRABLE INITIALLY DEFERRED
)
"""


@pytest.fixture
async def sm(committed_db: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A sessionmaker on the test database whose commits are real (rows are truncated after the test)."""
    engine = create_engine(committed_db, 5)
    async with engine.begin() as conn:
        await conn.execute(text(EFFECT_DDL))
        await conn.execute(text("TRUNCATE public.event_effect"))
    yield create_sessionmaker(engine)
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE public.event_effect"))
    await engine.dispose()
