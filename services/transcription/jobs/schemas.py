"""Request and response shapes of transcription jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from services.transcription.config import EngineName

JobStatus = Literal["queued", "processing", "completed", "failed"]


class TranscriptionCreate(BaseModel):
    """The form fields beside `file`."""

    model_config = ConfigDict(extra="forbid")

    language: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$", description="e.g. en, pt-BR")
    speakers_expected: int | None = Field(None, ge=1, le=20)
    engine: EngineName | None = None
    webhook_url: AnyHttpUrl | None = Field(None, description="called (POST, HMAC-signed) when the job ends")


class TranscriptionQueued(BaseModel):
    id: uuid.UUID
    status: JobStatus


class WordRead(BaseModel):
    start: float
    end: float
    word: str
    probability: float | None = None
    speaker: str | None = None


class SegmentRead(BaseModel):
    start: float
    end: float
    text: str
    speaker: str | None = None
    words: list[WordRead] | None = None


class TranscriptionSummary(BaseModel):
    id: uuid.UUID
    status: JobStatus
    progress: int
    engine: str | None
    language: str | None
    duration_seconds: float | None
    text: str | None
    error: str | None = None
    filename: str | None
    format: str
    size_bytes: int
    speakers_available: bool
    notes: list[str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TranscriptionRead(TranscriptionSummary):
    segments: list[SegmentRead]
