"""Reindex job state as the API shows it."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class ReindexRead(BaseModel):
    job_id: uuid.UUID | None
    status: str  # idle | queued | running | done | failed
    progress: int  # 0-100, like documents and transcriptions
    total: int
    done: int
    embedding_model: str | None
    target_model: str
    dimensions: int
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
