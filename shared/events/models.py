"""Outbox and processed-event tables, created in each service's own schema."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import utcnow


def add_event_tables(base) -> tuple[type, type]:
    """Declare `outbox` and `processed_event` on a service's Base; returns (Outbox, ProcessedEvent)."""

    class Outbox(base):
        """An event written in the same transaction as its data; the relay publishes it after commit."""

        __tablename__ = "outbox"
        __table_args__ = (Index("ix_outbox_unpublished", "created_at", postgresql_where=text("published_at IS NULL")),)
        id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
        stream: Mapped[str] = mapped_column(String(200))
        type: Mapped[str] = mapped_column(String(200))
        tenant_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
        idempotency_key: Mapped[str] = mapped_column(String(300))
        payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
        occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
        created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
        published_at: Mapped[datetime | None] = mapped_column(nullable=True)
        attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
        last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    class ProcessedEvent(base):
        """One row per (consumer group, idempotency key): a handler's effect happens once per event."""

        __tablename__ = "processed_event"
        # Pruned past EVENTS_PROCESSED_RETENTION_HOURS by the relay (shared/events/relay.py).
        __table_args__ = (Index("ix_processed_event_processed_at", "processed_at", postgresql_using="brin"),)
        consumer: Mapped[str] = mapped_column(String(200), primary_key=True)
        idempotency_key: Mapped[str] = mapped_column(String(300), primary_key=True)
        event_id: Mapped[uuid.UUID]
        processed_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))

    return Outbox, ProcessedEvent
