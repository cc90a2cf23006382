"""Every table of the `auth` schema, imported so Alembic sees the whole metadata."""

from services.auth.base import Base, Outbox, ProcessedEvent

__all__ = ["Base", "Outbox", "ProcessedEvent"]
