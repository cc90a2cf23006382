"""Thread and message rows; every method takes the tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.assistants.models import Assistant
from services.chat.contacts.models import Contact
from services.chat.threads.models import Message, Thread
from shared.pagination import Keyset, KeysetPage, PageParams, keyset_page

BY_ACTIVITY = Keyset((Thread.last_message_at, Thread.id), descending=True)  # most recently active first
BY_SEQ = Keyset((Message.seq,))  # messages in the order they were written


@dataclass(frozen=True)
class ThreadFilters:
    status: str | None = None
    sector: str | None = None
    channel: str | None = None
    contact_id: uuid.UUID | None = None
    q: str | None = None
    include_deleted: bool = False


def _escape(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ThreadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, obj):
        self.session.add(obj)
        await self.session.flush()
        return obj

    async def get(
        self, tenant_id: uuid.UUID, thread_id: uuid.UUID, *, include_deleted: bool = False, lock: bool = False
    ) -> Thread | None:
        stmt = select(Thread).where(Thread.id == thread_id, Thread.tenant_id == tenant_id)
        if not include_deleted:
            stmt = stmt.where(Thread.deleted_at.is_(None))
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_with_parties(
        self, tenant_id: uuid.UUID, thread_id: uuid.UUID
    ) -> tuple[Thread | None, Contact | None, Assistant | None]:
        """A live thread with its contact and assistant (each None if absent or not this tenant's), one statement."""
        stmt = (
            select(Thread, Contact, Assistant)
            .outerjoin(Contact, (Contact.id == Thread.contact_id) & (Contact.tenant_id == tenant_id))
            .outerjoin(
                Assistant,
                (Assistant.id == Thread.assistant_id)
                & (Assistant.tenant_id == tenant_id)
                & Assistant.deleted_at.is_(None),
            )
            .where(Thread.id == thread_id, Thread.tenant_id == tenant_id, Thread.deleted_at.is_(None))
        )
        row = (await self.session.execute(stmt)).first()
        return (row[0], row[1], row[2]) if row is not None else (None, None, None)

    async def list(self, tenant_id: uuid.UUID, filters: ThreadFilters, page: PageParams) -> KeysetPage[Thread]:
        """Most recently active first."""
        stmt = select(Thread).where(Thread.tenant_id == tenant_id)
        if not filters.include_deleted:
            stmt = stmt.where(Thread.deleted_at.is_(None))
        for column, value in (
            (Thread.status, filters.status),
            (Thread.sector, filters.sector),
            (Thread.channel, filters.channel),
            (Thread.contact_id, filters.contact_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if filters.q:
            like = f"%{_escape(filters.q)}%"
            in_messages = exists().where(
                Message.thread_id == Thread.id,
                Message.tenant_id == tenant_id,
                Message.content.ilike(like, escape="\\"),
            )
            stmt = stmt.where(or_(Thread.title.ilike(like, escape="\\"), in_messages))
        return await keyset_page(self.session, stmt, BY_ACTIVITY, page)

    async def get_message(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> Message | None:
        """A message of a live thread of this tenant."""
        stmt = (
            select(Message)
            .join(Thread, Thread.id == Message.thread_id)
            .where(
                Message.id == message_id,
                Message.tenant_id == tenant_id,
                Thread.tenant_id == tenant_id,
                Thread.deleted_at.is_(None),
            )
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def messages(self, tenant_id: uuid.UUID, thread_id: uuid.UUID, page: PageParams) -> KeysetPage[Message]:
        """Oldest first, keyset on seq."""
        stmt = select(Message).where(Message.tenant_id == tenant_id, Message.thread_id == thread_id)
        return await keyset_page(self.session, stmt, BY_SEQ, page)

    async def recent_messages(self, tenant_id: uuid.UUID, thread_id: uuid.UUID, limit: int) -> list[Message]:
        """Newest first: the candidates for the context window."""
        stmt = (
            select(Message)
            .where(Message.tenant_id == tenant_id, Message.thread_id == thread_id)
            .order_by(Message.seq.desc())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def contact_messages(
        self, tenant_id: uuid.UUID, contact_id: uuid.UUID, page: PageParams
    ) -> KeysetPage[Message]:
        """A customer's whole history across live threads, oldest first."""
        stmt = (
            select(Message)
            .join(Thread, Thread.id == Message.thread_id)
            .where(
                Message.tenant_id == tenant_id,
                Thread.tenant_id == tenant_id,
                Thread.contact_id == contact_id,
                Thread.deleted_at.is_(None),
            )
        )
        return await keyset_page(self.session, stmt, BY_SEQ, page)
