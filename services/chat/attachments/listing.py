"""Messages as the API lists them, with their attachments' facts and the URL serving each one's bytes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.attachments.repository import AttachmentFacts, AttachmentRepository
from services.chat.attachments.schemas import AttachmentRead, attachment_url
from services.chat.threads.models import Message
from services.chat.threads.schemas import MessageRead
from shared.images import VerifiedImage


def read_of(facts: AttachmentFacts | VerifiedImage, message_id: uuid.UUID, position: int) -> AttachmentRead:
    return AttachmentRead(
        position=position,
        type="image",
        mime_type=facts.mime_type,
        size=facts.size,
        sha256=facts.sha256,
        url=attachment_url(message_id, position),
    )


async def message_reads(session: AsyncSession, tenant_id: uuid.UUID, messages: Sequence[Message]) -> list[MessageRead]:
    """One query for the page's attachments, and only when one of its messages has some."""
    reads = [MessageRead.model_validate(m) for m in messages]
    with_images = [m.id for m in messages if m.attachment_count]
    if not with_images:
        return reads
    found: dict[uuid.UUID, list[AttachmentRead]] = {}
    for f in await AttachmentRepository(session).facts(tenant_id, with_images):
        found.setdefault(f.message_id, []).append(read_of(f, f.message_id, f.position))
    for read in reads:
        read.attachments = found.get(read.id, [])
    return reads


def fresh_read(message: Message, images: Sequence[VerifiedImage]) -> MessageRead:
    """A message just stored with these images (no query)."""
    read = MessageRead.model_validate(message)
    read.attachments = [read_of(image, message.id, n) for n, image in enumerate(images)]
    return read
