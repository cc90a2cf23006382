"""The message repository's fast twin for the channel pipeline: the same rows as `MessageRepository`
(services/chat/threads/repository.py), each write one prepared asyncpg statement (a data-modifying CTE) on the
caller's raw connection, every parameter bound by name from a dataclass."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy.dialects.postgresql import JSONB

from services.chat.assistants.models import Assistant
from services.chat.base import Outbox
from services.chat.contacts.models import Contact
from services.chat.metrics.usage import UsageParams, usage_upsert_sql
from services.chat.threads.events import index_event, outbound_event
from services.chat.threads.fast_tool_calls import FastToolCalls
from services.chat.threads.models import Message, Thread
from services.chat.threads.repository import NewAnswer, StoredAnswer
from shared.events.chat import OUTBOUND_REPLY, OUTBOUND_STREAM
from shared.events.direct import DIRECT_PUBLISH_GRACE_SECONDS
from shared.events.outbox import committed_event
from shared.events.raw import NamedStatement
from shared.events.search import INDEX_STREAM, MESSAGE_UPSERTED

THREAD, MESSAGE, CONTACT = Thread.__table__.fullname, Message.__table__.fullname, Contact.__table__.fullname
ASSISTANT, OUTBOX = Assistant.__table__.fullname, Outbox.__table__.fullname

SQL_CONTACT = NamedStatement.compile(f"""
WITH found AS (
    SELECT c.id, c.name, alias.channel FROM {CONTACT} alias
    JOIN {CONTACT} c ON c.tenant_id = alias.tenant_id AND c.id = COALESCE(alias.merged_into_id, alias.id)
    WHERE alias.tenant_id = :tenant_id AND alias.channel_id = :channel_id AND alias.external_id = :external_id
      AND c.merged_into_id IS NULL  -- merged while we waited for the lock? then none, and the retry follows it
    FOR UPDATE OF c
), created AS (
    INSERT INTO {CONTACT}
        (id, tenant_id, name, channel, channel_id, external_id, phone, email, attributes, last_seen_at, created_at,
         updated_at)
    SELECT :contact_id, :tenant_id, :name, :channel_type, :channel_id, :external_id, :phone, :email, '{{}}'::jsonb,
           :last_seen_at, :now, :now
    WHERE NOT EXISTS (SELECT 1 FROM found)
    ON CONFLICT (tenant_id, channel_id, external_id) WHERE channel_id IS NOT NULL AND external_id IS NOT NULL
    DO NOTHING
    RETURNING id, name, channel
)
SELECT id, name, channel, false AS created FROM found
UNION ALL
SELECT id, name, channel, true AS created FROM created
""")

SQL_INBOUND = NamedStatement.compile(f"""
WITH open_thread AS (
    SELECT id, sector, ai_enabled, channel FROM {THREAD}
    WHERE NOT :contact_created AND tenant_id = :tenant_id AND contact_id = :contact_id AND channel_id = :channel_id
      AND status <> 'closed' AND deleted_at IS NULL
    ORDER BY last_message_at DESC
    LIMIT 1
), assistant AS (
    SELECT id FROM {ASSISTANT}
    WHERE tenant_id = :tenant_id AND deleted_at IS NULL AND (id = :assistant_id OR is_default)
    ORDER BY (id = :assistant_id) DESC NULLS LAST
    LIMIT 1
), new_thread AS (
    INSERT INTO {THREAD} (id, tenant_id, assistant_id, contact_id, channel, channel_id, recipient, title, status,
                          ai_enabled, needs_human, last_message_at, created_at, updated_at)
    SELECT :new_thread_id, :tenant_id, (SELECT id FROM assistant), :contact_id, :channel, :channel_id, :recipient,
           :title, 'open', true, false, :received_at, :now, :now
    WHERE NOT EXISTS (SELECT 1 FROM open_thread)
    RETURNING id, sector, ai_enabled, channel
), thread AS (
    SELECT * FROM open_thread UNION ALL SELECT * FROM new_thread
), message AS (
    INSERT INTO {MESSAGE} (id, tenant_id, thread_id, contact_id, role, content, sector, incomplete, created_at,
                           external_id, transcript_status)
    SELECT :message_id, :tenant_id, thread.id, :contact_id, 'user', :content, thread.sector, false, :received_at,
           :external_id, :transcript_status FROM thread
    ON CONFLICT (tenant_id, external_id) WHERE external_id IS NOT NULL DO NOTHING
    RETURNING id
), thread_moved AS (
    UPDATE {THREAD} SET last_message_at = :received_at, updated_at = :now
    WHERE tenant_id = :tenant_id AND id = (SELECT id FROM open_thread) AND EXISTS (SELECT 1 FROM message)
    RETURNING id
), contact_moved AS (
    UPDATE {CONTACT}
    SET last_seen_at = CASE WHEN EXISTS (SELECT 1 FROM message) THEN :received_at ELSE last_seen_at END,
        name = COALESCE(:name_fill, name), updated_at = :now
    WHERE tenant_id = :tenant_id AND id = :contact_id AND NOT :contact_created
      AND (:name_fill::text IS NOT NULL OR EXISTS (SELECT 1 FROM message))
    RETURNING id
), event AS (
    INSERT INTO {OUTBOX} (id, stream, type, tenant_id, idempotency_key, payload, occurred_at, created_at)
    SELECT :event_id, '{INDEX_STREAM}', '{MESSAGE_UPSERTED}', :tenant_id, :event_key,
           :index_payload::jsonb
               || jsonb_strip_nulls(jsonb_build_object('thread_id', thread.id, 'sector', thread.sector)),
           :now, now() + make_interval(secs => :relay_after)
    FROM thread
    WHERE EXISTS (SELECT 1 FROM message)
    RETURNING id, stream, type, tenant_id, idempotency_key, payload, occurred_at
)
SELECT thread.id AS thread_id, thread.ai_enabled, thread.channel,
       EXISTS (SELECT 1 FROM message) AS stored,
       event.id, event.stream, event.type, event.tenant_id, event.idempotency_key, event.payload, event.occurred_at
