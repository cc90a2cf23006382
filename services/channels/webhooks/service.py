"""Accept an inbound message once: store it and its channels.inbound.v1 event in one transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.channels.base import Outbox
from services.channels.configs.models import Channel
from services.channels.outbound.models import Delivery
from services.channels.webhooks.models import InboundMessage
from shared.db import utcnow
from shared.events.outbox import emit

INBOUND_STREAM = "channels.inbound.v1"


@dataclass
class Incoming:
    provider_message_id: str
    kind: str  # text | audio | media | edited
    sender: str
    sender_name: str | None = None
    text: str | None = None
    media: list[dict[str, Any]] = field(default_factory=list)
    reply_to: str | None = None  # where answers go (Telegram chat id, WhatsApp address)


async def accept(session: AsyncSession, channel: Channel, msg: Incoming) -> uuid.UUID | None:
    """Store the message and its event; None when the provider already delivered it (a retry)."""
    stmt = (
        insert(InboundMessage)
        .values(
            id=uuid.uuid4(),
            tenant_id=channel.tenant_id,
            channel_id=channel.id,
            provider_message_id=msg.provider_message_id,
            kind=msg.kind,
            sender=msg.sender,
            sender_name=msg.sender_name,
            text=msg.text,
            media=msg.media,
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["channel_id", "provider_message_id"])
        .returning(InboundMessage.id, InboundMessage.received_at)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    inbound_id, received_at = row
    await emit(
        session,
        Outbox,
        stream=INBOUND_STREAM,
        type=INBOUND_STREAM,
        tenant_id=channel.tenant_id,
        idempotency_key=f"inbound:{channel.id}:{msg.provider_message_id}",
        payload={
            "inbound_id": str(inbound_id),
            "channel_id": str(channel.id),
            "channel_type": channel.type,
            "assistant_id": str(channel.assistant_id) if channel.assistant_id else None,
            "provider_message_id": msg.provider_message_id,
            "kind": msg.kind,
            "sender": msg.sender,
            "sender_name": msg.sender_name,
            "reply_to": msg.reply_to or msg.sender,
            "text": msg.text,
            "media": msg.media,
            "channel_settings": channel.settings or {},
            "received_at": received_at.isoformat(),
        },
    )
    return inbound_id


async def record_status(
    session: AsyncSession, channel: Channel, provider_message_id: str, status: str, error: str | None
) -> int:
    """A provider's delivery report (Twilio status callback) moves the delivery forward."""
    stmt = (
        update(Delivery)
        .where(
            Delivery.tenant_id == channel.tenant_id,
            Delivery.channel_id == channel.id,
            Delivery.provider_message_ids.contains(provider_message_id),
        )
        .values(status=status[:20], error=error, updated_at=utcnow())
    )
    return (await session.execute(stmt)).rowcount or 0
