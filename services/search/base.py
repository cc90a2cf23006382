"""Declarative base of the `search` schema, with its outbox and processed-event tables."""

from shared.db import make_base
from shared.events.models import add_event_tables

Base = make_base("search")
Outbox, ProcessedEvent = add_event_tables(Base)
