"""Tables `transcription.job` and `transcription.segment`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.transcription.base import Base
from shared.db import Timestamps, UUIDPk

STATUSES = ("queued", "processing", "completed", "failed")


class Job(UUIDPk, Timestamps, Base):
    """One audio file to transcribe: its request, lease while running, and result."""

    __tablename__ = "job"
    __table_args__ = (
        UniqueConstraint("tenant_id", "request_key"),
        Index("ix_job_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_job_running", "status", "lease_expires_at", postgresql_where=sql_text("deleted_at IS NULL")),
        Index("ix_job_tenant_id_started_at", "tenant_id", "started_at"),  # a tenant's last turn (claim_next)
    )

    tenant_id: Mapped[uuid.UUID]
    created_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    source: Mapped[str] = mapped_column(String(40), default="api")  # api | event
    request_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    correlation: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=sql_text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    engine: Mapped[str | None] = mapped_column(String(40), nullable=True)
    requested_language: Mapped[str | None] = mapped_column(String(20), nullable=True)
    speakers_expected: Mapped[int | None] = mapped_column(Integer, nullable=True)
    webhook_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    filename: Mapped[str | None] = mapped_column(String(300), nullable=True)
    audio_format: Mapped[str] = mapped_column(String(20))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str | None] = mapped_column(String(500), nullable=True)
    language: Mapped[str | None] = mapped_column(String(20), nullable=True)
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    speakers_available: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default=sql_text("'[]'::jsonb"))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0)
    webhook_delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    webhook_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Segment(Base):
    """A timed piece of a job's transcript (with the speaker when the engine gives one)."""

    __tablename__ = "segment"
    __table_args__ = (UniqueConstraint("job_id", "idx"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    tenant_id: Mapped[uuid.UUID]
    idx: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    speaker: Mapped[str | None] = mapped_column(String(100), nullable=True)
    words: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB, nullable=True)
