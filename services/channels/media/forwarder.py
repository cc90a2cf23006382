"""Voice notes and photos: fetch the media from the provider; a voice note goes to transcription for its text, photos
to chat (services/channels/media/images.py).

Runs in the channels worker as its own consumer group on channels.inbound.v1 (only `audio` and `image` entries),
because only channels holds the provider credentials. The audio travels inline in
transcription.requested.v1; `correlation` brings the inbound message back to chat with the text.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import httpx
import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.channels.base import Outbox
from services.channels.configs.repository import ChannelRepository
from services.channels.media.images import ImageForwarder
from services.channels.providers.base import MediaError
from services.channels.providers.registry import Providers, UnknownChannelType
from shared.crypto import SecretBox
from shared.events import Envelope
from shared.events.channels import InboundReceived
from shared.events.outbox import emit_event
from shared.events.transcription import TRANSCRIPTION_REQUESTED, TranscriptionRequested

log = structlog.get_logger("media")
MEDIA_GROUP = "channels-media"
MEDIA_KINDS = ("audio", "image")  # the inbound kinds this group fetches media for


@dataclass
class MediaForwarder:
    box: SecretBox
    http: httpx.AsyncClient
    max_bytes: int
    providers: Providers
    images: ImageForwarder | None = None

    async def handle(self, envelope: Envelope, p: InboundReceived, session: AsyncSession) -> None:
        if p.kind not in MEDIA_KINDS or not p.media or envelope.tenant_id is None:
            return
        channel = await ChannelRepository(session).get(envelope.tenant_id, p.channel_id)
        if channel is None:
            log.warning("media_channel_gone", channel_id=str(p.channel_id), kind=p.kind)
            return
        creds = orjson.loads(self.box.decrypt(channel.credentials_encrypted)) if channel.credentials_encrypted else {}
        if p.kind == "image":
            if self.images is not None:
                try:
                    provider = self.providers[channel.type]
                except UnknownChannelType:  # a channel without a provider module sends its images inline
                    provider = None
                await self.images.handle(envelope, p, session, provider, creds)
            return
        item = p.media[0]  # as the provider described it (a Telegram file_id, a Twilio media url)
        try:
            media = await self.providers[channel.type].fetch_media(self.http, creds, item, self.max_bytes)
        except MediaError as exc:
            # Chat stops waiting for this transcript after its grace period and hands the thread to a human.
            log.warning("voice_note_unavailable", inbound_id=str(p.inbound_id), error=str(exc))
            return
        request = TranscriptionRequested(
            audio_b64=base64.b64encode(media.content).decode(),
            filename=f"voice-{p.provider_message_id}.ogg"[:300],
            correlation={
                "kind": "channel_inbound",
                "inbound_id": str(p.inbound_id),
                "channel_id": str(p.channel_id),
                "provider_message_id": p.provider_message_id,
            },
        )
        await emit_event(
            session,
            Outbox,
            TRANSCRIPTION_REQUESTED,
            request,
            tenant_id=envelope.tenant_id,
            idempotency_key=f"transcribe:{p.inbound_id}",
        )
        log.info("voice_note_forwarded", inbound_id=str(p.inbound_id), bytes=len(media.content))
