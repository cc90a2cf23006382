"""Every table of the `transcription` schema, imported so Alembic sees the whole metadata."""

from services.transcription.base import Base, Outbox, ProcessedEvent

__all__ = ["Base", "Outbox", "ProcessedEvent"]
