"""The one place a path chooses how its messages are stored: the ORM repository in a transaction of its own, or its
fast twin's autocommit statements where every message (or every tool round) pays for the round trips."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.chat.threads.fast_repository import FastMessageRepository
from services.chat.threads.repository import MessageRepository, MessageStore
from shared.events.raw import raw_connection

StoreOpener = Callable[[async_sessionmaker[AsyncSession]], AbstractAsyncContextManager[MessageStore]]


@asynccontextmanager
async def session_store(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[MessageRepository]:
    """The ORM in one transaction, committed when the block ends (the API's answers)."""
    async with sessionmaker() as session, session.begin():
        yield MessageRepository(session)


@asynccontextmanager
async def fast_store(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[FastMessageRepository]:
    """One pooled asyncpg connection, each statement committed on its own (the channel pipeline, the call records)."""
    async with raw_connection(sessionmaker, autocommit=True) as conn:
        yield FastMessageRepository(conn)