FROM thread LEFT JOIN event ON true
""")

SQL_READ_BURST = NamedStatement.compile(f"""
WITH thread AS (
    SELECT * FROM {THREAD} WHERE tenant_id = :tenant_id AND id = :thread_id AND deleted_at IS NULL
), recent AS (
    SELECT * FROM {MESSAGE} WHERE tenant_id = :tenant_id AND thread_id = :thread_id AND role <> 'tool'
    ORDER BY seq DESC LIMIT :limit
), extra AS (
    SELECT * FROM {MESSAGE}
    WHERE tenant_id = :tenant_id AND id = ANY(:ids::uuid[]) AND id NOT IN (SELECT id FROM recent)
), context AS (
    SELECT encode(sha256(convert_to(
        'context:' || :thread_id::text || ':' ||
        coalesce((SELECT id::text FROM recent WHERE role = 'user' ORDER BY seq DESC LIMIT 1), ''), 'UTF8')), 'hex'
    ) AS batch_key
)
SELECT
    (SELECT row_to_json(thread)::text FROM thread) AS thread,
    (SELECT row_to_json(c)::text FROM {CONTACT} c JOIN thread ON c.id = thread.contact_id
     WHERE c.tenant_id = :tenant_id) AS contact,
    (SELECT row_to_json(a)::text FROM {ASSISTANT} a JOIN thread ON a.id = thread.assistant_id
     WHERE a.tenant_id = :tenant_id AND a.deleted_at IS NULL) AS assistant,
    (SELECT json_agg(r ORDER BY r.seq DESC)::text FROM recent r) AS recent,
    (SELECT json_agg(e)::text FROM extra e) AS extra,
    context.batch_key,
    EXISTS (SELECT 1 FROM {MESSAGE} m WHERE m.tenant_id = :tenant_id AND m.batch_key = context.batch_key) AS answered
