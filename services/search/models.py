"""Every table of the `search` schema, imported so Alembic sees the whole metadata."""

from services.search.base import Base, Outbox, ProcessedEvent

__all__ = ["Base", "Outbox", "ProcessedEvent"]
