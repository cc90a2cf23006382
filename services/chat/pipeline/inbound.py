"""Customers' channel messages become chat messages and join their conversation's buffer.

Consumer of channels.inbound.v1 (and transcription.completed.v1 for voice notes). The contact and
its one open thread per channel are found or created; the message is stored once (external_id);
then the message joins the buffer in Redis and the flusher answers the burst.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson
import structlog
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.assistants.models import Assistant
from services.chat.base import Outbox
from services.chat.buffers.store import BufferStore, buffer_key
from services.chat.contacts.models import Contact
from services.chat.runtime import ChatRuntime
from services.chat.threads.events import emit_index
from services.chat.threads.models import Message, Thread
from shared.db import utcnow
from shared.events import Envelope
from shared.events.consumer import AfterCommit
from shared.events.search import INDEX_STREAM, MESSAGE_UPSERTED, MessageIndexed

log = structlog.get_logger("pipeline")
VOICE_PENDING = "[voice note: transcribing]"
VOICE_FAILED = "[voice note: could not be transcribed]"


def inbound_external_id(inbound_id: str) -> str:
    return f"inbound:{inbound_id}"


@dataclass
class BufferPolicy:
    enabled: bool
    seconds: float
    max_wait: float


def _sql_contact() -> str:
    contact = Contact.__table__.fullname
    return f"""
WITH found AS (
    SELECT id, name, channel FROM {contact}
    WHERE tenant_id = $1 AND channel_id = $2 AND external_id = $3
    FOR UPDATE
), created AS (
    INSERT INTO {contact}
        (id, tenant_id, name, channel, channel_id, external_id, phone, attributes, last_seen_at, created_at, updated_at)
    SELECT $4, $1, $5, $6, $2, $3, $7, '{{}}'::jsonb, $8, $9, $9
    WHERE NOT EXISTS (SELECT 1 FROM found)
    ON CONFLICT (tenant_id, channel_id, external_id) WHERE channel_id IS NOT NULL AND external_id IS NOT NULL
    DO NOTHING
    RETURNING id, name, channel
)
SELECT id, name, channel, false AS created FROM found
UNION ALL
SELECT id, name, channel, true AS created FROM created
"""


def _sql_store() -> str:
    thread, message, contact = Thread.__table__.fullname, Message.__table__.fullname, Contact.__table__.fullname
    assistant, outbox = Assistant.__table__.fullname, Outbox.__table__.fullname
    return f"""
WITH open_thread AS (
    SELECT id, sector, ai_enabled, channel FROM {thread}
    WHERE NOT $4 AND tenant_id = $1 AND contact_id = $2 AND channel_id = $3 AND status <> 'closed'
      AND deleted_at IS NULL
    ORDER BY last_message_at DESC
    LIMIT 1
), assistant AS (
    SELECT id FROM {assistant}
    WHERE tenant_id = $1 AND deleted_at IS NULL AND (id = $5 OR is_default)
    ORDER BY (id = $5) DESC NULLS LAST
    LIMIT 1
), new_thread AS (
    INSERT INTO {thread} (id, tenant_id, assistant_id, contact_id, channel, channel_id, title, status, ai_enabled,
                          needs_human, last_message_at, created_at, updated_at)
    SELECT $6, $1, (SELECT id FROM assistant), $2, $7, $3, $8, 'open', true, false, $9, $10, $10
    WHERE NOT EXISTS (SELECT 1 FROM open_thread)
    RETURNING id, sector, ai_enabled, channel
), thread AS (
    SELECT * FROM open_thread UNION ALL SELECT * FROM new_thread
), message AS (
    INSERT INTO {message} (id, tenant_id, thread_id, contact_id, role, content, sector, incomplete, created_at,
                           external_id, transcript_status)
    SELECT $11, $1, thread.id, $2, 'user', $12, thread.sector, false, $9, $13, $14 FROM thread
    ON CONFLICT (tenant_id, external_id) WHERE external_id IS NOT NULL DO NOTHING
    RETURNING id
), thread_moved AS (
    UPDATE {thread} SET last_message_at = $9, updated_at = $10
    WHERE tenant_id = $1 AND id = (SELECT id FROM open_thread) AND EXISTS (SELECT 1 FROM message)
    RETURNING id
), contact_moved AS (
    UPDATE {contact}
    SET last_seen_at = CASE WHEN EXISTS (SELECT 1 FROM message) THEN $9 ELSE last_seen_at END,
        name = COALESCE($15, name), updated_at = $10
    WHERE tenant_id = $1 AND id = $2 AND NOT $4 AND ($15::text IS NOT NULL OR EXISTS (SELECT 1 FROM message))
    RETURNING id
), event AS (
    INSERT INTO {outbox} (id, stream, type, tenant_id, idempotency_key, payload, occurred_at, created_at)
    SELECT $16, '{INDEX_STREAM}', '{MESSAGE_UPSERTED}', $1, $17,
           $18::jsonb || jsonb_strip_nulls(jsonb_build_object('thread_id', thread.id, 'sector', thread.sector)),
           $19, now() + make_interval(secs => $20)
    FROM thread
    WHERE EXISTS (SELECT 1 FROM message)
    RETURNING id, stream, type, tenant_id, idempotency_key, payload, occurred_at
)
SELECT thread.id AS thread_id, thread.ai_enabled, thread.channel,
       EXISTS (SELECT 1 FROM message) AS stored,
       event.id, event.stream, event.type, event.tenant_id, event.idempotency_key, event.payload, event.occurred_at
