"""Customers' channel messages become chat messages and join their conversation's buffer.

Consumer of channels.inbound.v1 (and transcription.completed.v1 for voice notes; channels.media.v1 for photos:
services/chat/attachments/inbound.py). The contact and
its one open thread per channel are found or created; the message is stored once (external_id), through the
message repository's fast twin (services/chat/threads/fast_repository.py); then the message joins the buffer in
Redis and the flusher answers the burst.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson
import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.attachments.schemas import IMAGE_PLACEHOLDER
from services.chat.buffers.store import BufferStore, buffer_key
from services.chat.runtime import ChatRuntime
from services.chat.tenants.settings import TenantSettings
from services.chat.threads.events import emit_index
from services.chat.threads.fast_repository import ChannelContact, FastMessageRepository, NewContact, NewInbound
from services.chat.threads.repository import MessageRepository, ThreadRepository
from shared.db import utcnow
from shared.events import Envelope
from shared.events.channels import PHONE_CHANNEL_TYPES, InboundReceived
from shared.events.handlers import AfterCommit
from shared.events.search import MessageIndexed
from shared.events.transcription import TranscriptionCompleted

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

    async def handle(self, envelope: Envelope, p: InboundReceived, conn: asyncpg.Connection) -> AfterCommit | None:
        tenant_id = envelope.tenant_id
        if tenant_id is None:
            raise ValueError("channels.inbound.v1 without tenant_id")
        channel_id = p.channel_id
        received_at = p.received_at or utcnow()  # when channels accepted it: a burst keeps the order it was sent in
        now = utcnow()
        address = (p.reply_to or p.sender)[:200]
        sender_name = p.sender_name[:200] if p.sender_name else None
        repo = FastMessageRepository(conn)
        contact = await self._contact(repo, tenant_id, channel_id, address, p, now)
        # The name a contact without one gets from this message (the channel's display name).
        name_fill = sender_name if not contact.created and sender_name and not contact.name else None
        name = contact.name or name_fill
        content, status = _content(p)
        message_id = uuid.uuid4()
        payload = MessageIndexed(
            message_id=message_id, contact_id=contact.id, role="user", text=content, created_at=received_at
        ).model_dump(mode="json", exclude_none=True)  # thread_id and sector are the thread's, added by the statement
        stored = await repo.add_inbound(
            NewInbound(
                tenant_id=tenant_id, contact_id=contact.id, contact_created=contact.created, channel_id=channel_id,
                channel=contact.channel, recipient=address, assistant_id=p.assistant_id,
                new_thread_id=uuid.uuid4(), title=name or address, message_id=message_id, content=content,
                external_id=inbound_external_id(str(p.inbound_id)), transcript_status=status, name_fill=name_fill,
                received_at=received_at, now=now, event_id=uuid.uuid4(), event_key=f"chat.index:{message_id}:0",
                index_payload=orjson.dumps(payload).decode(),
                relay_after=0.0,  # the relay's at once: see the class docstring
            )
        )  # fmt: skip
        if not stored.stored:
            return None  # stored by an earlier delivery
        thread_id = stored.thread_id
        woken = None
        # A human has taken over, or the tenant is inactive (or auth cannot say it is active): the message waits in
        # the inbox, never answered by the AI (not even later: it never joined a buffer). The settings are cached.
        tenant = await self.runtime.tenants.get(tenant_id) if stored.ai_enabled else None
        if tenant is not None and not tenant.answerable:
            log.warning("inbound_not_answered", tenant_id=str(tenant_id), tenant_status=tenant.status)
        if tenant is not None and tenant.answerable:
            policy = self.policy(tenant, p.channel_settings)
            await self.store.add(
                buffer_key(tenant_id, thread_id),
                {"message_id": str(message_id)},
                window=policy.seconds if policy.enabled else 0,
                max_wait=policy.max_wait if policy.enabled else 0,
                meta={
                    "tenant_id": str(tenant_id),
                    "thread_id": str(thread_id),
                    "contact_id": str(contact.id),
                    "contact": name or address,
                    "channel": stored.channel,
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

    @staticmethod
    def policy(tenant: TenantSettings, overrides: dict) -> BufferPolicy:
        """The channel's overrides win over the tenant's buffer settings."""
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
        self, repo: FastMessageRepository, tenant_id: uuid.UUID, channel_id: uuid.UUID, address: str,
        p: InboundReceived, now: datetime,
    ) -> ChannelContact:
        """Found or created by us, and locked: concurrent messages of one contact then never open two threads, and the
        next statement (a new snapshot, taken once we hold the lock) sees every thread an earlier holder created."""
        channel_type = p.channel_type
        key = NewContact(
            tenant_id=tenant_id, channel_id=channel_id, external_id=address, contact_id=uuid.uuid4(),
            name=p.sender_name[:200] if p.sender_name else None, channel_type=channel_type,
            phone="+" + address.removeprefix("whatsapp:").lstrip("+") if channel_type in PHONE_CHANNEL_TYPES else None,
            email=p.sender_email[:320] if p.sender_email else None, last_seen_at=p.received_at or now, now=now,
        )  # fmt: skip
        for _ in range(3):
            contact = await repo.contact(key)
            if contact is not None:
                return contact
            # Created meanwhile by another message's transaction: the next statement sees it.
        raise LookupError("contact neither found nor created")  # retried by the consumer


def _content(p: InboundReceived) -> tuple[str, str | None]:
    kind = p.kind
    text = (p.text or "").strip()
    if kind == "audio":
        return (text + "\n" if text else "") + VOICE_PENDING, "pending"
    if kind == "image":  # the photos follow on channels.media.v1 (services/chat/attachments/inbound.py)
        return text or IMAGE_PLACEHOLDER, "pending"
    if kind == "edited":
        return f"(edited) {text}", None
    if kind == "media" and not text:
        return "[media received]", None
    return text or "[empty message]", None


@dataclass
class TranscriptHandler:
    """transcription.completed.v1 for a voice note: the message gets its text and the burst may go."""

    wake: object | None = None

    async def handle(self, envelope: Envelope, p: TranscriptionCompleted, session: AsyncSession) -> None:
        corr = p.correlation
        if corr.get("kind") != "channel_inbound" or envelope.tenant_id is None:
            return
        external_id = inbound_external_id(str(corr.get("inbound_id")))
        message = await MessageRepository(session).by_external_id(envelope.tenant_id, external_id, lock=True)
        if message is None:
            raise LookupError("voice note not stored yet")  # retried: channels.inbound.v1 may still be in flight
        if message.transcript_status != "pending":
            return
        caption = message.content.removesuffix(VOICE_PENDING).strip()
        if p.status == "completed" and (p.text or "").strip():
            message.content = (caption + "\n" if caption else "") + p.text.strip()
            message.transcript_status = "done"
        else:
            message.content = (caption + "\n" if caption else "") + VOICE_FAILED
            message.transcript_status = "failed"
        thread = await ThreadRepository(session).get(envelope.tenant_id, message.thread_id, include_deleted=True)
        await emit_index(session, thread, message)
        if callable(self.wake):
            wake = self.wake
            event.listen(session.sync_session, "after_commit", lambda _s: wake(), once=True)