FROM context
""")

SQL_ANSWER = NamedStatement.compile(f"""
WITH thread AS (
    UPDATE {THREAD} SET last_message_at = :created_at, updated_at = :created_at, needs_human = needs_human OR :handover
    WHERE id = :thread_id AND tenant_id = :tenant_id
    RETURNING id, contact_id, sector
), message AS (
    INSERT INTO {MESSAGE} (id, tenant_id, thread_id, contact_id, role, content, sector, validated_by, model,
                           tokens_in, tokens_out, latency_ms, incomplete, batch_key, created_at)
    SELECT :id, :tenant_id, thread.id, thread.contact_id, 'assistant', :content, thread.sector, :validated_by,
           :model, :tokens_in, :tokens_out, :latency_ms, :incomplete, :batch_key, :created_at
    FROM thread
    RETURNING id, contact_id, sector, seq
), events AS (
    INSERT INTO {OUTBOX} (id, stream, type, tenant_id, idempotency_key, payload, occurred_at, created_at)
    SELECT :index_event_id::uuid, '{INDEX_STREAM}', '{MESSAGE_UPSERTED}', :tenant_id, :index_key::text,
           :index_payload::jsonb
               || jsonb_strip_nulls(jsonb_build_object('contact_id', message.contact_id, 'sector', message.sector)),
           :created_at, now() + make_interval(secs => :publish_grace)
    FROM message
    UNION ALL
    SELECT :reply_event_id::uuid, '{OUTBOUND_STREAM}', '{OUTBOUND_REPLY}', :tenant_id, :reply_key::text,
           :reply_payload::jsonb, :created_at, now() + make_interval(secs => :publish_grace)
    FROM message
    WHERE :reply_event_id::uuid IS NOT NULL
    RETURNING id, stream, type, tenant_id, idempotency_key, payload, occurred_at
), usage AS (
    {usage_upsert_sql("message")}
)
SELECT message.seq, events.* FROM message LEFT JOIN events ON true
""")


@dataclass(frozen=True)
class NewContact:
    """A channel sender: found by (channel, address) or created."""

    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    external_id: str
    contact_id: uuid.UUID  # the id if created
    name: str | None
    channel_type: str
    phone: str | None
    email: str | None
    last_seen_at: datetime
    now: datetime


@dataclass(frozen=True)
class ChannelContact:
    id: uuid.UUID
    name: str | None
    channel: str  # the address's channel type (a merged contact has addresses on several)
    created: bool  # by this statement (so no thread of it exists yet)


@dataclass(frozen=True)
class NewInbound:
    """A customer's channel message: stored once (external_id) in the contact's open thread (opened if none), with its
    search.index.v1 row, which the statement completes with the thread."""

    tenant_id: uuid.UUID
    contact_id: uuid.UUID
    contact_created: bool
    channel_id: uuid.UUID
    channel: str
    recipient: str  # the address replies go to (a merged contact has one per channel)
    assistant_id: uuid.UUID | None
    new_thread_id: uuid.UUID
    title: str
    message_id: uuid.UUID
    content: str
    external_id: str
    transcript_status: str | None
    name_fill: str | None  # the name a contact without one gets
    received_at: datetime
    now: datetime
    event_id: uuid.UUID
    event_key: str
    index_payload: str  # json
    relay_after: float  # seconds before the outbox relay may publish the event


@dataclass(frozen=True)
class StoredInbound:
    thread_id: uuid.UUID
    ai_enabled: bool
    channel: str
    stored: bool  # False: an earlier delivery stored it


@dataclass(frozen=True)
class BurstQuery:
    tenant_id: uuid.UUID
    thread_id: uuid.UUID
    limit: int
    ids: list[uuid.UUID]


@dataclass
class BurstSnapshot:
    """What a flush reads, from one snapshot: the thread with its parties, the recent history (newest first), the
    burst's messages older than it, the context's batch key and whether it was answered already."""

    thread: Thread | None
    contact: Contact | None
    assistant: Assistant | None
    recent: list[Message]
    extra: list[Message]
    batch_key: str
    answered: bool


@dataclass(frozen=True)
class AnswerEvents:
    """SQL_ANSWER's parameters besides the NewAnswer's and the usage's: its two outbox rows."""

    index_event_id: uuid.UUID
    index_key: str
    index_payload: str  # json; the statement adds the row's contact_id and sector
    reply_event_id: uuid.UUID | None
    reply_key: str | None
    reply_payload: str | None
    publish_grace: float


