"""Attachment rows; every method takes the tenant. Listing reads their facts, never their bytes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.attachments.models import Attachment
from shared.images import VerifiedImage


@dataclass(frozen=True, slots=True)
class AttachmentFacts:
    message_id: uuid.UUID
    position: int
    type: str
    mime_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class StoredImage:
    message_id: uuid.UUID
    position: int
    mime_type: str
    data: bytes


class AttachmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, tenant_id: uuid.UUID, message_id: uuid.UUID, images: Sequence[VerifiedImage], *, first: int = 0
    ) -> None:
        """`images` in order, at positions first, first+1, ..."""
        for offset, image in enumerate(images):
            self.session.add(
                Attachment(
                    id=uuid.uuid4(), tenant_id=tenant_id, message_id=message_id, position=first + offset,
                    type="image", mime_type=image.mime_type, size=image.size, sha256=image.sha256, data=image.data,
                )
            )  # fmt: skip
        await self.session.flush()

    async def facts(self, tenant_id: uuid.UUID, message_ids: Sequence[uuid.UUID]) -> list[AttachmentFacts]:
        if not message_ids:
            return []
        cols = (Attachment.message_id, Attachment.position, Attachment.type, Attachment.mime_type, Attachment.size,
                Attachment.sha256)  # fmt: skip
        stmt = (
            select(*cols)
            .where(Attachment.tenant_id == tenant_id, Attachment.message_id.in_(list(message_ids)))
            .order_by(Attachment.message_id, Attachment.position)
        )
        return [AttachmentFacts(**row._mapping) for row in await self.session.execute(stmt)]

    async def get(self, tenant_id: uuid.UUID, message_id: uuid.UUID, position: int) -> Attachment | None:
        stmt = select(Attachment).where(
            Attachment.tenant_id == tenant_id, Attachment.message_id == message_id, Attachment.position == position
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def images(self, tenant_id: uuid.UUID, message_ids: Sequence[uuid.UUID], limit: int) -> list[StoredImage]:
        """The bytes of these messages' images (at most `limit` rows), for a vision model's context."""
        if not message_ids:
            return []
        stmt = (
            select(Attachment.message_id, Attachment.position, Attachment.mime_type, Attachment.data)
            .where(Attachment.tenant_id == tenant_id, Attachment.message_id.in_(list(message_ids)))
            .order_by(Attachment.message_id, Attachment.position)
            .limit(limit)
        )
        return [StoredImage(**row._mapping) for row in await self.session.execute(stmt)]
