"""Payloads of search.index.v1 (consumed by the search service; chat emits one per stored message).

`search.message.upserted` carries the message's current state: the first one indexes it, a later one
(an edit, a review correction) replaces its text; `deleted: true` removes it for good. `search.message.deleted`
removes one message, or every message of a thread or a contact: erasure, final, unless `soft: true` (chat's thread
soft delete), which only hides them until `search.messages.restored` (the thread's restore). The envelope's
`tenant_id` is required and `idempotency_key` should be unique per change (e.g. `message:{id}:{version}`); the
search service is idempotent on the message id anyway, and an erased message is never brought back by a late
upsert or a restore.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from shared.events.contract import EventType, Stream

INDEX_STREAM = Stream("search.index.v1")


class MessageIndexed(BaseModel):
    message_id: uuid.UUID
    thread_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    sector: str | None = Field(None, max_length=100)
    role: str | None = Field(None, max_length=20)  # user | assistant | agent | system
    text: str = Field("", max_length=100_000)
    created_at: datetime
    locale: str | None = Field(None, max_length=20)  # the tenant's locale, if the producer knows it
    deleted: bool = False


class MessagesDeleted(BaseModel):
    message_id: uuid.UUID | None = None
    thread_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    # True: a reversible hide (chat's thread soft delete; text and vectors kept for a restore).
    # False: erasure, final (text and vector cleared, a late upsert cannot bring the message back).
    soft: bool = False

    @model_validator(mode="after")
    def _one_scope(self) -> MessagesDeleted:
        if not (self.message_id or self.thread_id or self.contact_id):
            raise ValueError("one of message_id, thread_id, contact_id is required")
        return self


class MessagesRestored(BaseModel):
    """A thread restored after a soft delete: its hidden messages become searchable again (erased ones do not)."""

    thread_id: uuid.UUID


class ReindexStep(BaseModel):
    """search's own: the next batch of a tenant's reindex job, after `after` (the last message id done)."""

    job_id: uuid.UUID
    after: uuid.UUID | None = None


class DocumentStep(BaseModel):
    """search's own: a document to process or embed (the handler takes the next due one, this one or another)."""

    document_id: uuid.UUID | None = None


MESSAGE_UPSERTED = EventType(INDEX_STREAM, "search.message.upserted", MessageIndexed)
MESSAGE_DELETED = EventType(INDEX_STREAM, "search.message.deleted", MessagesDeleted)
MESSAGES_RESTORED = EventType(INDEX_STREAM, "search.messages.restored", MessagesRestored)
REINDEX_STEP = EventType(INDEX_STREAM, "search.reindex.step", ReindexStep)
DOCUMENT_PROCESS = EventType(INDEX_STREAM, "search.document.process", DocumentStep)
DOCUMENT_EMBED = EventType(INDEX_STREAM, "search.document.embed", DocumentStep)
