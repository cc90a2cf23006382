"""Every table of the `channels` schema, imported so Alembic sees the whole metadata."""

from services.channels.base import Base, Outbox, ProcessedEvent
from services.channels.configs.models import Channel
from services.channels.outbound.models import Delivery
from services.channels.web.models import WebVisitor
from services.channels.webhooks.models import InboundMessage

__all__ = ["Base", "Channel", "Delivery", "InboundMessage", "Outbox", "ProcessedEvent", "WebVisitor"]
