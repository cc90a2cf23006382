"""Payloads of transcription.requested.v1 / transcription.completed.v1 (owned by the transcription service).

A producer other than transcription itself (channels, chat) sends the audio inline (`audio_b64`, small voice
notes, capped by TRANSCRIPTION_MAX_INLINE_AUDIO_BYTES) or as a plain `audio_url` transcription can GET (no
credentials: download provider media yourself and send it inline). `correlation` comes back untouched in
the completed event, so the requester can match the transcript to its message.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.events.contract import EventType, Stream

REQUESTED_STREAM = Stream("transcription.requested.v1")
COMPLETED_STREAM = Stream("transcription.completed.v1")


class TranscriptionRequested(BaseModel):
    job_id: uuid.UUID | None = None  # set by transcription's own upload endpoint
    audio_b64: str | None = None
    audio_url: str | None = None
    filename: str | None = Field(None, max_length=300)
    language: str | None = Field(None, max_length=20)
    engine: Literal["local", "openai", "assemblyai"] | None = None
    speakers_expected: int | None = Field(None, ge=1, le=20)
    correlation: dict[str, Any] = Field(default_factory=dict)


class TranscriptionCompleted(BaseModel):
    job_id: uuid.UUID
    status: Literal["completed", "failed"]
    text: str | None = None
    language: str | None = None
    duration_seconds: float | None = None
    engine: str | None = None
    error: str | None = None
    source: str = "api"
    correlation: dict[str, Any] = Field(default_factory=dict)


TRANSCRIPTION_REQUESTED = EventType(REQUESTED_STREAM, REQUESTED_STREAM, TranscriptionRequested)
TRANSCRIPTION_COMPLETED = EventType(COMPLETED_STREAM, COMPLETED_STREAM, TranscriptionCompleted)
