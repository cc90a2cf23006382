"""Thread and message rows; every method takes the tenant. `MessageRepository` is the one way a message is stored
(its fast twin for the channel pipeline: services/chat/threads/fast_repository.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import exists, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.assistants.models import Assistant
from services.chat.base import Outbox
from services.chat.contacts.models import Contact
from services.chat.metrics.usage import Usage, record_usage
from services.chat.threads.events import index_event, outbound_event
from services.chat.threads.models import Message, Thread
from services.chat.threads.tool_calls import ToolCallDone, ToolCallRecord, ToolCallRound, ToolCallStore
from shared.events import Envelope
from shared.events.outbox import emit_many
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
    created_by_id: str | None = None  # owner=me: the caller's user or API key id


@dataclass(frozen=True)
class SectorTally:
    sector: str | None
    count: int


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
            (Thread.created_by_id, filters.created_by_id),
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

    async def sector_counts(self, tenant_id: uuid.UUID, status: str | None, limit: int) -> list[SectorTally]:
        """Live threads per sector, most first."""
        count = func.count().label("n")
        stmt = (
            select(Thread.sector, count)
            .where(Thread.tenant_id == tenant_id, Thread.deleted_at.is_(None))
            .group_by(Thread.sector)
            .order_by(count.desc(), Thread.sector)
            .limit(limit)
        )
        if status is not None:
            stmt = stmt.where(Thread.status == status)
        return [SectorTally(row[0], int(row[1])) for row in await self.session.execute(stmt)]

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
        """Newest first: the candidates for the context window (tool calls are not conversation turns)."""
        stmt = (
            select(Message)
            .where(Message.tenant_id == tenant_id, Message.thread_id == thread_id, Message.role != "tool")
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


@dataclass
class NewAnswer:
    """An AI answer to store, with the domain's decisions made: whether it waits for approval, whether it goes to the
    customer now, its usage. The row takes `contact_id` and `sector` from the thread as it is locked, not `thread`."""

    id: uuid.UUID
    thread: Thread
    contact: Contact | None
    content: str
    validated_by: str
    model: str
    tokens_in: int | None
    tokens_out: int | None
    latency_ms: int | None
    incomplete: bool
    handover: bool  # the thread then needs a human
    batch_key: str | None
    created_at: datetime
    send_reply: bool
    split_replies: bool
    usage: Usage | None

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.thread.tenant_id

    @property
    def thread_id(self) -> uuid.UUID:
        return self.thread.id


@dataclass
class StoredAnswer:
    message: Message
    committed: list[Envelope]  # events to publish right now (the fast path); empty when the outbox relay does it


class MessageStore(ToolCallStore, Protocol):
    """How an answer (and a tool call's record) is stored: `MessageRepository` (the ORM, in the caller's session) or
    `FastMessageRepository` (one raw statement each); both store the same columns and events. Which one a path
    uses is chosen in services/chat/threads/stores.py."""

    async def add_answer(self, answer: NewAnswer) -> StoredAnswer | None: ...


class MessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, message: Message) -> Message:
        self.session.add(message)
        await self.session.flush()
        return message

    async def by_ids(self, tenant_id: uuid.UUID, ids: set[uuid.UUID]) -> list[Message]:
        """Capped by the caller (a buffer's ids)."""
        stmt = select(Message).where(Message.tenant_id == tenant_id, Message.id.in_(ids))
        return list((await self.session.execute(stmt)).scalars())

    async def by_external_id(self, tenant_id: uuid.UUID, external_id: str, *, lock: bool = False) -> Message | None:
        stmt = select(Message).where(Message.tenant_id == tenant_id, Message.external_id == external_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add_answer(self, answer: NewAnswer) -> StoredAnswer | None:
        """The thread's UPDATE (also its row lock: concurrent answers to one thread queue here), the answer, its
        outbox rows (one statement) and the usage. None: the thread is gone."""
        tenant_id = answer.thread.tenant_id
        changes: dict = {"last_message_at": answer.created_at}
        if answer.handover:
            changes["needs_human"] = True
        thread = (
            await self.session.scalars(
                update(Thread)
                .where(Thread.id == answer.thread.id, Thread.tenant_id == tenant_id)
                .values(**changes)
                .returning(Thread),
                execution_options={"populate_existing": True},
            )
        ).first()
        if thread is None:
            return None
        message = (
            await self.session.scalars(
                insert(Message)
                .values(
                    id=answer.id,
                    tenant_id=tenant_id,
                    thread_id=thread.id,
                    contact_id=thread.contact_id,
                    role="assistant",
                    content=answer.content,
                    sector=thread.sector,
                    validated_by=answer.validated_by,
                    model=answer.model,
                    tokens_in=answer.tokens_in,
                    tokens_out=answer.tokens_out,
                    latency_ms=answer.latency_ms,
                    incomplete=answer.incomplete,
                    batch_key=answer.batch_key,
                    created_at=answer.created_at,
                )
                .returning(Message)
            )
        ).one()
        events = [index_event(message, thread)]
        if answer.send_reply:
            reply = outbound_event(thread, answer.contact, message, answer.content, answer.split_replies)
            events += [reply] if reply is not None else []
        await emit_many(self.session, Outbox, events)  # one statement for both
        if answer.usage is not None:
            await record_usage(self.session, answer.usage)
        return StoredAnswer(message=message, committed=[])

    # -- the tool loop's call records (services/chat/tools/records.py); the fast twin: fast_tool_calls.py ---------

    async def begin_tool_calls(self, calls: ToolCallRound) -> set[str]:
        rows = [
            {
                "id": c.id, "tenant_id": calls.tenant_id, "thread_id": calls.thread_id, "contact_id": calls.contact_id,
                "role": "tool", "content": "", "sector": calls.sector, "incomplete": False,
                "created_at": calls.created_at, "call_key": c.key, "tool_call": c.call,
            }
            for c in calls.calls
        ]  # fmt: skip
        stmt = (
            insert(Message)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["tenant_id", "call_key"], index_where=Message.call_key.isnot(None))
            .returning(Message.call_key)
        )
        return set((await self.session.scalars(stmt)).all())

    async def tool_calls(self, tenant_id: uuid.UUID, keys: list[str]) -> list[ToolCallRecord]:
        stmt = select(Message.call_key, Message.content, Message.tool_call, Message.latency_ms).where(
            Message.tenant_id == tenant_id, Message.call_key.in_(keys)
        )
        return [
            ToolCallRecord(key=r.call_key, result=r.content, call=r.tool_call or {}, latency_ms=r.latency_ms)
            for r in await self.session.execute(stmt)
        ]

    async def finish_tool_call(self, done: ToolCallDone) -> None:
        stmt = (
            update(Message)
            .where(Message.tenant_id == done.tenant_id, Message.call_key == done.key)
            .values(
                content=done.result,
                latency_ms=done.latency_ms,
                tool_call=Message.tool_call.op("||")(literal({"status": done.status}, JSONB)),
            )
        )
        if done.only_if_status is not None:
            stmt = stmt.where(Message.tool_call["status"].astext == done.only_if_status)
        await self.session.execute(stmt, execution_options={"synchronize_session": False})
