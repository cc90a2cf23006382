"""Declarative base of the `chat` schema, with its outbox and processed-event tables."""

from shared.db import make_base
from shared.events.models import add_event_tables

Base = make_base("chat")
Outbox, ProcessedEvent = add_event_tables(Base)