class FastMessageRepository(FastToolCalls):
    """`MessageRepository`'s interface (`add_answer`, the call records) and the pipeline's own writes, on an asyncpg
    connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def contact(self, contact: NewContact) -> ChannelContact | None:
        """Found or created, and locked (FOR UPDATE, or as our own uncommitted insert). None: created meanwhile by
        another transaction, committed now but not in this statement's snapshot (the next statement sees it)."""
        row = await self.conn.fetchrow(SQL_CONTACT.sql, *SQL_CONTACT.args(contact))
        if row is None:
            return None
        return ChannelContact(id=row["id"], name=row["name"], channel=row["channel"], created=row["created"])

    async def add_inbound(self, inbound: NewInbound) -> StoredInbound:
        row = await self.conn.fetchrow(SQL_INBOUND.sql, *SQL_INBOUND.args(inbound))
        return StoredInbound(
            thread_id=row["thread_id"], ai_enabled=row["ai_enabled"], channel=row["channel"], stored=row["stored"]
        )

    async def read_burst(self, query: BurstQuery) -> BurstSnapshot:
        row = await self.conn.fetchrow(SQL_READ_BURST.sql, *SQL_READ_BURST.args(query))
        return BurstSnapshot(
            thread=_one(Thread, row["thread"]),
            contact=_one(Contact, row["contact"]),
            assistant=_one(Assistant, row["assistant"]),
            recent=_many(Message, row["recent"]),
            extra=_many(Message, row["extra"]),
            batch_key=row["batch_key"],
            answered=row["answered"],
        )

    async def add_answer(self, answer: NewAnswer) -> StoredAnswer | None:
        """The thread's UPDATE (its row lock), the answer, its outbox rows and the usage in one autocommit statement;
        the events come back to be published right after it. A second answer to the same context fails on
        `batch_key` as a whole (UniqueViolationError, nothing stored). None: the thread is gone."""
        thread = answer.thread
        message = Message(
            id=answer.id, tenant_id=thread.tenant_id, thread_id=thread.id, contact_id=thread.contact_id,
            role="assistant", content=answer.content, sector=thread.sector, validated_by=answer.validated_by,
            model=answer.model, tokens_in=answer.tokens_in, tokens_out=answer.tokens_out, latency_ms=answer.latency_ms,
            incomplete=answer.incomplete, batch_key=answer.batch_key, created_at=answer.created_at,
        )  # fmt: skip
        index = index_event(message, thread)
        index_payload = {k: v for k, v in index.payload.items() if k not in ("contact_id", "sector")}  # the row's
        reply = None
        if answer.send_reply:
            reply = outbound_event(thread, answer.contact, message, answer.content, answer.split_replies)
        events = AnswerEvents(
            index_event_id=uuid.uuid4(), index_key=index.idempotency_key,
            index_payload=orjson.dumps(index_payload).decode(),
            reply_event_id=uuid.uuid4() if reply else None, reply_key=reply.idempotency_key if reply else None,
            reply_payload=orjson.dumps(reply.payload).decode() if reply else None,
            publish_grace=DIRECT_PUBLISH_GRACE_SECONDS,
        )  # fmt: skip
        usage = UsageParams.of(answer.usage, answer.created_at.date())
        rows = await self.conn.fetch(SQL_ANSWER.sql, *SQL_ANSWER.args(answer, events, usage))
        if not rows:
            return None
        message.seq = rows[0]["seq"]
        committed = [committed_event(r) for r in rows if r["id"] is not None]
        committed.sort(key=lambda e: e.stream != OUTBOUND_STREAM)  # outbound first: it is what the customer waits for
        return StoredAnswer(message=message, committed=committed)


def _converters(model) -> list[tuple[str, str, Any]]:
    """(json key, attribute, parse) per column: row_to_json gives uuids and timestamps as text."""
    out = []
    for c in model.__table__.columns:
        python = c.type.python_type if not isinstance(c.type, JSONB) else dict
        parse = uuid.UUID if python is uuid.UUID else datetime.fromisoformat if python is datetime else None
        out.append((c.name, c.key, parse))
    return out


_CONVERTERS: dict[type, list[tuple[str, str, Any]]] = {}


def _build(model, data: dict):
    conv = _CONVERTERS.get(model) or _CONVERTERS.setdefault(model, _converters(model))
    values = {}
    for name, key, parse in conv:
        v = data.get(name)
        values[key] = parse(v) if parse is not None and v is not None else v
    return model(**values)


def _one(model, text: str | None):
    return _build(model, orjson.loads(text)) if text else None


def _many(model, text: str | None) -> list:
    return [_build(model, d) for d in orjson.loads(text)] if text else []
