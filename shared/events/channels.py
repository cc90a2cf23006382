"""channels.inbound.v1 (produced by channels' webhook intake): one customer message as a provider delivered it.

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


class InboundReceived(BaseModel):
    inbound_id: uuid.UUID
    channel_id: uuid.UUID
    channel_type: str
    assistant_id: uuid.UUID | None = None
    provider_message_id: str
    kind: str  # text | audio | image | media | edited
    sender: str
    sender_name: str | None = None
    reply_to: str | None = None  # where answers go (Telegram chat id, WhatsApp address); the sender if unset
    text: str | None = None
    media: list[dict[str, Any]] = Field(default_factory=list)
    channel_settings: dict[str, Any] = Field(default_factory=dict)
    received_at: datetime | None = None  # when channels accepted it (a burst keeps the order it was sent in)


INBOUND_RECEIVED = EventType(INBOUND_STREAM, INBOUND_STREAM, InboundReceived)
