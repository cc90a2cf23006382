"""Reading one attachment: only from a live message of the caller's tenant."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.chat.attachments.errors import AttachmentNotFound
from services.chat.attachments.models import Attachment
from services.chat.attachments.repository import AttachmentRepository
from services.chat.threads.errors import MessageNotFound
from services.chat.threads.service import ThreadService


class AttachmentService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: uuid.UUID, message_id: uuid.UUID, position: int) -> Attachment:
        try:
            await ThreadService(self.session).message(tenant_id, message_id)  # a live thread's, this tenant's
        except MessageNotFound:
            raise AttachmentNotFound(f"message {message_id} has no attachment {position}") from None
        found = await AttachmentRepository(self.session).get(tenant_id, message_id, position)
        if found is None:
            raise AttachmentNotFound(f"message {message_id} has no attachment {position}")
        return found
