"""Every table of the `chat` schema, imported so Alembic sees the whole metadata."""

from services.chat.assistants.models import Assistant
from services.chat.base import Base, Outbox, ProcessedEvent
from services.chat.contacts.models import Contact
from services.chat.metrics.models import TokenUsage
from services.chat.threads.models import Message, Thread
from services.chat.tools.models import AssistantTool

__all__ = [
    "Assistant",
    "AssistantTool",
    "Base",
    "Contact",
    "Message",
    "Outbox",
    "ProcessedEvent",
    "Thread",
    "TokenUsage",
]
