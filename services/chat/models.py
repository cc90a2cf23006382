"""Every table of the `chat` schema, imported so Alembic sees the whole metadata."""

from services.chat.base import Base, Outbox, ProcessedEvent

__all__ = ["Base", "Outbox", "ProcessedEvent"]
