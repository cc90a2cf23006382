"""Events chat emits through its outbox: replies for the customer's channel, messages to index."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.base import Outbox
from services.chat.contacts.models import Contact
from services.chat.threads.models import Message, Thread
from shared.events.channels import CHANNEL_TYPES
from shared.events.chat import OUTBOUND_REPLY, OUTBOUND_STREAM, OutboundReply
from shared.events.outbox import OutboxEvent, emit_event, emit_many
from shared.events.search import (
    INDEX_STREAM,
    MESSAGE_DELETED,
    MESSAGE_UPSERTED,
    MESSAGES_RESTORED,
    MessageIndexed,
    MessagesDeleted,
    MessagesRestored,
)

CHANNEL_KINDS = (*CHANNEL_TYPES, "web")  # threads whose replies channels delivers (web: the widget's)


def is_channel_thread(thread: Thread) -> bool:
    return thread.channel in CHANNEL_KINDS and thread.channel_id is not None


def index_event(message: Message, thread: Thread) -> OutboxEvent:
    """The message's current state for search (`search.message.upserted`; a review correction replaces the text)."""
    payload = MessageIndexed(
        message_id=message.id,
        thread_id=thread.id,
        contact_id=thread.contact_id,
        sector=message.sector,
        role=message.role,
        text=message.corrected_content or message.content,
        created_at=message.created_at,
    )
    return OutboxEvent(
        stream=INDEX_STREAM,
        type=MESSAGE_UPSERTED,
        idempotency_key=f"chat.index:{message.id}:{message.reviewed_at.isoformat() if message.reviewed_at else 0}",
        tenant_id=message.tenant_id,
        payload=payload.model_dump(mode="json", exclude_none=True),
    )


async def emit_index(session: AsyncSession, thread: Thread, message: Message) -> None:
    await emit_many(session, Outbox, [index_event(message, thread)])


async def emit_thread_hidden(session: AsyncSession, thread: Thread) -> None:
    """Thread soft delete: search hides its messages (kept for a restore)."""
    await emit_event(
        session,
        Outbox,
        MESSAGE_DELETED,
        MessagesDeleted(thread_id=thread.id, soft=True),
        idempotency_key=f"chat.thread-hidden:{thread.id}:{thread.deleted_at.isoformat()}",
        tenant_id=thread.tenant_id,
        exclude_none=True,
    )


async def emit_thread_restored(session: AsyncSession, thread: Thread, at: datetime) -> None:
    """Thread restore: search shows its hidden messages again."""
    await emit_event(
        session,
        Outbox,
        MESSAGES_RESTORED,
        MessagesRestored(thread_id=thread.id),
        idempotency_key=f"chat.thread-restored:{thread.id}:{at.isoformat()}",
        tenant_id=thread.tenant_id,
    )


def outbound_event(
    thread: Thread, contact: Contact | None, message: Message, text: str, split_replies: bool
) -> OutboxEvent | None:
    """A reply for the customer's channel; None when the thread has no channel address."""
    recipient = thread.recipient or (contact.external_id if contact is not None else None)
    if not is_channel_thread(thread) or contact is None or not recipient:
        return None
    return OutboxEvent(
        stream=OUTBOUND_STREAM,
        type=OUTBOUND_REPLY,
        idempotency_key=f"chat.outbound:{message.id}",
        tenant_id=message.tenant_id,
        payload=OUTBOUND_REPLY.dump(
            OutboundReply(
                message_id=message.id,
                thread_id=thread.id,
                contact_id=contact.id,
                channel=thread.channel,
                channel_id=thread.channel_id,
                recipient=recipient,
                role=message.role,
                text=text,
                split_replies=split_replies,
            )
        ),
    )


async def emit_outbound(
    session: AsyncSession, thread: Thread, contact: Contact | None, message: Message, text: str, split_replies: bool
) -> bool:
    """Send a reply to the customer's channel; False when the thread has no channel address."""
    event = outbound_event(thread, contact, message, text, split_replies)
    if event is None:
        return False
    await emit_many(session, Outbox, [event])
    return True
