"""Customers' channel messages become chat messages and join their conversation's buffer.

Consumer of channels.inbound.v1 (and transcription.completed.v1 for voice notes). The contact and
its one open thread per channel are found or created; the message is stored once (external_id);
then the message joins the buffer in Redis and the flusher answers the burst.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import event, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.assistants.service import AssistantService
from services.chat.buffers.store import BufferStore, buffer_key
from services.chat.contacts.models import Contact
from services.chat.contacts.repository import ContactRepository
from services.chat.runtime import ChatRuntime
from services.chat.threads.events import emit_index
from services.chat.threads.models import Message, Thread
from shared.db import utcnow
from shared.errors import NotFound
from shared.events import Envelope

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


@dataclass
class InboundHandler:
    runtime: ChatRuntime
    store: BufferStore
    wake: object | None = None  # the flusher's wake(): answer at once when the buffer is off

    async def handle(self, envelope: Envelope, session: AsyncSession) -> None:
        p = envelope.payload
        tenant_id = envelope.tenant_id
        if tenant_id is None:
            raise ValueError("channels.inbound.v1 without tenant_id")
        channel_id = uuid.UUID(p["channel_id"])
        received_at = _received_at(p)
        contact, created = await self._contact(session, tenant_id, channel_id, p, received_at)
        thread = await self._open_thread(session, tenant_id, contact, p, received_at, new_contact=created)
        content, status = _content(p)
        message = (
            await session.scalars(
                insert(Message)
                .values(
                    id=uuid.uuid4(),
                    tenant_id=tenant_id,
                    thread_id=thread.id,
                    contact_id=contact.id,
                    role="user",
                    content=content,
                    sector=thread.sector,
                    incomplete=False,
                    created_at=received_at,
                    external_id=inbound_external_id(p["inbound_id"]),
                    transcript_status=status,
                )
                .on_conflict_do_nothing(
                    index_elements=["tenant_id", "external_id"], index_where=Message.external_id.is_not(None)
                )
                .returning(Message),
                execution_options={"populate_existing": True},
            )
        ).first()
        if message is None:
            return  # stored by an earlier delivery
        # Unchanged for a new contact or thread (created with these values): the ORM then writes nothing.
        thread.last_message_at = message.created_at
        contact.last_seen_at = message.created_at
        await emit_index(session, thread, message)
        if not thread.ai_enabled:
            return  # a human has taken over: the message waits in the inbox, no answer
        policy = await self.policy(tenant_id, p.get("channel_settings") or {})
        await self.store.add(
            buffer_key(tenant_id, thread.id),
            {"message_id": str(message.id)},
            window=policy.seconds if policy.enabled else 0,
            max_wait=policy.max_wait if policy.enabled else 0,
            meta={
                "tenant_id": str(tenant_id),
                "thread_id": str(thread.id),
                "contact_id": str(contact.id),
                "contact": contact.name or contact.external_id or "",
                "channel": thread.channel,
                "recipient": contact.external_id or "",
                "channel_id": str(channel_id),
            },
        )
        if not policy.enabled and callable(self.wake):
            # After the consumer commits: woken earlier, the flusher would not see the message yet.
            wake = self.wake
            event.listen(session.sync_session, "after_commit", lambda _s: wake(), once=True)

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
        self, session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID, p: dict, received_at: datetime
    ) -> tuple[Contact, bool]:
        """Found or created (True: by us), and locked (FOR UPDATE, or as our own uncommitted insert): concurrent
        messages of one contact then never open two threads."""
        address = str(p.get("reply_to") or p["sender"])[:200]
        repo = ContactRepository(session)
        contact = await repo.find_on_channel(tenant_id, channel_id, address, lock=True)
        if contact is not None:
            if p.get("sender_name") and not contact.name:
                contact.name = str(p["sender_name"])[:200]
            return contact, False
        phone = address.removeprefix("whatsapp:") if p.get("channel_type") == "whatsapp_twilio" else None
        now = utcnow()
        contact = (
            await session.scalars(
                insert(Contact)
                .values(
                    id=uuid.uuid4(),
                    tenant_id=tenant_id,
                    name=(p.get("sender_name") or None),
                    channel=p["channel_type"],
                    channel_id=channel_id,
                    external_id=address,
                    phone=phone,
                    attributes={},
                    last_seen_at=received_at,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(
                    index_elements=["tenant_id", "channel_id", "external_id"],
                    index_where=(Contact.channel_id.is_not(None)) & (Contact.external_id.is_not(None)),
                )
                .returning(Contact),
                execution_options={"populate_existing": True},
            )
        ).first()
        if contact is not None:
            return contact, True
        # Created meanwhile by another message's transaction (committed: the insert waited for it).
        contact = await repo.find_on_channel(tenant_id, channel_id, address, lock=True)
        assert contact is not None
        return contact, False

    async def _open_thread(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        contact: Contact,
        p: dict,
        received_at: datetime,
        *,
        new_contact: bool,
    ) -> Thread:
        """One open thread per contact and channel (the contact row is locked by `_contact`). A contact this
        transaction created has none yet (nobody else can see it), so there is nothing to look up."""
        thread = None if new_contact else await self._find_open_thread(session, tenant_id, contact)
        if thread is not None:
            return thread
        assistant_id = uuid.UUID(p["assistant_id"]) if p.get("assistant_id") else None
        try:
            assistant = await AssistantService(session).resolve(tenant_id, assistant_id)
        except NotFound:  # the channel's assistant was deleted: the tenant's default answers
            assistant = await AssistantService(session).resolve(tenant_id, None)
        thread = Thread(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            assistant_id=assistant.id if assistant else None,
            contact_id=contact.id,
            channel=contact.channel,
            channel_id=contact.channel_id,
            title=contact.name or contact.external_id,
            status="open",
            ai_enabled=True,
            needs_human=False,
            last_message_at=received_at,
        )
        session.add(thread)
        await session.flush()
        return thread

    async def _find_open_thread(self, session: AsyncSession, tenant_id: uuid.UUID, contact: Contact) -> Thread | None:
        stmt = (
            select(Thread)
            .where(
                Thread.tenant_id == tenant_id,
                Thread.contact_id == contact.id,
                Thread.channel_id == contact.channel_id,
                Thread.status != "closed",
                Thread.deleted_at.is_(None),
            )
            .order_by(Thread.last_message_at.desc())
            .limit(1)
        )
        return (await session.execute(stmt)).scalar_one_or_none()


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
