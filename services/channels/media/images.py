"""Photos: fetch each image of an inbound message from the provider, check its real bytes, hand them to chat.

The media group (services/channels/media/forwarder.py) calls it for `image` entries of channels.inbound.v1, off the
webhook's hot path. Only the provider's module fetches (its hosts only, with the channel's credentials, capped);
shared/images.py decides from the bytes what they are. The result, images inline and failures named, goes to chat
on channels.media.v1 (shared/events/media.py) in this transaction's outbox, one event per inbound message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.channels.base import Outbox
from services.channels.providers.base import ChannelProvider, MediaError
from shared.events import Envelope
from shared.events.channels import InboundReceived
from shared.events.media import MEDIA_READY, MediaItem, MediaReady
from shared.events.outbox import emit_event
from shared.images import ImageRefused, verify_image

log = structlog.get_logger("media")


@dataclass
class ImageForwarder:
    http: httpx.AsyncClient
    max_bytes: int
    max_per_message: int

    async def handle(
        self,
        envelope: Envelope,
        p: InboundReceived,
        session: AsyncSession,
        provider: ChannelProvider | None,
        creds: Mapping[str, str],
    ) -> None:
        items = [await self._one(n, item, provider, creds) for n, item in enumerate(p.media[: self.max_per_message])]
        ready = MediaReady(
            inbound_id=p.inbound_id, channel_id=p.channel_id, provider_message_id=p.provider_message_id, items=items
        )
        await emit_event(
            session,
            Outbox,
            MEDIA_READY,
            ready,
            tenant_id=envelope.tenant_id,
            idempotency_key=f"media:{p.inbound_id}",
        )
        log.info("images_forwarded", inbound_id=str(p.inbound_id), ready=sum(i.status == "ready" for i in items),
                 failed=sum(i.status == "failed" for i in items))  # fmt: skip

    async def _one(
        self, position: int, item: Mapping[str, Any], provider: ChannelProvider | None, creds: Mapping[str, str]
    ) -> MediaItem:
        try:
            data = await self._bytes(item, provider, creds)
            image = await asyncio.to_thread(verify_image, data, self.max_bytes)
        except (MediaError, ImageRefused) as exc:
            return MediaItem(position=position, status="failed", error=str(exc)[:300])
        return MediaItem(
            position=position, status="ready", mime_type=image.mime_type, size=image.size, sha256=image.sha256,
            data_b64=base64.b64encode(image.data).decode(),
        )  # fmt: skip

    async def _bytes(
        self, item: Mapping[str, Any], provider: ChannelProvider | None, creds: Mapping[str, str]
    ) -> bytes:
        """Inline bytes (a channel whose images arrive with the message, e.g. the web widget), else the provider's."""
        inline = item.get("data_b64")
        if isinstance(inline, str):
            if len(inline) * 3 // 4 > self.max_bytes + 3:
                raise MediaError(f"media is larger than {self.max_bytes} bytes")
            try:
                return base64.b64decode(inline, validate=True)
            except (binascii.Error, ValueError):
                raise MediaError("inline media is not valid base64") from None
        if provider is None:
            raise MediaError("no provider fetches this channel's media")
        media = await provider.fetch_media(self.http, creds, item, self.max_bytes)
        return media.content
