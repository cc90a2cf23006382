"""channels.media.v1 (produced by channels' media group, consumed by chat): the images of one inbound message,
fetched from the provider and checked (shared/images.py), so chat can store them with the message it already has.

The bytes travel inline (base64), as transcription.requested.v1 carries a voice note: channels alone holds the
provider credentials, chat alone stores messages, and the images are capped (CHANNELS_IMAGE_MAX_BYTES, at most
CHANNELS_IMAGES_MAX_PER_MESSAGE per message), so the event stays bounded. An item that could not be fetched or was
refused arrives as `status: "failed"` with the reason; chat writes "[image unavailable]" and the burst goes on.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

from shared.events.contract import EventType, Stream

MEDIA_STREAM = Stream("channels.media.v1")


class MediaItem(BaseModel):
    position: int = Field(ge=0)  # the item's place in the provider's message
    status: Literal["ready", "failed"]
    mime_type: str | None = None  # the type the bytes proved (never the provider's declared one)
    size: int | None = None
    sha256: str | None = None
    data_b64: str | None = None
    error: str | None = Field(None, max_length=300)


class MediaReady(BaseModel):
    inbound_id: uuid.UUID  # chat's message for it is `external_id = inbound:<inbound_id>`
    channel_id: uuid.UUID
    provider_message_id: str
    items: list[MediaItem] = Field(default_factory=list, max_length=20)


MEDIA_READY = EventType(MEDIA_STREAM, MEDIA_STREAM, MediaReady)
