"""Every table of the `search` schema, imported so Alembic sees the whole metadata."""

from services.search.base import Base, Outbox, ProcessedEvent
from services.search.documents.models import Document, DocumentBlob
from services.search.indexing.models import Entry, TenantIndex

__all__ = ["Base", "Document", "DocumentBlob", "Entry", "Outbox", "ProcessedEvent", "TenantIndex"]
