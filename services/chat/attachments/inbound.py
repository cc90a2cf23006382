"""channels.media.v1: a customer's photos, fetched and checked by channels, stored with the message chat already has.

The inbound consumer stored the message as "pending" (its caption, or "[image]"), so the flusher holds the burst
(as for a voice note's transcript) until this event arrives or the grace period ends; then the burst is answered
with the photo. An image channels could not fetch leaves "[image unavailable]" in the text, and the burst goes on.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.attachments.repository import AttachmentRepository
from services.chat.attachments.schemas import IMAGE_PLACEHOLDER
from services.chat.pipeline.inbound import inbound_external_id
from services.chat.threads.events import emit_index
from services.chat.threads.repository import MessageRepository, ThreadRepository
from shared.events import Envelope
from shared.events.media import MediaReady
from shared.images import ImageRefused, VerifiedImage, verify_image

log = structlog.get_logger("pipeline")
IMAGE_UNAVAILABLE = "[image unavailable]"


@dataclass
class MediaHandler:
    max_bytes: int
    max_per_message: int
    wake: object | None = None  # the flusher's wake(): the burst may be due already

    async def handle(self, envelope: Envelope, p: MediaReady, session: AsyncSession) -> None:
        if envelope.tenant_id is None:
            return
        messages = MessageRepository(session)
        message = await messages.by_external_id(envelope.tenant_id, inbound_external_id(str(p.inbound_id)), lock=True)
        if message is None:
            raise LookupError("photo's message not stored yet")  # retried: channels.inbound.v1 may still be in flight
        if message.transcript_status != "pending":
            return  # handled by an earlier delivery, or the burst gave up waiting
        images, failed = await self._images(p)
        if images:
            await AttachmentRepository(session).add(envelope.tenant_id, message.id, images)
        message.attachment_count = len(images)
        message.transcript_status = "done" if images else "failed"
        if failed:
            words = message.content.strip()
            words = "" if words == IMAGE_PLACEHOLDER else words
            message.content = (words + "\n" if words else "") + IMAGE_UNAVAILABLE
            thread = await ThreadRepository(session).get(envelope.tenant_id, message.thread_id, include_deleted=True)
            await emit_index(session, thread, message)
        log.info("photos_stored", message_id=str(message.id), stored=len(images), failed=failed)
        if callable(self.wake):
            wake = self.wake
            event.listen(session.sync_session, "after_commit", lambda _s: wake(), once=True)

    async def _images(self, p: MediaReady) -> tuple[list[VerifiedImage], int]:
        """The ready items, checked again here (chat stores only what it verified itself); how many failed."""
        images, failed = [], 0
        for item in sorted(p.items, key=lambda i: i.position)[: self.max_per_message]:
            if item.status != "ready" or not item.data_b64:
                failed += 1
                continue
            try:
                data = base64.b64decode(item.data_b64, validate=True)
                images.append(await asyncio.to_thread(verify_image, data, self.max_bytes))
            except (binascii.Error, ValueError, ImageRefused):
                failed += 1
        return images, failed
