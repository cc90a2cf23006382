"""Every table of the `chat` schema, imported so Alembic sees the whole metadata."""

from services.chat.assistants.models import Assistant
from services.chat.base import Base, Outbox, ProcessedEvent
from services.chat.contacts.models import Contact
from services.chat.metrics.models import TokenUsage
from services.chat.threads.models import Message, Thread

__all__ = ["Assistant", "Base", "Contact", "Message", "Outbox", "ProcessedEvent", "Thread", "TokenUsage"]
