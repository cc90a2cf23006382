"""Events chat emits through its outbox: replies for the customer's channel, messages to index."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.base import Outbox
from services.chat.contacts.models import Contact
from services.chat.threads.models import Message, Thread
from shared.events.outbox import emit

OUTBOUND_STREAM = "chat.outbound.v1"
INDEX_STREAM = "search.index.v1"
CHANNEL_KINDS = ("telegram", "whatsapp_twilio")


def is_channel_thread(thread: Thread) -> bool:
    return thread.channel in CHANNEL_KINDS and thread.channel_id is not None


async def emit_index(session: AsyncSession, thread: Thread, message: Message) -> None:
    await emit(
        session,
        Outbox,
        stream=INDEX_STREAM,
        type="search.index.v1",
        idempotency_key=f"chat.index:{message.id}:{message.reviewed_at.isoformat() if message.reviewed_at else 0}",
        tenant_id=message.tenant_id,
        payload={
            "source": "messages",
            "op": "upsert",
            "id": str(message.id),
            "thread_id": str(thread.id),
            "contact_id": str(thread.contact_id) if thread.contact_id else None,
            "role": message.role,
            "text": message.corrected_content or message.content,
            "sector": message.sector,
            "channel": thread.channel,
            "created_at": message.created_at.isoformat(),
        },
    )


async def emit_outbound(
    session: AsyncSession, thread: Thread, contact: Contact | None, message: Message, text: str, split_replies: bool
) -> bool:
    """Send a reply to the customer's channel; False when the thread has no channel address."""
    if not is_channel_thread(thread) or contact is None or not contact.external_id:
        return False
    await emit(
        session,
        Outbox,
        stream=OUTBOUND_STREAM,
        type="chat.outbound.v1",
        idempotency_key=f"chat.outbound:{message.id}",
        tenant_id=message.tenant_id,
        payload={
            "message_id": str(message.id),
            "thread_id": str(thread.id),
            "contact_id": str(contact.id),
            "channel": thread.channel,
            "channel_id": str(thread.channel_id),
            "recipient": contact.external_id,
            "role": message.role,
            "text": text,
            "split_replies": split_replies,
        },
    )
    return True
