"""Every table of the `transcription` schema, imported so Alembic sees the whole metadata."""

from services.transcription.base import Base, Outbox, ProcessedEvent
from services.transcription.jobs.models import Job, Segment

__all__ = ["Base", "Job", "Outbox", "ProcessedEvent", "Segment"]
