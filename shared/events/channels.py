"""channels.inbound.v1 (produced by channels' webhook intake): one customer message as a provider delivered it; and
channels.delivery_failed.v1 (channels' sender): a reply that could not be delivered.

Consumed by chat (stores it, answers it) and by channels' own media group (forwards a voice note to transcription,
photos to chat on channels.media.v1).
The intake writes this payload as JSON itself (services/channels/webhooks/intake/service.py, the hot path): its keys are
this model's fields, tests/shared/events/test_contracts.py holds them to it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.events.contract import EventType, Stream

INBOUND_STREAM = Stream("channels.inbound.v1")
# The channel types whose conversations channels carries (replies go back as chat.outbound.v1): chat's one list.
CHANNEL_TYPES = ("telegram", "whatsapp_twilio", "whatsapp_cloud", "instagram", "messenger")
PHONE_CHANNEL_TYPES = ("whatsapp_twilio", "whatsapp_cloud")  # the sender's address is a phone number


class InboundReceived(BaseModel):
    inbound_id: uuid.UUID
    channel_id: uuid.UUID
    channel_type: str
    assistant_id: uuid.UUID | None = None
    provider_message_id: str
    kind: str  # text | audio | image | media | edited
    sender: str
    sender_name: str | None = None
    sender_email: str | None = None  # web chat: what the visitor gave (goes on the contact when it is created)
    reply_to: str | None = None  # where answers go (Telegram chat id, WhatsApp address); the sender if unset
    text: str | None = None
    media: list[dict[str, Any]] = Field(default_factory=list)
    channel_settings: dict[str, Any] = Field(default_factory=dict)
    received_at: datetime | None = None  # when channels accepted it (a burst keeps the order it was sent in)


INBOUND_RECEIVED = EventType(INBOUND_STREAM, INBOUND_STREAM, InboundReceived)


DELIVERY_FAILED_STREAM = Stream("channels.delivery_failed.v1")


class DeliveryFailed(BaseModel):
    """A reply channels could not deliver for good (produced by channels' sender, consumed by chat): with
    `needs_human` the thread goes to the human queue (WhatsApp's 24-hour window closed and no template is set)."""

    delivery_id: uuid.UUID
    channel_id: uuid.UUID
    thread_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    reason: str
    needs_human: bool = False


DELIVERY_FAILED = EventType(DELIVERY_FAILED_STREAM, DELIVERY_FAILED_STREAM, DeliveryFailed)
