"""Knowledge documents and their stored bytes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from services.search.base import Base
from shared.db import Timestamps


class Document(Base, Timestamps):
    """An uploaded file; `status` goes processing -> ready | failed."""

    __tablename__ = "document"
    __table_args__ = (
        Index("ix_document_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_document_tenant_served", "tenant_id", "served_at"),  # a tenant's last turn (claim_next)
        Index("ix_document_processing", "created_at", postgresql_where=text("status = 'processing'")),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID]
    filename: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(8))  # pdf | docx | txt | md
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="processing")
    chunks: Mapped[int] = mapped_column(default=0)
    embedded: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    ready_at: Mapped[datetime | None]
    served_at: Mapped[datetime | None]  # when the worker last took a step of it (fair turns across tenants)

    @property
    def progress(self) -> int:
        """Percent done (0-100, the API's one progress scale, as transcriptions report it)."""
        if self.status == "ready":
            return 100
        if not self.chunks:
            return 0
        # parsing counts as the first 10%, embedding the rest; 100 only once ready
        return min(99, int(10 + 90 * self.embedded / self.chunks))


class DocumentBlob(Base):
    """The uploaded bytes, kept apart so document lists never read them."""

    __tablename__ = "document_blob"
    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("search.document.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[uuid.UUID]
    content: Mapped[bytes] = mapped_column(LargeBinary)
