"""chat.outbound.v1 (produced by chat, consumed by channels' sender): a reply for a customer's channel, and the
best-effort `chat.typing.v1` hint carried on the same stream (published directly, never through the outbox)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from shared.events.contract import EventType, Stream

OUTBOUND_STREAM = Stream("chat.outbound.v1")


class OutboundReply(BaseModel):
    message_id: uuid.UUID | None = None
    thread_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    channel: str | None = None  # telegram | whatsapp_twilio
    channel_id: uuid.UUID
    recipient: str
    role: str | None = None
    text: str = ""
    split_replies: bool = False  # split into messages of at most CHANNELS_SPLIT_MAX_CHARS


class TypingHint(BaseModel):
    channel_id: uuid.UUID
    thread_id: uuid.UUID | None = None
    recipient: str


OUTBOUND_REPLY = EventType(OUTBOUND_STREAM, OUTBOUND_STREAM, OutboundReply)
TYPING = EventType(OUTBOUND_STREAM, "chat.typing.v1", TypingHint)
