"""Events over Redis Streams: envelope, transactional outbox + relay, consumer groups with reclaim and DLQ."""

from shared.events.envelope import Envelope
from shared.events.models import add_event_tables

__all__ = ["Envelope", "add_event_tables"]
