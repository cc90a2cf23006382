"""Every table of the `channels` schema, imported so Alembic sees the whole metadata."""

from services.channels.base import Base, Outbox, ProcessedEvent

__all__ = ["Base", "Outbox", "ProcessedEvent"]