FROM thread LEFT JOIN event ON true
"""


SQL_CONTACT = _sql_contact()
SQL_STORE = _sql_store()


@dataclass
class InboundHandler:
    """A raw consumer handler (shared/events/consumer.py): two prepared statements in the consumer's transaction
    (the contact found or created and locked; then the thread, the message, its search.index.v1 row and the
    timestamps in one data-modifying CTE), then the message into the buffer; with the buffer off, the flusher is
    woken once the transaction has committed.

    The message's search.index.v1 row is left to the outbox relay (within EVENTS_RELAY_INTERVAL_MS, batched with
    its neighbours), not published from the after-commit hook: nobody waits on it, and published here its XADD
    and mark ran on this event loop while the woken flusher was answering this very message (part of the
    customer's wait: docs/pipeline.md, "Events between the processes"). An answer's events are still published at
    once (the outbound one is what the customer waits for)."""

    runtime: ChatRuntime
    store: BufferStore
    wake: object | None = None  # the flusher's wake(): answer at once when the buffer is off

    async def handle(self, envelope: Envelope, conn: asyncpg.Connection) -> AfterCommit | None:
        p = envelope.payload
        tenant_id = envelope.tenant_id
        if tenant_id is None:
            raise ValueError("channels.inbound.v1 without tenant_id")
        channel_id = uuid.UUID(p["channel_id"])
        received_at = _received_at(p)
        now = utcnow()
        address = str(p.get("reply_to") or p["sender"])[:200]
        sender_name = str(p["sender_name"])[:200] if p.get("sender_name") else None
        contact_id, name, channel, created = await self._contact(conn, tenant_id, channel_id, address, p, now)
        # The name a contact without one gets from this message (the channel's display name).
        name_fill = sender_name if not created and sender_name and not name else None
        name = name or name_fill
        assistant_id = uuid.UUID(p["assistant_id"]) if p.get("assistant_id") else None
        content, status = _content(p)
        message_id = uuid.uuid4()
        payload = MessageIndexed(
            message_id=message_id, contact_id=contact_id, role="user", text=content, created_at=received_at
        ).model_dump(mode="json", exclude_none=True)  # thread_id and sector are the thread's, added by the statement
        row = await conn.fetchrow(
            SQL_STORE,
            tenant_id, contact_id, channel_id, created, assistant_id, uuid.uuid4(), channel, name or address,
            received_at, now, message_id, content, inbound_external_id(p["inbound_id"]), status, name_fill,
            uuid.uuid4(), f"chat.index:{message_id}:0", orjson.dumps(payload).decode(), now,
            0.0,  # the relay's at once: see the class docstring
        )  # fmt: skip
        if not row["stored"]:
            return None  # stored by an earlier delivery
        thread_id = row["thread_id"]
        woken = None
        if row["ai_enabled"]:  # else a human has taken over: the message waits in the inbox, no answer
            policy = await self.policy(tenant_id, p.get("channel_settings") or {})
            await self.store.add(
                buffer_key(tenant_id, thread_id),
                {"message_id": str(message_id)},
                window=policy.seconds if policy.enabled else 0,
                max_wait=policy.max_wait if policy.enabled else 0,
                meta={
                    "tenant_id": str(tenant_id),
                    "thread_id": str(thread_id),
                    "contact_id": str(contact_id),
                    "contact": name or address,
                    "channel": row["channel"],
                    "recipient": address,
                    "channel_id": str(channel_id),
                },
            )
            # After the consumer commits: woken earlier, the flusher would not see the message yet.
            woken = self.wake if not policy.enabled and callable(self.wake) else None
        if woken is None:
            return None

        async def after_commit(conn: asyncpg.Connection) -> None:
            woken()

        return after_commit

    async def policy(self, tenant_id: uuid.UUID, overrides: dict) -> BufferPolicy:
        """The channel's overrides win over the tenant's buffer settings."""
        tenant = await self.runtime.tenants.get(tenant_id)
        enabled = overrides.get("buffer_enabled")
        seconds = overrides.get("buffer_seconds")
        max_wait = overrides.get("buffer_max_wait_seconds")
        seconds = float(tenant.buffer_seconds if seconds is None else seconds)
        max_wait = float(tenant.buffer_max_wait_seconds if max_wait is None else max_wait)
        return BufferPolicy(
            enabled=tenant.buffer_enabled if enabled is None else bool(enabled),
            seconds=seconds,
            max_wait=max(max_wait, seconds),
        )

    async def _contact(
        self, conn: asyncpg.Connection, tenant_id: uuid.UUID, channel_id: uuid.UUID, address: str, p: dict, now
    ) -> tuple[uuid.UUID, str | None, str, bool]:
        """(id, name, channel, created by us), and locked (FOR UPDATE, or as our own uncommitted insert): concurrent
        messages of one contact then never open two threads, and the next statement (a new snapshot, taken once we
        hold the lock) sees every thread an earlier holder created."""
        channel_type = p["channel_type"]
        phone = address.removeprefix("whatsapp:") if channel_type == "whatsapp_twilio" else None
        name = str(p["sender_name"])[:200] if p.get("sender_name") else None
        for _ in range(3):
            row = await conn.fetchrow(
                SQL_CONTACT, tenant_id, channel_id, address, uuid.uuid4(), name, channel_type, phone,
                _received_at(p), now,
            )  # fmt: skip
            if row is not None:
                return row["id"], row["name"], row["channel"], row["created"]
            # Created meanwhile by another message's transaction: committed now (the insert waited for it), but not
            # in this statement's snapshot. The next statement sees it.
        raise LookupError("contact neither found nor created")  # retried by the consumer


def _received_at(p: dict) -> datetime:
    """When channels accepted it: the order of a burst is the order the customer sent it in."""
    try:
        return datetime.fromisoformat(p["received_at"])
    except (KeyError, TypeError, ValueError):
        return utcnow()


def _content(p: dict) -> tuple[str, str | None]:
    kind = p.get("kind")
    text = (p.get("text") or "").strip()
    if kind == "audio":
        return (text + "\n" if text else "") + VOICE_PENDING, "pending"
    if kind == "edited":
        return f"(edited) {text}", None
    if kind == "media" and not text:
        return "[media received]", None
    return text or "[empty message]", None


@dataclass
class TranscriptHandler:
    """transcription.completed.v1 for a voice note: the message gets its text and the burst may go."""

    wake: object | None = None

    async def handle(self, envelope: Envelope, session: AsyncSession) -> None:
        p = envelope.payload
        corr = p.get("correlation") or {}
        if corr.get("kind") != "channel_inbound" or envelope.tenant_id is None:
            return
        stmt = (
            select(Message)
            .where(
                Message.tenant_id == envelope.tenant_id,
                Message.external_id == inbound_external_id(str(corr.get("inbound_id"))),
            )
            .with_for_update()
        )
        message = (await session.execute(stmt)).scalar_one_or_none()
        if message is None:
            raise LookupError("voice note not stored yet")  # retried: channels.inbound.v1 may still be in flight
        if message.transcript_status != "pending":
            return
        caption = message.content.removesuffix(VOICE_PENDING).strip()
        if p.get("status") == "completed" and (p.get("text") or "").strip():
            message.content = (caption + "\n" if caption else "") + p["text"].strip()
            message.transcript_status = "done"
        else:
            message.content = (caption + "\n" if caption else "") + VOICE_FAILED
            message.transcript_status = "failed"
        thread = await session.get(Thread, message.thread_id)
        await emit_index(session, thread, message)
        if callable(self.wake):
            wake = self.wake
            event.listen(session.sync_session, "after_commit", lambda _s: wake(), once=True)
