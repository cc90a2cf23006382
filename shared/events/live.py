"""chat.live.v1:{tenant_id} (produced by chat, read by chat's `GET /api/v1/events`): the console's live feed.

One capped Redis stream per tenant, so the feed fans out to any chat replica and a reconnecting client resumes
from its `Last-Event-ID` (the entry id) with XRANGE. An entry is `{type, data}`: the event's name and its payload
as JSON. Best effort: an entry trimmed away or never written (Redis down) is a console that refetches, not a loss.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

LIVE_STREAM_PREFIX = "chat.live.v1:"
LIVE_MAXLEN = 1000  # entries kept per tenant (approximate, MAXLEN ~): how far back a reconnect can replay

MESSAGE_CREATED = "message.created"
THREAD_UPDATED = "thread.updated"
BUFFER_UPDATED = "buffer.updated"
LIVE_TYPES = (MESSAGE_CREATED, THREAD_UPDATED, BUFFER_UPDATED)


class MessageCreated(BaseModel):
    message_id: uuid.UUID
    thread_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    role: str | None = None
    sector: str | None = None
    created_at: datetime | None = None


class ThreadUpdated(BaseModel):
    thread_id: uuid.UUID
    status: str | None = None
    deleted: bool = False


class BufferUpdated(BaseModel):
    key: str
    thread_id: uuid.UUID | None = None
    pending: int  # items waiting in the buffer after the change (0: answered, gone)


def live_stream(tenant_id: uuid.UUID | str) -> str:
    return f"{LIVE_STREAM_PREFIX}{tenant_id}"


def live_fields(type_: str, payload: BaseModel) -> dict[str, str]:
    """A live entry's stream fields."""
    return {"type": type_, "data": payload.model_dump_json(exclude_none=True)}


@dataclass(frozen=True, slots=True)
class LiveEntry:
    """One entry of a tenant's live stream: its stream id (the SSE event id), type and JSON payload."""

    id: str
    type: str
    data: str


def read_entry(entry_id: bytes, fields: dict[bytes, bytes]) -> LiveEntry:
    """A live entry as redis-py returns it (bytes)."""
    return LiveEntry(id=entry_id.decode(), type=fields[b"type"].decode(), data=fields[b"data"].decode())
