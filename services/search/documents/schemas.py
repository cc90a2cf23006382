"""Document API schemas."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class DocumentRead(BaseModel):
    id: uuid.UUID
    filename: str
    kind: str
    size_bytes: int
    status: str  # processing | ready | failed
    progress: int  # 0-100, like transcriptions
    chunks: int
    embedded: int
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None = None

    @classmethod
    def of(cls, doc) -> DocumentRead:
        return cls(
            id=doc.id,
            filename=doc.filename,
            kind=doc.kind,
            size_bytes=doc.size_bytes,
            status=doc.status,
            progress=doc.progress,
            chunks=doc.chunks,
            embedded=doc.embedded,
            error=doc.error,
            created_at=doc.created_at,
            updated_at=doc.updated_at,
            ready_at=doc.ready_at,
        )
