"""An image a message carries, stored with it: the verified bytes (checked by shared/images.py) and their facts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, LargeBinary, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from services.chat.base import Base
from shared.db import UUIDPk, utcnow


class Attachment(UUIDPk, Base):
    """Bytes in Postgres (bytea, TOASTed out of the row): capped small, transactional with their message, isolated by
    tenant like every other row, backed up with it; docs/attachments.md says why not a blob store (yet)."""

    __tablename__ = "attachment"
    __table_args__ = (
        Index("uq_attachment_tenant_message_position", "tenant_id", "message_id", "position", unique=True),
    )

    tenant_id: Mapped[uuid.UUID]
    message_id: Mapped[uuid.UUID]
    position: Mapped[int] = mapped_column(SmallInteger)  # n in /api/v1/messages/{id}/attachments/{n}
    type: Mapped[str] = mapped_column(String(20), default="image")
    mime_type: Mapped[str] = mapped_column(String(100))  # what the bytes proved, never what the sender declared
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
